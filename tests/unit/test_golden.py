"""The integer golden model, the exact thresholds derived from Brevitas layers, folding checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hybrec import numerics
from hybrec.builddir import NO_ID
from hybrec.compile.blocks import FoldingError, KernelPlan
from hybrec.compile.config import HistAggConfig, KernelConfig
from hybrec.compile.folding import derive_folding
from hybrec.compile.rtl import plan_kernel
from hybrec.compile.vectors import build_vectors
from hybrec.export.mlp import brevitas_integer_outputs, integer_layers
from hybrec.golden import GoldenModel, KernelParams, KernelParamsError, LayerSpec, accumulator_range
from hybrec.models.hybrid import HybridShape, QuantSpec, quant_mlp

pytestmark = pytest.mark.unit


def random_params(seed: int = 0, n: int = 40, f: int = 6, hidden: int = 8, d: int = 4, k: int = 5,
                  lmax: int = 7) -> KernelParams:
    rng = np.random.default_rng(seed)
    features = rng.integers(-128, 128, size=(n, f))
    w0 = rng.integers(-7, 8, size=(f, hidden))
    w1 = rng.integers(-7, 8, size=(hidden, d))
    lo0, hi0 = accumulator_range(w0, 8, True)
    lo1, hi1 = accumulator_range(w1, 4, False)
    t0 = np.sort(rng.integers(lo0 // 8, hi0 // 8, size=(hidden, 15)), axis=1)
    t1 = np.sort(rng.integers(lo1 // 2, hi1 // 2, size=(d, 255)), axis=1)
    layers = [LayerSpec(f, hidden, 8, True, 4, 4, 0, lo0, hi0), LayerSpec(hidden, d, 4, False, 4, 8, -128, lo1, hi1)]
    items = rng.integers(-128, 128, size=(n, d))
    items[5] = items[3]  # equal scores: the lower id must come first
    return KernelParams(features=features, feature_bits=8, lmax=lmax, weights=[w0, w1], thresholds=[t0, t1],
                        layers=layers, items=items, item_bits=8, k=k)


def reference(params: KernelParams, history: list[int]) -> tuple[list[int], list[int], int]:
    """The kernel written out step by step from numerics, independently of GoldenModel."""
    mean, flags = numerics.aggregate_history(np.array(history), params.features, params.lmax, params.feature_bits)
    x = mean
    for w, t, spec in zip(params.weights, params.thresholds, params.layers, strict=True):
        x = numerics.mvau(x, w, t, spec.out_bias)
    scores = numerics.item_scores(x, params.items)
    counted = {i for i in history[: params.lmax] if 0 <= i < params.n_items}
    ranked = sorted((i for i in range(params.n_items) if i not in counted), key=lambda i: (-scores[i], i))
    top = ranked[: params.k]
    return top, [int(scores[i]) for i in top], flags


@pytest.mark.parametrize("history", [[3, 5, 9], [0], [39, 39, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9], [NO_ID, 4, 40],
                                     [NO_ID], [5, 3]])
def test_query_matches_step_by_step_reference(history: list[int]) -> None:
    params = random_params()
    result = GoldenModel(params).query(np.array(history))
    ids, scores, flags = reference(params, history)
    assert result.ids.tolist() == ids and result.scores.tolist() == scores and result.flags == flags
    assert result.valid.all()


def test_flags_and_exclusion() -> None:
    golden = GoldenModel(random_params())
    assert golden.query(np.array([NO_ID])).flags == numerics.FLAG_EMPTY | numerics.FLAG_BAD_ID
    long = golden.query(np.arange(12))  # lmax 7: ids 7..11 are neither counted nor excluded
    assert long.flags == numerics.FLAG_TRUNCATED
    assert not set(long.ids.tolist()) & set(range(7))
    assert golden.query(np.array([1, 40])).flags == numerics.FLAG_BAD_ID


def test_padding_when_fewer_than_k_items_are_left() -> None:
    params = random_params(n=8, lmax=8, k=5)
    result = GoldenModel(params).query(np.arange(6))  # 6 of 8 items are in the history
    assert result.valid.tolist() == [True, True, False, False, False]
    assert result.ids[2:].tolist() == [-1, -1, -1] and result.scores[2:].tolist() == [0, 0, 0]
    assert set(result.ids[:2].tolist()) == {6, 7}


def test_ties_go_to_the_lower_id() -> None:
    params = random_params()
    params.items[:] = 1  # every item scores the same
    result = GoldenModel(params).query(np.array([0, 2]))
    assert result.ids.tolist() == [1, 3, 4, 5, 6]


def test_batch_equals_single_queries() -> None:
    golden = GoldenModel(random_params(seed=3))
    histories = [np.array(h) for h in ([1, 2], [3], [NO_ID], list(range(20)))]
    for batch, h in zip(golden.run(histories), histories, strict=True):
        single = golden.query(h)
        assert np.array_equal(batch.ids, single.ids) and np.array_equal(batch.scores, single.scores)


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    params = random_params()
    params.save(tmp_path / "kernel.npz")
    loaded = KernelParams.load(tmp_path / "kernel.npz")
    assert loaded.layers == params.layers and np.array_equal(loaded.thresholds[1], params.thresholds[1])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(KernelParamsError, match="not a readable kernel parameter file"):
        KernelParams.load(tmp_path / "bad.npz")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p.thresholds[0].__setitem__((0, slice(None)), np.arange(15)[::-1]), "not ascending"),
    (lambda p: p.weights[0].__setitem__((0, 0), 9), "weights outside"),
    (lambda p: p.features.__setitem__((0, 0), 300), "features outside"),
    (lambda p: setattr(p, "k", 0), "k=0"),
])
def test_validate_names_the_problem(mutate: object, message: str) -> None:
    params = random_params()
    mutate(params)  # type: ignore[operator]
    with pytest.raises(KernelParamsError, match=message):
        params.validate()


# -- exact thresholds from Brevitas layers ---------------------------------------------------------------
def trained_like_mlp(spec: QuantSpec, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    shape = HybridShape(n_items=10, gnn_dim=8, text_in_dim=0, text_dim=0, hidden=(12,), out_dim=6, lmax=8)
    mlp = quant_mlp(shape, spec)
    mlp.train()
    with torch.no_grad():
        for _ in range(30):  # statistics and learned scales away from their initial values
            mlp(torch.randint(-60, 60, (64, 8)).float())
        for module in mlp:
            if isinstance(module, torch.nn.BatchNorm1d):
                module.weight.uniform_(-1.5, 1.5)  # negative gammas: FINN-style sign flips of weight columns
                module.bias.uniform_(-0.5, 0.5)
    return mlp.eval()


@pytest.mark.parametrize("spec", [QuantSpec(4, 4, 8), QuantSpec(8, 8, 8), QuantSpec(4, 4, 4)], ids=str)
def test_thresholds_reproduce_brevitas(spec: QuantSpec) -> None:
    mlp = trained_like_mlp(spec, seed=spec.weight_bits * 10 + spec.out_bits)
    weights, thresholds, layers = integer_layers(mlp, 8)
    x = np.random.default_rng(1).integers(-128, 128, size=(3000, 8))
    golden = x
    for w, t, layer in zip(weights, thresholds, layers, strict=True):
        golden = numerics.mvau(golden, w, t, layer.out_bias)
    brevitas = brevitas_integer_outputs(mlp, x)
    # float32 (Brevitas) vs the exact float64 boundaries: at most a rare one-code difference at a boundary
    assert np.abs(golden - brevitas).max() <= 1
    assert (golden != brevitas).mean() < 1e-3


def test_thresholds_are_the_exact_rounding_boundaries() -> None:
    """Brute force, in exact rationals-by-float64: y(acc) = clamp(round_half_up(a*acc + b)) for every acc."""
    mlp = trained_like_mlp(QuantSpec(4, 4, 8), seed=5)
    _, thresholds, layers = integer_layers(mlp, 8)
    linear, norm = list(mlp)[1:3]
    with torch.no_grad():
        qw = linear.quant_weight()
        out = mlp[:4](torch.zeros(1, 8))
    s_w = qw.scale.double().reshape(-1).numpy()
    inv = 1 / np.sqrt(norm.running_var.double().numpy() + norm.eps)
    gamma, beta = norm.weight.detach().double().numpy(), norm.bias.detach().double().numpy()
    a = s_w * gamma * inv / float(out.scale)
    b = (beta - norm.running_mean.double().numpy() * gamma * inv) / float(out.scale)
    spec = layers[0]
    for c in range(spec.mh):
        sign = 1 if a[c] >= 0 else -1  # integer_layers negated this channel's weights when a < 0
        for acc in range(spec.acc_lo, spec.acc_hi + 1, 7):
            want = min(max(math.floor(sign * a[c] * acc + b[c] + 0.5), 0), 15)
            got = int((acc >= thresholds[0][c]).sum())
            assert got == want, (c, acc)


# -- folding ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("folding", "message"), [
    ([(5, 8), (8, 4)], "MW=6 is not a multiple of SIMD=5"),
    ([(6, 3), (8, 4)], "MH=8 is not a multiple of PE=3"),
    ([(6, 4), (8, 4)], "PE=4 must equal the next layer's SIMD=8"),
    ([(6, 4)], "lists 1 layers"),
])
def test_impossible_folding_is_refused(folding: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(FoldingError, match=message):
        plan(random_params(), folding)


def plan(params: KernelParams, folding: list[tuple[int, int]], n_items_max: int | None = None) -> KernelPlan:
    """The kernel of ``params`` with the default blocks (the aggregation normalising 2 features a cycle)."""
    return plan_kernel(params, KernelConfig(k=params.k, hist_agg=HistAggConfig(norm_par=2), n_items_max=n_items_max),
                       folding)


def test_a_history_shorter_than_an_input_beat_is_refused_before_anything_is_written() -> None:
    """lmax 1 with two ids per input beat: hist_agg's counters cannot hold a beat's ids (the RTL would not
    even elaborate)."""
    with pytest.raises(FoldingError, match="lmax=1 with ids_per_beat=2"):
        plan(random_params(lmax=1), [(6, 4), (4, 4)])
    assert plan(random_params(lmax=2), [(6, 4), (4, 4)]).ids_per_beat == 2


def test_the_plan_round_trips_through_the_manifest_parameters() -> None:
    kernel = plan(random_params(), [(2, 4), (4, 1)])
    again = KernelPlan.from_parameters(kernel.parameters())
    assert again == kernel and again.cycle_model(7) == kernel.cycle_model(7)
    assert again.query_cycles(7, n_items=80) - again.query_cycles(7) == again.scorer.rows(80) - again.scorer.rows()


def folding_for_target(params: KernelParams, target_cycles: int) -> list[tuple[int, int]]:
    """The derived folding without target parts: the fewest products within the budget."""
    derived = derive_folding(params, KernelConfig(target_cycles=target_cycles), (), log=lambda _: None)
    return [(c.simd, c.pe) for c in derived.choices]


def test_folding_for_target_is_the_cheapest_within_the_budget() -> None:
    params = random_params()  # MW/MH: 6 -> 8 -> 4
    folding = folding_for_target(params, target_cycles=14)
    plan(params, folding)
    cycles = sum((s.mw // simd) * (s.mh // pe) for (simd, pe), s in zip(folding, params.layers, strict=True))
    assert cycles <= 14
    # the optimum, by hand: (SIMD 2, PE 4) + (SIMD 4, PE 1) = 8 + 4 multipliers, 6 + 8 cycles
    assert sum(simd * pe for simd, pe in folding) == 12
    with pytest.raises(FoldingError, match="no folding"):
        folding_for_target(params, target_cycles=1)


def test_vectors_cover_the_corner_cases() -> None:
    params = random_params()
    golden = GoldenModel(params)
    vectors = build_vectors(golden, [np.array([1, 2, 3]), np.array([4])], [np.array([9]), np.zeros(0, dtype=int)])
    kinds = vectors.kind.tolist()
    assert kinds[:2] == ["user", "user"] and {"empty", "overlong", "bad_ids", "duplicates", "exclude_only",
                                              "long_exclusion"} <= set(kinds)
    assert vectors.n_hist[:2].tolist() == [3, 1] and vectors.exclusion(0).tolist() == [9]
    flags = dict(zip(kinds, vectors.flags.tolist(), strict=False))
    assert flags["empty"] == numerics.FLAG_EMPTY and flags["exclude_only"] == numerics.FLAG_EMPTY
    assert flags["overlong"] & numerics.FLAG_TRUNCATED and flags["bad_ids"] & numerics.FLAG_BAD_ID
