"""The placement blockage (hybrec.bitstream.ecp5_blockage): which sites it fixes, that it adds nothing else,
and the utilisation that leaves its cells out. That nextpnr finds every site and routes around them is the
open flow's test (tests/synth/test_bitstream.py)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from hybrec.bitstream import ecp5
from hybrec.bitstream.ecp5_blockage import (
    AREAS,
    MAX_FILL,
    BlockageError,
    add_row_blockage,
    count,
    design_luts,
    is_blockage,
)

BEL = re.compile(r"X(\d+)/Y(\d+)/SLICE([ABCD])\.K([01])")


def netlist() -> dict[str, Any]:
    lut = {"type": "LUT4", "parameters": {"INIT": "1000000000000000"}, "attributes": {},
           "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"},
           "connections": {"A": [2], "B": [3], "C": ["0"], "D": ["0"], "Z": [4]}}
    return {"modules": {"top": {"attributes": {"top": "00000000000000000000000000000001"}, "cells": {"and": lut},
                                "netnames": {}},
                        "sub": {"attributes": {}, "cells": {}}}}


def test_every_site_of_every_nth_logic_row_is_fixed() -> None:
    n = netlist()
    before = copy.deepcopy(n)
    added, why_not = add_row_blockage(n, "--85k", 4)
    assert why_not == ""
    cells = n["modules"]["top"]["cells"]
    blocked = {name: cell for name, cell in cells.items() if is_blockage(name)}
    assert added == len(blocked) == count("--85k", 4) == 21 * 117 * 8
    sites = set()
    for cell in blocked.values():
        m = BEL.fullmatch(cell["attributes"]["BEL"])
        assert m, cell["attributes"]["BEL"]
        x, y = int(m[1]), int(m[2])
        assert y % 4 == 0 and 2 <= x <= 118 and y not in AREAS["--85k"].not_rows
        # no nets: nothing to route, and an all-zero LUT
        assert all(bits == ["x"] for bits in cell["connections"].values()) and cell["type"] == "LUT4"
        assert cell["parameters"]["INIT"] == "0" * 16
        sites.add(cell["attributes"]["BEL"])
    assert len(sites) == added   # one cell per site
    assert {int(BEL.fullmatch(s)[2]) for s in sites} == set(range(4, 85, 4))   # type: ignore[index]
    # the design's own cells and the other modules are untouched
    assert {k: v for k, v in cells.items() if not is_blockage(k)} == before["modules"]["top"]["cells"]
    assert n["modules"]["sub"] == before["modules"]["sub"]


def test_a_wider_period_blocks_fewer_rows() -> None:
    assert count("--85k", 8) == 10 * 117 * 8 < count("--85k", 4)
    n = netlist()
    assert add_row_blockage(n, "--85k", 0)[0] == 0 == count("--85k", 0)
    assert n == netlist()


def test_a_design_too_large_for_the_blockage_gets_none() -> None:
    n = netlist()
    cells = n["modules"]["top"]["cells"]
    for i in range(3):
        cells[f"carry{i}"] = {"type": "CCU2C", "connections": {}}
    cells["ram"] = {"type": "TRELLIS_DPR16X4", "connections": {}}
    assert design_luts(n) == 1 + 3 * 2 + 6
    room = int(MAX_FILL * AREAS["--85k"].lut_sites) - count("--85k", 4)
    for i in range(room - design_luts(n)):
        cells[f"lut{i}"] = {"type": "LUT4", "connections": {}}
    assert design_luts(n) == room and add_row_blockage(copy.deepcopy(n), "--85k", 4)[0] == count("--85k", 4)
    cells["one_more"] = {"type": "LUT4", "connections": {}}
    before = copy.deepcopy(n)
    added, why_not = add_row_blockage(n, "--85k", 4)
    assert added == 0 and n == before
    assert f"{room + 1} LUT4s" in why_not and "75%" in why_not


@pytest.mark.parametrize(("flag", "period", "why"), [("--85k", 1, "at least 2"), ("--85k", -3, "at least 2"),
                                                      ("--25k", 4, "no logic area known")])
def test_impossible_blockage_is_refused(flag: str, period: int, why: str) -> None:
    with pytest.raises(BlockageError, match=why):
        add_row_blockage(netlist(), flag, period)
    with pytest.raises(BlockageError, match=why):
        count(flag, period)


def test_a_netlist_is_blocked_once_and_needs_one_top() -> None:
    n = netlist()
    add_row_blockage(n, "--85k", 4)
    with pytest.raises(BlockageError, match="already has blockage"):
        add_row_blockage(n, "--85k", 4)
    two = netlist()
    two["modules"]["sub"]["attributes"]["top"] = "1"
    with pytest.raises(BlockageError, match="2 top modules"):
        add_row_blockage(two, "--85k", 4)


def test_utilisation_leaves_the_blockage_out() -> None:
    report = {"utilization": {"TRELLIS_COMB": {"used": 30_000, "available": 83_640},
                              "TRELLIS_FF": {"used": 20_000, "available": 83_640}}}
    use = ecp5.read_utilisation(report, blockage_luts=19_656)
    assert use["LUT4"]["used"] == 30_000 - 19_656 and use["FF"]["used"] == 20_000
    assert ecp5.read_utilisation(report)["LUT4"]["used"] == 30_000
    with pytest.raises(ecp5.BitstreamError, match="fewer than"):
        ecp5.read_utilisation(report, blockage_luts=30_001)

