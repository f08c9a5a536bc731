"""cocotb testbench of hw/topk: every result list checked against numerics.topk.

Configuration comes from the JSON file named by ``HYBREC_TB_CONFIG`` (written by tests/sim/test_topk.py):
``params`` (the HDL parameters), ``seed``, ``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame

from hybrec.numerics import topk
from hybrec.simulate.cocotb_tb import StreamBench, cycles_since, load_config, now_ns, to_signed

CFG = load_config()
P = CFG["params"]
LANES, K, ID_BITS, SCORE_BITS = P["LANES"], P["K"], P["ID_BITS"], P["SCORE_BITS"]
STEP = 2 if P["MERGE_SPLIT"] else 1          # cycles per merge step
WAVE_D = max(3, K - STEP * LANES - STEP + 2)  # the last beat in cell 0 -> the merge's first cycle (topk.v)
LW = ID_BITS + SCORE_BITS
S_LO, S_HI = -(1 << (SCORE_BITS - 1)), (1 << (SCORE_BITS - 1)) - 1
PAD_ID = (1 << ID_BITS) - 1


@dataclass
class Query:
    """Beats of (id, score, valid) lane triples, and the candidates they carry."""

    beats: list[list[tuple[int, int, int]]]

    def frame(self) -> AxiStreamFrame:
        words, masks = [], []
        for beat in self.beats:
            word = mask = 0
            for lane, (item_id, score, valid) in enumerate(beat):
                word |= ((item_id << SCORE_BITS) | (score & ((1 << SCORE_BITS) - 1))) << (lane * LW)
                mask |= valid << lane
            words.append(word)
            masks.append(mask)
        return AxiStreamFrame(words, tuser=masks)

    def expected(self) -> tuple[np.ndarray, np.ndarray]:
        """numerics.topk over the valid candidates, indexed in id order so that ties go to the lower id."""
        cands = sorted((item_id, score) for beat in self.beats for item_id, score, valid in beat if valid)
        ids = np.array([c[0] for c in cands], dtype=np.int64)
        scores = np.array([c[1] for c in cands], dtype=np.int64)
        order, best = topk(scores, K)
        return ids[order], best


class Bench(StreamBench):
    def __init__(self, dut, seed: int) -> None:
        super().__init__(dut, seed)

    def random_query(self, beats: int | None = None) -> Query:
        rng = self.rng
        if beats is None:
            beats = rng.choice([1, 1, 2, 3]) if rng.random() < 0.25 else rng.randint(1, 3 * (LANES + K))
        slots = beats * LANES
        kind = rng.random()
        if kind < 0.3:
            lo, hi = -2, 2                                 # ties everywhere
        elif kind < 0.4:
            lo, hi = S_LO, S_LO + 1                        # the most negative scores still beat empty slots
        elif kind < 0.5:
            lo, hi = S_HI - 1, S_HI
        else:
            lo, hi = S_LO, S_HI
        if rng.random() < 0.5:                             # as the scorer sends: ids in order, padded
            count = rng.randint(max(1, slots - LANES + 1), slots)
            ids: list[int | None] = [*range(count), *([None] * (slots - count))]
        else:                                              # any distinct ids, any lanes empty
            picked = rng.sample(range(1 << ID_BITS), min(slots, 1 << ID_BITS))
            ids = [i if rng.random() < 0.8 else None for i in picked] + [None] * (slots - len(picked))
        lanes = []
        for item_id in ids:
            if item_id is None:                            # empty lane: padded or garbage, tuser bit 0
                lanes.append((PAD_ID, S_LO, 0) if rng.random() < 0.5 else
                             (rng.randrange(1 << ID_BITS), rng.randint(S_LO, S_HI), 0))
            else:
                lanes.append((item_id, rng.randint(lo, hi), 1))
        return Query([lanes[b * LANES:(b + 1) * LANES] for b in range(beats)])

    async def check(self, query: Query, timeout_us: float = 200.0) -> None:
        frame = await with_timeout(self.sink.recv(), timeout_us, "us")
        ids, scores = query.expected()
        assert len(frame.tdata) == K, f"{len(frame.tdata)} beats, expected {K}"
        users = frame.tuser if isinstance(frame.tuser, list) else [frame.tuser] * K
        got = [(int(u), int(w) >> SCORE_BITS, to_signed(int(w), SCORE_BITS))
               for w, u in zip(frame.tdata, users, strict=True)]
        want = [(1, int(i), int(s)) for i, s in zip(ids, scores, strict=True)]
        want += [(0, PAD_ID, S_LO)] * (K - len(want))
        assert got == want, f"top-{K} mismatch:\n got  {got}\n want {want}"

    async def send(self, query: Query) -> None:
        await self.source.send(query.frame())


@cocotb.test()
async def random_queries_with_backpressure(dut) -> None:
    """Random lengths (1 beat to several), ties, extreme scores, empty lanes; pauses on both sides."""
    bench = Bench(dut, CFG["seed"])
    await bench.reset()
    await bench.under_pauses([(0.3, 0.3), (0.0, 0.8), (0.6, 0.0), (0.0, 0.0)],
                             lambda: [bench.random_query() for _ in range(CFG["queries"] // 4)])


@cocotb.test()
async def throughput_back_to_back(dut) -> None:
    """No pauses: LANES candidates per cycle; a query of B >= STEP * (LANES + K) + WAVE_D + 1 beats never
    waits."""
    bench = Bench(dut, CFG["seed"] + 1)
    await bench.reset()
    beats = STEP * (LANES + K) + WAVE_D + 1
    queries = [bench.random_query(beats) for _ in range(6)]
    start = now_ns()
    await bench.run_all(queries)
    cycles = cycles_since(start)
    # all beats at one per cycle; the last result comes STEP * (LANES + K) + WAVE_D + 1 cycles after the last
    # beat (README.md); 2 cycles of testbench slack
    bound = len(queries) * beats + STEP * (LANES + K) + WAVE_D + 1 + 2
    assert cycles <= bound, f"{len(queries)} queries of {beats} beats took {cycles} cycles (bound {bound})"
    dut._log.info("%d queries of %d beats: %d cycles (bound %d)", len(queries), beats, cycles, bound)


@cocotb.test()
async def reset_in_the_middle_of_a_query(dut) -> None:
    """Reset while a query streams in; the next queries must come out right."""
    bench = Bench(dut, CFG["seed"] + 2)
    await bench.reset()
    bench.set_pauses(0.2, 0.3)
    await bench.run_all([bench.random_query() for _ in range(2)])
    await bench.source.send(bench.random_query(4 * (LANES + K)).frame())
    await ClockCycles(dut.ap_clk, 2 * (LANES + K))
    await bench.reset(cycles=2)
    bench.source.clear()
    bench.sink.clear()
    await bench.run_all([bench.random_query() for _ in range(4)])
    await ClockCycles(dut.ap_clk, 20)
    assert bench.sink.empty(), "unexpected output after the checked queries"
