"""Golden test vectors: queries (packets of item ids, as the kernel receives them) and the golden model's
answers (:class:`hybrec.builddir.GoldenVectors`, written as ``BUILD/vectors/golden.npz``).

The first queries are one per user (their last ``lmax`` training items, the model's own input); the
corner cases follow: ``empty``, ``overlong``, ``bad_ids``, ``duplicates``, ``single``, ``all_bad``.
"""

from __future__ import annotations

import numpy as np

from hybrec.builddir import NO_ID, GoldenVectors
from hybrec.golden import GoldenModel


def corner_cases(histories: list[np.ndarray], n_items: int, lmax: int, seed: int = 7) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    longest = max(histories, key=len) if histories else np.zeros(0, dtype=np.int64)
    pool = np.concatenate([h for h in histories if h.size] or [np.arange(min(n_items, 8))])
    cases: list[tuple[str, np.ndarray]] = [("empty", np.array([NO_ID]))]
    overlong = np.concatenate([longest, rng.choice(pool, size=lmax + 37)])[: lmax + 37]
    cases.append(("overlong", overlong))
    bad = rng.choice(pool, size=max(3, min(lmax, 40))).astype(np.int64)
    positions = sorted({1, bad.size // 2, bad.size - 1})
    bad[positions] = [n_items, n_items + 5, NO_ID][: len(positions)]
    cases.append(("bad_ids", bad))
    dup = np.repeat(rng.choice(pool, size=6), 5)
    cases.append(("duplicates", dup))
    cases.append(("single", rng.choice(pool, size=1)))
    cases.append(("all_bad", np.array([n_items, NO_ID, n_items + 1])))
    return cases


def build_vectors(golden: GoldenModel, histories: list[np.ndarray]) -> GoldenVectors:
    p = golden.p
    packets: list[np.ndarray] = []
    kinds: list[str] = []
    users: list[int] = []
    for user, history in enumerate(histories):
        packets.append(history if history.size else np.array([NO_ID]))
        kinds.append("user")
        users.append(user)
    for kind, ids in corner_cases(histories, p.n_items, p.lmax):
        packets.append(ids)
        kinds.append(kind)
        users.append(-1)
    packets = [np.asarray(x, dtype=np.int64) for x in packets]
    if any(x.size == 0 or x.min() < 0 or x.max() > NO_ID for x in packets):
        raise ValueError("a packet holds at least one id, each in 0..65535")
    results = golden.run(packets)
    lengths = np.array([x.size for x in packets], dtype=np.int64)
    return GoldenVectors(
        ids=np.concatenate(packets).astype(np.uint16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        topk=np.stack([r.ids for r in results]),
        scores=np.stack([r.scores for r in results]),
        valid=np.stack([r.valid for r in results]).astype(np.uint8),
        flags=np.array([r.flags for r in results], dtype=np.int64),
        user=np.array(users, dtype=np.int64),
        kind=np.array(kinds),
    )
