"""What the ECP5 register passes (ecp5_dsp.py, ecp5_bram.py) share: a Yosys JSON module indexed by net.

Both passes move fabric flip-flops into a hard block's own registers on the JSON netlist between Yosys and
nextpnr, and both may do so only for a *plain* flip-flop: CLKMUX = CLK, LSR tied low (no set/reset),
CEMUX constant 1 or CE (an inverted CE is allowed: the caller decides whether a LUT may invert it),
REGSET = RESET (power-up 0, as the hard blocks' registers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

FF = "TRELLIS_FF"
CONSTS = ("0", "1", "x", "z")


def param(cell: dict[str, Any], name: str, default: str) -> str:
    return str(cell.get("parameters", {}).get(name, default)).strip()


def int_param(cell: dict[str, Any], name: str, default: int) -> int:
    """An integer parameter (Yosys writes them as binary strings)."""
    value = cell.get("parameters", {}).get(name)
    if value is None:
        return default
    text = str(value).strip()
    return int(text, 2) if text and set(text) <= {"0", "1"} else int(text)


def bit(cell: dict[str, Any], port: str) -> Any:
    bits = cell["connections"].get(port)
    return bits[0] if bits else None


def plain_ff(cell: dict[str, Any]) -> tuple[Any, Any] | None:
    """(clock bit, enable) of a flip-flop a hard block's register can stand in for; None otherwise. The
    enable is a net, "1", or ("~", net) for an inverted one."""
    if cell["type"] != FF or param(cell, "CLKMUX", "CLK") != "CLK" or param(cell, "REGSET", "RESET") != "RESET":
        return None
    lsr = bit(cell, "LSR")
    if lsr not in (None, "0") or param(cell, "LSRMUX", "LSR") != "LSR":
        return None
    cemux = param(cell, "CEMUX", "1")
    if cemux == "1":
        return bit(cell, "CLK"), "1"
    ce = bit(cell, "CE")
    if cemux == "CE":
        return bit(cell, "CLK"), ("1" if ce in (None, "1") else ce)
    if cemux == "INV" and ce not in CONSTS and ce is not None:
        return bit(cell, "CLK"), ("~", ce)
    return None


def port_pins(cell: dict[str, Any], prefix: str) -> list[str]:
    """The pins ``prefix`` + number of a cell, in bit order (``P0``, ``P1``, ... ``P35``)."""
    pins = [p for p in cell["connections"] if p.startswith(prefix) and p[len(prefix):].isdigit()]
    return sorted(pins, key=lambda p: int(p[len(prefix):]))


class ModuleIndex:
    """A module's cells with each net's driver and readers (a module output port counts as a reader)."""

    def __init__(self, module: dict[str, Any], inverter_prefix: str) -> None:
        self.cells: dict[str, dict[str, Any]] = module["cells"]
        self.driver: dict[Any, tuple[str, str]] = {}
        self.sinks: dict[Any, list[tuple[str, str]]] = defaultdict(list)
        for name, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for b in bits:
                    if b in CONSTS:
                        continue
                    if dirs.get(port) == "output":
                        self.driver[b] = (name, port)
                    else:
                        self.sinks[b].append((name, port))
        self.next_bit = 1 + max([b for c in self.cells.values() for bits in c["connections"].values()
                                 for b in bits if b not in CONSTS] + [1])
        self.inverter_prefix = inverter_prefix
        self.inverted: dict[Any, int] = {}
        for port in module.get("ports", {}).values():
            if port.get("direction") in ("output", "inout"):
                for b in port["bits"]:
                    if b not in CONSTS:
                        self.sinks[b].append(("", "<port>"))

    def enable_bit(self, enable: Any) -> Any:
        """The net of an enable; ("~", net) gets (one shared) LUT4 inverter."""
        if not isinstance(enable, tuple):
            return enable
        net = enable[1]
        if net not in self.inverted:
            out = self.next_bit
            self.next_bit += 1
            self.cells[f"{self.inverter_prefix}{net}"] = {
                "hide_name": 1, "type": "LUT4", "parameters": {"INIT": "0101010101010101"}, "attributes": {},
                "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"},
                "connections": {"A": [net], "B": ["0"], "C": ["0"], "D": ["0"], "Z": [out]}}
            self.inverted[net] = out
        return self.inverted[net]

    def group(self, flops: list[str]) -> tuple[Any, Any] | None:
        """The shared (clock, enable) of plain flip-flops, or None when they differ or one is not plain."""
        seen = {plain_ff(self.cells[f]) for f in flops}
        if len(seen) != 1 or None in seen:
            return None
        return next(iter(seen))

    def remove(self, names: set[str]) -> int:
        """Delete cells (the flip-flops a pass moved into a hard block); returns how many."""
        for name in names:
            del self.cells[name]
        return len(names)

    def only_flop(self, net: Any) -> str | None:
        """The flip-flop whose DI is the only reader of ``net``; None when anything else reads it too."""
        users = self.sinks.get(net, [])
        if len(users) != 1 or users[0][0] == "" or users[0][1] != "DI" or self.cells[users[0][0]]["type"] != FF:
            return None
        return users[0][0]


S = TypeVar("S")


def run_pass(netlist: dict[str, Any], stats: S, absorb_module: Callable[[dict[str, Any], S], None]) -> S:
    """``absorb_module`` on every module of a Yosys JSON netlist that has cells (in place; black boxes left
    out); returns ``stats``, which it fills."""
    for module in netlist.get("modules", {}).values():
        if not module.get("attributes", {}).get("blackbox") and "cells" in module:
            absorb_module(module, stats)
    return stats
