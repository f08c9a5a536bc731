"""hls_kernels/hist_agg in C-simulation, bit-exact against numerics.aggregate_history (means, flags) and the
golden model's exclusion list (every id of the packet below the live item count), with the ids in 32-bit
beats, a history followed by ids that are only excluded, and live item counts below the capacity (0: no
model)."""

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
    # (live items, history length): the constructed queries whole as histories at capacity; then the
    # capacity, fewer live items and no model, histories with and without more ids after them; packets of
    # no id at all
    cases = []
    for index, ids in enumerate(queries):
        random = index >= 7
        live = [p["N"], int(rng.integers(1, p["N"] + 1)), 0][index % 3] if random else p["N"]
        n_hist = int(rng.integers(0, ids.size + 1)) if random and index % 4 else ids.size
        cases.append((live, n_hist, ids))
    cases += [(p["N"], 0, np.zeros(0, dtype=np.int64)), (0, 0, np.zeros(0, dtype=np.int64)),
              (p["N"], 3, np.zeros(0, dtype=np.int64))]
    out = run_block(exe, [[len(cases)], *[[live, n_hist, ids.size, *ids.tolist()] for live, n_hist, ids in cases]])
    assert len(out) == len(cases)
    saturated = 0
    for (live, n_hist, ids), row in zip(cases, out, strict=True):
        history = ids[:n_hist]
        mean, flags = numerics.aggregate_history(history, features[:live], p["LMAX"], p["FB"], p["SHIFT"])
        counted = history[: p["LMAX"]][history[: p["LMAX"]] < live]
        excluded = ids[ids < live]
        n_excl = row[1]
        assert row[0] == flags, (live, n_hist, ids, row)
        assert row[2: 2 + n_excl] == excluded.tolist()
        assert row[2 + n_excl] == p["F"] and row[3 + n_excl:] == mean.tolist(), (live, n_hist, ids, row)
        if counted.size:
            raw = (features[counted].sum(axis=0) * recip[counted.size] + (1 << (p["SHIFT"] - 1))) >> p["SHIFT"]
            saturated += int(np.any((raw > hi) | (raw < lo)))
    if p["SHIFT"] == 4:
        assert saturated > 0, "the narrow case is meant to saturate"
