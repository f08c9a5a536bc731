"""Two netlist passes over ECP5 multipliers: their pipeline flip-flops into the MULT18X18D's own registers,
and narrow signed operands moved to the top of the 18-bit ports.

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
flip-flops must be plain (ecp5_netlist.plain_ff; an inverted enable gets a LUT4 inverter, the DSP's enables
are not inverted). Anything else is left as it is.

Operand alignment (:func:`align_dsp_operands`). Yosys sign-extends an n-bit signed operand to the port's 18
bits, so the operand's sign net is wired to 19 - n pins of every multiplier: the scorer's int8 products
route each sign bit to 11 pins of A and of B, more than half of the scorer's routed DSP inputs, all in the
DSP rows where the ML-100K kernel's routing is most congested (docs/timing-closure.md). The pass feeds the
operand in at the top of the port instead, ``a * 2^sa`` with the low ``sa`` pins constant 0 (nextpnr ties
constant DSP data inputs off inside the tile: nothing is routed), and reads the product ``sa + sb`` bits
higher up P: ``(a 2^sa)(b 2^sb) = ab 2^(sa+sb)`` exactly, in 36 bits, because each shifted operand still
fits its 18 signed bits. Only signed operands (SIGNEDA/B constant 1) move, and only as far as the highest P
bit anything reads allows; P's pins are rotated, so the bits that wrap to the bottom are ones nothing reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybrec.bitstream.ecp5_netlist import CONSTS, FF, ModuleIndex, bit, param, port_pins, run_pass

DSP = "MULT18X18D"


@dataclass
class DspPassStats:
    """What the pass did, per netlist."""

    dsps: int = 0
    inputs_registered: int = 0    # A or B ports moved into the DSP
    outputs_registered: int = 0   # P ports moved into the DSP
    flipflops_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    operands_aligned: int = 0     # A or B ports fed in at the top (align_dsp_operands)
    sign_pins_tied: int = 0       # sign-extension pins that became constant 0

    def as_dict(self) -> dict[str, Any]:
        return {"mult18x18d": self.dsps, "input_ports_registered": self.inputs_registered,
                "output_ports_registered": self.outputs_registered, "flipflops_removed": self.flipflops_removed,
                "skipped": dict(sorted(self.skipped.items())), "operands_aligned": self.operands_aligned,
                "sign_pins_tied": self.sign_pins_tied}


def _rewired(m: ModuleIndex, sink: tuple[str, str], q: Any) -> bool:
    """Whether a reader of net ``q`` was a DSP A/B pin that the pass connected elsewhere."""
    cell = m.cells.get(sink[0])
    return (cell is not None and cell["type"] == DSP and sink[1][0] in "AB"
            and cell["connections"][sink[1]][0] != q)


def _from_flop(m: ModuleIndex, ff: dict[str, Any]) -> bool:
    """Whether a flip-flop's D comes straight from another flip-flop (or is constant)."""
    d = bit(ff, "DI")
    if d in CONSTS:
        return True
    drv = m.driver.get(d)
    return drv is not None and m.cells[drv[0]]["type"] == FF and drv[1] == "Q"


def _input_flops(m: ModuleIndex, dsp: dict[str, Any], prefix: str) -> dict[str, str] | None:
    """pin -> driving flip-flop for every non-constant pin of port A/B; None when one is not a flip-flop."""
    out: dict[str, str] = {}
    for pin in port_pins(dsp, prefix):
        net = dsp["connections"][pin][0]
        if net in CONSTS:
            continue
        drv = m.driver.get(net)
        if drv is None or m.cells[drv[0]]["type"] != FF or drv[1] != "Q":
            return None
        out[pin] = drv[0]
    return out


def _output_flops(m: ModuleIndex, dsp: dict[str, Any]) -> dict[str, str] | None:
    """pin -> the one flip-flop its P bit feeds (DI only), for every used P bit; None otherwise."""
    out: dict[str, str] = {}
    for pin in port_pins(dsp, "P"):
        net = dsp["connections"][pin][0]
        if not m.sinks.get(net):
            continue
        ff = m.only_flop(net)
        if ff is None:
            return None
        out[pin] = ff
    return out


