"""cocotb testbench of ``hw/mvau/mvau.v``, bit-exact against ``hybrec.numerics.mvau``.

The pytest driver (``tests/sim/test_mvau.py``) writes the memory files, builds the unit and names a JSON
file in ``HYBREC_TB_CONFIG``::

    {"config": {Mvau fields}, "weights": "W.npy", "thresholds": "T.npy" | null,
     "memories": [[load-bus index, hex file], ...], "other": {"weights", "thresholds", "memories"},
     "seed": int, "vectors": int, "report": "report.json", "cycle_tolerance": float}

Every test first writes the memories through the load bus. Tests: random vectors with random stalls on
both streams; cycles per vector and latency with no stalls (written to ``report``); a reset in the middle
of a vector, then correct results; another model loaded over the first, then its results.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamFrame

from hybrec.compile.blocks.mvau import Mvau, input_range, pack_input, unpack_output
from hybrec.numerics import mvau
from hybrec.simulate.cocotb_tb import (
    axis_pair,
    idle_load_bus,
    load_config,
    load_memories,
    pauses,
    read_memh,
    reset,
    start_clock,
)


@dataclass
class Case:
    cfg: Mvau
    weights: np.ndarray
    thresholds: np.ndarray | None
    seed: int
    vectors: int
    report: Path
    cycle_tolerance: float
    memories: list[tuple[int, list[int]]]
    other: dict[str, object]

    @classmethod
    def load(cls) -> Case:
        raw = load_config()
        return cls(
            cfg=Mvau(**raw["config"]),
            weights=np.load(raw["weights"]),
            thresholds=None if raw["thresholds"] is None else np.load(raw["thresholds"]),
            seed=int(raw["seed"]),
            vectors=int(raw["vectors"]),
            report=Path(raw["report"]),
            cycle_tolerance=float(raw["cycle_tolerance"]),
            memories=[(int(m), read_memh(f)) for m, f in raw["memories"]],
            other=raw["other"],
        )

    def use_other(self) -> None:
        """Switch to the other model: its arrays for the expected results, its lines for the next load."""
        self.weights = np.load(self.other["weights"])
        self.thresholds = None if self.other["thresholds"] is None else np.load(self.other["thresholds"])
        self.memories = [(int(m), read_memh(f)) for m, f in self.other["memories"]]

    def expected(self, x: np.ndarray) -> np.ndarray:
        return mvau(x, self.weights, self.thresholds, self.cfg.out_bias)

    def random_inputs(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random vectors ``[count, MW]``; the first two are all-minimum and all-maximum."""
        lo, hi = input_range(self.cfg.in_bits, self.cfg.in_signed)
        xs = rng.integers(lo, hi + 1, size=(count, self.cfg.mw), dtype=np.int64)
        xs[0, :] = lo
        if count > 1:
            xs[1, :] = hi
        return xs


