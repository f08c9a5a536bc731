"""hls_kernels/hist_agg in C-simulation, bit-exact against numerics.aggregate_history (means, flags) and the
golden model's counted ids (the exclusion list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import build_block, run_block, seed_of

from hybrec import numerics

pytestmark = [pytest.mark.hls]

CASES = [
    pytest.param(dict(N=20, F=8, FB=8, LMAX=6, SHIFT=16, NORM_PAR=2, OUT_PAR=4, ID_BITS=5), id="n20-f8-lmax6"),
    # SHIFT=4: R[n] rounds up enough that means of extreme features saturate
    pytest.param(dict(N=5, F=3, FB=4, LMAX=7, SHIFT=4, NORM_PAR=3, OUT_PAR=1, ID_BITS=3), id="narrow-saturating"),
    pytest.param(dict(N=300, F=96, FB=8, LMAX=256, SHIFT=16, NORM_PAR=8, OUT_PAR=16, ID_BITS=9),
                 id="ml100k-widths"),
]


def _queries(p: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
    n, lmax = p["N"], p["LMAX"]
    queries = [np.array([0xFFFF]),                                   # empty history
               np.array([n, 0xFFFF, n + 1]),                         # only bad ids
               rng.integers(0, n, size=lmax + 5),                    # over-long
               np.array([0] * lmax),                                 # one item, lmax times
               np.array([n - 1, n, 0, 0xFFFF, 1][: max(2, lmax)]),   # bad ids among good ones
               np.repeat(np.array([0, 1]), lmax),                    # extremes, repeated, truncated
               np.array([1] * min(lmax, 6))]                         # saturation in the narrow case
    for _ in range(40):
        queries.append(rng.integers(0, n + 3, size=int(rng.integers(1, 2 * lmax + 2))))
    return queries


@pytest.mark.parametrize("p", CASES)
def test_hist_agg(p: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(seed_of(p))
    lo, hi = numerics.int_range(p["FB"])
    features = rng.integers(lo, hi + 1, size=(p["N"], p["F"]))
    features[0], features[1] = lo, hi
    recip = numerics.reciprocal_table(p["LMAX"], p["SHIFT"])
    exe = build_block("hist_agg", tmp_path, "P", p, {"FEATURES": features, "RECIP": recip})
    queries = _queries(p, rng)
    out = run_block(exe, [[len(queries)], *[[q.size, *q.tolist()] for q in queries]])
    assert len(out) == len(queries)
    saturated = 0
    for ids, row in zip(queries, out, strict=True):
        mean, flags = numerics.aggregate_history(ids, features, p["LMAX"], p["FB"], p["SHIFT"])
        counted = ids[: p["LMAX"]][ids[: p["LMAX"]] < p["N"]]
        n_excl = row[1]
        assert row[0] == flags, (ids, row)
        assert row[2: 2 + n_excl] == counted.tolist()
        assert row[2 + n_excl] == p["F"] and row[3 + n_excl:] == mean.tolist(), (ids, row)
        if counted.size:
            raw = (features[counted].sum(axis=0) * recip[counted.size] + (1 << (p["SHIFT"] - 1))) >> p["SHIFT"]
            saturated += int(np.any((raw > hi) | (raw < lo)))
    if p["SHIFT"] == 4:
        assert saturated > 0, "the narrow case is meant to saturate"
