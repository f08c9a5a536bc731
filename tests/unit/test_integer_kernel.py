"""The PyTorch form of the kernel's integer pipeline (CPU and GPU backends of the HIL benchmark) against the
golden model: ties, histories that leave fewer than K candidates, the float32 exactness bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrec import numerics
from hybrec.bench.integer_kernel import IntegerKernel, KernelArrays, check_exact_bounds, pad_histories
from hybrec.golden import GoldenModel, KernelParams
from tiny_kernel import tiny_params

pytestmark = pytest.mark.unit


def arrays_of(params: KernelParams, histories: list[np.ndarray]) -> KernelArrays:
    hist, lengths = pad_histories(histories, params.lmax, params.n_items)
    return KernelArrays(features=params.features, items=params.items, weights=params.weights,
                        thresholds=params.thresholds, out_biases=[s.out_bias for s in params.layers],
                        recip=numerics.reciprocal_table(params.lmax, params.agg_shift),
                        feature_bits=params.feature_bits, agg_shift=params.agg_shift, k=params.k, histories=hist,
                        lengths=lengths, header={})


def test_equals_the_golden_model_with_ties_and_short_candidate_lists() -> None:
    params = tiny_params()  # 24 items with 2-d 4-bit vectors: many tied scores
    params.items[5] = params.items[3]  # an exact tie between two items for every user
    rng = np.random.default_rng(3)
    histories = [rng.integers(0, params.n_items, size=int(rng.integers(1, params.lmax + 1))) for _ in range(200)]
    histories.append(np.arange(params.n_items - 2))  # more than lmax ids: the first lmax count (golden's rule)
    histories.append(np.array([7, 7, 7]))  # repeats count in the mean, the item is excluded once
    small = KernelParams(**{**vars(params), "features": params.features[:4], "items": params.items[:4], "k": 3})
    golden = GoldenModel(params).run(histories)
    ids, scores = IntegerKernel(arrays_of(params, histories))(*map(torch.from_numpy,
                                                                   pad_histories(histories, params.lmax,
                                                                                 params.n_items)))
    np.testing.assert_array_equal(ids.numpy(), np.stack([r.ids for r in golden]))
    np.testing.assert_array_equal(scores.numpy(), np.stack([r.scores for r in golden]))
    # 4 items, a history of 2 distinct ones: one invalid result (id -1, score 0), as the golden model pads
    short = [np.array([0, 1])]
    want = GoldenModel(small).run(short)[0]
    got_ids, got_scores = IntegerKernel(arrays_of(small, short))(*map(torch.from_numpy,
                                                                      pad_histories(short, small.lmax, 4)))
    assert want.valid.tolist() == [True, True, False]
    np.testing.assert_array_equal(got_ids.numpy()[0], want.ids)
    np.testing.assert_array_equal(got_scores.numpy()[0], want.scores)


def test_exactness_bounds_refuse_parameters_beyond_float32() -> None:
    params = tiny_params()
    arrays = arrays_of(params, [np.array([1, 2])])
    bounds = check_exact_bounds(arrays, params.lmax)
    assert max(bounds.values()) < 1 << 24
    arrays.items = np.full_like(arrays.items, 1 << 22)  # scores would reach 2^24 and more
    with pytest.raises(ValueError, match="scores"):
        check_exact_bounds(arrays, params.lmax)


def test_exclusion_lists_ride_after_the_aggregated_columns() -> None:
    params = tiny_params()
    rng = np.random.default_rng(5)
    histories = [rng.integers(0, params.n_items, size=int(rng.integers(0, params.lmax + 6))) for _ in range(60)]
    excludes = [rng.choice(params.n_items + 4, size=int(rng.integers(0, 20)), replace=False) for _ in histories]
    golden = GoldenModel(params).run(histories, excludes)
    hist, lengths = pad_histories(histories, params.lmax, params.n_items, excludes)
    assert hist.shape[1] > params.lmax  # the exclusion lists add columns; only the first lmax are aggregated
    arrays = arrays_of(params, histories)
    ids, scores = IntegerKernel(arrays)(torch.from_numpy(hist), torch.from_numpy(lengths))
    np.testing.assert_array_equal(ids.numpy(), np.stack([r.ids for r in golden]))
    np.testing.assert_array_equal(scores.numpy(), np.stack([r.scores for r in golden]))
    assert (ids.numpy() < params.n_items).all()