def _skip(stats: DspPassStats, why: str) -> None:
    stats.skipped[why] = stats.skipped.get(why, 0) + 1


def absorb_module(module: dict[str, Any], stats: DspPassStats) -> None:
    m = ModuleIndex(module, "$hybrec_dsp_ce_inv_")
    removed: set[str] = set()
    moved_inputs: set[str] = set()
    for name in sorted(m.cells):
        dsp = m.cells[name]
        if dsp["type"] != DSP:
            continue
        stats.dsps += 1
        params = dsp.setdefault("parameters", {})
        if any(param(dsp, p, "NONE") != "NONE" for p in ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK")):
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
            grp = m.group(list(set(flops.values())))
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
            grp = m.group(list(outs.values()))
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
    stats.flipflops_removed += m.remove(removed)


def absorb_dsp_registers(netlist: dict[str, Any]) -> DspPassStats:
    """Run the pass over every module of a Yosys JSON netlist (in place)."""
    return run_pass(netlist, DspPassStats(), absorb_module)


PORT_BITS = 18
P_BITS = 36


def _bits(conn: dict[str, Any], port: str, width: int) -> list[Any]:
    """A port's bits, pin 0 first; an unconnected pin reads as constant 0."""
    return [conn.get(f"{port}{i}", ["0"])[0] for i in range(width)]


def _operand_width(dsp: dict[str, Any], port: str) -> int:
    """The width n of a signed operand whose pins n..17 repeat pin n-1 (its sign); 18 when the port is not
    one (unsigned, constant sign, cascaded input, or nothing repeated)."""
    conn = dsp["connections"]
    if conn.get(f"SIGNED{port}") != ["1"] or conn.get(f"SOURCE{port}", ["0"]) != ["0"]:
        return PORT_BITS
    pins = _bits(conn, port, PORT_BITS)
    sign = pins[-1]
    if sign in CONSTS:
        return PORT_BITS
    n = PORT_BITS
    while n > 1 and pins[n - 2] == sign:
        n -= 1
    return n


def align_module(module: dict[str, Any], stats: DspPassStats) -> None:
    m = ModuleIndex(module, "$hybrec_dsp_align_")
    for name in sorted(m.cells):
        dsp = m.cells[name]
        if dsp["type"] != DSP:
            continue
        conn = dsp["connections"]
        read = [i for i, net in enumerate(_bits(conn, "P", P_BITS)) if m.sinks.get(net)]
        room = P_BITS - 1 - max(read, default=0)      # how far P may move up: nothing read falls off the top
        shifts = {}
        for port in ("A", "B"):
            shift = min(PORT_BITS - _operand_width(dsp, port), room)
            if shift > 0:
                shifts[port] = shift
                room -= shift
        if not shifts:
            continue
        for port, shift in shifts.items():
            pins = _bits(conn, port, PORT_BITS)
            for i in range(PORT_BITS):
                conn[f"{port}{i}"] = [pins[i - shift]] if i >= shift else ["0"]
            stats.operands_aligned += 1
            stats.sign_pins_tied += shift
        total = sum(shifts.values())
        outs = [conn.get(f"P{i}") for i in range(P_BITS)]
        for i in range(P_BITS):
            bits = outs[(i - total) % P_BITS]
            if bits is None:
                conn.pop(f"P{i}", None)
            else:
                conn[f"P{i}"] = bits


def align_dsp_operands(netlist: dict[str, Any], stats: DspPassStats | None = None) -> DspPassStats:
    """Feed every narrow signed multiplier operand in at the top of its port (in place; see the module's
    docstring); adds to ``stats`` where given."""
    return run_pass(netlist, stats if stats is not None else DspPassStats(), align_module)


def rewrite_dsps(netlist: dict[str, Any]) -> DspPassStats:
    """Both passes, registers first (the alignment moves whatever nets then feed the ports)."""
    return align_dsp_operands(netlist, absorb_dsp_registers(netlist))
