"""Splits: RecBole's 8:1:1 counts, no leakage, determinism, leave-last-out, writing and reloading."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hybrec.data.dataset import InteractionData
from hybrec.data.files import read_interactions
from hybrec.data.movielens import FILES, load_ml100k
from hybrec.data.splits import (
    Split,
    make_split,
    random_split,
    recbole_split_counts,
    temporal_split,
    user_item_lists,
    write_split,
)

pytestmark = pytest.mark.unit

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "hybrec"
RATIOS = (0.8, 0.1, 0.1)


@pytest.fixture(scope="module")
def ml100k() -> InteractionData:
    if not all((CACHE / "ml-100k" / name).is_file() for name in FILES):
        pytest.skip(f"ML-100K not cached under {CACHE} (run `make setup`)")
    return load_ml100k(CACHE)


def synthetic(per_user: list[int], n_items: int = 50, seed: int = 0) -> InteractionData:
    """Users with the given numbers of distinct items, rows interleaved, random distinct timestamps."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u, count in enumerate(per_user):
        users += [u] * count
        items += rng.choice(n_items, size=count, replace=False).tolist()
    order = rng.permutation(len(users))
    n = len(users)
    return InteractionData(
        name="synthetic",
        user_ids=[f"u{u}" for u in range(len(per_user))],
        item_ids=[f"i{i}" for i in range(n_items)],
        item_texts=[f"item {i}" for i in range(n_items)],
        users=np.asarray(users, dtype=np.int64)[order],
        items=np.asarray(items, dtype=np.int64)[order],
        timestamps=rng.permutation(n).astype(np.float64) * 10.0,
        ratings=None,
    )


def assert_partition(split: Split, n: int) -> None:
    parts = [split.train, split.valid, split.test]
    joined = np.concatenate(parts)
    assert joined.size == n, "every interaction in exactly one part"
    assert np.array_equal(np.sort(joined), np.arange(n))
    for part in parts:
        assert np.array_equal(part, np.unique(part)), "parts are sorted and free of repeats"


# --- recbole_split_counts -----------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "expected"), [
    (0, [0, 0, 0]),
    (1, [1, 0, 0]),     # train keeps its single row: nothing can be moved out
    (2, [1, 0, 1]),     # test gets one; then train has one left and the loop stops
    (3, [1, 1, 1]),
    (4, [2, 1, 1]),
    (5, [3, 1, 1]),     # 0.5 -> 0 -> bumped to 1, twice
    (9, [7, 1, 1]),     # 0.9 -> 0 -> bumped
    (10, [8, 1, 1]),    # exact
    (15, [13, 1, 1]),   # floor(1.5) = 1, no bump (r*n >= 1)
    (19, [17, 1, 1]),
    (20, [16, 2, 2]),
    (25, [21, 2, 2]),
])
def test_recbole_split_counts(total: int, expected: list[int]) -> None:
    assert recbole_split_counts(total, RATIOS) == expected


def test_recbole_split_counts_normalises_ratios() -> None:
    assert recbole_split_counts(10, (8, 1, 1)) == [8, 1, 1]
    assert recbole_split_counts(20, (2, 1, 1)) == [10, 5, 5]
    assert recbole_split_counts(5, (3, 1, 1)) == [3, 1, 1]


# --- random split -----------------------------------------------------------------------------------

def test_random_split_partitions_and_follows_counts_synthetic() -> None:
    per_user = [1, 2, 3, 4, 5, 9, 10, 15, 20, 33]
    data = synthetic(per_user)
    split = random_split(data, RATIOS, seed=7)
    assert_partition(split, data.n_interactions)
    for name, part in enumerate((split.train, split.valid, split.test)):
        counts = Counter(data.users[part].tolist())
        for u, total in enumerate(per_user):
            assert counts.get(u, 0) == recbole_split_counts(total, RATIOS)[name], (u, name)


def test_random_split_seeded() -> None:
    data = synthetic([12] * 20)
    a, b = random_split(data, RATIOS, seed=3), random_split(data, RATIOS, seed=3)
    c = random_split(data, RATIOS, seed=4)
    for x, y in ((a.train, b.train), (a.valid, b.valid), (a.test, b.test)):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.test, c.test)
    assert a.seed == 3 and a.kind == "random"


def test_make_split_dispatch() -> None:
    data = synthetic([5, 6])
    assert make_split(data, "random", RATIOS, 1).kind == "random"
    assert make_split(data, "temporal", RATIOS, 1).kind == "temporal"
    with pytest.raises(ValueError, match="split kind"):
        make_split(data, "by-item", RATIOS, 1)


