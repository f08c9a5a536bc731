"""cocotb testbench of hw/scorer: every (id, score, valid) lane checked against numerics.item_scores.

Configuration comes from the JSON file named by ``HYBREC_TB_CONFIG`` (written by tests/sim/test_scorer.py):
``params`` (the HDL parameters), ``items`` (the .npy the item ROM was written from), ``seed``, ``queries``.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame

from hybrec.numerics import item_scores
from hybrec.simulate.cocotb_tb import StreamBench, cycles_since, load_config, now_ns, to_signed

CFG = load_config()
P = CFG["params"]
ITEMS = np.load(CFG["items"])
N_ITEMS, D, UBITS, LANES = P["N_ITEMS"], P["D"], P["UBITS"], P["LANES"]
ID_BITS, SCORE_BITS, USER_SIGNED = P["ID_BITS"], P["SCORE_BITS"], P["USER_SIGNED"]
NROWS = -(-N_ITEMS // LANES)
LW = ID_BITS + SCORE_BITS
U_LO, U_HI = (-(1 << (UBITS - 1)), (1 << (UBITS - 1)) - 1) if USER_SIGNED else (0, (1 << UBITS) - 1)


def tree_latency(leaves: int) -> int:
    """Register stages of hw/scorer/scorer_tree.v (its documented rule)."""
    levels = (leaves - 1).bit_length()
    if levels == 0:
        return 1
    return sum(1 for h in range(1, levels + 1) if h % P["ADDS_PER_STAGE"] == 0 or h == levels)


def pack(values: np.ndarray, bits: int) -> int:
    word = 0
    for i, value in enumerate(values.tolist()):
        word |= (int(value) & ((1 << bits) - 1)) << (i * bits)
    return word


class Bench(StreamBench):
    def __init__(self, dut, seed: int) -> None:
        super().__init__(dut, seed)
        self.nprng = np.random.default_rng(seed)

    def random_user(self) -> np.ndarray:
        kind = self.rng.random()
        if kind < 0.1:
            return np.full(D, U_LO if self.rng.random() < 0.5 else U_HI, dtype=np.int64)
        if kind < 0.3:                                   # small range: many equal scores
            return self.nprng.integers(max(U_LO, -1), 2, size=D, dtype=np.int64)
        return self.nprng.integers(U_LO, U_HI + 1, size=D, dtype=np.int64)

    async def send(self, user: np.ndarray) -> None:
        await self.source.send(AxiStreamFrame([pack(user, UBITS)]))

    async def check(self, user: np.ndarray, timeout_us: float = 500.0) -> None:
        frame = await with_timeout(self.sink.recv(), timeout_us, "us")
        expect = item_scores(user, ITEMS)
        assert len(frame.tdata) == NROWS, f"{len(frame.tdata)} beats, expected {NROWS}"
        masks = frame.tuser if isinstance(frame.tuser, list) else [frame.tuser] * NROWS
        for row, (word, mask) in enumerate(zip(frame.tdata, masks, strict=True)):
            for lane in range(LANES):
                field = (int(word) >> (lane * LW)) & ((1 << LW) - 1)
                score = to_signed(field, SCORE_BITS)
                item_id = field >> SCORE_BITS
                valid = (int(mask) >> lane) & 1
                idx = row * LANES + lane
                if idx < N_ITEMS:
                    assert (valid, item_id, score) == (1, idx, int(expect[idx])), \
                        f"row {row} lane {lane}: got ({valid}, {item_id}, {score}), want {idx}: {expect[idx]}"
                else:
                    assert (valid, item_id, score) == (0, (1 << ID_BITS) - 1, -(1 << (SCORE_BITS - 1))), \
                        f"padded row {row} lane {lane}: got ({valid}, {item_id}, {score})"



@cocotb.test()
async def random_queries_with_backpressure(dut) -> None:
    """Random, extreme and small-range user vectors back to back; random pauses on both sides."""
    bench = Bench(dut, CFG["seed"])
    await bench.reset()
    await bench.under_pauses([(0.3, 0.3), (0.0, 0.6), (0.7, 0.1), (0.0, 0.0)],
                             lambda: [bench.random_user() for _ in range(max(1, CFG["queries"] // 4))])


@cocotb.test()
async def throughput_back_to_back(dut) -> None:
    """No pauses: NROWS beats per query, II = NROWS + 1 cycles."""
    bench = Bench(dut, CFG["seed"] + 1)
    await bench.reset()
    users = [bench.random_user() for _ in range(6)]
    start = now_ns()
    await bench.run_all(users)
    cycles = cycles_since(start)
    # II = NROWS + 1, then the documented first-beat latency DOT_LAT + 4 + ROM_OUT_REG and 2 cycles of
    # testbench slack
    dot_lat = 1 + tree_latency(D) + (tree_latency(UBITS + USER_SIGNED) if P["BIT_PLANES"] else 0)
    bound = len(users) * (NROWS + 1) + dot_lat + 4 + P.get("ROM_OUT_REG", 0) + 2
    assert cycles <= bound, f"{len(users)} queries took {cycles} cycles (bound {bound})"
    dut._log.info("%d queries: %d cycles (bound %d)", len(users), cycles, bound)


@cocotb.test()
async def reset_in_the_middle_of_a_query(dut) -> None:
    """Reset while beats are coming out; the next queries must come out right."""
    bench = Bench(dut, CFG["seed"] + 2)
    await bench.reset()
    bench.set_pauses(0.2, 0.3)
    await bench.run_all([bench.random_user() for _ in range(2)])
    await bench.send(bench.random_user())
    await ClockCycles(dut.ap_clk, 4 + NROWS // 2)
    await bench.reset(cycles=2)
    bench.source.clear()
    bench.sink.clear()
    await bench.run_all([bench.random_user() for _ in range(3)])
    await ClockCycles(dut.ap_clk, 20)
    assert bench.sink.empty(), "unexpected output after the checked queries"
