"""The vendor flow for PYNQ boards: a Vivado project script around a build's kernel.

:func:`write_vivado_project` writes ``OUT/create_project.tcl`` (and copies the kernel's sources and ROM
files to ``OUT/rtl``): a project for the Zynq part with the board preset, a block design with the
processing system (PS7), an AXI DMA whose MM2S stream (``ids_per_beat`` 16-bit ids per beat) feeds the
kernel's ``s_axis`` and whose S2MM stream (64 bits) takes its ``m_axis``, the kernel as an RTL module
reference, FCLK_CLK0 as the clock and a ``proc_sys_reset`` for ``ap_rst_n``, the address map,
implementation to ``write_bitstream``, and the ``.bit``/``.hwh`` copied to ``OUT`` under the overlay's
name (what ``pynq.Overlay`` loads).

:func:`run_vivado` writes the scripts, then runs ``vivado -mode batch`` where it is on PATH; where it is
not, it stops with :class:`hybrec.tools.ToolMissing` (naming ``vivado``) and the scripts stay for a machine
that has it. Nothing here builds a bitstream without Vivado, and nothing claims to. After a successful run the
folder gets a bitstream ``manifest.json`` (format ``hybrec-bitstream/3``: the ``.bit``'s sha256, the kernel
shape it holds and the build it was made from) that the board-side driver checks before it loads the overlay.
Vivado runs only when asked, so there is no cache key here; the overlay, like the ECP5 bitstream, is a function
of the shape and the ``rtl/`` files only.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hybrec import tools
from hybrec.artifacts import atomic_write_json, atomic_write_text, sha256_file
from hybrec.builddir import BITSTREAM_FORMAT, MANIFEST, BuildDir
from hybrec.devices import by_board

OVERLAY = "hybrec"


def _tcl_list(items: list[str]) -> str:
    return " ".join("{" + item + "}" for item in items)


def project_tcl(top: str, sources: list[str], memory_files: list[str], part: str, board_part: str | None,
                clock_mhz: float, in_bits: int = 16) -> str:
    board = f"set_property board_part {board_part} [current_project]\n" if board_part else ""
    preset = "apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 -config " \
             "{make_external \"FIXED_IO, DDR\" apply_board_preset \"1\" Master \"Disable\" Slave \"Disable\"} " \
             "[get_bd_cells ps7]\n" if board_part else ""
    return f"""# Vivado project for the hybrec kernel ({top}) on a Zynq-7000 PYNQ board (hybrec.bitstream.vivado).
# Run: vivado -mode batch -source create_project.tcl   (from this folder)
set here [file normalize [file dirname [info script]]]
set proj_dir $here/vivado
create_project -force {OVERLAY} $proj_dir -part {part}
{board}set_property target_language Verilog [current_project]

# the kernel: the generated top, the hand-written blocks, and the ROM files its $readmemh reads
add_files -norecurse [list {" ".join(f"$here/rtl/{s}" for s in sources)}]
add_files -norecurse [list {" ".join(f"$here/rtl/{m}" for m in memory_files)}]
set_property file_type {{Memory Initialization Files}} [get_files -quiet *.hex]
update_compile_order -fileset sources_1

create_bd_design "{OVERLAY}"
# processing system: one HP slave port for the DMA, one GP master for its registers, FCLK_CLK0 for the fabric
create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps7
{preset}set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {{1}} CONFIG.PCW_USE_M_AXI_GP0 {{1}} \\
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{clock_mhz:g}}}] [get_bd_cells ps7]

# AXI DMA: MM2S ({in_bits}-bit beats of 16-bit ids, tkeep on the last) -> s_axis,
# m_axis (64-bit results) -> S2MM; no scatter-gather
create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma dma
set_property -dict [list CONFIG.c_include_sg {{0}} CONFIG.c_sg_length_width {{26}} \\
    CONFIG.c_m_axis_mm2s_tdata_width {{{in_bits}}} CONFIG.c_s_axis_s2mm_tdata_width {{64}} \\
    CONFIG.c_mm2s_burst_size {{16}} CONFIG.c_s2mm_burst_size {{16}}] [get_bd_cells dma]

