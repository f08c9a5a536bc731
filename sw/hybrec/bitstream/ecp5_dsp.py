"""Move flip-flops next to an ECP5 multiplier into the multiplier's own registers (a netlist pass).

Yosys' ``synth_ecp5`` maps every ``*`` to a combinational MULT18X18D and leaves the pipeline registers
around it in the fabric, so each product is a path FF -> routing -> DSP row -> routing -> FF (about 10-14 ns
on the -6 part, the critical path of the first ML-100K bitstream). The MULT18X18D has input registers
(A, B) and an output register (P) with clock enables; Lattice's own tools fill them from the fabric, Yosys
does not. This pass does, on the JSON netlist between Yosys and nextpnr:

- output: when every used P bit drives exactly one flip-flop (its DI, nothing else) and those flip-flops
  share a clock and a clock enable and have no set/reset, the flip-flops are removed and P drives their Q
  nets through REG_OUTPUT.
- inputs: when every non-constant bit of port A (B) is the Q of a flip-flop and those flip-flops share a
  clock and an enable and have no set/reset, A (B) is fed from their D nets through REG_INPUTA (B). The
  fabric flip-flops stay where something else still reads them (the DSP's register is then a copy).

Either way each value is registered on the same edges as before: cycle behaviour does not change. The
flip-flops must be plain: CLKMUX = CLK, LSR tied low (no set/reset), CEMUX constant 1 or CE (not inverted),
REGSET = RESET (power-up 0, as the DSP's registers). Anything else is left as it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

DSP = "MULT18X18D"
FF = "TRELLIS_FF"
CONSTS = ("0", "1", "x", "z")


@dataclass
class DspPassStats:
    """What the pass did, per netlist."""

    dsps: int = 0
    inputs_registered: int = 0    # A or B ports moved into the DSP
    outputs_registered: int = 0   # P ports moved into the DSP
    flipflops_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"mult18x18d": self.dsps, "input_ports_registered": self.inputs_registered,
                "output_ports_registered": self.outputs_registered, "flipflops_removed": self.flipflops_removed,
                "skipped": dict(sorted(self.skipped.items()))}


def _param(cell: dict[str, Any], name: str, default: str) -> str:
    return str(cell.get("parameters", {}).get(name, default)).strip()


def _bit(cell: dict[str, Any], port: str) -> Any:
    bits = cell["connections"].get(port)
    return bits[0] if bits else None


def _plain_ff(cell: dict[str, Any]) -> tuple[Any, Any] | None:
    """(clock bit, enable bit or '1') of a flip-flop the DSP's registers can stand in for; None otherwise."""
    if cell["type"] != FF or _param(cell, "CLKMUX", "CLK") != "CLK" or _param(cell, "REGSET", "RESET") != "RESET":
        return None
    lsr = _bit(cell, "LSR")
    if lsr not in (None, "0") or _param(cell, "LSRMUX", "LSR") != "LSR":
        return None
    cemux = _param(cell, "CEMUX", "1")
    if cemux == "1":
        return _bit(cell, "CLK"), "1"
    ce = _bit(cell, "CE")
    if cemux == "CE":
        return _bit(cell, "CLK"), ("1" if ce in (None, "1") else ce)
    if cemux == "INV" and ce not in CONSTS and ce is not None:
        return _bit(cell, "CLK"), ("~", ce)          # the DSP's enables are not inverted: a LUT does it
    return None


