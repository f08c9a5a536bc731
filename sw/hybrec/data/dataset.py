"""The in-memory dataset every later stage uses: dense ids, interactions, and item texts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hybrec.artifacts import sha256_file
from hybrec.data.errors import DataError
from hybrec.data.files import RawItems, read_interactions, read_items


@dataclass(frozen=True)
class InteractionData:
    """Interactions with dense internal ids.

    Internal ids are positions: ``user_ids[u]`` / ``item_ids[i]`` are the dataset's own ids of internal
    user ``u`` / item ``i``. Items are numbered in the items file's order (the catalogue, which may hold
    items nobody interacted with); users in order of first appearance in the interactions file.

    Shapes:
        users, items, timestamps, ratings: ``[n_interactions]``; row ``k`` is line ``line_numbers[k]``.
    """

    name: str
    user_ids: list[str]
    item_ids: list[str]
    item_texts: list[str]
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    ratings: np.ndarray | None
    sources: dict[str, str] = field(default_factory=dict)  # file name -> sha256

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(self.users.shape[0])

    def summary(self) -> dict[str, object]:
        n = self.n_interactions
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": n / (self.n_users * self.n_items),
            "implicit_feedback": "every interaction is a positive, whatever its rating (RecBole's default)",
            "sources_sha256": dict(self.sources),
        }


def generic_item_text(fields: dict[str, str]) -> str:
    """Text of an item from its columns: ``"name: value. name: value"`` (empty values skipped)."""
    return ". ".join(f"{name.replace('_', ' ')}: {value}" for name, value in fields.items() if value)


def build_dataset(
    name: str,
    interactions_path: str | Path,
    items_path: str | Path,
    item_text: Callable[[dict[str, str]], str] = generic_item_text,
) -> InteractionData:
    """Read and cross-check an interactions file and an items file (see :mod:`hybrec.data.files`)."""
    raw = read_interactions(interactions_path)
    catalogue: RawItems = read_items(items_path)
    item_index = {item: i for i, item in enumerate(catalogue.ids)}
    user_index: dict[str, int] = {}
    users = np.empty(len(raw.users), dtype=np.int64)
    items = np.empty(len(raw.items), dtype=np.int64)
    for k, (user, item) in enumerate(zip(raw.users, raw.items, strict=True)):
        if item not in item_index:
            raise DataError(raw.path, f"item_id {item!r} is not in the items file {catalogue.path}",
                            raw.line_numbers[k])
        users[k] = user_index.setdefault(user, len(user_index))
        items[k] = item_index[item]
    names = list(catalogue.fields)
    texts = []
    for i in range(len(catalogue.ids)):
        text = item_text({col: catalogue.fields[col][i] for col in names})
        texts.append(text if text else f"item {catalogue.ids[i]}")
    timestamps = (np.asarray(raw.timestamps, dtype=np.float64) if raw.timestamps is not None
                  else np.arange(len(raw.users), dtype=np.float64))
    ratings = np.asarray(raw.ratings, dtype=np.float32) if raw.ratings is not None else None
    return InteractionData(
        name=name,
        user_ids=list(user_index),
        item_ids=list(catalogue.ids),
        item_texts=texts,
        users=users,
        items=items,
        timestamps=timestamps,
        ratings=ratings,
        sources={Path(interactions_path).name: sha256_file(interactions_path),
                 Path(items_path).name: sha256_file(items_path)},
    )
