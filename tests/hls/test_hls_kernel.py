"""The whole HLS kernel (hls_kernels/kernel) in C-simulation against a build's golden vectors: every user of
the smoke build plus the corner cases, a tiny kernel with fewer than K candidates; the generated headers;
the Vitis HLS scripts without Vitis; and every golden vector of the ML-100K build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import make_tiny_build, require_csim

from hybrec import tools
from hybrec.builddir import BuildDir
from hybrec.compile.hls import HlsError, compile_program, run_csim, synth_hls, write_hls_params
from hybrec.errors import HybrecError

pytestmark = [pytest.mark.hls]


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_build(tmp_path_factory.mktemp("hls-tiny") / "build")


@pytest.fixture(scope="module")
def tiny_csim(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The tiny build's C-simulation, written outside the build directory."""
    require_csim()
    out = tmp_path_factory.mktemp("hls-tiny-csim") / "hls"
    return run_csim(tiny_build, out_dir=out), out


def test_kernel_csim_smoke_every_user(smoke_build: Path) -> None:
    require_csim()
    report = run_csim(smoke_build)
    assert report["passed"], report.get("first_mismatch")
    assert report["mismatches"] == 0 and report["protocol_errors"] == 0 and report["ap_types_warnings"] == 0
    assert report["users"] == 943 and report["queries"] == 943 + 6
    assert {"empty", "overlong", "bad_ids", "duplicates", "single", "all_bad"} == set(report["corner_cases"])
    assert json.loads((smoke_build / "hls" / "csim_report.json").read_text()) == report
    again = run_csim(smoke_build, users=10)  # the program is reused: nothing changed
    assert again["compile_seconds"] == 0.0 and again["queries"] == 10 + 6 and again["passed"]


def test_kernel_csim_fewer_than_k_candidates(tiny_build: Path, tiny_csim: tuple[dict[str, Any], Path]) -> None:
    report, out = tiny_csim
    vectors = np.load(tiny_build / "vectors" / "golden.npz")
    assert vectors["valid"].min() == 0, "the tiny build must exercise the padding results"
    assert report["passed"] and report["mismatches"] == 0, report.get("first_mismatch")
    assert report["ap_types_warnings"] == 0 and report["protocol_errors"] == 0
    assert (out / "csim_report.json").is_file() and not (tiny_build / "hls" / "csim_report.json").exists()


def test_csim_catches_a_wrong_answer(tiny_csim: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """The comparison is real: one expected word changed is one mismatch, named in the summary."""
    _, out = tiny_csim
    expected = (out / "csim" / "expected.txt").read_text().splitlines()
    words = expected[3].split()
    words[1] = str(int(words[1]) ^ 1)
    expected[3] = " ".join(words)
    (tmp_path / "expected.txt").write_text("\n".join(expected) + "\n")
    result = subprocess.run([str(out / "csim" / "kernel_tb"), str(out / "csim" / "queries.txt"),
                             str(tmp_path / "expected.txt"), str(tmp_path / "results.txt")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "mismatches 1 " in result.stdout and "first_mismatch 3" in result.stdout


def test_params_header_follows_the_manifest(tiny_build: Path, tmp_path: Path) -> None:
    build = BuildDir.open(tiny_build)
    out = write_hls_params(build, tmp_path / "hls")
    params = (out / "params.h").read_text()
    for line in ("static constexpr int K = 6;", "static constexpr int LANES = 4;", "static constexpr int N = 9;",
                 "static constexpr int OUT_BIAS = -4;", "typedef Layer1P LastLayerP;", f'"{build.build_id}"'):
        assert line in params
    assert "hybrec::mvau<Layer1P>(act1, out," in (out / "mlp.h").read_text()
    assert "ITEMS[4][3][4]" in (out / "rom_items.h").read_text()
    assert "MVAU0_WEIGHTS[4][4][2]" in (out / "rom_mvau.h").read_text()


def test_params_refuse_a_manifest_that_disagrees(tiny_build: Path, tmp_path: Path) -> None:
    broken = tmp_path / "build"
    shutil.copytree(tiny_build, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["kernel"]["parameters"]["n_items"] = 10
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HlsError, match=r"disagree: n_items \(10 vs 9\)"):
        write_hls_params(BuildDir.open(broken))


def test_synth_without_vitis_names_the_tool_and_leaves_runnable_scripts(
        tiny_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("vitis_hls") or shutil.which("vitis-run"):
        pytest.skip("Vitis HLS is installed here: synth_hls would run it")
    out = tmp_path / "hls"
    with pytest.raises(tools.ToolMissing) as info:
        synth_hls(tiny_build, out_dir=out)
    message = str(info.value)
    assert isinstance(info.value, HybrecError)  # the CLI's handler prints it as an error, no traceback
    assert "vitis_hls" in message and "nothing was synthesized" in message and str(out) in message
    for name in ("run_hls.tcl", "hls_settings.tcl", "params.h", "mlp.h", "rom_mvau.h", "csim/queries.txt",
                 "csim/expected.txt", "src/kernel/hybrec_kernel_hls.cpp", "src/kernel/kernel_tb.cpp",
                 "src/common/hybrec_hls.h", "src/topk/topk.h"):
        assert (out / name).is_file(), name
    assert not (out / "prj").exists() and not (out / "ip").exists() and not (out / "synth_report.json").exists()
    settings = (out / "hls_settings.tcl").read_text()
    assert "set hybrec_part xc7z020clg400-1" in settings and "set hybrec_clock_ns 5.000" in settings
    tcl = (out / "run_hls.tcl").read_text()
    for command in ("open_project", "set_top", "add_files", "csim_design", "csynth_design", "export_design"):
        assert command in tcl

    # The folder stands alone: its copy of the sources compiles with run_hls.tcl's include paths, and the
    # program passes on the folder's own golden vectors.
    require_csim()
    exe = tmp_path / "relocated" / "kernel_tb"
    compile_program([out / "src" / "kernel" / "hybrec_kernel_hls.cpp", out / "src" / "kernel" / "kernel_tb.cpp"],
                    exe, [out, out / "src", out / "src" / "common"])
    result = subprocess.run([str(exe), str(out / "csim" / "queries.txt"), str(out / "csim" / "expected.txt"),
                             str(tmp_path / "results.txt")], capture_output=True, text=True)
    assert result.returncode == 0 and "mismatches 0 protocol_errors 0" in result.stdout


def test_ml100k_build_every_user(ml100k_build: Path) -> None:
    """The issue's check: the ML-100K build's golden vectors, every user and corner case."""
    require_csim()
    report = run_csim(ml100k_build)
    assert report["passed"] and report["mismatches"] == 0 and report["protocol_errors"] == 0
    assert report["users"] == 943 and report["queries"] == 949