def test_random_split_ml100k(ml100k: InteractionData) -> None:
    assert (ml100k.n_users, ml100k.n_items, ml100k.n_interactions) == (943, 1682, 100000)
    split = random_split(ml100k, RATIOS, seed=2020)
    assert split.describe() == {"kind": "random", "seed": 2020, "train": 80808, "valid": 9596, "test": 9596}
    assert_partition(split, ml100k.n_interactions)
    totals = np.bincount(ml100k.users, minlength=ml100k.n_users)
    per_part = [np.bincount(ml100k.users[p], minlength=ml100k.n_users)
                for p in (split.train, split.valid, split.test)]
    expected = np.array([recbole_split_counts(int(t), RATIOS) for t in totals])
    assert np.array_equal(np.stack(per_part, axis=1), expected)
    other = random_split(ml100k, RATIOS, seed=2021)
    assert other.describe()["test"] == 9596
    assert not np.array_equal(split.test, other.test)
    again = random_split(ml100k, RATIOS, seed=2020)
    assert np.array_equal(split.valid, again.valid)


# --- temporal split ---------------------------------------------------------------------------------

def check_temporal(data: InteractionData, split: Split) -> None:
    assert_partition(split, data.n_interactions)
    test_of = {int(data.users[r]): int(r) for r in split.test}
    valid_of = {int(data.users[r]): int(r) for r in split.valid}
    assert len(test_of) == split.test.size and len(valid_of) == split.valid.size, "one row per user"
    for u in range(data.n_users):
        rows = np.flatnonzero(data.users == u)
        # latest last; equal timestamps keep file order
        rows = rows[np.lexsort((rows, data.timestamps[rows]))]
        if rows.size < 3:
            assert u not in test_of and u not in valid_of
            assert np.isin(rows, split.train).all()
        else:
            assert test_of[u] == rows[-1]
            assert valid_of[u] == rows[-2]


def test_temporal_split_synthetic() -> None:
    data = synthetic([1, 2, 3, 4, 10, 25])
    split = temporal_split(data)
    check_temporal(data, split)
    assert (split.train.size, split.valid.size, split.test.size) == (37, 4, 4)


def test_temporal_split_ties_keep_file_order() -> None:
    data = InteractionData(
        name="ties", user_ids=["a"], item_ids=["x", "y", "z", "w"], item_texts=["", "", "", ""],
        users=np.zeros(4, dtype=np.int64), items=np.array([0, 1, 2, 3]),
        timestamps=np.array([5.0, 9.0, 9.0, 1.0]), ratings=None)
    split = temporal_split(data)
    assert split.test.tolist() == [2]   # rows 1 and 2 tie at the latest time: the later row is last
    assert split.valid.tolist() == [1]
    assert split.train.tolist() == [0, 3]


def test_temporal_split_ml100k(ml100k: InteractionData) -> None:
    split = temporal_split(ml100k)
    assert split.test.size == split.valid.size == 943  # every ML-100K user has >= 20 ratings
    check_temporal(ml100k, split)


# --- writing and per-user lists -----------------------------------------------------------------------

def test_write_split_round_trip(tmp_path: Path) -> None:
    data = synthetic([4, 7, 12, 3])
    split = random_split(data, RATIOS, seed=5)
    write_split(data, split, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test.tsv", "train.tsv", "valid.tsv"]
    for name, rows in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        raw = read_interactions(tmp_path / "out" / f"{name}.tsv")
        got = sorted(zip(raw.users, raw.items, strict=True))
        want = sorted((data.user_ids[u], data.item_ids[i]) for u, i in zip(data.users[rows], data.items[rows],
                                                                          strict=True))
        assert got == want
        assert all(u.startswith("u") and i.startswith("i") for u, i in got), "the dataset's own ids"


def test_user_item_lists_ordered_by_time() -> None:
    data = InteractionData(
        name="t", user_ids=["a", "b", "c"], item_ids=[str(i) for i in range(6)], item_texts=[""] * 6,
        users=np.array([0, 1, 0, 0, 1, 0]), items=np.array([5, 4, 3, 2, 1, 0]),
        timestamps=np.array([30.0, 2.0, 10.0, 20.0, 1.0, 10.0]), ratings=None)
    lists = user_item_lists(data, np.arange(6))
    assert [x.tolist() for x in lists] == [[3, 0, 2, 5], [1, 4], []]
    # only the rows given count
    lists = user_item_lists(data, np.array([0, 4, 5]))
    assert [x.tolist() for x in lists] == [[0, 5], [1], []]
    assert all(x.dtype == np.int64 for x in lists)
