"""The derived folding (hybrec.compile.folding): the least parallel folding within the cycle budget, each
layer's products in DSP blocks or the fabric so that the kernel fits every target, checked by the fit
check's own counts; explicit `layers` stay an override, checked before anything is written."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from hybrec.compile import build
from hybrec.compile.blocks import FoldingError
from hybrec.compile.config import default_kernel_config, load_kernel_config
from hybrec.compile.folding import derive_folding, divisors, foldings
from hybrec.compile.resources import KernelDoesNotFit, estimate
from hybrec.compile.rtl import plan_kernel
from hybrec.config import ConfigError
from hybrec.golden import KernelParams
from tiny_kernel import shaped_params

ROOT = Path(__file__).resolve().parents[2]
BOTH = ("ecp5-85k", "xc7z020")


def deep_params(n_items: int = 3000) -> KernelParams:
    """The example's shape (docs/your-own-shape.md): 48 features, two hidden layers 64 and 32, D = 32, K = 20."""
    return shaped_params(n_items, f=48, hidden=(64, 32), d=32, lmax=64, k=20)


def quiet(_: str) -> None:
    pass


def test_foldings_are_every_chained_folding_within_the_budget() -> None:
    shapes, budget = [(6, 8), (8, 4), (4, 6)], 20
    brute = []
    for s0, p0, p1, p2 in itertools.product(divisors(6), divisors(8), divisors(4), divisors(6)):
        if 8 % p0 or 4 % p1:
            continue
        folding = ((s0, p0), (p0, p1), (p1, p2))
        cycles = sum((mw // s) * (mh // p) for (mw, mh), (s, p) in zip(shapes, folding, strict=True))
        if cycles <= budget:
            brute.append((sum(s * p for s, p in folding), cycles, folding))
    assert foldings(shapes, budget) == sorted(brute) and brute


def test_the_ecp5_folding_of_ml100k_is_derived_again_for_the_ecp5() -> None:
    """configs/kernel-ml100k-ecp5.yaml without its `layers`, for the ECP5-85F at its 160 cycles: SIMD 4 / PE 32
    and SIMD 32 / PE 4, both in the fabric, as written there. With the Zynq-7020 as well another of the six
    256-product foldings wins by ~1.5 % of the Zynq's estimated LUTs; the configuration keeps its measured one."""
    config = load_kernel_config(ROOT / "configs" / "kernel-ml100k-ecp5.yaml")
    assert config.layers is not None and config.target_cycles == 160
    params = shaped_params(1682)
    derived = derive_folding(params, config.model_copy(update={"layers": None}), ("ecp5-85k",), log=quiet)
    assert [(c.simd, c.pe, c.lut_mult) for c in derived.choices] == \
        [(layer.simd, layer.pe, layer.lut_mult) for layer in config.layers]
    assert (derived.cycles, derived.products, derived.tied) == (160, 256, 6)
    both = derive_folding(params, config.model_copy(update={"layers": None}), BOTH, log=quiet)
    assert (both.cycles, both.products) == (160, 256) and all(c.lut_mult for c in both.choices)


def test_the_multipliers_go_where_every_target_has_room() -> None:
    """The example's shape: its first and last layers' products in DSP blocks, the middle layer's in the fabric,
    because with it the ECP5-85F would need 186 of its 156 multipliers (the Zynq alone would take them)."""
    params, config = deep_params(), default_kernel_config()
    lines: list[str] = []
    derived = derive_folding(params, config, BOTH, log=lines.append)
    assert [c.lut_mult for c in derived.choices] == [False, True, False]
    assert derived.cycles <= config.target_cycles and derived.fits
    plan = plan_kernel(params, config, list(derived.choices))
    for target in BOTH:
        assert estimate(plan, target).fits
    assert "186 MULT18X18D of 156 on ecp5-85k, though xc7z020 would have room" in "\n".join(lines)
    zynq = derive_folding(params, config, ("xc7z020",), log=quiet)
    assert not any(c.lut_mult for c in zynq.choices)            # the Zynq alone: every layer in its DSPs
    assert lines[0].startswith("folding derived for 160 MLP cycles on ecp5-85k, xc7z020: ")


def test_the_folding_follows_the_budget() -> None:
    params, config = deep_params(), default_kernel_config()
    for budget in (40, 160, 640):
        derived = derive_folding(params, config.model_copy(update={"target_cycles": budget}), BOTH, log=quiet)
        assert derived.cycles <= budget
        assert derived.products == foldings([(s.mw, s.mh) for s in params.layers], budget)[0][0]
    with pytest.raises(FoldingError, match=r"no folding of the 48 -> 64 -> 32 -> 32 MLP takes at most "
                                           r"target_cycles=2 cycles"):
        derive_folding(params, config.model_copy(update={"target_cycles": 2}), BOTH, log=quiet)


def test_without_targets_the_products_stay_products() -> None:
    derived = derive_folding(deep_params(), default_kernel_config(), (), log=quiet)
    assert not any(c.lut_mult for c in derived.choices) and derived.fullest is None


def test_a_derivation_takes_milliseconds() -> None:
    started = time.perf_counter()
    derive_folding(deep_params(), default_kernel_config(), BOTH, log=quiet)
    derive_folding(shaped_params(1682), default_kernel_config(), BOTH, log=quiet)
    assert time.perf_counter() - started < 2.0


def test_a_catalogue_too_large_is_refused_with_the_numbers() -> None:
    """No folding helps when the blocks around the MLP alone exceed the part: the derivation says so and the
    fit check refuses with the numbers and the largest capacity of the shape."""
    lines: list[str] = []
    with pytest.raises(KernelDoesNotFit) as refused:
        build.checked_plan(deep_params(60000), default_kernel_config(), ("ecp5-85k",), log=lines.append)
    assert "the blocks around the MLP alone need" in lines[0] and "no folding fits" in lines[0]
    message = str(refused.value)
    assert "DP16KD needs" in message and "largest item capacity of this shape that fits" in message


def test_explicit_layers_are_checked_without_the_model_where_they_can_be(tmp_path: Path) -> None:
    config = tmp_path / "kernel.yaml"
    config.write_text("layers: [{simd: 8, pe: 16}, {simd: 8, pe: 8}]\n")
    with pytest.raises(ConfigError, match=r"layers 0 and 1: PE=16 must equal the next layer's SIMD=8"):
        load_kernel_config(config)
    config.write_text("layers: [{simd: 5, pe: 16}, {simd: 16, pe: 8}]\n")
    with pytest.raises(FoldingError, match=r"layer 0: impossible folding: MW=96 is not a multiple of SIMD=5 "
                                           r"\(SIMD may be 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96\)"):
        build.checked_plan(shaped_params(1682), load_kernel_config(config), log=quiet)