class _Module:
    def __init__(self, module: dict[str, Any]) -> None:
        self.cells: dict[str, dict[str, Any]] = module["cells"]
        self.driver: dict[Any, tuple[str, str]] = {}
        self.sinks: dict[Any, list[tuple[str, str]]] = defaultdict(list)
        for name, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for bit in bits:
                    if bit in CONSTS:
                        continue
                    if dirs.get(port) == "output":
                        self.driver[bit] = (name, port)
                    else:
                        self.sinks[bit].append((name, port))
        self.next_bit = 1 + max([b for c in self.cells.values() for bits in c["connections"].values()
                                 for b in bits if b not in CONSTS] + [1])
        self.inverted: dict[Any, int] = {}
        # module ports read a net too (a net that leaves the module must keep its driver)
        for port in module.get("ports", {}).values():
            if port.get("direction") in ("output", "inout"):
                for bit in port["bits"]:
                    if bit not in CONSTS:
                        self.sinks[bit].append(("", "<port>"))


    def enable_bit(self, enable: Any) -> Any:
        """The net of an enable; ("~", net) gets (one shared) LUT4 inverter."""
        if not isinstance(enable, tuple):
            return enable
        net = enable[1]
        if net not in self.inverted:
            out = self.next_bit
            self.next_bit += 1
            self.cells[f"$hybrec_dsp_ce_inv_{net}"] = {
                "hide_name": 1, "type": "LUT4", "parameters": {"INIT": "0101010101010101"}, "attributes": {},
                "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input", "Z": "output"},
                "connections": {"A": [net], "B": ["0"], "C": ["0"], "D": ["0"], "Z": [out]}}
            self.inverted[net] = out
        return self.inverted[net]


def _rewired(m: _Module, sink: tuple[str, str], q: Any) -> bool:
    """Whether a reader of net ``q`` was a DSP A/B pin that the pass connected elsewhere."""
    cell = m.cells.get(sink[0])
    return (cell is not None and cell["type"] == DSP and sink[1][0] in "AB"
            and cell["connections"][sink[1]][0] != q)


def _from_flop(m: _Module, ff: dict[str, Any]) -> bool:
    """Whether a flip-flop's D comes straight from another flip-flop (or is constant)."""
    d = _bit(ff, "DI")
    if d in CONSTS:
        return True
    drv = m.driver.get(d)
    return drv is not None and m.cells[drv[0]]["type"] == FF and drv[1] == "Q"


def _port_pins(cell: dict[str, Any], prefix: str) -> list[str]:
    pins = [p for p in cell["connections"] if p.startswith(prefix) and p[len(prefix):].isdigit()]
    return sorted(pins, key=lambda p: int(p[len(prefix):]))


def _group(m: _Module, flops: list[str]) -> tuple[Any, Any] | None:
    """The shared (clock, enable) of plain flip-flops, or None when they differ or one is not plain."""
    seen = {_plain_ff(m.cells[f]) for f in flops}
    if len(seen) != 1 or None in seen:
        return None
    return next(iter(seen))


def _input_flops(m: _Module, dsp: dict[str, Any], prefix: str) -> dict[str, str] | None:
    """pin -> driving flip-flop for every non-constant pin of port A/B; None when one is not a flip-flop."""
    out: dict[str, str] = {}
    for pin in _port_pins(dsp, prefix):
        bit = dsp["connections"][pin][0]
        if bit in CONSTS:
            continue
        drv = m.driver.get(bit)
        if drv is None or m.cells[drv[0]]["type"] != FF or drv[1] != "Q":
            return None
        out[pin] = drv[0]
    return out


def _output_flops(m: _Module, dsp: dict[str, Any]) -> dict[str, str] | None:
    """pin -> the one flip-flop its P bit feeds (DI only), for every used P bit; None otherwise."""
    out: dict[str, str] = {}
    for pin in _port_pins(dsp, "P"):
        bit = dsp["connections"][pin][0]
        users = m.sinks.get(bit, [])
        if not users:
            continue
        if len(users) != 1 or users[0][0] == "" or users[0][1] != "DI" or m.cells[users[0][0]]["type"] != FF:
            return None
        out[pin] = users[0][0]
    return out


def _skip(stats: DspPassStats, why: str) -> None:
    stats.skipped[why] = stats.skipped.get(why, 0) + 1


