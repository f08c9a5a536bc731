"""Top-K ranking metrics with RecBole's definitions.

For one user with positive set ``P`` and a ranked list ``r_1..r_K`` (``hit_j = [r_j in P]``):

* ``hit@K``       = 1 if any ``hit_j`` else 0
* ``recall@K``    = sum_j hit_j / |P|
* ``precision@K`` = sum_j hit_j / K
* ``mrr@K``       = 1 / (first j with hit_j), 0 if none
* ``ndcg@K``      = (sum_j hit_j / log2(j + 1)) / (sum_{j <= min(|P|, K)} 1 / log2(j + 1))

Each metric is averaged over users with at least one positive.
"""

from __future__ import annotations

import numpy as np

METRICS = ("ndcg", "recall", "hit", "mrr", "precision")


def topk_ids(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row; ties go to the lower index.

    Shapes: ``scores [n_rows, n_items]`` (any real or integer dtype) -> ``[n_rows, k]`` int64.
    """
    if k > scores.shape[1]:
        raise ValueError(f"k={k} exceeds the number of items {scores.shape[1]}")
    keyed: np.ndarray
    if np.issubdtype(scores.dtype, np.integer):
        keyed = ~scores.astype(np.int64)  # == -x - 1: reverses the order without overflow
    else:
        keyed = -scores.astype(np.float64)
    # Partition first (cheap), then sort the candidates; include every item tied with the k-th score.
    part = np.partition(keyed, k - 1, axis=1)[:, k - 1:k]
    result = np.empty((scores.shape[0], k), dtype=np.int64)
    for row in range(scores.shape[0]):
        candidates = np.flatnonzero(keyed[row] <= part[row, 0])
        order = np.lexsort((candidates, keyed[row, candidates]))
        result[row] = candidates[order[:k]]
    return result


def ranking_metrics(top: np.ndarray, positives: list[np.ndarray], k: int) -> dict[str, float]:
    """Mean metrics@k over rows with at least one positive.

    Args:
        top: ``[n_rows, >= k]`` ranked item ids.
        positives: per row, the ids of its positive items.
        k: cut-off.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    sums = dict.fromkeys(METRICS, 0.0)
    counted = 0
    for row, pos in enumerate(positives):
        if pos.size == 0:
            continue
        counted += 1
        hits = np.isin(top[row, :k], pos)
        n_hits = int(hits.sum())
        sums["hit"] += float(n_hits > 0)
        sums["recall"] += n_hits / pos.size
        sums["precision"] += n_hits / k
        if n_hits:
            sums["mrr"] += 1.0 / (int(np.argmax(hits)) + 1)
        idcg = discounts[: min(pos.size, k)].sum()
        sums["ndcg"] += float((hits * discounts).sum() / idcg)
    if counted == 0:
        raise ValueError("no row has a positive item: nothing to evaluate")
    return {f"{name}@{k}": value / counted for name, value in sums.items()}
