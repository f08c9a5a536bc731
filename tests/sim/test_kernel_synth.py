"""The generated kernel synthesizes with Yosys (synth_ecp5, synth_xilinx) — on a tiny configuration, so
that it runs in CI; the ML-100K kernel's counts come from `make fit` (README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybrec.bitstream.yosys import ToolMissing, synthesize, yosys_command
from hybrec.compile.config import HistAggConfig, KernelConfig, LayerFolding, ScorerConfig
from hybrec.compile.rtl import plan_layers, write_rtl
from hybrec.export.golden import KernelParams, LayerSpec, accumulator_range

pytestmark = [pytest.mark.synth]


def tiny_params() -> KernelParams:
    rng = np.random.default_rng(0)
    n, f, h, d = 24, 4, 4, 2
    w0, w1 = rng.integers(-7, 8, size=(f, h)), rng.integers(-7, 8, size=(h, d))
    lo0, hi0 = accumulator_range(w0, 8, True)
    lo1, hi1 = accumulator_range(w1, 2, False)
    return KernelParams(
        features=rng.integers(-128, 128, size=(n, f)), feature_bits=8, lmax=8, weights=[w0, w1],
        thresholds=[np.sort(rng.integers(lo0, hi0, size=(h, 3)), axis=1),
                    np.sort(rng.integers(lo1, hi1, size=(d, 15)), axis=1)],
        layers=[LayerSpec(f, h, 8, True, 4, 2, 0, lo0, hi0), LayerSpec(h, d, 2, False, 4, 4, -8, lo1, hi1)],
        items=rng.integers(-8, 8, size=(n, d)), item_bits=4, k=3)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    try:
        yosys_command()
    except ToolMissing as err:
        pytest.skip(str(err))
    params = tiny_params()
    config = KernelConfig(layers=(LayerFolding(simd=2, pe=2), LayerFolding(simd=2, pe=1)),
                          scorer=ScorerConfig(lanes=2), hist_agg=HistAggConfig(norm_par=2), mask_banks=2, k=3)
    plans = plan_layers(params, [(2, 2), (2, 1)])
    build = tmp_path_factory.mktemp("tiny-kernel")
    values = write_rtl(build / "rtl", params, plans, config,
                       {"manifest_name": "-", "build_id": "tiny", "checkpoint_sha256": "0" * 64,
                        "variant": "synthetic", "seed": 0})
    return build, values["sources"]


@pytest.mark.parametrize("target", ["ecp5-85k", "xc7z020"])
def test_tiny_kernel_synthesizes(tiny_build: tuple[Path, list[str]], target: str) -> None:
    build, sources = tiny_build
    report = synthesize(build, target, "hybrec_kernel", sources)
    assert report["fits"]
    usage = report["usage"]
    luts = usage["LUT4" if target == "ecp5-85k" else "LUT"]["used"]
    flops = usage["FF"]["used"]
    assert 100 < luts < 20000 and 100 < flops < 20000  # a real netlist, not an empty (optimised-away) one
    assert (build / "fit" / f"{target}.json").is_file()
