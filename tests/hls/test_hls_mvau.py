"""hls_kernels/mvau in C-simulation, bit-exact against numerics.mvau (the RTL test's folding table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import build_block, run_block, seed_of

from hybrec import numerics
from hybrec.compile.blocks.mvau import Mvau, hls_threshold_rom, hls_weight_rom
from hybrec.golden import LayerSpec, accumulator_range

pytestmark = [pytest.mark.hls]

CASES = [
    pytest.param(dict(mw=8, mh=4, simd=2, pe=2, in_bits=4, w_bits=4, out_bits=4), id="mw8-mh4-s2-p2-w4a4-uin"),
    pytest.param(dict(mw=16, mh=8, simd=16, pe=1, in_bits=8, in_signed=True, w_bits=8, out_bits=8, out_bias=-128),
                 id="mw16-mh8-s16-p1-w8a8-sin-sout"),
    pytest.param(dict(mw=12, mh=6, simd=12, pe=6, in_bits=4, w_bits=4, out_bits=2), id="pe-eq-mh-simd-eq-mw-a2"),
    pytest.param(dict(mw=20, mh=4, simd=4, pe=4, in_bits=4, w_bits=4, no_act=True), id="no-act-mw20-mh4-s4-p4"),
    pytest.param(dict(mw=24, mh=12, simd=8, pe=3, in_bits=3, in_signed=True, w_bits=3, out_bits=3, out_bias=-4),
                 id="sin-mw24-mh12-s8-p3-w3a3"),
    pytest.param(dict(mw=96, mh=128, simd=16, pe=8, in_bits=8, in_signed=True, w_bits=4, out_bits=4),
                 id="ml100k-layer0"),
]


def _thresholds(acc: np.ndarray, k: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted ``[MH, k]`` thresholds drawn from real accumulators +-1 (so ``acc == T`` happens), with a
    channel of duplicates, one of all-minimum and one of never-reached ``hi + 1``."""
    mh = acc.shape[1]
    t = np.stack([rng.choice(acc[:, c], size=k) + rng.integers(-1, 2, size=k) for c in range(mh)])
    t[0] = int(np.median(acc[:, 0]))
    t[1 % mh] = lo
    t[2 % mh] = hi + 1
    return np.sort(np.clip(t, lo, hi + 1), axis=1)


@pytest.mark.parametrize("case", CASES)
def test_mvau(case: dict[str, Any], tmp_path: Path) -> None:
    rng = np.random.default_rng(seed_of(case))
    in_signed, no_act = case.get("in_signed", False), case.get("no_act", False)
    out_bits, out_bias = case.get("out_bits", 1), case.get("out_bias", 0)
    w_lo, w_hi = numerics.int_range(case["w_bits"])
    weights = rng.integers(w_lo, w_hi + 1, size=(case["mw"], case["mh"]))
    weights[:, 0] = w_lo  # the largest accumulators
    x_lo, x_hi = numerics.int_range(case["in_bits"], in_signed)
    xs = rng.integers(x_lo, x_hi + 1, size=(60, case["mw"]))
    xs[0], xs[1] = x_lo, x_hi
    acc_lo, acc_hi = accumulator_range(weights, case["in_bits"], in_signed)
    acc_bits = LayerSpec(case["mw"], case["mh"], case["in_bits"], in_signed, case["w_bits"], out_bits, out_bias,
                         acc_lo, acc_hi).acc_bits
    n_t = 1 if no_act else (1 << out_bits) - 1
    thresholds = _thresholds(xs @ weights, n_t, acc_lo, acc_hi, rng)
    fields = {"MW": case["mw"], "MH": case["mh"], "SIMD": case["simd"], "PE": case["pe"], "IN_BITS": case["in_bits"],
              "IN_SIGNED": in_signed, "W_BITS": case["w_bits"], "ACC_BITS": acc_bits, "OUT_BITS": out_bits,
              "OUT_BIAS": out_bias, "NO_ACT": no_act}
    block = Mvau(mw=case["mw"], mh=case["mh"], simd=case["simd"], pe=case["pe"], in_bits=case["in_bits"],
                 in_signed=in_signed, w_bits=case["w_bits"], acc_bits=acc_bits, out_bits=out_bits, out_bias=out_bias,
                 no_act=no_act)
    roms = {"WEIGHTS": hls_weight_rom(block, weights), "THRESHOLDS": hls_threshold_rom(block, thresholds)}
    exe = build_block("mvau", tmp_path, "L", fields, roms)
    out = np.array(run_block(exe, [[len(xs)], *xs.tolist()]))
    expected = numerics.mvau(xs, weights, None if no_act else thresholds, out_bias)
    assert out.shape == (len(xs), 1 + case["mh"]) and (out[:, 0] == case["mh"]).all()
    np.testing.assert_array_equal(out[:, 1:], expected)
