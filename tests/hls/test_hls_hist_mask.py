"""hls_kernels/hist_mask in C-simulation: the counted ids lose their valid bits, everything else passes,
and the bank is empty again for the next query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import build_block, run_block, seed_of

pytestmark = [pytest.mark.hls]

CASES = [
    pytest.param(dict(N=23, LANES=4, ID_BITS=5, SCORE_BITS=12), id="n23-lanes4"),
    pytest.param(dict(N=10, LANES=3, ID_BITS=4, SCORE_BITS=6), id="n10-lanes3"),
    pytest.param(dict(N=16, LANES=1, ID_BITS=5, SCORE_BITS=8), id="lanes1"),
]


@pytest.mark.parametrize("p", CASES)
def test_hist_mask(p: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(seed_of(p))
    n, lanes = p["N"], p["LANES"]
    rows = -(-n // lanes)
    exe = build_block("hist_mask", tmp_path, "P", p)
    lines: list[list[int]] = []
    cases = []
    for q in range(25):
        excluded = {0: np.arange(n), 1: np.zeros(0, dtype=np.int64), 2: np.array([n - 1, n - 1, 0])}.get(
            q, rng.integers(0, n, size=int(rng.integers(0, n))))
        scores = rng.integers(-(1 << (p["SCORE_BITS"] - 1)), 1 << (p["SCORE_BITS"] - 1), size=rows * lanes)
        valid = (np.arange(rows * lanes) < n).astype(int)
        lines += [[excluded.size, *excluded.tolist()], scores.tolist(), valid.tolist()]
        cases.append((excluded, scores, valid))
    out = run_block(exe, [[len(cases)], *lines])
    for (excluded, scores, valid), line in zip(cases, out, strict=True):
        assert line[0] == rows
        beats = np.array(line[1:]).reshape(rows, 1 + 3 * lanes)
        assert beats[:, 0].tolist() == [0] * (rows - 1) + [1]
        got_valid, got_ids, got_scores = beats[:, 1:].reshape(rows * lanes, 3).T
        expected = valid.copy()
        expected[excluded] = 0
        np.testing.assert_array_equal(got_valid, expected)
        np.testing.assert_array_equal(got_ids, np.arange(rows * lanes))
        np.testing.assert_array_equal(got_scores, scores)
