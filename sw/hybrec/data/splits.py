"""Train / validation / test splits.

* ``random`` (default, RecBole-compatible): the interactions are shuffled with a seeded generator and
  grouped by user; each user's list is cut 8:1:1 with RecBole's rounding (``_calcu_split_ids``): the
  validation and test parts get ``floor(r * n)`` interactions each, bumped to one when ``0 < r*n < 1``
  while the training part keeps more than one; the training part gets the rest.
* ``temporal`` (leave-last-out): per user, sorted by timestamp (ties keep file order), the last
  interaction is the test item, the one before it the validation item, the rest train. Users with
  fewer than three interactions keep them all in train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrec.artifacts import atomic_write_text
from hybrec.data.dataset import InteractionData


@dataclass(frozen=True)
class Split:
    """Row indices into an :class:`InteractionData` for each part."""

    kind: str
    seed: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "seed": self.seed, "train": int(self.train.size),
                "valid": int(self.valid.size), "test": int(self.test.size)}


def recbole_split_counts(total: int, ratios: tuple[float, ...]) -> list[int]:
    """Sizes of the parts of a list of ``total`` items, by RecBole's rule (see module docstring)."""
    weights = [r / sum(ratios) for r in ratios]
    counts = [math.floor(w * total) for w in weights]
    counts[0] = total - sum(counts[1:])
    for i in range(1, len(weights)):
        if counts[0] <= 1:
            break
        if 0 < weights[-i] * total < 1:
            counts[-i] += 1
            counts[0] -= 1
    return counts


def _group_rows_by_user(users: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Rows in ``order``, grouped by user (stable within a user)."""
    ordered_users = users[order]
    perm = np.argsort(ordered_users, kind="stable")
    rows = order[perm]
    boundaries = np.flatnonzero(np.diff(ordered_users[perm])) + 1
    return np.split(rows, boundaries)


def random_split(data: InteractionData, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 seed: int = 2020) -> Split:
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_interactions)
    parts: list[list[np.ndarray]] = [[], [], []]
    for rows in _group_rows_by_user(data.users, order):
        counts = recbole_split_counts(rows.size, ratios)
        start = 0
        for part, count in enumerate(counts):
            parts[part].append(rows[start:start + count])
            start += count
    train, valid, test = (np.sort(np.concatenate(p)) for p in parts)
    return Split("random", seed, train, valid, test)


def temporal_split(data: InteractionData) -> Split:
    order = np.lexsort((np.arange(data.n_interactions), data.timestamps))
    train, valid, test = [], [], []
    for rows in _group_rows_by_user(data.users, order):
        if rows.size < 3:
            train.append(rows)
            continue
        train.append(rows[:-2])
        valid.append(rows[-2:-1])
        test.append(rows[-1:])
    def cat(chunks: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.int64)
    return Split("temporal", 0, cat(train), cat(valid), cat(test))


def make_split(data: InteractionData, kind: str, ratios: tuple[float, float, float], seed: int) -> Split:
    if kind == "random":
        return random_split(data, ratios, seed)
    if kind == "temporal":
        return temporal_split(data)
    raise ValueError(f"unknown split kind {kind!r} (expected 'random' or 'temporal')")


def write_split(data: InteractionData, split: Split, folder: Path) -> None:
    """Write ``train.tsv``, ``valid.tsv``, ``test.tsv`` (user id, item id in the dataset's own ids)."""
    for name, rows in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        lines = ["user_id:token\titem_id:token"]
        lines += [f"{data.user_ids[u]}\t{data.item_ids[i]}"
                  for u, i in zip(data.users[rows], data.items[rows], strict=True)]
        atomic_write_text(folder / f"{name}.tsv", "\n".join(lines) + "\n")


def user_item_lists(data: InteractionData, rows: np.ndarray) -> list[np.ndarray]:
    """Per user (internal id), the items of ``rows``, ordered by timestamp (ties: file order)."""
    result: list[list[int]] = [[] for _ in range(data.n_users)]
    order = rows[np.lexsort((rows, data.timestamps[rows]))]
    for u, i in zip(data.users[order], data.items[order], strict=True):
        result[int(u)].append(int(i))
    return [np.asarray(items, dtype=np.int64) for items in result]
