"""The toolkit's own proof (docs/your-own-shape.md): a shop in the user file format (`hybrec data synth`) and a
model of another shape than ML-100K's (two hidden layers, 48 -> 64 -> 32 -> 32, K = 20), from `hybrec train`
through `hybrec compile` with the default kernel (configs/kernel-example-deep.yaml: no `layers`, the folding
derived for the ECP5-85F and the Zynq-7020) to a bit-exact simulation of every user; and a catalogue too large
for the ECP5-85F refused by `hybrec compile` within seconds, before anything is written.

configs/example-deep.yaml's model on a smaller shop (200 users, 300 items) and a few epochs; the same shape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from rtl_support import require_verilator

from hybrec.builddir import BuildDir
from hybrec.cli import main
from hybrec.compile.blocks import KernelPlan
from hybrec.compile.resources import estimate
from hybrec.data.synthetic import write_shop
from hybrec.simulate.harness import run_harness

pytestmark = [pytest.mark.integration, pytest.mark.sim]

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "configs" / "kernel-example-deep.yaml"


def run_config(folder: Path, shop: Path) -> Path:
    """configs/example-deep.yaml on the shop in ``shop``, with a few epochs and without EASE (a teacher the
    quantized kernel does not need)."""
    config = yaml.safe_load((ROOT / "configs" / "example-deep.yaml").read_text())
    config["dataset"].update(interactions=str(shop / "shop.inter"), items=str(shop / "shop.item"))
    config["variants"] = ["gnn_float", "hybrid_float", "hybrid_w4a4"]
    config["gnn"].update(epochs=4, eval_every=2, patience=1)
    config["hybrid"].update(epochs=4, eval_every=2, patience=1, qat_epochs=2, lr=0.003,
                            graph_kd_teachers=["graph_features"])
    path = folder / "example.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train(folder: Path, items: int, active: int | None = None) -> Path:
    shop = folder / "shop"
    write_shop(shop, users=200, items=items, per_user=20, seed=1, active_items=active)
    run = folder / "run"
    assert main(["train", "--config", str(run_config(folder, shop)), "--out", str(run), "--quiet"]) == 0
    return run


@pytest.fixture(scope="module")
def shop_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model compiled with the example's kernel configuration (about 15 s on one core)."""
    folder = tmp_path_factory.mktemp("own-shape")
    run = train(folder, items=300)
    build = folder / "build"
    assert main(["compile", "--run", str(run), "--out", str(build), "--config", str(KERNEL)]) == 0
    return build


def test_the_shape_is_the_example_and_the_folding_was_derived(shop_build: Path) -> None:
    manifest = BuildDir.open(shop_build).manifest.raw
    layers = manifest["kernel"]["parameters"]["layers"]
    assert [(m["mw"], m["mh"]) for m in layers] == [(48, 64), (64, 32), (32, 32)]
    assert manifest["kernel"]["parameters"]["k"] == 20 and manifest["image"]["n_items"] == 300
    derived = manifest["folding_derivation"]
    assert derived["targets"] == ["ecp5-85k", "xc7z020"] and derived["cycles"] <= derived["budget_cycles"] == 160
    assert manifest["inputs"]["folding"] == manifest["kernel"]["folding"]
    assert [(f["simd"], f["pe"], f["lut_mult"]) for f in manifest["kernel"]["folding"]] == \
        [(d["simd"], d["pe"], d["lut_mult"]) for d in derived["layers"]]
    assert sum(manifest["finn"]["exp_cycles_per_layer"].values()) == derived["cycles"]
    plan = KernelPlan.from_parameters(manifest["kernel"]["parameters"])
    for target in ("ecp5-85k", "xc7z020"):   # the fit check's counts: block RAM and multipliers fit
        assert estimate(plan, target).fits
    checks = manifest["model"]["export_checks"]
    assert checks["user_vector_mismatches_vs_brevitas"] == 0 and checks["topk_mismatches_vs_brevitas"] == 0
    assert manifest["finn"]["execution_vs_golden"]["user_means"]["mismatching_vectors"] == 0


def test_every_user_is_bit_exact_in_the_cpp_harness(shop_build: Path) -> None:
    require_verilator()
    report = run_harness(shop_build, source_pause=0.3, sink_pause=0.3, seed=4)
    assert report["passed"] and report["mismatches"] == 0
    assert report["users"] == 200 and report["answered"] == report["queries"] == 1 + 200 + 8


@pytest.mark.slow
def test_every_user_is_bit_exact_under_cocotb(shop_build: Path) -> None:
    """The same kernel under cocotb + Verilator, every user, random pauses on both streams (about 100 s)."""
    from hybrec.simulate.kernel import simulate_build

    require_verilator()
    report = simulate_build(shop_build, source_pause=0.3, sink_pause=0.3, seed=5)
    assert report["passed"], report["error"]
    assert report["mismatches"] == 0 and report["users"] == 200
    assert report["mlp_vs_finn"]["within_tolerance"], report["mlp_vs_finn"]


def test_a_catalogue_too_large_for_the_ecp5_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same model on a catalogue of 6,000 items (300 with interactions): the shape holds 5,120 items on the
    ECP5-85F. `hybrec compile` refuses in seconds with the numbers, and writes nothing; the Zynq-7020 alone takes
    it (7,168)."""
    run = train(tmp_path, items=6000, active=300)
    capsys.readouterr()
    out = tmp_path / "builds" / "big"
    out.parent.mkdir()
    started = time.perf_counter()
    assert main(["compile", "--run", str(run), "--out", str(out), "--config", str(KERNEL)]) == 2
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert "does not fit the Lattice LFE5U-85F" in err and "DP16KD needs" in err
    assert "n_items_max: 5,120, fewer than the catalogue's 6,000 items" in " ".join(err.split())
    assert seconds < 20 and list(out.parent.iterdir()) == []
    assert main(["compile", "--run", str(run), "--out", str(out), "--config", str(KERNEL), "--target", "xc7z020"]) == 0
    assert json.loads((out / "manifest.json").read_text())["image"]["n_items"] == 6000
