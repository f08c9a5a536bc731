"""``hybrec compile`` on the smoke run: export, FINN front-end, RTL, golden vectors, manifest; bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybrec.builddir import BuildDir, BuildDirError
from hybrec.cli import main
from hybrec.export.bundle import read_export
from hybrec.golden import GoldenModel, KernelParams

pytestmark = pytest.mark.integration


def test_manifest_records_inputs_tools_and_files(smoke_build: Path) -> None:
    manifest = BuildDir.open(smoke_build).manifest.raw  # every listed file is there with its sha256
    assert manifest["format"] == "hybrec-build/2"
    assert manifest["source"]["variant"] == "hybrid_w4a4" and len(manifest["inputs"]["checkpoint_sha256"]) == 64
    assert manifest["versions"]["finn-plus"] == "1.6.1"
    kernel = manifest["kernel"]
    assert kernel["top"] == "hybrec_kernel" and "rtl/hybrec_kernel.v" in kernel["sources"]
    assert kernel["folding"] == [{"simd": 8, "pe": 8, "lut_mult": False, "dot_adds": 2, "weight_rom": "auto"},
                                 {"simd": 8, "pe": 8, "lut_mult": True, "dot_adds": 2, "weight_rom": "auto"}]
    assert all(f in manifest["files"] for f in kernel["sources"] + kernel["memory_files"])
    assert kernel["memory_files"] == ["rtl/recip.hex"]          # the trained model is in the image, not the RTL
    assert kernel["shape"]["n_items_max"] == 1792 and kernel["parameters"]["n_items"] == 1792
    assert manifest["image"]["n_items"] == 1682 and manifest["image"]["file"] in manifest["files"]
    assert manifest["vectors"]["user_queries"] == 943


def test_the_rtl_is_the_shape_and_the_image_the_model(smoke_build: Path) -> None:
    """No trained value reaches the RTL: the image holds them all, keyed by the shape."""
    build = BuildDir.open(smoke_build)
    image = build.model_image()
    assert image.shape_key == build.kernel.shape_key and image.n_items == 1682
    top = (smoke_build / "rtl" / "hybrec_kernel.v").read_text()
    assert f"32'h{image.shape_word:08x}" in top and build.manifest.source.checkpoint_sha256 not in top
    assert "readmemh" not in "".join(p.read_text() for p in (smoke_build / "rtl").glob("*.v")
                                     if p.name not in {"hist_agg.v"})


def test_golden_model_reproduces_brevitas_for_every_user(smoke_build: Path) -> None:
    checks = read_export(smoke_build / "export")["checks"]
    assert checks["users"] == 943
    assert checks["user_vector_mismatches_vs_brevitas"] == 0 and checks["topk_mismatches_vs_brevitas"] == 0


def test_finn_front_end_agrees_with_the_golden_model(smoke_build: Path) -> None:
    finn = json.loads((smoke_build / "finn" / "finn.json").read_text())
    assert finn["nodes"] == ["MVAU_hls", "MVAU_hls", "Mul"]
    execution = finn["execution_vs_golden"]
    assert execution["user_means"]["mismatching_vectors"] == 0
    assert execution["random_with_golden_thresholds"]["mismatching_vectors"] == 0
    for layer in finn["layers"]:
        assert layer["weights_equal"] and layer["act_val_equal"] and layer["threshold_max_abs_diff"] <= 1
    # FINN's cycle model: (MH/PE) * (MW/SIMD) per layer
    assert list(finn["exp_cycles_per_layer"].values()) == [(32 // 8) * (24 // 8), (16 // 8) * (32 // 8)]
    assert all("LUT" in estimate for estimate in finn["res_estimation"].values())


def test_vectors_are_the_golden_answers(smoke_build: Path) -> None:
    params = KernelParams.load(smoke_build / "export" / "kernel.npz")
    vectors = BuildDir.open(smoke_build).vectors()
    for q in (0, 500, vectors.n_queries - 1):
        result = GoldenModel(params).query(vectors.history(q), vectors.exclusion(q))
        assert np.array_equal(result.ids, vectors.topk[q]) and result.flags == vectors.flags[q]
    # a user's query excludes the user's training and validation items: the served list is the protocol's
    assert vectors.exclusion(0).size > 0


def test_same_inputs_reuse_the_build(smoke_run: Path, smoke_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (smoke_build / "manifest.json").read_bytes()
    assert main(["compile", "--run", str(smoke_run), "--out", str(smoke_build), "--preset", "smoke"]) == 0
    assert "up to date" in capsys.readouterr().err
    assert (smoke_build / "manifest.json").read_bytes() == before


def test_build_of_other_inputs_is_refused(smoke_run: Path, smoke_build: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kernel.yaml"
    config.write_text("layers: [{simd: 8, pe: 8}, {simd: 8, pe: 8}]\nscorer: {lanes: 2}\nmask_banks: 2\n")
    assert main(["compile", "--run", str(smoke_run), "--out", str(smoke_build), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "holds a build of other inputs" in err and "kernel_config" in err


def test_changed_build_file_is_detected_and_force_rebuilds_it(smoke_run: Path, smoke_build: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    copy = Path(shutil.copytree(smoke_build, tmp_path / "build", ignore=shutil.ignore_patterns("sim")))
    (copy / "model" / "model.img").write_bytes(b"HYBRECMI")
    with pytest.raises(BuildDirError, match=r"model\.img: missing or changed since the build .* --force"):
        BuildDir.open(copy)
    args = ["compile", "--run", str(smoke_run), "--out", str(copy), "--preset", "smoke"]
    assert main(args) == 2
    assert "model/model.img changed since the build; --force rebuilds it" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert BuildDir.open(copy).build_id == BuildDir.open(smoke_build).build_id


def test_a_folder_that_is_not_a_build_is_replaced_only_with_force(smoke_run: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["compile", "--run", str(smoke_run), "--out", str(out), "--preset", "smoke"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a finished hybrec build directory" in err and "--force to replace it" in err
    assert (out / "notes.txt").read_text() == "keep me"
    assert main([*args, "--force"]) == 0
    assert not (out / "notes.txt").exists() and BuildDir.open(out).manifest.source.variant == "hybrid_w4a4"


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("layers: [{simd: 5, pe: 8}, {simd: 8, pe: 8}]\n", "impossible folding: MW=24 is not a multiple of SIMD=5"),
    ("layers: [{simd: 8, pe: 4}, {simd: 8, pe: 8}]\n", "PE=4 must equal the next layer's SIMD=8"),
    ("layers: [{simd: 8, pe: 8}]\n", "lists 1 layers"),
    ("variant: hybrid_float\n", "not a quantized hybrid"),
    ("variant: hybrid_w2a2\n", "no such checkpoint"),
    ("mask_banks: 3\nlayers: [{simd: 8, pe: 8}, {simd: 8, pe: 8}]\n", "mask_banks=3 must be a power of two"),
    ("scorer: {rom_group_bits: 1}\nlayers: [{simd: 8, pe: 8}, {simd: 8, pe: 8}]\n", "into more than 100 groups"),
    ("layers: [{simd: 0, pe: 8}]\n", "greater than or equal to 1"),
    ("folding: 3\n", "Extra inputs are not permitted"),
])
def test_bad_kernel_config_is_a_clear_error(smoke_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            yaml_text: str, message: str) -> None:
    config = tmp_path / "kernel.yaml"
    config.write_text(yaml_text)
    out = tmp_path / "build"
    assert main(["compile", "--run", str(smoke_run), "--out", str(out), "--config", str(config)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".build.staging-*"))   # nothing written, nothing left


def test_a_failed_compile_leaves_the_previous_build_as_it_was(smoke_run: Path, smoke_build: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    copy = Path(shutil.copytree(smoke_build, tmp_path / "build", ignore=shutil.ignore_patterns("sim")))
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    config = tmp_path / "kernel.yaml"
    config.write_text("layers: [{simd: 8, pe: 4}, {simd: 8, pe: 8}]\n")   # refused as the config is read
    assert main(["compile", "--run", str(smoke_run), "--out", str(copy), "--config", str(config), "--force"]) == 2
    assert "PE=4 must equal the next layer's SIMD=8" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".build.staging-*"))


def test_not_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--run", str(tmp_path), "--out", str(tmp_path / "b"), "--preset", "smoke"]) == 2
    assert "not a hybrec run directory" in capsys.readouterr().err