class Testbench:
    """Clock, AXI-Stream source/sink (one word per beat) and a cycle-stamping handshake monitor."""

    def __init__(self, dut: object, case: Case) -> None:
        self.dut = dut
        self.case = case
        self.cfg = case.cfg
        idle_load_bus(dut)
        start_clock(dut)
        self.source, self.sink = axis_pair(dut)
        self.cycle = 0
        self.in_beats = 0
        self.vector_in_cycles: list[int] = []     # cycle of each vector's first input beat
        self.vector_out_cycles: list[int] = []    # cycle of each vector's last output beat
        self.first_out_cycles: list[int] = []     # cycle of each vector's first output beat
        self._out_beats = 0
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        dut = self.dut
        edge = RisingEdge(dut.ap_clk)
        while True:
            await edge
            self.cycle += 1
            if not dut.ap_rst_n.value:
                continue
            if dut.s_axis_tvalid.value and dut.s_axis_tready.value:
                if self.in_beats % self.cfg.sf == 0:
                    self.vector_in_cycles.append(self.cycle)
                self.in_beats += 1
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                if self._out_beats % self.cfg.nf == 0:
                    self.first_out_cycles.append(self.cycle)
                self._out_beats += 1
                if dut.m_axis_tlast.value:
                    self.vector_out_cycles.append(self.cycle)

    def clear_stamps(self) -> None:
        self.in_beats = 0
        self._out_beats = 0
        self.vector_in_cycles.clear()
        self.vector_out_cycles.clear()
        self.first_out_cycles.clear()

    async def reset(self, cycles: int = 4) -> None:
        await reset(self.dut, cycles)

    async def load(self) -> None:
        """Write the case's memories through the load bus (then reset the stream ends: the cycle stamps and
        latencies are measured from a reset, and the memories keep their lines)."""
        await load_memories(self.dut, self.case.memories)
        await self.reset()

    async def send(self, xs: np.ndarray) -> None:
        for x in xs:
            await self.source.send(AxiStreamFrame(pack_input(self.cfg, x)))

    async def check(self, xs: np.ndarray) -> int:
        """Receive one output vector per row of ``xs`` and compare; returns the number of mismatches."""
        errors = 0
        for n, x in enumerate(xs):
            frame = await self.sink.recv()
            beats = list(frame.tdata)
            if len(beats) != self.cfg.nf:
                self.dut._log.error("vector %d: %d beats between tlasts, expected %d", n, len(beats),
                                    self.cfg.nf)
                errors += 1
                continue
            got = unpack_output(self.cfg, beats)
            want = self.case.expected(x)
            if not np.array_equal(got, want):
                errors += 1
                if errors <= 5:
                    self.dut._log.error("vector %d: x=%s\n got  %s\n want %s", n, x.tolist(), got.tolist(),
                                        want.tolist())
        return errors


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_random_stalls(dut: object) -> None:
    """Many back-to-back vectors with random pauses on s_axis and m_axis, bit-exact."""
    case = Case.load()
    tb = Testbench(dut, case)
    rng = np.random.default_rng(case.seed)
    tb.source.set_pause_generator(pauses(random.Random(case.seed), 0.3))
    tb.sink.set_pause_generator(pauses(random.Random(case.seed + 1), 0.3))
    await tb.reset()
    await tb.load()
    xs = case.random_inputs(rng, case.vectors)
    cocotb.start_soon(tb.send(xs))
    errors = await tb.check(xs)
    await ClockCycles(dut.ap_clk, 4 * case.cfg.pipeline_depth)
    assert tb.sink.empty(), "output beats after the last expected vector"
    assert errors == 0, f"{errors} of {len(xs)} vectors differ from hybrec.numerics.mvau"


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_cycles_per_vector(dut: object) -> None:
    """No stalls: steady-state cycles per vector vs FINN's (MH/PE)*(MW/SIMD), and the latency."""
    case = Case.load()
    cfg = case.cfg
    tb = Testbench(dut, case)
    await tb.reset()
    await tb.load()
    rng = np.random.default_rng(case.seed + 2)

    # Latency of one vector into an idle unit.
    xs = case.random_inputs(rng, 1)
    await tb.send(xs)
    assert await tb.check(xs) == 0
    latency_first = tb.first_out_cycles[0] - tb.vector_in_cycles[0]
    latency_last = tb.vector_out_cycles[0] - tb.vector_in_cycles[0]

    # Throughput of back-to-back vectors.
    await ClockCycles(dut.ap_clk, 5)
    tb.clear_stamps()
    count, warmup = 40, 4
    xs = case.random_inputs(rng, count)
    cocotb.start_soon(tb.send(xs))
    errors = await tb.check(xs)
    assert errors == 0
    out = tb.vector_out_cycles
    ins = tb.vector_in_cycles
    cycles_per_vector = (out[-1] - out[warmup]) / (count - 1 - warmup)
    input_cycles_per_vector = (ins[-1] - ins[warmup]) / (count - 1 - warmup)
    total_cycles = out[-1] - ins[0]
    report = {
        "exp_cycles": cfg.exp_cycles,
        "cycles_per_vector": cycles_per_vector,
        "input_cycles_per_vector": input_cycles_per_vector,
        "gaps": sorted({b - a for a, b in zip(out[warmup:], out[warmup + 1:], strict=False)}),
        "latency_first_beat": latency_first,
        "latency_last_beat": latency_last,
        "vector_latency_model": cfg.vector_latency,
        "vectors": count,
        "total_cycles": total_cycles,
    }
    case.report.write_text(json.dumps(report, indent=2))
    dut._log.info("cycle report: %s", report)
    assert abs(cycles_per_vector - cfg.exp_cycles) <= case.cycle_tolerance * cfg.exp_cycles, report
    assert latency_last == cfg.vector_latency, report
    assert latency_first == cfg.sf + cfg.pipeline_depth, report


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_reset_mid_vector(dut: object) -> None:
    """Reset while a vector is half in and earlier results are in flight; afterwards all is exact."""
    case = Case.load()
    cfg = case.cfg
    tb = Testbench(dut, case)
    await tb.reset()
    await tb.load()
    rng = np.random.default_rng(case.seed + 3)
    tb.sink.set_pause_generator(pauses(random.Random(case.seed + 4), 0.5))
    cocotb.start_soon(tb.send(case.random_inputs(rng, 6)))
    target = 2 * cfg.sf + max(1, cfg.sf // 2)
    while tb.in_beats < target:
        await RisingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 0
    await RisingEdge(dut.ap_clk)
    tb.source.clear()
    tb.sink.clear()
    await ClockCycles(dut.ap_clk, 3)
    dut.ap_rst_n.value = 1
    await ClockCycles(dut.ap_clk, 2)
    assert tb.sink.empty(), "output during reset"

    tb.sink.clear_pause_generator()
    tb.sink.pause = False    # clearing the generator leaves its last value in place
    tb.source.set_pause_generator(pauses(random.Random(case.seed + 5), 0.2))
    xs = case.random_inputs(rng, 12)
    cocotb.start_soon(tb.send(xs))
    errors = await tb.check(xs)
    await ClockCycles(dut.ap_clk, 4 * cfg.pipeline_depth)
    assert tb.sink.empty(), "output beats after the last expected vector"
    assert errors == 0, f"{errors} of {len(xs)} vectors wrong after a reset"


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_reload_other_model(dut: object) -> None:
    """Vectors against the first model, then the other model's memories written over it: bit-exact with each."""
    case = Case.load()
    tb = Testbench(dut, case)
    await tb.reset()
    await tb.load()
    rng = np.random.default_rng(case.seed + 6)
    tb.source.set_pause_generator(pauses(random.Random(case.seed + 7), 0.2))
    xs = case.random_inputs(rng, 10)
    cocotb.start_soon(tb.send(xs))
    assert await tb.check(xs) == 0, "wrong results with the first model"
    first = (case.weights, case.thresholds)
    case.use_other()
    assert not np.array_equal(first[0], case.weights)
    await ClockCycles(dut.ap_clk, 4 * case.cfg.pipeline_depth)
    await tb.load()
    xs = case.random_inputs(rng, 20)
    cocotb.start_soon(tb.send(xs))
    errors = await tb.check(xs)
    assert errors == 0, f"{errors} of {len(xs)} vectors differ from the reloaded model"