# the kernel as an RTL module reference (its ports are inferred as AXI4-Stream by their names)
create_bd_cell -type module -reference {top} kernel
set_property CONFIG.MEM_DIR {{""}} [get_bd_cells kernel]

# reset: proc_sys_reset from FCLK_RESET0_N, synchronous to FCLK_CLK0
create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_fclk0
connect_bd_net [get_bd_pins ps7/FCLK_CLK0] [get_bd_pins rst_fclk0/slowest_sync_clk]
connect_bd_net [get_bd_pins ps7/FCLK_RESET0_N] [get_bd_pins rst_fclk0/ext_reset_in]
connect_bd_net [get_bd_pins ps7/FCLK_CLK0] [get_bd_pins kernel/ap_clk]
connect_bd_net [get_bd_pins rst_fclk0/peripheral_aresetn] [get_bd_pins kernel/ap_rst_n]

connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins kernel/s_axis]
connect_bd_intf_net [get_bd_intf_pins kernel/m_axis] [get_bd_intf_pins dma/S_AXIS_S2MM]

# AXI-Lite control of the DMA from GP0; the DMA's memory ports to HP0 (interconnects by automation)
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{Clk_master {{/ps7/FCLK_CLK0}} Clk_slave {{Auto}} \\
    Clk_xbar {{Auto}} Master {{/ps7/M_AXI_GP0}} Slave {{/dma/S_AXI_LITE}} intc_ip {{New AXI Interconnect}}}} \\
    [get_bd_intf_pins dma/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{Clk_master {{/ps7/FCLK_CLK0}} Clk_slave {{Auto}} \\
    Clk_xbar {{Auto}} Master {{/dma/M_AXI_MM2S}} Slave {{/ps7/S_AXI_HP0}} intc_ip {{New AXI Interconnect}}}} \\
    [get_bd_intf_pins ps7/S_AXI_HP0]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {{Clk_master {{/ps7/FCLK_CLK0}} Clk_slave {{Auto}} \\
    Clk_xbar {{Auto}} Master {{/dma/M_AXI_S2MM}} Slave {{/ps7/S_AXI_HP0}} intc_ip {{Auto}}}} \\
    [get_bd_intf_pins dma/M_AXI_S2MM]
connect_bd_net -quiet [get_bd_pins ps7/FCLK_CLK0] [get_bd_pins dma/s_axi_lite_aclk] [get_bd_pins dma/m_axi_mm2s_aclk] \\
    [get_bd_pins dma/m_axi_s2mm_aclk]

# address map: every unmapped segment (the DMA's registers; DDR for the DMA's two masters)
assign_bd_address
validate_bd_design
save_bd_design

make_wrapper -files [get_files $proj_dir/{OVERLAY}.srcs/sources_1/bd/{OVERLAY}/{OVERLAY}.bd] -top
add_files -norecurse $proj_dir/{OVERLAY}.gen/sources_1/bd/{OVERLAY}/hdl/{OVERLAY}_wrapper.v
set_property top {OVERLAY}_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] != "100%"}} {{
    error "implementation did not finish: [get_property STATUS [get_runs impl_1]]"
}}
open_run impl_1
report_timing_summary -file $here/timing_summary.rpt
report_utilization -file $here/utilization.rpt

