"""hls_kernels/scorer in C-simulation, bit-exact against numerics.item_scores (rows, lanes, padding), with the
live item count at the capacity, below it, and 0 (no model: one row of no candidate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import build_block, run_block, seed_of

from hybrec import numerics
from hybrec.compile.blocks import Scorer

pytestmark = [pytest.mark.hls]

CASES = [
    pytest.param(dict(N=37, D=8, UBITS=4, USIGNED=False, IBITS=4, LANES=4, IN_PAR=2), id="n37-lanes4-uuser"),
    pytest.param(dict(N=50, D=64, UBITS=8, USIGNED=True, IBITS=8, LANES=8, IN_PAR=16), id="ml100k-widths"),
    pytest.param(dict(N=7, D=3, UBITS=2, USIGNED=False, IBITS=3, LANES=3, IN_PAR=1), id="n7-lanes3-narrow"),
    pytest.param(dict(N=5, D=4, UBITS=3, USIGNED=True, IBITS=5, LANES=1, IN_PAR=4), id="lanes1"),
]


@pytest.mark.parametrize("case", CASES)
def test_scorer(case: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(seed_of(case))
    n, d, lanes = case["N"], case["D"], case["LANES"]
    score_bits = case["UBITS"] + case["IBITS"] + (0 if case["USIGNED"] else 1) + max(1, (d - 1).bit_length())
    i_lo, i_hi = numerics.int_range(case["IBITS"])
    items = rng.integers(i_lo, i_hi + 1, size=(n, d))
    items[0], items[-1] = i_lo, i_hi
    u_lo, u_hi = numerics.int_range(case["UBITS"], case["USIGNED"])
    users = rng.integers(u_lo, u_hi + 1, size=(30, d))
    users[0], users[1] = u_lo, u_hi  # the largest magnitudes
    fields = {**case, "ID_BITS": max(1, n.bit_length()), "SCORE_BITS": score_bits}
    block = Scorer(n_items=n, out_dim=d, user_bits=case["UBITS"], user_signed=case["USIGNED"], item_bits=case["IBITS"],
                   lanes=lanes)
    assert block.score_bits == score_bits
    exe = build_block("scorer", tmp_path, "P", fields, {"ITEMS": block.hls_item_rom(items)})
    lives = [n if u % 3 == 0 else (0 if u % 7 == 1 else int(rng.integers(1, n + 1))) for u in range(len(users))]
    out = run_block(exe, [[len(users)], *[[live, *user.tolist()] for live, user in zip(lives, users, strict=True)]])
    for live, user, line in zip(lives, users, out, strict=True):
        rows = max(1, -(-live // lanes))
        assert line[0] == rows
        beats = np.array(line[1:]).reshape(rows, 1 + 3 * lanes)
        assert beats[:, 0].tolist() == [0] * (rows - 1) + [1]
        valid, ids, scores = (beats[:, 1:].reshape(rows * lanes, 3).T)
        real = np.arange(rows * lanes) < live
        np.testing.assert_array_equal(valid, real.astype(int))
        np.testing.assert_array_equal(ids[real], np.arange(live))
        np.testing.assert_array_equal(scores[real], numerics.item_scores(user, items[:live]))
