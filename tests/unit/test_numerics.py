"""The integer numeric contract, checked against exact rational arithmetic and naive loops.

The rounding property of :func:`normalised_sum` that holds (and is tested here). With ``x = acc / n``,
``R = R[n]`` and ``D = acc * (n * R - 2^S)`` (an integer):

* identity: before saturation, ``result = floor(x + 1/2 + D / (n * 2^S))`` exactly;
* bound:    ``|result - x| <= 1/2 + |acc| / 2^(S+1)`` (since ``|n * R - 2^S| <= n / 2``);
* rounding: when ``|D| < 2^(S-1)`` the result is ``round_half_up(x) = floor(x + 1/2)``, except at an
  exact tie (``x = m + 1/2``) with ``D < 0``, where it is ``floor(x)`` (one less). For features of ``B``
  bits, ``|D| <= n^2 * 2^(B-2)``, so the condition holds for every input when ``n^2 < 2^(S-B+1)``
  (``n <= 22`` for ``S = 16, B = 8``). Ties do round down in practice: ``n = 12, acc = 6`` gives 0.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrec.numerics import (
    AGG_SHIFT,
    FLAG_BAD_ID,
    FLAG_EMPTY,
    FLAG_TRUNCATED,
    aggregate_history,
    int_range,
    item_scores,
    multithreshold,
    mvau,
    normalised_sum,
    reciprocal_table,
    saturate,
    topk,
)

pytestmark = pytest.mark.unit

FAST = settings(max_examples=150, deadline=None)


def exact_recip(n: int, shift: int) -> int:
    return math.floor(Fraction(2**shift, n) + Fraction(1, 2))


def exact_unsaturated(acc: int, n: int, shift: int) -> int:
    """floor((acc * R + 2^(S-1)) / 2^S) in exact rational arithmetic (n >= 1)."""
    return math.floor(Fraction(acc * exact_recip(n, shift), 2**shift) + Fraction(1, 2))


def round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


# --- ranges and saturation ------------------------------------------------------------------------------

def test_int_range() -> None:
    assert int_range(8) == (-128, 127)
    assert int_range(8, signed=False) == (0, 255)
    assert int_range(1) == (-1, 0)
    assert int_range(32) == (-(2**31), 2**31 - 1)
    for bad in (0, 33):
        with pytest.raises(ValueError):
            int_range(bad)


@FAST
@given(st.integers(1, 32), st.booleans(), st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20))
def test_saturate_is_clip(bits: int, signed: bool, values: list[int]) -> None:
    lo, hi = int_range(bits, signed)
    got = saturate(np.asarray(values, dtype=np.int64), bits, signed)
    assert got.tolist() == [min(max(v, lo), hi) for v in values]


# --- reciprocal table -----------------------------------------------------------------------------------

@FAST
@given(st.integers(1, 300), st.integers(1, 40))
def test_reciprocal_table_exact(lmax: int, shift: int) -> None:
    table = reciprocal_table(lmax, shift)
    assert table.dtype == np.int64
    assert table.shape == (lmax + 1,)
    assert table[0] == 0
    assert table.tolist()[1:] == [exact_recip(n, shift) for n in range(1, lmax + 1)]


def test_reciprocal_table_known_values() -> None:
    # 2^16/3 = 21845.33 -> 21845; 2^16/6 = 10922.67 -> 10923; 2^16/10 = 6553.6 -> 6554; 2^16/12 -> 5461
    table = reciprocal_table(12)
    assert table[[1, 2, 3, 6, 10, 12]].tolist() == [65536, 32768, 21845, 10923, 6554, 5461]


# --- normalised sum -------------------------------------------------------------------------------------

acc_n_lmax = st.integers(1, 64).flatmap(
    lambda lmax: st.tuples(st.integers(-(2**36), 2**36), st.integers(1, lmax), st.just(lmax)))


@FAST
@given(acc_n_lmax, st.integers(2, 32), st.integers(2, 20))
def test_normalised_sum_identity_and_saturation(case: tuple[int, int, int], bits: int, shift: int) -> None:
    acc, n, lmax = case
    lo, hi = int_range(bits)
    got = int(normalised_sum(np.array([acc]), n, lmax, bits, shift)[0])
    assert lo <= got <= hi
    assert got == min(max(exact_unsaturated(acc, n, shift), lo), hi)


@FAST
@given(acc_n_lmax, st.integers(2, 20))
def test_normalised_sum_error_bound(case: tuple[int, int, int], shift: int) -> None:
    acc, n, lmax = case
    got = int(normalised_sum(np.array([acc]), n, lmax, 32, shift)[0])
    lo, hi = int_range(32)
    if not lo < got < hi:
        return  # saturated: the bound is about the unsaturated value
    assert abs(got - Fraction(acc, n)) <= Fraction(1, 2) + Fraction(abs(acc), 2 ** (shift + 1))


@FAST
@given(acc_n_lmax, st.integers(4, 20))
def test_normalised_sum_rounds_half_up_within_condition(case: tuple[int, int, int], shift: int) -> None:
    acc, n, lmax = case
    d = acc * (n * exact_recip(n, shift) - 2**shift)
    if abs(d) >= 2 ** (shift - 1):
        return
    x = Fraction(acc, n)
    expected = round_half_up(x)
    if (x - Fraction(1, 2)).denominator == 1 and d < 0:
        expected -= 1  # exact tie, reciprocal rounded down
    lo, hi = int_range(32)
    got = int(normalised_sum(np.array([acc]), n, lmax, 32, shift)[0])
    assert got == min(max(expected, lo), hi)


@FAST
@given(st.integers(1, 22), st.data())
def test_normalised_sum_of_int8_features_is_rounded_mean(n: int, data: st.DataObject) -> None:
    # n^2 < 2^(16-8+1): every sum of n int8 values rounds half up, apart from down-rounded ties.
    values = data.draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n))
    acc = sum(values)
    x = Fraction(acc, n)
    d = acc * (n * exact_recip(n, AGG_SHIFT) - 2**AGG_SHIFT)
    tie_down = (x - Fraction(1, 2)).denominator == 1 and d < 0
    got = int(normalised_sum(np.array([acc]), n, 22, 8)[0])
    assert got == round_half_up(x) - int(tie_down)


def test_normalised_sum_tie_example() -> None:
    # acc / n = 1/2 with R[12] = 5461 < 2^16/12: (6 * 5461 + 32768) >> 16 = 65534 >> 16 = 0
    assert normalised_sum(np.array([6]), 12, 12, 8).tolist() == [0]
    # with R[10] = 6554 > 2^16/10 the tie goes up: (5 * 6554 + 32768) >> 16 = 1
    assert normalised_sum(np.array([5]), 10, 12, 8).tolist() == [1]
    # the tie direction follows the sign of D = acc * (n * R - 2^S), so it flips for negative sums:
    assert normalised_sum(np.array([-6]), 12, 12, 8).tolist() == [0]     # -0.5, D = 24 > 0: half up
    assert normalised_sum(np.array([-5]), 10, 12, 8).tolist() == [-1]    # -0.5, D = -20 < 0: down
    # negative values round with the arithmetic shift (floor), not towards zero
    assert normalised_sum(np.array([-7]), 10, 12, 8).tolist() == [-1]    # -0.7 -> -1
    assert normalised_sum(np.array([-3]), 2, 12, 8).tolist() == [-1]     # -1.5 -> -1 (R exact: half up)


def test_normalised_sum_broadcasts_rows_and_saturates() -> None:
    acc = np.array([[300, -300, 10], [7, 8, -9]])
    got = normalised_sum(acc, np.array([1, 2]), lmax=4, bits=8)
    assert got.tolist() == [[127, -128, 10], [4, 4, -4]]  # 3.5 -> 4, 4 -> 4, -4.5 -> -4
    assert normalised_sum(np.array([5, -5]), 0, 4, 8).tolist() == [0, 0]  # R[0] = 0


# --- history aggregation --------------------------------------------------------------------------------

FEATURES = np.array([[1, 2], [10, 20], [100, -100], [-7, 5], [3, 3]], dtype=np.int64)


def test_aggregate_plain() -> None:
    mean, flags = aggregate_history(np.array([0, 1, 3]), FEATURES, lmax=4, bits=8)
    assert flags == 0
    assert mean.tolist() == [round_half_up(Fraction(4, 3)), round_half_up(Fraction(27, 3))]  # [1, 9]


def test_aggregate_empty() -> None:
    mean, flags = aggregate_history(np.array([], dtype=np.int64), FEATURES, lmax=4, bits=8)
    assert flags == FLAG_EMPTY
    assert mean.tolist() == [0, 0]


def test_aggregate_truncates_to_first_lmax() -> None:
    mean, flags = aggregate_history(np.array([1, 1, 2, 0, 4]), FEATURES, lmax=3, bits=8)
    assert flags == FLAG_TRUNCATED
    # first three ids: 1, 1, 2 -> sums (120, -60) / 3 = (40, -20); the last three would give (35, -32)
    assert mean.tolist() == [40, -20]


def test_aggregate_exactly_lmax_is_not_truncated() -> None:
    _, flags = aggregate_history(np.array([0, 1, 2]), FEATURES, lmax=3, bits=8)
    assert flags == 0


def test_aggregate_bad_ids_ignored_and_not_counted() -> None:
    mean, flags = aggregate_history(np.array([1, 5, 3, -1, 99]), FEATURES, lmax=8, bits=8)
    assert flags == FLAG_BAD_ID
    assert mean.tolist() == [round_half_up(Fraction(3, 2)), round_half_up(Fraction(25, 2))]  # n = 2


def test_aggregate_all_bad() -> None:
    mean, flags = aggregate_history(np.array([5, 6]), FEATURES, lmax=8, bits=8)
    assert flags == FLAG_BAD_ID | FLAG_EMPTY
    assert mean.tolist() == [0, 0]


def test_aggregate_truncation_happens_before_id_check() -> None:
    # ids past LMAX are dropped unread: a bad id there does not set FLAG_BAD_ID
    _, flags = aggregate_history(np.array([0, 1, 77]), FEATURES, lmax=2, bits=8)
    assert flags == FLAG_TRUNCATED
    mean, flags = aggregate_history(np.array([0, 77, 1]), FEATURES, lmax=2, bits=8)
    assert flags == FLAG_TRUNCATED | FLAG_BAD_ID
    assert mean.tolist() == [1, 2]  # only id 0 remains, n = 1


@FAST
@given(st.lists(st.integers(-2, 12), max_size=12), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_aggregate_matches_reference(history: list[int], lmax: int, seed: int) -> None:
    features = np.random.default_rng(seed).integers(-128, 128, size=(10, 3))
    mean, flags = aggregate_history(np.asarray(history, dtype=np.int64), features, lmax, bits=8)
    used = history[:lmax]
    valid = [h for h in used if 0 <= h < 10]
    want_flags = FLAG_TRUNCATED if len(history) > lmax else 0
    if len(valid) < len(used):
        want_flags |= FLAG_BAD_ID
    if not valid:
        assert flags == want_flags | FLAG_EMPTY
        assert mean.tolist() == [0, 0, 0]
        return
    assert flags == want_flags
    sums = [int(sum(features[h, j] for h in valid)) for j in range(3)]
    want = [min(max(exact_unsaturated(s, len(valid), AGG_SHIFT), -128), 127) for s in sums]
    assert mean.tolist() == want


# --- thresholds, MVAU, scores, top-K --------------------------------------------------------------------

@FAST
@given(st.integers(1, 6), st.integers(1, 7), st.integers(-3, 3), st.integers(0, 2**32 - 1))
def test_multithreshold_matches_loop(channels: int, steps: int, bias: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    thresholds = np.sort(rng.integers(-50, 50, size=(channels, steps)), axis=1)
    acc = rng.integers(-60, 60, size=(4, channels))
    got = multithreshold(acc, thresholds, bias)
    for row in range(4):
        for c in range(channels):
            level = sum(1 for k in range(steps) if acc[row, c] >= thresholds[c, k])
            assert got[row, c] == level + bias


def test_multithreshold_boundary_is_inclusive() -> None:
    assert multithreshold(np.array([[-1, 0, 5, 6]]), np.array([[0, 6]] * 4)).tolist() == [[0, 1, 1, 2]]


@FAST
@given(st.integers(0, 2**32 - 1))
def test_mvau_matches_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 8, size=(2, 5)).astype(np.int8)
    w = rng.integers(-8, 8, size=(5, 3)).astype(np.int8)
    acc = [[sum(int(x[r, i]) * int(w[i, c]) for i in range(5)) for c in range(3)] for r in range(2)]
    assert mvau(x, w, None).tolist() == acc
    thresholds = np.sort(rng.integers(-40, 40, size=(3, 3)), axis=1)
    want = [[sum(1 for t in thresholds[c] if acc[r][c] >= t) - 1 for c in range(3)] for r in range(2)]
    assert mvau(x, w, thresholds, out_bias=-1).tolist() == want


@FAST
@given(st.integers(0, 2**32 - 1))
def test_item_scores_matches_naive_dot(seed: int) -> None:
    rng = np.random.default_rng(seed)
    user = rng.integers(-128, 128, size=(2, 16)).astype(np.int8)  # int8 products overflow if not widened
    items = rng.integers(-128, 128, size=(7, 16)).astype(np.int8)
    got = item_scores(user, items)
    assert got.dtype == np.int64
    assert got.tolist() == [[sum(int(user[r, d]) * int(items[i, d]) for d in range(16)) for i in range(7)]
                            for r in range(2)]


@FAST
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30), st.integers(1, 30))
def test_topk_ties_to_lower_id(scores: list[int], k: int) -> None:
    ids, values = topk(np.asarray(scores, dtype=np.int32), k)
    want = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert ids.tolist() == want
    assert values.tolist() == [scores[i] for i in want]
    assert ids.dtype == np.int64 and values.dtype == np.int64
