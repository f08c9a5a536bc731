"""Golden test vectors: queries (a history and an exclusion list each, as the kernel receives them) and the
golden model's answers (:class:`hybrec.builddir.GoldenVectors`, written as ``BUILD/vectors/golden.npz``).

The first queries are one per user (their last ``lmax`` training items, the model's own input, and their
other training and validation items to exclude); the corner cases follow: ``empty`` (no id at all),
``overlong``, ``bad_ids``, ``duplicates``, ``single``, ``all_bad``, ``exclude_only`` (no history, ids to
exclude), ``long_exclusion`` (more ids to exclude than ``lmax``, some out of range).
"""

from __future__ import annotations

import numpy as np

from hybrec.builddir import NO_ID, GoldenVectors
from hybrec.golden import GoldenModel

Case = tuple[str, np.ndarray, np.ndarray]   # kind, history, exclusion list


def corner_cases(histories: list[np.ndarray], n_items: int, lmax: int, seed: int = 7) -> list[Case]:
    rng = np.random.default_rng(seed)
    none = np.zeros(0, dtype=np.int64)
    longest = max(histories, key=len) if histories else none
    pool = np.concatenate([h for h in histories if h.size] or [np.arange(min(n_items, 8))])
    cases: list[Case] = [("empty", none, none)]
    overlong = np.concatenate([longest, rng.choice(pool, size=lmax + 37)])[: lmax + 37]
    cases.append(("overlong", overlong, none))
    bad = rng.choice(pool, size=max(3, min(lmax, 40))).astype(np.int64)
    positions = sorted({1, bad.size // 2, bad.size - 1})
    bad[positions] = [n_items, n_items + 5, NO_ID][: len(positions)]
    cases.append(("bad_ids", bad, none))
    cases.append(("duplicates", np.repeat(rng.choice(pool, size=6), 5), none))
    cases.append(("single", rng.choice(pool, size=1), none))
    cases.append(("all_bad", np.array([n_items, NO_ID, n_items + 1]), none))
    cases.append(("exclude_only", none, rng.choice(n_items, size=min(n_items - 1, 25), replace=False)))
    many = rng.choice(n_items, size=min(n_items - 1, 2 * lmax + 3), replace=False).astype(np.int64)
    many[[0, many.size // 2]] = [n_items, NO_ID]
    cases.append(("long_exclusion", rng.choice(pool, size=min(lmax, 5)), many))
    return cases


def build_vectors(golden: GoldenModel, histories: list[np.ndarray], excludes: list[np.ndarray]) -> GoldenVectors:
    p = golden.p
    cases: list[Case] = [("user", h, e) for h, e in zip(histories, excludes, strict=True)]
    cases += corner_cases(histories, p.n_items, p.lmax)
    hists = [np.asarray(h, dtype=np.int64) for _, h, _ in cases]
    exes = [np.asarray(e, dtype=np.int64) for _, _, e in cases]
    packets = [np.concatenate([h, e]) for h, e in zip(hists, exes, strict=True)]
    if any(x.size and (x.min() < 0 or x.max() > NO_ID) for x in packets):
        raise ValueError("every id of a query is in 0..65535")
    results = golden.run(hists, exes)
    lengths = np.array([x.size for x in packets], dtype=np.int64)
    return GoldenVectors(
        ids=np.concatenate(packets).astype(np.uint16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        n_hist=np.array([h.size for h in hists], dtype=np.int64),
        topk=np.stack([r.ids for r in results]),
        scores=np.stack([r.scores for r in results]),
        valid=np.stack([r.valid for r in results]).astype(np.uint8),
        flags=np.array([r.flags for r in results], dtype=np.int64),
        user=np.array([u if kind == "user" else -1 for u, (kind, _, _) in enumerate(cases)], dtype=np.int64),
        kind=np.array([kind for kind, _, _ in cases]),
    )
