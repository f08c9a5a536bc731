"""Ranking metrics (RecBole definitions, checked against numbers worked out by hand) and protocols."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from hybrec.data.dataset import InteractionData
from hybrec.data.splits import Split
from hybrec.eval.metrics import METRICS, paired_interval, per_row_metrics, ranking_metrics, topk_ids
from hybrec.eval.protocol import EvalSets, eval_sets, full_ranking, masked_topk, sampled_ranking

pytestmark = pytest.mark.unit

INT_MIN = np.iinfo(np.int64).min


def metrics_of(top: list[list[int]], positives: list[list[int]], k: int) -> dict[str, float]:
    pos = [np.asarray(p, dtype=np.int64) for p in positives]
    return ranking_metrics(np.asarray(top, dtype=np.int64), pos, k)


# --- ranking_metrics ----------------------------------------------------------------------------------

def test_per_row_metrics_are_what_the_means_average() -> None:
    top = np.asarray([[5, 1, 2], [0, 3, 4], [9, 8, 7]], dtype=np.int64)
    positives = [np.asarray([2, 5]), np.asarray([], dtype=np.int64), np.asarray([6])]   # row 1: no positive
    rows = per_row_metrics(top, positives, k=3)
    assert rows["hit@3"].tolist() == [1.0, 0.0] and rows["ndcg@3"][1] == 0.0   # the empty row is left out
    assert rows["mrr@3"].tolist() == [1.0, 0.0]
    means = ranking_metrics(top, positives, k=3)
    assert means == {name: pytest.approx(values.mean()) for name, values in rows.items()}


def test_paired_interval_holds_the_mean_and_narrows_with_more_users() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.01, 0.1, 100), rng.normal(0.01, 0.1, 10_000)
    low_s, high_s = paired_interval(small)
    low_l, high_l = paired_interval(large)
    assert low_s < small.mean() < high_s and low_l < large.mean() < high_l
    assert (high_l - low_l) < (high_s - low_s) / 5            # ~ 1 / sqrt(n): 10x narrower
    assert low_l > 0                                            # 0.01 with 10,000 users is no accident
    assert paired_interval(np.zeros(50)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="no paired"):
        paired_interval(np.zeros(0))

def test_single_row_by_hand() -> None:
    # positives {2, 5}; ranked 5, 1, 2, 7, 8: hits at ranks 1 and 3
    got = metrics_of([[5, 1, 2, 7, 8]], [[2, 5]], k=5)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert got["ndcg@5"] == pytest.approx(dcg / idcg)
    assert got["recall@5"] == pytest.approx(2 / 2)
    assert got["hit@5"] == 1.0
    assert got["mrr@5"] == pytest.approx(1 / 1)
    assert got["precision@5"] == pytest.approx(2 / 5)
    assert set(got) == {f"{m}@5" for m in METRICS}


def test_cutoff_respected() -> None:
    # same ranking, k = 2: only rank 1 counts (item 2 at rank 3 is beyond the cut-off)
    got = metrics_of([[5, 1, 2, 7, 8]], [[2, 5]], k=2)
    assert got["ndcg@2"] == pytest.approx(1.0 / (1 + 1 / math.log2(3)))
    assert got["recall@2"] == pytest.approx(1 / 2)
    assert got["precision@2"] == pytest.approx(1 / 2)
    assert got["hit@2"] == 1.0
    assert got["mrr@2"] == 1.0
    # k = 1 with the first hit at rank 2: nothing
    got = metrics_of([[1, 5, 2]], [[2, 5]], k=1)
    assert got == {"ndcg@1": 0.0, "recall@1": 0.0, "hit@1": 0.0, "mrr@1": 0.0, "precision@1": 0.0}


def test_late_first_hit_and_more_positives_than_k() -> None:
    # positives {0, 1, 2, 3, 4} (|P| = 5 > k = 3); ranked 9, 8, 3: one hit at rank 3
    got = metrics_of([[9, 8, 3, 0]], [[0, 1, 2, 3, 4]], k=3)
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # min(|P|, k) = 3 terms
    assert got["ndcg@3"] == pytest.approx((1 / math.log2(4)) / ideal)
    assert got["recall@3"] == pytest.approx(1 / 5)
    assert got["precision@3"] == pytest.approx(1 / 3)
    assert got["mrr@3"] == pytest.approx(1 / 3)
    assert got["hit@3"] == 1.0


def test_mean_over_rows_skipping_rows_without_positives() -> None:
    top = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    positives = [[2], [], [0]]  # row 0 hit at rank 2; row 1 skipped; row 2 no hit
    got = metrics_of(top, positives, k=3)
    assert got["hit@3"] == pytest.approx((1 + 0) / 2)
    assert got["mrr@3"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["recall@3"] == pytest.approx((1 + 0) / 2)
    assert got["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
    assert got["ndcg@3"] == pytest.approx((1 / math.log2(3)) / 2)  # idcg of |P| = 1 is 1


def test_perfect_ranking_scores_one() -> None:
    got = metrics_of([[3, 1, 4, 0]], [[1, 3, 4]], k=3)
    assert got["ndcg@3"] == pytest.approx(1.0)
    assert got["recall@3"] == pytest.approx(1.0)
    assert got["precision@3"] == pytest.approx(1.0)


def test_no_positive_anywhere_is_an_error() -> None:
    with pytest.raises(ValueError, match="no row"):
        metrics_of([[1, 2]], [[]], k=2)


# --- topk_ids -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64])
def test_topk_ties_go_to_lower_index(dtype: type) -> None:
    scores: np.ndarray = np.array([[1, 3, 3, 2, 3, 0], [5, 5, 5, 5, 5, 5]], dtype=dtype)
    assert topk_ids(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert topk_ids(scores, 4).tolist() == [[1, 2, 4, 3], [0, 1, 2, 3]]
    assert topk_ids(scores, 6)[0].tolist() == [1, 2, 4, 3, 0, 5]


def test_topk_matches_stable_sort_on_random_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(-3, 4, size=(20, 40))
    want = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    assert np.array_equal(topk_ids(scores, 7), want)
    assert np.array_equal(topk_ids(scores.astype(np.float32) / 4, 7), want)


def test_topk_float_minus_inf_only_when_necessary() -> None:
    scores = np.array([[-np.inf, -5.0, -np.inf, -7.0]])
    assert topk_ids(scores, 2).tolist() == [[1, 3]]
    assert topk_ids(scores, 3).tolist() == [[1, 3, 0]]


def test_topk_int_minimum_only_when_necessary() -> None:
    # The integer mask value masked_topk uses is iinfo(int64).min: it must rank last, like -inf.
    scores = np.array([[INT_MIN, -5, INT_MIN, -7]], dtype=np.int64)
    assert topk_ids(scores, 2).tolist() == [[1, 3]]
    assert topk_ids(scores, 3).tolist() == [[1, 3, 0]]


def test_topk_k_too_large() -> None:
    with pytest.raises(ValueError):
        topk_ids(np.zeros((1, 3)), 4)


# --- protocols ----------------------------------------------------------------------------------------

def tiny_data() -> tuple[InteractionData, Split]:
    """4 users, 8 items. Rows: (user, item, part)."""
    rows = [
        (0, 0, "train"), (0, 1, "train"), (0, 2, "valid"), (0, 3, "test"),
        (1, 4, "train"), (1, 5, "valid"), (1, 6, "test"), (1, 7, "test"),
        (2, 0, "train"), (2, 7, "test"),
        (3, 1, "train"), (3, 2, "train"),
    ]
    users = np.array([r[0] for r in rows], dtype=np.int64)
    items = np.array([r[1] for r in rows], dtype=np.int64)
    idx = {p: np.array([k for k, r in enumerate(rows) if r[2] == p], dtype=np.int64)
           for p in ("train", "valid", "test")}
    data = InteractionData(name="tiny", user_ids=list("abcd"), item_ids=[str(i) for i in range(8)],
                           item_texts=[""] * 8, users=users, items=items,
                           timestamps=np.arange(len(rows), dtype=np.float64), ratings=None)
    return data, Split("manual", 0, idx["train"], idx["valid"], idx["test"])


def test_eval_sets_masks() -> None:
    data, split = tiny_data()
    valid = eval_sets(data, split, "valid")
    assert [m.tolist() for m in valid.masked] == [[0, 1], [4], [0], [1, 2]]
    assert [p.tolist() for p in valid.positives] == [[2], [5], [], []]
    test = eval_sets(data, split, "test")
    assert [m.tolist() for m in test.masked] == [[0, 1, 2], [4, 5], [0], [1, 2]]
    assert [p.tolist() for p in test.positives] == [[3], [6, 7], [7], []]
    with pytest.raises(ValueError):
        eval_sets(data, split, "train")


def cheating_scores(data: InteractionData, split: Split, dtype: type) -> Callable[[np.ndarray], np.ndarray]:
    """Scores every item the user has *seen* (train + valid) far above the rest; otherwise higher id wins."""
    seen = eval_sets(data, split, "test").masked

    def score(users: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.tile(np.arange(data.n_items), (users.size, 1)).astype(dtype)
        for row, u in enumerate(users):
            out[row, seen[u]] = 1000
        return out

    return score


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_full_ranking_masks_seen_items(dtype: type) -> None:
    data, split = tiny_data()
    sets = eval_sets(data, split, "test")
    users, top = masked_topk(cheating_scores(data, split, dtype), sets, k=2, batch=2)
    assert users.tolist() == [0, 1, 2]  # user 3 has no test positive
    # masked items never appear; among the rest the higher id wins
    assert top.tolist() == [[7, 6], [7, 6], [7, 6]]
    got = full_ranking(cheating_scores(data, split, dtype), sets, k=2)
    # user 0 ({3}): no hit; user 1 ({6, 7}): hits at 1, 2; user 2 ({7}): hit at 1
    assert got["hit@2"] == pytest.approx(2 / 3)
    assert got["recall@2"] == pytest.approx((0 + 1 + 1) / 3)
    assert got["mrr@2"] == pytest.approx((0 + 1 + 1) / 3)
    assert got["precision@2"] == pytest.approx((0 + 1 + 0.5) / 3)


def test_full_ranking_needs_masked_items_only_when_catalogue_is_short() -> None:
    # 8 items, user 0 has 3 masked: k = 6 forces one masked item into the list, and it is ranked last
    data, split = tiny_data()
    sets = eval_sets(data, split, "test")
    _, top = masked_topk(cheating_scores(data, split, np.float64), sets, k=6)
    assert top[0].tolist() == [7, 6, 5, 4, 3, 0]


def test_masked_topk_does_not_modify_score_function_output() -> None:
    data, split = tiny_data()
    sets = eval_sets(data, split, "valid")
    cached = np.ones((4, 8))

    def score(users: np.ndarray) -> np.ndarray:
        return cached[users]

    masked_topk(score, sets, k=3)
    assert (cached == 1).all()


def test_sampled_ranking_keys_and_values() -> None:
    data, split = tiny_data()
    sets = eval_sets(data, split, "test")

    def oracle(users: np.ndarray) -> np.ndarray:
        out = np.zeros((users.size, data.n_items))
        for row, u in enumerate(users):
            out[row, sets.positives[u]] = 1.0
        return out

    got = sampled_ranking(oracle, data, sets, k=1, negatives=3, seed=1)
    assert set(got) == {"sampled_hit@1", "sampled_ndcg@1"}
    # every positive outscores its sampled negatives (which never include the user's items)
    assert got["sampled_hit@1"] == 1.0 and got["sampled_ndcg@1"] == 1.0
    worst = sampled_ranking(lambda u: -oracle(u), data, sets, k=1, negatives=3, seed=1)
    assert worst == {"sampled_hit@1": 0.0, "sampled_ndcg@1": 0.0}
    assert not any(key in got for key in full_ranking(oracle, sets, k=1))


def test_sampled_ranking_ties_lose_to_lower_ids() -> None:
    data, _ = tiny_data()
    empty = np.empty(0, dtype=np.int64)

    def only(user: int, item: int) -> EvalSets:
        positives = [empty] * 4
        positives[user] = np.array([item])
        return EvalSets(masked=[empty] * 4, positives=positives)

    def flat(users: np.ndarray) -> np.ndarray:
        return np.zeros((users.size, 8))

    # constant scores. User 0's positive is item 0, its negatives come from {4..7}: it wins every tie.
    got = sampled_ranking(flat, data, only(0, 0), k=1, negatives=3, seed=0)
    assert got == {"sampled_hit@1": 1.0, "sampled_ndcg@1": 1.0}
    # User 1's positive is item 7, its negatives come from {0..3}: it loses all three ties (rank 4).
    got = sampled_ranking(flat, data, only(1, 7), k=4, negatives=3, seed=0)
    assert got["sampled_hit@4"] == 1.0
    assert got["sampled_ndcg@4"] == pytest.approx(1 / math.log2(5))
