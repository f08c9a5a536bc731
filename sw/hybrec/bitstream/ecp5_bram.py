"""Move the flip-flop behind an ECP5 block RAM's read port into the block RAM's output register (a netlist
pass, beside ecp5_dsp.py).

Yosys maps every synchronous read to a DP16KD without its output register (REGMODE NOREG), whose
clock-to-output on the -6 part is 5.6-5.8 ns (prjtrellis' timing database, what nextpnr uses); with
REGMODE OUTREG it is 0.9-1.0 ns. Where the RTL registers a read twice (the read register, then a fabric
flip-flop that only copies it), the second register can live inside the block RAM: the net from the block
RAM to that flip-flop (4.5-4.8 ns in the ML-100K bitstream) and the slow clock-to-output both leave the
critical paths. On the JSON netlist between Yosys and nextpnr, for each read port (DOA, DOB; in the 36-bit
pseudo-dual-port mode both halves together, read on CLKB):

- every used data-out bit drives exactly one flip-flop (its DI, nothing else);
- those flip-flops are plain (ecp5_netlist.plain_ff) and share a clock (the port's clock, not inverted) and
  an enable; the port's reset is tied low;
- nothing the flip-flops drive is a multiplier (MULT18X18D): between the block-RAM rows and the DSP rows such
  a flip-flop is the half-way register (inside the block RAM, the whole way would be one net in front of the
  multiplier's 3.5 ns setup: with 8 ns nets the first try reached 83.68 MHz, round 16 88.29);
- the port's read enable (CE) is constant 1 or the flip-flops' own enable. Lattice documents OCE as the
  output register's enable; were CE to gate that register too, the two readings agree exactly in these
  cases, so the pass does not depend on which one the silicon follows.

Then REGMODE becomes OUTREG, OCE is the flip-flops' enable (an inverted one through a LUT4, only where CE is
1), the data-out pins drive the flip-flops' Q nets and the flip-flops go. Each value is registered on the
same edges as before (the read register on CE, the output register on the flip-flops' enable), so cycle
behaviour does not change; power-up is 0 either way. Anything else is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybrec.bitstream.ecp5_netlist import ModuleIndex, bit, int_param, param, port_pins, run_pass

BRAM = "DP16KD"
DSP = "MULT18X18D"


@dataclass
class BramPassStats:
    """What the pass did, per netlist."""

    brams: int = 0
    read_ports_registered: int = 0   # DOA/DOB (a pseudo-dual-port read counts once)
    flipflops_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"dp16kd": self.brams, "read_ports_registered": self.read_ports_registered,
                "flipflops_removed": self.flipflops_removed, "skipped": dict(sorted(self.skipped.items()))}

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


@dataclass(frozen=True)
class ReadPort:
    """One read port of a DP16KD: its data-out pin prefixes and the pins/parameters that govern them."""

    outputs: tuple[str, ...]      # "DOA", "DOB" or both (pseudo-dual-port)
    clock: str                    # CLKA / CLKB
    clock_mux: str                # CLKAMUX / CLKBMUX, and its plain value
    enable: str                   # CEA / CEB: the read register's enable
    resets: tuple[str, ...]       # RSTA / RSTB
    output_enables: tuple[str, ...]
    regmodes: tuple[str, ...]


PORT_A = ReadPort(("DOA",), "CLKA", "CLKAMUX", "CEA", ("RSTA",), ("OCEA",), ("REGMODE_A",))
PORT_B = ReadPort(("DOB",), "CLKB", "CLKBMUX", "CEB", ("RSTB",), ("OCEB",), ("REGMODE_B",))
# 36-bit pseudo-dual-port: the read is port B's (nextpnr: "all read signals are in CLKB domain"), its data
# on DOA and DOB, one REGMODE for both halves (PDPW16KD's REGMODE -> REGMODE_A and REGMODE_B) and OCER on
# OCEB; OCEA gets the same enable so either half's register sees it.
PORT_PDP = ReadPort(("DOA", "DOB"), "CLKB", "CLKBMUX", "CEB", ("RSTA", "RSTB"), ("OCEA", "OCEB"),
                    ("REGMODE_A", "REGMODE_B"))


def read_ports(ram: dict[str, Any]) -> tuple[ReadPort, ...]:
    return (PORT_PDP,) if int_param(ram, "DATA_WIDTH_A", 18) == 36 else (PORT_A, PORT_B)


def _absorb_port(m: ModuleIndex, ram: dict[str, Any], port: ReadPort, stats: BramPassStats) -> set[str]:
    """The flip-flops moved into ``port``'s output register (empty when the port is left as it is)."""
    conn = ram["connections"]
    pins = [pin for prefix in port.outputs for pin in port_pins(ram, prefix) if m.sinks.get(conn[pin][0])]
    if not pins:
        return set()
    if any(param(ram, name, "NOREG") != "NOREG" for name in port.regmodes):
        stats.skip("output register already in use")
        return set()
    flops: dict[str, str] = {}
    for pin in pins:
        ff = m.only_flop(conn[pin][0])
        if ff is None:
            stats.skip("data out: not only into a flip-flop")
            return set()
        flops[pin] = ff
    if any(m.cells[user]["type"] == DSP for ff in flops.values()
           for user, _ in m.sinks.get(bit(m.cells[ff], "Q"), []) if user):
        stats.skip("flip-flops feed a multiplier")
        return set()
    grp = m.group(list(set(flops.values())))
    if grp is None:
        stats.skip("flip-flops differ or have set/reset")
        return set()
    clock, enable = grp
    plain_clock = port.clock_mux[:-3]                       # CLKAMUX -> CLKA
    if clock != bit(ram, port.clock) or param(ram, port.clock_mux, plain_clock) != plain_clock:
        stats.skip("flip-flops on another clock or edge")
        return set()
    if any(bit(ram, rst) not in (None, "0") for rst in port.resets):
        stats.skip("read port has a reset")
        return set()
    read_enable = bit(ram, port.enable)
    if not (read_enable in (None, "1") or read_enable == enable):
        stats.skip("read enable is neither 1 nor the flip-flops' enable")
        return set()
    oce = m.enable_bit(enable)
    dirs = ram.setdefault("port_directions", {})
    for name in port.output_enables:
        conn[name] = [oce]
        dirs[name] = "input"
    for name in port.regmodes:
        ram.setdefault("parameters", {})[name] = "OUTREG"
    for pin, ff in flops.items():
        conn[pin] = list(m.cells[ff]["connections"]["Q"])
    stats.read_ports_registered += 1
    return set(flops.values())


def absorb_module(module: dict[str, Any], stats: BramPassStats) -> None:
    m = ModuleIndex(module, "$hybrec_bram_oce_inv_")
    removed: set[str] = set()
    for name in sorted(m.cells):
        ram = m.cells[name]
        if ram["type"] != BRAM:
            continue
        stats.brams += 1
        for port in read_ports(ram):
            removed |= _absorb_port(m, ram, port, stats)
    stats.flipflops_removed += m.remove(removed)


def absorb_bram_registers(netlist: dict[str, Any]) -> BramPassStats:
    """Run the pass over every module of a Yosys JSON netlist (in place)."""
    return run_pass(netlist, BramPassStats(), absorb_module)