# the overlay PYNQ loads: <name>.bit and <name>.hwh side by side
file copy -force [get_property DIRECTORY [get_runs impl_1]]/{OVERLAY}_wrapper.bit $here/{OVERLAY}.bit
set hwh [lindex [glob -nocomplain $proj_dir/{OVERLAY}.gen/sources_1/bd/{OVERLAY}/hw_handoff/*.hwh] 0]
file copy -force $hwh $here/{OVERLAY}.hwh
puts "wrote $here/{OVERLAY}.bit and $here/{OVERLAY}.hwh"
"""


def write_vivado_project(build_dir: Path, out_dir: Path, board: str = "pynq-z2",
                         clock_mhz: float = 100.0) -> dict[str, Any]:
    """Copy the kernel's files to ``out_dir/rtl`` and write ``out_dir/create_project.tcl``; return what was
    written (nothing is built here)."""
    dev = by_board(board)
    assert dev.part is not None
    build = BuildDir.open(build_dir)
    out_dir = Path(out_dir)
    rtl = out_dir / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    for path in [*build.sources, *build.memory_files]:
        shutil.copyfile(path, rtl / path.name)
    tcl = project_tcl(build.kernel.top, [p.name for p in build.sources], [p.name for p in build.memory_files],
                      dev.part, dev.board_part, clock_mhz, build.kernel.interface.in_bits)
    atomic_write_text(out_dir / "create_project.tcl", tcl)
    info = {"tool": "vivado", "part": dev.part, "board": board, "board_part": dev.board_part,
            "clock_mhz": clock_mhz, "build_id": build.build_id, "tcl": str(out_dir / "create_project.tcl"),
            "run": "vivado -mode batch -source create_project.tcl", "outputs": [f"{OVERLAY}.bit", f"{OVERLAY}.hwh"]}
    atomic_write_json(out_dir / "vivado_project.json", info)
    return info


def run_vivado(build_dir: Path, out_dir: Path, board: str = "pynq-z2", clock_mhz: float = 100.0,
               timeout_s: int = 4 * 3600, log: Any = print) -> dict[str, Any]:
    """Write the project scripts, then build with Vivado; :class:`hybrec.tools.ToolMissing` where it is not
    on PATH. Returns the bitstream manifest."""
    info = write_vivado_project(build_dir, out_dir, board, clock_mhz)
    if not tools.available(tools.VIVADO):
        raise tools.ToolMissing(tools.VIVADO, f": nothing was built. The project script is {info['tcl']}; on a "
                                f"machine with Vivado (and the {board} board files) run `cd {out_dir} && "
                                f"{info['run']}` to make {OVERLAY}.bit and {OVERLAY}.hwh. To install it")
    (out_dir / MANIFEST).unlink(missing_ok=True)  # unfinished from here on
    log(f"vivado: {info['run']} (in {out_dir}; log {out_dir / 'vivado.log'})")
    run = tools.run(tools.VIVADO, ["-mode", "batch", "-source", "create_project.tcl", "-log", "vivado.log",
                                   "-journal", "vivado.jou"], cwd=out_dir, log_path=out_dir / "vivado.stdout.log",
                    timeout_s=timeout_s)
    bit = out_dir / f"{OVERLAY}.bit"
    if not bit.is_file():
        raise tools.ToolFailed("vivado", 0, out_dir / "vivado.log", tools.tail(out_dir / "vivado.log"),
                               why=f"no {bit.name} written")
    info["seconds"] = round(run.seconds, 1)
    atomic_write_json(out_dir / "vivado_project.json", info)
    build = BuildDir.open(build_dir)
    dev = by_board(board)
    manifest = {"format": BITSTREAM_FORMAT, "target": dev.key, "device": dev.name, "board": dev.board,
                "top": f"{OVERLAY}_wrapper", "kernel_top": build.kernel.top,
                # the shape the overlay holds (the driver checks it against the kernel's status words); the
                # model is loaded at run time
                "shape": {"key": build.kernel.shape_key, "word": str(build.kernel.shape.get("word", "")),
                          "n_items_max": build.kernel.n_items},
                "build": {"dir": str(build.path), "build_id": build.build_id,
                          "manifest_sha256": build.manifest_sha256(), "kernel_files": build.manifest.kernel_files()},
                "bitstream": {"file": bit.name, "sha256": sha256_file(bit), "bytes": bit.stat().st_size,
                              "hwh": f"{OVERLAY}.hwh"},
                "clock": {"requested_mhz": clock_mhz, "constraint_mhz": clock_mhz},
                # Vivado's own timing report (vivado/…/impl_1) says whether the clock was met; hybrec does not
                # parse it yet, so the manifest claims neither an Fmax nor timing met
                "fmax_mhz": None, "timing_met": None, "seconds": info["seconds"], "vivado": info}
    atomic_write_json(out_dir / MANIFEST, manifest)
    return manifest
