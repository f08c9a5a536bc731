"""Setup shared by the cocotb testbenches under ``sim/<block>/``: clock, reset, AXI-Stream ends, config.

Every block has the same ports: ``ap_clk``, active-low ``ap_rst_n``, an ``s_axis`` input and an ``m_axis``
output stream. The pytest drivers (tests/sim/rtl_support.py) name the testbench's JSON configuration in
the environment variable :data:`hybrec.simulate.runner.CONFIG_ENV`. Imported only inside a simulation.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

from hybrec.simulate.runner import CONFIG_ENV

CLOCK_NS = 10


def load_config() -> dict[str, Any]:
    """The testbench configuration written by the pytest driver."""
    config: dict[str, Any] = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
    return config


def pauses(rng: random.Random, probability: float) -> Iterator[bool]:
    """Pause generator for cocotbext-axi: pause each cycle with ``probability``."""
    while True:
        yield rng.random() < probability


def to_signed(value: int, bits: int) -> int:
    """The low ``bits`` of ``value`` read as two's complement."""
    sign = 1 << (bits - 1)
    return ((value & ((1 << bits) - 1)) ^ sign) - sign


def start_clock(dut: Any) -> None:
    Clock(dut.ap_clk, CLOCK_NS, unit="ns").start()


def axis_pair(dut: Any) -> tuple[AxiStreamSource, AxiStreamSink]:
    """Source on ``s_axis`` and sink on ``m_axis``, reset by ``ap_rst_n`` low. A stream without ``tkeep``
    carries one word per beat; with it, a frame's items fill ``len(tkeep)`` lanes per beat (the lane
    width is the data width / ``len(tkeep)``: 8-bit bytes on the kernel's input, whole ids on hist_agg's)."""
    def lanes(bus: AxiStreamBus) -> dict[str, int]:
        return {} if hasattr(bus, "tkeep") else {"byte_lanes": 1}

    s_bus, m_bus = AxiStreamBus.from_prefix(dut, "s_axis"), AxiStreamBus.from_prefix(dut, "m_axis")
    source = AxiStreamSource(s_bus, dut.ap_clk, dut.ap_rst_n, reset_active_level=False, **lanes(s_bus))
    sink = AxiStreamSink(m_bus, dut.ap_clk, dut.ap_rst_n, reset_active_level=False, **lanes(m_bus))
    for end in (source, sink):   # cocotbext-axi logs every frame with its bytes at INFO
        end.log.setLevel("WARNING")
    return source, sink


async def reset(dut: Any, cycles: int) -> None:
    """Hold ``ap_rst_n`` low for ``cycles`` clocks, then release it and wait one rising edge."""
    dut.ap_rst_n.value = 0
    await ClockCycles(dut.ap_clk, cycles)
    dut.ap_rst_n.value = 1
    await RisingEdge(dut.ap_clk)


def now_ns() -> float:
    return float(get_sim_time("ns"))


def cycles_since(start_ns: float) -> int:
    """Whole clock cycles of simulated time since ``start_ns`` (from :func:`now_ns`)."""
    return round((get_sim_time("ns") - start_ns) / CLOCK_NS)


def read_memh(path: str | Path) -> list[int]:
    """The words of a ``$readmemh`` file written by ``write_memh`` (one hex word per line)."""
    return [int(line, 16) for line in Path(path).read_text().split() if line]


def idle_load_bus(dut: Any) -> None:
    """Drive a block's load bus (``ld_valid``, ``ld_mem``, ``ld_addr``, ``ld_data``, ``ld_active``) idle."""
    for name in ("ld_valid", "ld_mem", "ld_addr", "ld_data", "ld_active"):
        getattr(dut, name).value = 0


async def load_memories(dut: Any, memories: Sequence[tuple[int, Sequence[int]]], gap: int = 0,
                        rng: random.Random | None = None) -> None:
    """Write every line of each ``(memory index, lines)`` through the load bus, line 0 first, as the kernel's
    controller does: ``ld_active`` high from a cycle before the first line to after the last, then 8 idle
    cycles before the next query. ``gap`` idle cycles between lines (random 0..gap with ``rng``)."""
    clk = dut.ap_clk
    dut.ld_valid.value = 0
    dut.ld_active.value = 1
    await RisingEdge(clk)
    for mem, lines in memories:
        for addr, word in enumerate(lines):
            dut.ld_valid.value = 1
            dut.ld_mem.value = mem
            dut.ld_addr.value = addr
            dut.ld_data.value = int(word)
            await RisingEdge(clk)
            pause = rng.randint(0, gap) if rng is not None and gap else gap
            if pause:
                dut.ld_valid.value = 0
                dut.ld_data.value = 0
                await ClockCycles(clk, pause)
    dut.ld_valid.value = 0
    dut.ld_data.value = 0
    await RisingEdge(clk)
    dut.ld_active.value = 0
    await ClockCycles(clk, 8)


class StreamBench:
    """Clock, source/sink and a seeded ``random.Random`` that also drives the pause generators."""

    def __init__(self, dut: Any, seed: int) -> None:
        self.dut = dut
        self.rng = random.Random(seed)
        start_clock(dut)
        self.source, self.sink = axis_pair(dut)

    def set_pauses(self, src: float, snk: float) -> None:
        # a cleared generator leaves `pause` at its last value: always install one
        self.source.set_pause_generator(pauses(self.rng, src))
        self.sink.set_pause_generator(pauses(self.rng, snk))

    async def reset(self, cycles: int = 3) -> None:
        await reset(self.dut, cycles)

    async def send(self, item: Any) -> None:
        """Put one item (a packet, a query) on the input stream; each block's bench says how."""
        raise NotImplementedError

    async def check(self, item: Any) -> None:
        """Take one item's answer from the output stream and compare it with the reference model's."""
        raise NotImplementedError

    async def run_all(self, items: list[Any]) -> None:
        """Send every item back to back, then check every answer in order."""
        for item in items:
            await self.send(item)
        for item in items:
            await self.check(item)

    async def under_pauses(self, schedule: list[tuple[float, float]], batch: Callable[[], list[Any]]) -> None:
        """:meth:`run_all` of a fresh ``batch()`` under each (source, sink) pause probability of ``schedule``."""
        for src, snk in schedule:
            self.set_pauses(src, snk)
            await self.run_all(batch())
