"""A placement blockage for nextpnr-ecp5: whole rows of logic tiles held by unconnected LUT4s.

nextpnr's analytic placer (HeAP) spreads cells until no region is fuller than its ``beta`` of the region's
logic sites, and nextpnr-ecp5 fixes that at 0.75 after reading the command line (``--placer-heap-beta`` has
no effect there). The run-time model's ML-100K kernel fills about half of the LFE5U-85F, but HeAP packs its
datapath around the block-RAM and DSP rows to three quarters, denser than the ECP5's routing can serve:
router2 did not converge on any placement of it (docs/timing-closure.md, rounds R9-R13). Folding the MLP
to a quarter of its multipliers did not help either: the placer packed what was left just as densely.

This pass takes the density away instead of the logic. It adds one LUT4 with no connections on every LUT
site (``SLICE{A-D}.K{0,1}``) of every logic tile in every ``period``-th row of the device's logic area, each
fixed there by nextpnr's ``BEL`` attribute. HeAP places around fixed cells, so the kernel's logic spreads over
the remaining rows; the routing of the blocked tiles stays free for the nets that cross them. Whole rows,
because ECP5 carry chains run along x from tile to tile: a blocked row never cuts a chain. The cells have no
nets: nothing is routed to them and they configure nothing but an all-zero LUT.

The cells are named ``blockage_...`` so reports can leave them out of the kernel's counts
(:func:`is_blockage`). A design that would fill more than ``MAX_FILL`` of the part's LUT sites with the
blockage gets none (the placer would have no room to spread into): :func:`add_row_blockage` then adds
nothing and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "blockage_"
LUT_SITES = tuple(f"SLICE{s}.K{k}" for s in "ABCD" for k in (0, 1))
# The most of the part's LUT sites the design and the blockage may fill together (the ML-100K run-time
# kernel: 40,420 + 19,656 of 83,640 = 72 %).
MAX_FILL = 0.75


@dataclass(frozen=True)
class LogicArea:
    """Logic (PLC) tile coordinates of a device: columns ``x0..x1``, rows ``y0..y1`` except ``not_rows``."""

    x0: int
    x1: int
    y0: int
    y1: int
    not_rows: frozenset[int]
    lut_sites: int   # the part's LUT4 sites, all of them

    def rows(self, period: int) -> list[int]:
        return [y for y in range(self.y0, self.y1 + 1) if y % period == 0 and y not in self.not_rows]


# nextpnr's device flag -> its logic area. LFE5U-85F: the block-RAM rows (y 22, 46, 70, 82) and the DSP rows
# (y 10, 34, 58) hold no logic tiles; columns 2-118 and rows 2-86 are where nextpnr placed the ML-100K
# kernel's logic (every column and row of that range, read from a placement's NEXTPNR_BEL attributes).
AREAS: dict[str, LogicArea] = {
    "--85k": LogicArea(2, 118, 2, 86, frozenset({10, 22, 34, 46, 58, 70, 82}), 83_640),
}


class BlockageError(ValueError):
    """The blockage cannot be made for this device or period."""


def is_blockage(cell_name: str) -> bool:
    return cell_name.startswith(PREFIX)


def count(device_flag: str, period: int) -> int:
    """How many cells :func:`add_row_blockage` adds for this device and period."""
    if period == 0:
        return 0
    area = _area(device_flag, period)
    return len(area.rows(period)) * (area.x1 - area.x0 + 1) * len(LUT_SITES)


def _area(device_flag: str, period: int) -> LogicArea:
    if period < 2:
        raise BlockageError(f"blockage row period {period}: it must be 0 (none) or at least 2")
    area = AREAS.get(device_flag)
    if area is None:
        raise BlockageError(f"no logic area known for nextpnr-ecp5 {device_flag}: the blockage is defined for "
                            f"{', '.join(sorted(AREAS))}")
    return area


def design_luts(netlist: dict[str, Any]) -> int:
    """LUT4 sites a Yosys ``synth_ecp5`` netlist takes, as nextpnr counts them before packing: a LUT4 one, a
    CCU2C two, a TRELLIS_DPR16X4 six (four RAM LUTs and two for its write port)."""
    weight = {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 6}
    return sum(weight.get(cell["type"], 0) for module in netlist.get("modules", {}).values()
               if not module.get("attributes", {}).get("blackbox") for cell in module.get("cells", {}).values())


def add_row_blockage(netlist: dict[str, Any], device_flag: str, period: int) -> tuple[int, str]:
    """Add the blockage cells to the top module of a Yosys JSON netlist (in place); returns how many and,
    when none were added, why.

    ``period`` 0 adds nothing. A period below 2 would block every row."""
    if period == 0:
        return 0, "no blockage asked for (period 0)"
    area = _area(device_flag, period)
    used, blocking = design_luts(netlist), count(device_flag, period)
    if used + blocking > MAX_FILL * area.lut_sites:
        return 0, (f"no blockage: the design's {used} LUT4s and the blockage's {blocking} would fill more than "
                   f"{MAX_FILL:.0%} of the part's {area.lut_sites}")
    tops = [m for m in netlist.get("modules", {}).values() if m.get("attributes", {}).get("top")]
    if len(tops) != 1:
        raise BlockageError(f"the netlist has {len(tops)} top modules, expected one")
    cells = tops[0]["cells"]
    if any(is_blockage(name) for name in cells):
        raise BlockageError("the netlist already has blockage cells")
    added = 0
    for y in area.rows(period):
        for x in range(area.x0, area.x1 + 1):
            for site in LUT_SITES:
                cells[f"{PREFIX}x{x}_y{y}_{site.replace('.', '_')}"] = {
                    "hide_name": 0, "type": "LUT4", "parameters": {"INIT": "0" * 16},
                    "attributes": {"BEL": f"X{x}/Y{y}/{site}"},
                    "port_directions": {p: "input" for p in "ABCD"} | {"Z": "output"},
                    "connections": {p: ["x"] for p in "ABCDZ"}}
                added += 1
    return added, ""
