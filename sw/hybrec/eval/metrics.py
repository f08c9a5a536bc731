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


def per_row_metrics(top: np.ndarray, positives: list[np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Every metric@k of each row with at least one positive (rows without one are left out), as arrays
    ``[n_counted]`` in row order.

    Args:
        top: ``[n_rows, >= k]`` ranked item ids.
        positives: per row, the ids of its positive items.
        k: cut-off.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rows: dict[str, list[float]] = {name: [] for name in METRICS}
    for row, pos in enumerate(positives):
        if pos.size == 0:
            continue
        hits = np.isin(top[row, :k], pos)
        n_hits = int(hits.sum())
        rows["hit"].append(float(n_hits > 0))
        rows["recall"].append(n_hits / pos.size)
        rows["precision"].append(n_hits / k)
        rows["mrr"].append(1.0 / (int(np.argmax(hits)) + 1) if n_hits else 0.0)
        idcg = discounts[: min(pos.size, k)].sum()
        rows["ndcg"].append(float((hits * discounts).sum() / idcg))
    if not rows["ndcg"]:
        raise ValueError("no row has a positive item: nothing to evaluate")
    return {f"{name}@{k}": np.asarray(values) for name, values in rows.items()}


def ranking_metrics(top: np.ndarray, positives: list[np.ndarray], k: int) -> dict[str, float]:
    """Mean metrics@k over rows with at least one positive (:func:`per_row_metrics` averaged)."""
    return {name: float(values.mean()) for name, values in per_row_metrics(top, positives, k).items()}


def paired_interval(diff: np.ndarray, resamples: int = 2000, level: float = 0.95,
                    seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired per-user differences ``diff`` (users resampled
    with replacement, ``resamples`` times)."""
    if diff.size == 0:
        raise ValueError("no paired values")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    return float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))
