"""hls_kernels/topk in C-simulation, bit-exact against numerics.topk over the valid candidates (descending
score, ties to the lower id; missing results have valid 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import build_block, run_block, seed_of

from hybrec import numerics

pytestmark = [pytest.mark.hls]

CASES = [
    pytest.param(dict(LANES=4, K=5, ID_BITS=8, SCORE_BITS=12), id="lanes4-k5"),
    pytest.param(dict(LANES=3, K=1, ID_BITS=6, SCORE_BITS=5), id="lanes3-k1-narrow"),
    pytest.param(dict(LANES=1, K=4, ID_BITS=5, SCORE_BITS=8), id="lanes1-k4"),
    pytest.param(dict(LANES=8, K=10, ID_BITS=11, SCORE_BITS=20), id="ml100k-lanes8-k10"),
]


@pytest.mark.parametrize("p", CASES)
def test_topk(p: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(seed_of(p))
    lanes, k, sb = p["LANES"], p["K"], p["SCORE_BITS"]
    exe = build_block("topk", tmp_path, "P", p)
    lines: list[list[int]] = []
    queries = []
    for q in range(60):
        rows = int(rng.integers(1, 12))
        cells = rows * lanes
        ids = rng.permutation(min(1 << p["ID_BITS"], 4 * cells))[:cells]  # distinct, in any order
        span = 3 if q % 3 == 0 else 1 << (sb - 1)                         # every third query: many ties
        scores = rng.integers(-span, span, size=cells)
        if q in (1, 2):                                                   # all at the extreme values
            scores[:] = -(1 << (sb - 1)) if q == 1 else (1 << (sb - 1)) - 1
        valid = rng.random(cells) < (0.1 if q % 4 == 1 else 0.8)          # some queries: fewer than K
        lines.append([rows, *np.stack([valid.astype(int), ids, scores], axis=1).ravel().tolist()])
        by_id = np.argsort(ids[valid])                                    # numerics.topk: ties to the lower index
        queries.append((ids[valid][by_id], scores[valid][by_id]))
    out = run_block(exe, [[len(queries)], *lines])
    for (ids, scores), line in zip(queries, out, strict=True):
        assert line[0] == k
        got = np.array(line[1:]).reshape(k, 4)
        best, best_scores = numerics.topk(scores, k)
        m = best.size
        np.testing.assert_array_equal(got[:m, 0], 1)
        np.testing.assert_array_equal(got[:m, 1], ids[best])
        np.testing.assert_array_equal(got[:m, 2], best_scores)
        assert (got[m:, 0] == 0).all() and (got[m:, 2] == 0).all()
        assert got[:, 3].tolist() == [0] * (k - 1) + [1]