def absorb_module(module: dict[str, Any], stats: DspPassStats) -> None:
    m = _Module(module)
    removed: set[str] = set()
    moved_inputs: set[str] = set()
    for name in sorted(m.cells):
        dsp = m.cells[name]
        if dsp["type"] != DSP:
            continue
        stats.dsps += 1
        params = dsp.setdefault("parameters", {})
        if any(_param(dsp, p, "NONE") != "NONE" for p in ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK")):
            _skip(stats, "already registered")
            continue
        plan: dict[str, tuple[dict[str, str], tuple[Any, Any]]] = {}
        inputs: dict[str, tuple[dict[str, str], tuple[Any, Any]]] = {}
        for port in ("A", "B"):
            flops = _input_flops(m, dsp, port)
            if flops is None:
                _skip(stats, "A/B: not all from flip-flops")
                break
            if not flops:
                continue           # all constant: registered or not, the same
            grp = _group(m, list(set(flops.values())))
            if grp is None:
                _skip(stats, "A/B: flip-flops differ or have set/reset")
                break
            # Only a register-to-register copy moves: were the flip-flop's input a block RAM's slow output
            # or logic, the long way to the DSP row would just move in front of the DSP's register.
            if any(not _from_flop(m, m.cells[f]) for f in set(flops.values())):
                _skip(stats, "A/B: flip-flops fed by logic or block RAM")
                break
            inputs[port] = (flops, grp)
        else:
            plan.update(inputs)    # both ports or none (nextpnr's timing model has no half-registered inputs)
        outs = _output_flops(m, dsp)
        if outs is None:
            _skip(stats, "P: not only into flip-flops")
        elif outs:
            grp = _group(m, list(outs.values()))
            if grp is None:
                _skip(stats, "P: flip-flops differ or have set/reset")
            else:
                plan["P"] = (outs, grp)
        if not plan:
            continue
        clocks = {grp[0] for _, grp in plan.values()}
        if len(clocks) != 1:
            _skip(stats, "registers on different clocks")
            continue
        ces: list[Any] = []
        for _, grp in plan.values():
            if grp[1] not in ces:
                ces.append(grp[1])
        if len(ces) > 4:
            _skip(stats, "more than 4 clock enables")
            continue
        conn = dsp["connections"]
        dirs = dsp.setdefault("port_directions", {})
        conn["CLK0"] = [next(iter(clocks))]
        dirs["CLK0"] = "input"
        for i in range(4):
            conn[f"CE{i}"] = [m.enable_bit(ces[i])] if i < len(ces) else ["1"]
            conn[f"RST{i}"] = ["0"]
            dirs[f"CE{i}"] = dirs[f"RST{i}"] = "input"
        if "A" in plan or "B" in plan:         # a constant port is "registered" too
            for port in ("A", "B"):
                plan.setdefault(port, ({}, plan["A" if port == "B" else "B"][1]))
        for port, (pins, grp) in plan.items():
            reg = {"A": "INPUTA", "B": "INPUTB", "P": "OUTPUT"}[port]
            params[f"REG_{reg}_CLK"] = "CLK0"
            params[f"REG_{reg}_CE"] = f"CE{ces.index(grp[1])}"
            params[f"REG_{reg}_RST"] = "RST0"
            if port == "P":
                for pin, ff in pins.items():
                    conn[pin] = list(m.cells[ff]["connections"]["Q"])
                    removed.add(ff)
                stats.outputs_registered += 1
            else:
                for pin, ff in pins.items():
                    conn[pin] = list(m.cells[ff]["connections"]["DI"])
                    moved_inputs.add(ff)
                stats.inputs_registered += 1 if pins else 0
    # input flip-flops nothing reads any more go too
    for name in sorted(moved_inputs - removed):
        cell = m.cells[name]
        q = cell["connections"]["Q"][0]
        still = [u for u in m.sinks.get(q, []) if not _rewired(m, u, q)]
        if q not in CONSTS and not still:
            removed.add(name)
    for name in removed:
        del m.cells[name]
    stats.flipflops_removed += len(removed)


def absorb_dsp_registers(netlist: dict[str, Any]) -> DspPassStats:
    """Run the pass over every module of a Yosys JSON netlist (in place)."""
    stats = DspPassStats()
    for module in netlist.get("modules", {}).values():
        if module.get("attributes", {}).get("blackbox") or "cells" not in module:
            continue
        absorb_module(module, stats)
    return stats
