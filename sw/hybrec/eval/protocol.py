"""Evaluation protocols.

* Full ranking (the headline): each user's score for every item; items the user interacted with in
  training (and, for the test part, in validation) are masked, as RecBole does; metrics@10 over the
  remaining catalogue.
* Sampled ranking (1 positive vs 99 sampled negatives): kept only so that numbers can be set beside
  papers that report it. It is much easier than full ranking and never the headline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hybrec.data.dataset import InteractionData
from hybrec.data.splits import Split
from hybrec.eval.metrics import ranking_metrics, topk_ids

ScoreFn = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of internal user ids ``[B]`` to scores over all items ``[B, n_items]``."""


@dataclass(frozen=True)
class EvalSets:
    """Per user: the items to mask and the positives to find, for one evaluation part."""

    masked: list[np.ndarray]
    positives: list[np.ndarray]


def _lists(data: InteractionData, rows: np.ndarray) -> list[np.ndarray]:
    result: list[list[int]] = [[] for _ in range(data.n_users)]
    for u, i in zip(data.users[rows], data.items[rows], strict=True):
        result[int(u)].append(int(i))
    return [np.asarray(sorted(items), dtype=np.int64) for items in result]


def eval_sets(data: InteractionData, split: Split, part: str) -> EvalSets:
    if part == "valid":
        return EvalSets(_lists(data, split.train), _lists(data, split.valid))
    if part == "test":
        return EvalSets(_lists(data, np.concatenate([split.train, split.valid])), _lists(data, split.test))
    raise ValueError(f"unknown evaluation part {part!r}")


def masked_topk(score_fn: ScoreFn, sets: EvalSets, k: int, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of every user with a positive, masked items excluded; returns (users, top [n, k])."""
    users = np.asarray([u for u, pos in enumerate(sets.positives) if pos.size], dtype=np.int64)
    if users.size == 0:
        raise ValueError("no user has a positive item in this part: nothing to evaluate")
    tops = []
    for start in range(0, users.size, batch):
        chunk = users[start:start + batch]
        scores = np.array(score_fn(chunk), copy=True)
        low = np.iinfo(np.int64).min if np.issubdtype(scores.dtype, np.integer) else -np.inf
        if np.issubdtype(scores.dtype, np.integer):
            scores = scores.astype(np.int64)
        for row, u in enumerate(chunk):
            scores[row, sets.masked[u]] = low
        tops.append(topk_ids(scores, k))
    return users, np.concatenate(tops)


def full_ranking(score_fn: ScoreFn, sets: EvalSets, k: int = 10) -> dict[str, float]:
    users, top = masked_topk(score_fn, sets, k)
    return ranking_metrics(top, [sets.positives[u] for u in users], k)


def sampled_ranking(score_fn: ScoreFn, data: InteractionData, sets: EvalSets, k: int = 10,
                    negatives: int = 99, seed: int = 0) -> dict[str, float]:
    """1 positive vs ``negatives`` sampled non-interacted items, per (user, test positive) pair.

    Labelled ``sampled`` everywhere it is reported: not comparable with full-ranking numbers.
    """
    rng = np.random.default_rng(seed)
    seen = _lists(data, np.arange(data.n_interactions))
    users = np.asarray([u for u, pos in enumerate(sets.positives) if pos.size], dtype=np.int64)
    if users.size == 0:
        raise ValueError("no user has a positive item in this part: nothing to evaluate")
    hit = ndcg = 0.0
    pairs = 0
    for start in range(0, users.size, 256):
        chunk = users[start:start + 256]
        scores = np.asarray(score_fn(chunk))
        for row, u in enumerate(chunk):
            pool = np.setdiff1d(np.arange(data.n_items), seen[u], assume_unique=True)
            for pos in sets.positives[u]:
                negs = rng.choice(pool, size=min(negatives, pool.size), replace=False)
                candidates = np.concatenate([[pos], negs])
                s = scores[row, candidates].astype(np.float64)
                # rank of the positive: items scoring higher, or equal with a lower id, come first
                better = (s[1:] > s[0]) | ((s[1:] == s[0]) & (negs < pos))
                rank = int(better.sum())
                pairs += 1
                if rank < k:
                    hit += 1.0
                    ndcg += 1.0 / np.log2(rank + 2)
    return {f"sampled_hit@{k}": hit / pairs, f"sampled_ndcg@{k}": ndcg / pairs}
