"""cocotb testbench of hw/scorer: every (id, score, valid) lane checked against numerics.item_scores.

Configuration comes from the JSON file named by ``HYBREC_TB_CONFIG`` (written by tests/sim/test_scorer.py):
``params`` (the HDL parameters; N_ITEMS is the capacity), ``items`` (the .npy the item memory's lines were
made from) and ``item_hex`` (those lines, one file per group, written through the load bus), ``items2`` and
``item_hex2`` (other contents, for a reload), ``seed``, ``queries``.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame

from hybrec.numerics import item_scores
from hybrec.simulate.cocotb_tb import (
    StreamBench,
    cycles_since,
    idle_load_bus,
    load_config,
    load_memories,
    now_ns,
    read_memh,
    to_signed,
)

CFG = load_config()
P = CFG["params"]
ITEM_SETS = [(np.load(CFG["items"]), [read_memh(f) for f in CFG["item_hex"]]),
             (np.load(CFG["items2"]), [read_memh(f) for f in CFG["item_hex2"]])]
LD_BASE = P.get("LD_BASE", 0)
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


# The documented pipeline (scorer.v's DOT_LAT): the combining tree's stages only when some lane uses bit planes
# (multiplier lanes alone do not wait for them).
PLANE_LANES = LANES - P.get("MUL_LANES", 0) if P["BIT_PLANES"] else 0
DOT_LAT = 1 + tree_latency(D) + (tree_latency(UBITS + USER_SIGNED) if PLANE_LANES > 0 else 0)


def pack(values: np.ndarray, bits: int) -> int:
    word = 0
    for i, value in enumerate(values.tolist()):
        word |= (int(value) & ((1 << bits) - 1)) << (i * bits)
    return word


def rows_for(n_items: int) -> int:
    """Rows of a query with ``n_items`` live items: up to the row of item n_items - 1, at least one."""
    return max(1, -(-n_items // LANES))


class Bench(StreamBench):
    def __init__(self, dut, seed: int) -> None:
        idle_load_bus(dut)
        dut.n_items.value = N_ITEMS
        super().__init__(dut, seed)
        self.nprng = np.random.default_rng(seed)
        self.items = ITEM_SETS[0][0]
        self.n_items = N_ITEMS

    async def load(self, which: int = 0, gap: int = 0) -> None:
        """Write item set ``which`` (every group) through the load bus; the checks then expect it."""
        items, groups = ITEM_SETS[which]
        await load_memories(self.dut, [(LD_BASE + g, lines) for g, lines in enumerate(groups)], gap, self.rng)
        self.items = items

    async def set_n_items(self, n: int) -> None:
        """The live item count (changed only while no query is inside, as in the kernel)."""
        self.dut.n_items.value = n
        self.n_items = n
        await ClockCycles(self.dut.ap_clk, 2)

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
        n = self.n_items
        expect = item_scores(user, self.items[:n])
        rows = rows_for(n)
        assert len(frame.tdata) == rows, f"{len(frame.tdata)} beats up to tlast, expected {rows} (n_items {n})"
        masks = frame.tuser if isinstance(frame.tuser, list) else [frame.tuser] * rows
        for row, (word, mask) in enumerate(zip(frame.tdata, masks, strict=True)):
            for lane in range(LANES):
                field = (int(word) >> (lane * LW)) & ((1 << LW) - 1)
                score = to_signed(field, SCORE_BITS)
                item_id = field >> SCORE_BITS
                valid = (int(mask) >> lane) & 1
                idx = row * LANES + lane
                if idx < n:
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
    await bench.load()
    await bench.under_pauses([(0.3, 0.3), (0.0, 0.6), (0.7, 0.1), (0.0, 0.0)],
                             lambda: [bench.random_user() for _ in range(max(1, CFG["queries"] // 4))])


@cocotb.test()
async def throughput_back_to_back(dut) -> None:
    """No pauses: NROWS beats per query, II = NROWS + 1 cycles."""
    bench = Bench(dut, CFG["seed"] + 1)
    await bench.reset()
    await bench.load()
    await bench.reset()   # the memory keeps its lines; the stream ends restart as the bound assumes
    users = [bench.random_user() for _ in range(6)]
    start = now_ns()
    await bench.run_all(users)
    cycles = cycles_since(start)
    # II = NROWS + 1, then the documented first-beat latency DOT_LAT + 5 + ROM_OUT_REG and 2 cycles of
    # testbench slack
    bound = len(users) * (NROWS + 1) + DOT_LAT + 5 + P.get("ROM_OUT_REG", 0) + 2
    assert cycles <= bound, f"{len(users)} queries took {cycles} cycles (bound {bound})"
    dut._log.info("%d queries: %d cycles (bound %d)", len(users), cycles, bound)


@cocotb.test()
async def live_items_below_capacity(dut) -> None:
    """n_items below N_ITEMS: rows up to the row of item n_items - 1 (one row for 0), tlast there, lanes past
    n_items invalid; back to back, with pauses, and a throughput bound of rows + 1 cycles per query."""
    bench = Bench(dut, CFG["seed"] + 3)
    await bench.reset()
    await bench.load()
    counts = sorted({0, 1, LANES - 1, LANES, LANES + 1, 2 * LANES - 1, N_ITEMS - LANES, N_ITEMS - 1, N_ITEMS,
                     bench.rng.randrange(N_ITEMS + 1), bench.rng.randrange(N_ITEMS + 1)})
    for n in [c for c in counts if 0 <= c <= N_ITEMS]:
        await bench.set_n_items(n)
        await bench.reset(cycles=2)   # the stream ends restart as the bound assumes (memory and n_items stay)
        users = [bench.random_user() for _ in range(3)]
        start = now_ns()
        await bench.run_all(users)
        cycles = cycles_since(start)
        bound = len(users) * (rows_for(n) + 1) + DOT_LAT + 5 + P.get("ROM_OUT_REG", 0) + 2
        assert cycles <= bound, f"n_items {n}: {len(users)} queries took {cycles} cycles (bound {bound})"
        bench.set_pauses(0.2, 0.3)
        await bench.run_all([bench.random_user() for _ in range(3)])
        bench.set_pauses(0.0, 0.0)
    await ClockCycles(dut.ap_clk, 20)
    assert bench.sink.empty(), "unexpected output after the checked queries"


@cocotb.test()
async def reload_other_items(dut) -> None:
    """Load one item set, query, load another (lines with gaps), query again: every score is the new one's."""
    bench = Bench(dut, CFG["seed"] + 4)
    await bench.reset()
    assert not np.array_equal(ITEM_SETS[0][0], ITEM_SETS[1][0])
    for which in (0, 1, 0):
        await bench.load(which, gap=2)
        bench.set_pauses(0.2, 0.2)
        await bench.run_all([bench.random_user() for _ in range(4)])


@cocotb.test()
async def reset_in_the_middle_of_a_query(dut) -> None:
    """Reset while beats are coming out; the next queries must come out right."""
    bench = Bench(dut, CFG["seed"] + 2)
    await bench.reset()
    await bench.load()
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
