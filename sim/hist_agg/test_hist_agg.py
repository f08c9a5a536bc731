"""cocotb testbench of hw/hist_agg: every output beat checked against numerics.aggregate_history.

Configuration comes from the JSON file named by ``HYBREC_TB_CONFIG`` (written by tests/sim/test_hist_agg.py):
``params`` (the HDL parameters), ``features`` (the .npy the feature memory's lines were made from) and
``feature_hex`` (those lines, one file per group, written through the load bus), ``features2`` and
``feature_hex2`` (other contents, for a reload), ``seed``, ``packets``.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame

from hybrec.numerics import aggregate_history
from hybrec.simulate.cocotb_tb import (
    StreamBench,
    cycles_since,
    idle_load_bus,
    load_config,
    load_memories,
    now_ns,
    read_memh,
)

CFG = load_config()
P = CFG["params"]
FEATURE_SETS = [(np.load(CFG["features"]), [read_memh(f) for f in CFG["feature_hex"]]),
                (np.load(CFG["features2"]), [read_memh(f) for f in CFG["feature_hex2"]])]
LD_BASE = P.get("LD_BASE", 0)
N_ITEMS, F, FEAT_BITS, ID_BITS, LMAX = P["N_ITEMS"], P["F"], P["FEAT_BITS"], P["ID_BITS"], P["LMAX"]
SHIFT = P["AGG_SHIFT"]
NCH = F // P["NORM_PAR"]
IPB = P.get("IPB", 1)  # ids per beat: a frame of ids fills IPB slots per beat, tkeep marks the last beat's


def unpack_signed(word: int, count: int, bits: int) -> np.ndarray:
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    return np.array([(((word >> (i * bits)) & mask) ^ sign) - sign for i in range(count)], dtype=np.int64)


class Bench(StreamBench):
    def __init__(self, dut, seed: int) -> None:
        idle_load_bus(dut)
        super().__init__(dut, seed)
        self.features = FEATURE_SETS[0][0]

    async def load(self, which: int = 0, gap: int = 0) -> None:
        """Write feature set ``which`` (every group) through the load bus; the checks then expect it."""
        features, groups = FEATURE_SETS[which]
        await load_memories(self.dut, [(LD_BASE + g, lines) for g, lines in enumerate(groups)], gap, self.rng)
        self.features = features

    def random_history(self) -> list[int]:
        rng = self.rng
        kind = rng.random()
        if kind < 0.08:
            length = rng.randint(1, 3)                    # "empty": only bad ids
            return [rng.randint(N_ITEMS, (1 << ID_BITS) - 1) for _ in range(length)]
        if kind < 0.2:
            length = LMAX + rng.randint(1, 5)             # truncated
        elif kind < 0.3:
            length = rng.choice([1, 2, LMAX])
        else:
            length = rng.randint(1, LMAX)
        bad_rate = 0.15 if rng.random() < 0.3 else 0.0
        extremes = rng.random() < 0.15                    # rows 0/1 are all-max/all-min: saturation
        ids = []
        for _ in range(length):
            if rng.random() < bad_rate:
                ids.append(rng.randint(N_ITEMS, (1 << ID_BITS) - 1))
            elif extremes:
                ids.append(rng.choice([0, 0, 0, 1]) if rng.random() < 0.9 else rng.randrange(N_ITEMS))
            else:
                ids.append(rng.randrange(N_ITEMS))
        return ids

    async def check(self, history: list[int], timeout_us: float = 200.0) -> None:
        frame = await with_timeout(self.sink.recv(), timeout_us, "us")
        expect_mean, expect_flags = aggregate_history(np.array(history), self.features, LMAX, FEAT_BITS, SHIFT)
        assert len(frame.tdata) == 1, f"expected one output beat, got {len(frame.tdata)}"
        got_mean = unpack_signed(int(frame.tdata[0]), F, FEAT_BITS)
        got_flags = int(frame.tuser)
        assert np.array_equal(got_mean, expect_mean), \
            f"history {history}: mean {got_mean.tolist()} != {expect_mean.tolist()}"
        assert got_flags == expect_flags, f"history {history}: flags {got_flags} != {expect_flags}"

    async def send(self, history: list[int]) -> None:
        await self.source.send(AxiStreamFrame(history))


@cocotb.test()
async def random_packets_with_backpressure(dut) -> None:
    """Random histories (valid, bad, truncated, saturating), random pauses on both sides."""
    bench = Bench(dut, CFG["seed"])
    await bench.reset()
    await bench.load()
    await bench.under_pauses([(0.3, 0.3), (0.0, 0.7), (0.6, 0.0), (0.0, 0.0)],
                             lambda: [bench.random_history() for _ in range(CFG["packets"] // 4)])


@cocotb.test()
async def flag_corner_cases(dut) -> None:
    """One-id, all-bad ("empty"), exactly LMAX, LMAX + 1, bad ids past LMAX (ignored, no BAD_ID)."""
    bench = Bench(dut, CFG["seed"] + 1)
    await bench.reset()
    await bench.load()
    bench.set_pauses(0.2, 0.2)
    bad = (1 << ID_BITS) - 1
    histories = [
        [N_ITEMS - 1], [bad], [N_ITEMS, bad, N_ITEMS], [0] * LMAX, [1] * (LMAX + 1),
        [*range(LMAX), bad, bad], [bad] * LMAX + [3], [5, bad, 7], [0, 1] * LMAX,
    ]
    await bench.run_all(histories)


@cocotb.test()
async def throughput_back_to_back(dut) -> None:
    """No pauses: one beat of IPB ids per clock, packets back to back; checks the documented cycle count."""
    bench = Bench(dut, CFG["seed"] + 2)
    await bench.reset()
    await bench.load()
    await bench.reset()   # the memory keeps its lines; the stream ends restart as the bound assumes
    histories = [[bench.rng.randrange(N_ITEMS) for _ in range(bench.rng.randint(min(IPB * (NCH + 2), LMAX), LMAX))]
                 for _ in range(12)]
    start = now_ns()
    for history in histories:
        await bench.source.send(AxiStreamFrame(history))
    for history in histories:
        await bench.check(history)
    cycles = cycles_since(start)
    ids = sum(len(h) for h in histories)
    # one beat (IPB ids) per cycle, then the documented latency (NCH + 6) and 2 cycles of testbench
    # start/finish
    beats = sum(-(-len(h) // IPB) for h in histories)
    bound = beats + NCH + 6 + 2
    assert cycles <= bound, f"{ids} ids in {beats} beats took {cycles} cycles (bound {bound})"
    dut._log.info("%d ids in %d packets: %d cycles (bound %d)", ids, len(histories), cycles, bound)


@cocotb.test()
async def reload_other_features(dut) -> None:
    """Load one feature set, query, load another (lines with gaps), query again: every mean is the new one's."""
    bench = Bench(dut, CFG["seed"] + 4)
    await bench.reset()
    assert not np.array_equal(FEATURE_SETS[0][0], FEATURE_SETS[1][0])
    for which in (0, 1, 0):
        await bench.load(which, gap=2)
        bench.set_pauses(0.2, 0.2)
        await bench.run_all([bench.random_history() for _ in range(12)] + [[*range(min(LMAX, N_ITEMS))]])


@cocotb.test()
async def reset_in_the_middle_of_a_packet(dut) -> None:
    """Reset while a packet is half sent; the next packets must come out right."""
    bench = Bench(dut, CFG["seed"] + 3)
    await bench.reset()
    await bench.load()
    bench.set_pauses(0.2, 0.2)
    await bench.run_all([bench.random_history() for _ in range(3)])
    long_packet = [bench.rng.randrange(N_ITEMS) for _ in range(LMAX + 4)]
    await bench.source.send(AxiStreamFrame(long_packet))
    await ClockCycles(dut.ap_clk, max(2, LMAX // 2))
    await bench.reset(cycles=2)
    bench.source.clear()
    bench.sink.clear()
    assert bench.sink.empty()
    await bench.run_all([bench.random_history() for _ in range(8)])
    await ClockCycles(dut.ap_clk, 20)
    assert bench.sink.empty(), "unexpected output after the checked packets"
