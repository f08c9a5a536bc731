"""The FPGA parts hybrec targets, in one table: what each has (logic, flip-flops, multipliers, block RAM),
how the tools name it, and how Yosys' cells count against it.

Every stage that needs a part's facts reads them here: ``hybrec fit`` (Yosys counts against the capacities),
the open ECP5 flow (nextpnr's device and package, the board), the Vivado flow (the part and board preset),
FINN's estimates (the part) and the benchmark's catalogue model (block RAM bits for item vectors).
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hybrec.errors import HybrecError


class UnknownDevice(HybrecError):
    pass


@dataclass(frozen=True)
class Device:
    """One FPGA part.

    Args:
        key: hybrec's name for it (``--target`` values).
        name: what reports call it.
        family: ``ecp5`` (open flow: Yosys + nextpnr) or ``xc7`` (vendor flow: Vivado).
        capacity: resource -> units the part has (the names :attr:`cell_usage` counts).
        cell_usage: resource -> {Yosys cell type: units of that resource per cell}.
        bram_bits: block RAM bits (what on-chip tables may use at most).
        multipliers: hard multipliers of the widths hybrec uses (ECP5: 18x18; Xilinx: DSP48E1).
        yosys_synth: the Yosys synthesis command (``{top}``: the top module).
        part: the vendor's part name (Vivado's ``-part``, FINN's ``fpga_part``), if any.
        nextpnr: ``(device flag, package)`` for nextpnr-ecp5, if the open flow places it.
        board: the board hybrec's top is written for.
    """

    key: str
    name: str
    family: str
    capacity: dict[str, float]
    cell_usage: dict[str, dict[str, float]]
    bram_bits: int
    multipliers: int
    yosys_synth: str
    part: str | None = None
    nextpnr: tuple[str, str] | None = None
    board: str | None = None
    board_part: str | None = None
    notes: tuple[str, ...] = field(default=())


# Xilinx 7-series cells that occupy LUTs: distributed RAMs take 1-4 LUTs each, shift registers one.
_XC7_LUTS: dict[str, float] = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
                               "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
                               "RAM32X1S": 1, "RAM64X1S": 1, "SRL16E": 1, "SRLC32E": 1}

DEVICES: dict[str, Device] = {
    "ecp5-85k": Device(
        key="ecp5-85k", name="Lattice LFE5U-85F-6BG381 (ULX3S)", family="ecp5",
        capacity={"LUT4": 83640, "FF": 83640, "MULT18X18D": 156, "DP16KD": 208},
        # a CCU2C (carry) is two LUT4s of a slice; a 16x4 distributed RAM takes the four LUT4s of its PFU half
        cell_usage={"LUT4": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4, "DPR16X4": 4},
                    "FF": {"TRELLIS_FF": 1}, "MULT18X18D": {"MULT18X18D": 1}, "DP16KD": {"DP16KD": 1}},
        bram_bits=208 * 18 * 1024, multipliers=156, yosys_synth="synth_ecp5 -top {top}",
        nextpnr=("--85k", "CABGA381"), board="ULX3S v3",
        notes=("the 9x9 multiplier mode is unusable in the open flow: 156 multipliers of 18x18",)),
    "xc7z020": Device(
        key="xc7z020", name="AMD Zynq-7020 (xc7z020, PYNQ-Z2)", family="xc7",
        capacity={"LUT": 53200, "FF": 106400, "DSP48E1": 220, "RAMB36": 140},
        cell_usage={"LUT": _XC7_LUTS, "FF": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
                    "DSP48E1": {"DSP48E1": 1}, "RAMB36": {"RAMB36E1": 1, "RAMB18E1": 0.5}},
        bram_bits=140 * 36 * 1024, multipliers=220, yosys_synth="synth_xilinx -family xc7 -flatten -top {top}",
        part="xc7z020clg400-1", board="PYNQ-Z2", board_part="tul.com.tw:pynq-z2:part0:1.0"),
}


def device(key: str) -> Device:
    """The part called ``key``; :class:`UnknownDevice` names the known ones otherwise."""
    try:
        return DEVICES[key]
    except KeyError:
        raise UnknownDevice(f"unknown FPGA target {key!r}; hybrec knows {', '.join(DEVICES)}") from None


def by_board(board: str) -> Device:
    """The part of a board hybrec writes a top for (``pynq-z2``, ``ulx3s``)."""
    for dev in DEVICES.values():
        if dev.board and dev.board.lower().split()[0] == board.lower():
            return dev
    raise UnknownDevice(f"unknown board {board!r}; hybrec knows "
                        f"{', '.join(d.board.split()[0].lower() for d in DEVICES.values() if d.board)}")
