"""The whole HLS kernel (hls_kernels/kernel) in C-simulation, packet by packet as docs/model-image.md defines
the stream: the build's model image loaded, then every golden query (the smoke and ML-100K builds, a tiny
kernel with fewer than K candidates, the tiny kernel of capacity 32 with 24 live items); two models of one
shape loaded one after the other; queries before a load; loads of another shape, cut short, too long, of a
bad count; a bad header; status requests. The generated headers hold the shape only; the Vitis HLS scripts
without Vitis."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hls_support import (
    Packet,
    make_perturbed_build,
    make_tiny_build,
    no_model_packets,
    query_packets,
    require_csim,
    run_session,
    status_answer,
)

from hybrec import protocol, tools
from hybrec.builddir import BuildDir
from hybrec.compile.config import HistAggConfig, ScorerConfig
from hybrec.compile.hls import HlsError, compile_program, run_csim, synth_hls, write_hls_params
from hybrec.errors import HybrecError
from tiny_kernel import make_tiny_build as make_capacity_build
from tiny_kernel import synthetic_build, tiny_config, tiny_params

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


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildDir, BuildDir]:
    """Two builds of the tiny kernel's shape (capacity 32): 24 live items, and another model of 20."""
    root = tmp_path_factory.mktemp("hls-two-models")
    first = BuildDir.open(make_capacity_build(root / "a"))
    second = BuildDir.open(make_perturbed_build(root / "b"))
    assert first.kernel.shape_key == second.kernel.shape_key
    assert first.model_image().n_items == 24 and second.model_image().n_items == 20
    return first, second


@pytest.fixture(scope="module")
def session_exe(two_models: tuple[BuildDir, BuildDir], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C-sim program of the tiny shape (compiled by the first build's C-simulation, which must pass)."""
    require_csim()
    out = tmp_path_factory.mktemp("hls-session") / "hls"
    report = run_csim(two_models[0].path, out_dir=out)
    assert report["passed"] and report["packets"] == report["queries"] + 1, report.get("first_mismatch")
    return out / "csim" / "kernel_tb"


def _session(exe: Path, folder: Path, steps: list[tuple[str, list[Packet]]]) -> dict[str, Any]:
    """Run every step's packets in one program run; asserts every word and names the first step that differs."""
    packets = [packet for _, group in steps for packet in group]
    result = run_session(exe, folder, packets)
    owner = [name for name, group in steps for _ in group]
    where = owner[result["first_mismatch"]] if result["first_mismatch"] is not None else None
    assert result["passed"], (f"{result['mismatches']} of {result['packets']} packets differ, the first in step "
                              f"{where!r}: expected {result['expected'][result['first_mismatch'] or 0]}, got "
                              f"{result['got'][result['first_mismatch'] or 0] if result['got'] else []}; "
                              f"protocol errors {result['protocol_errors']}, {result['first_ap_types_warning']}")
    return result


def _load(image: protocol.ModelImage) -> Packet:
    return status_answer(image.packet_units(), image.shape_word, image.n_items, protocol.OK, True, image.checksums)


# ---------------------------------------------------------------------------------------------- whole builds
def test_kernel_csim_smoke_every_user(smoke_build: Path) -> None:
    require_csim()
    report = run_csim(smoke_build)
    assert report["passed"], report.get("first_mismatch")
    assert report["mismatches"] == 0 and report["protocol_errors"] == 0 and report["ap_types_warnings"] == 0
    assert report["users"] == 943 and report["packets"] == report["queries"] + 1
    assert {"empty", "overlong", "bad_ids", "duplicates", "single", "all_bad"} <= set(report["corner_cases"])
    assert json.loads((smoke_build / "hls" / "csim_report.json").read_text()) == report
    again = run_csim(smoke_build, users=10)  # the program is reused: nothing changed
    assert again["compile_seconds"] == 0.0 and again["users"] == 10 and again["passed"]


def test_kernel_csim_fewer_than_k_candidates(tiny_build: Path, tiny_csim: tuple[dict[str, Any], Path]) -> None:
    report, out = tiny_csim
    vectors = np.load(tiny_build / "vectors" / "golden.npz")
    assert vectors["valid"].min() == 0, "the tiny build must exercise the padding results"
    assert report["passed"] and report["mismatches"] == 0, report.get("first_mismatch")
    assert report["ap_types_warnings"] == 0 and report["protocol_errors"] == 0
    assert report["packets"] == report["queries"] + 1   # the model image's load first
    assert (out / "csim_report.json").is_file() and not (tiny_build / "hls" / "csim_report.json").exists()


def test_csim_catches_a_wrong_answer(tiny_csim: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """The comparison is real: one expected word changed is one mismatch, named in the summary."""
    _, out = tiny_csim
    expected = (out / "csim" / "expected.txt").read_text().splitlines()
    words = expected[3].split()
    words[1] = str(int(words[1]) ^ 1)
    expected[3] = " ".join(words)
    (tmp_path / "expected.txt").write_text("\n".join(expected) + "\n")
    result = subprocess.run([str(out / "csim" / "kernel_tb"), str(out / "csim" / "packets.txt"),
                             str(tmp_path / "expected.txt"), str(tmp_path / "results.txt")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "mismatches 1 " in result.stdout and "first_mismatch 3" in result.stdout


def test_kernel_csim_memory_groups(tmp_path: Path) -> None:
    """The tiny model on a kernel whose feature memory is two column groups and whose item rows (2 lanes x 2
    x 4 bits) are cut into groups of 3 bits, so item elements straddle the lines of two memories: the load
    decodes them bit for bit (the ML-100K ECP5 configuration cuts its item rows at 126 bits)."""
    require_csim()
    config = tiny_config().model_copy(update={
        "hist_agg": HistAggConfig(norm_par=2, rom_groups=2), "scorer": ScorerConfig(lanes=2, rom_group_bits=3)})
    params = tiny_params()
    rng = np.random.default_rng(2)
    histories = [rng.integers(0, params.n_items, size=int(rng.integers(1, params.lmax + 1))) for _ in range(6)]
    build = synthetic_build(tmp_path / "build", params, config, histories, "tiny-groups")
    # 2 feature groups, 3 + 5 MVAU memories (weights, then a threshold unit's memory per stage), ceil(16 / 3) = 6
    # item groups
    assert "LOAD_MEM_LINES[16]" in (write_hls_params(BuildDir.open(build), tmp_path / "hls") / "params.h").read_text()
    report = run_csim(build, out_dir=tmp_path / "hls")
    assert report["passed"] and report["packets"] == report["queries"] + 1, report.get("first_mismatch")


# ---------------------------------------------------------------------------------------------- models at run time
def test_two_models_of_one_shape(two_models: tuple[BuildDir, BuildDir], session_exe: Path, tmp_path: Path) -> None:
    """One kernel program: model A loaded and queried, model B (other values, 20 live items) loaded over it
    and queried, then A again: every answer is the golden model's of the model loaded."""
    a, b = two_models
    image_a, image_b = a.model_image(), b.model_image()
    assert image_a.checksums != image_b.checksums
    result = _session(session_exe, tmp_path, [
        ("load A", [_load(image_a)]), ("queries of A", query_packets(a.vectors())),
        ("load B", [_load(image_b)]), ("queries of B", query_packets(b.vectors())),
        ("load A again", [_load(image_a)]), ("queries of A again", query_packets(a.vectors()))])
    assert result["packets"] == 3 + 2 * a.vectors().n_queries + b.vectors().n_queries and result["mismatches"] == 0
    # B's answers are not A's: the second load changed what the kernel computes
    same = [q for q in range(min(a.vectors().n_queries, b.vectors().n_queries))
            if np.array_equal(a.vectors().query_units(q), b.vectors().query_units(q))
            and np.array_equal(a.vectors().output_words()[q], b.vectors().output_words()[q])]
    assert len(same) < b.vectors().n_queries


def test_queries_and_status_before_a_load(two_models: tuple[BuildDir, BuildDir], session_exe: Path,
                                          tmp_path: Path) -> None:
    """A fresh kernel holds no model: a status request says so, queries come back NO_MODEL (every result
    invalid), and the first load makes the same queries right."""
    a, _ = two_models
    image, vectors = a.model_image(), a.vectors()
    no_model = no_model_packets(vectors, a.kernel.lmax)
    assert all(int(words[0]) >> 48 & protocol.FLAG_NO_MODEL for _, words in no_model)
    _session(session_exe, tmp_path, [
        ("status before any load", [status_answer(protocol.status_units(), image.shape_word, 0, protocol.OK, False,
                                                  (0, 0))]),
        ("queries before any load", no_model),
        ("load", [_load(image)]), ("queries", query_packets(vectors)),
        ("status with the model", [status_answer(protocol.status_units(), image.shape_word, image.n_items,
                                                 protocol.OK, True, image.checksums)])])


def test_wrong_shape_and_bad_header_keep_the_model(two_models: tuple[BuildDir, BuildDir], session_exe: Path,
                                                  tmp_path: Path) -> None:
    """A load of another shape is consumed and refused (WRONG_SHAPE), as is a packet of an unknown kind
    (BAD_HEADER): the model held before stays, with its checksums, and answers the next queries."""
    a, b = two_models
    image, vectors = a.model_image(), a.vectors()
    other = b.model_image().packet.copy()
    other[1] ^= 0x1
    bad = protocol.words_to_units(np.array([0x7A << 24, 5, 6], dtype=np.uint32))
    held = (image.shape_word, image.n_items)
    _session(session_exe, tmp_path, [
        ("load", [_load(image)]),
        ("another shape's load", [status_answer(protocol.words_to_units(other), *held, protocol.WRONG_SHAPE, True,
                                                image.checksums)]),
        ("queries after the refused load", query_packets(vectors)),
        ("a bad header", [status_answer(bad, *held, protocol.BAD_HEADER, True, image.checksums)]),
        ("queries after the bad header", query_packets(vectors))])


def test_interrupted_overlong_and_bad_count_loads(two_models: tuple[BuildDir, BuildDir], session_exe: Path,
                                                  tmp_path: Path) -> None:
    """A load cut in its payload leaves no model (INTERRUPTED; NO_MODEL answers, the checksums of what came)
    until the next complete load; cut on its header or shape word it touches nothing; one word too many
    (OVERLONG) and an item count above the capacity (BAD_COUNT) leave no model."""
    a, b = two_models
    image_a, image_b, vectors = a.model_image(), b.model_image(), a.vectors()
    word = image_a.shape_word
    cut = image_a.packet[: image_a.packet.size // 2]
    cut_sums = protocol.checksums(cut[2:])
    longer = np.concatenate([image_b.packet, [0x12345678]]).astype(np.uint32)
    too_many = image_a.packet.copy()
    too_many[2] = 33
    no_model = no_model_packets(vectors, a.kernel.lmax)
    _session(session_exe, tmp_path, [
        ("load", [_load(image_a)]),
        ("a load cut half way", [status_answer(protocol.words_to_units(cut), word, 0, protocol.INTERRUPTED, False,
                                               cut_sums)]),
        ("queries after the cut load", no_model),
        ("status after the cut load", [status_answer(protocol.status_units(), word, 0, protocol.OK, False,
                                                     cut_sums)]),
        ("load B", [_load(image_b)]), ("queries of B", query_packets(b.vectors())),
        ("a load cut on its header", [status_answer(protocol.words_to_units(image_a.packet[:1]), word, 20,
                                                    protocol.INTERRUPTED, True, image_b.checksums)]),
        ("a load cut on its shape word", [status_answer(protocol.words_to_units(image_a.packet[:2]), word, 20,
                                                        protocol.INTERRUPTED, True, image_b.checksums)]),
        ("queries of B after the cut headers", query_packets(b.vectors())),
        ("a load one word too long", [status_answer(protocol.words_to_units(longer), word, 0, protocol.OVERLONG,
                                                    False, image_b.checksums)]),
        ("queries after the overlong load", no_model),
        ("load A", [_load(image_a)]), ("queries of A", query_packets(vectors)),
        ("a load of too many items", [status_answer(protocol.words_to_units(too_many), word, 0, protocol.BAD_COUNT,
                                                    False, (33, 33))]),
        ("queries after the bad count", no_model)])


# ---------------------------------------------------------------------------------------------- headers, scripts
def test_headers_are_the_shape_only(two_models: tuple[BuildDir, BuildDir], tmp_path: Path) -> None:
    """params.h, mlp.h and rom_recip.h hold the shape (capacity 32, the shape word): two models of one shape
    get the same headers, and no trained value is in them."""
    a, b = two_models
    out_a, out_b = write_hls_params(a, tmp_path / "a"), write_hls_params(b, tmp_path / "b")
    names = sorted(p.name for p in out_a.glob("*.h"))
    assert names == ["mlp.h", "params.h", "rom_recip.h"]
    for name in names:
        assert (out_a / name).read_text() == (out_b / name).read_text(), name
    params = (out_a / "params.h").read_text()
    for line in ("static constexpr int K = 3;", "static constexpr int LANES = 2;", "static constexpr int N = 32;",
                 "static constexpr int N_MAX = 32;", "static constexpr int OUT_BIAS = -8;",
                 "typedef Layer1P LastLayerP;", f"SHAPE_WORD = 0x{a.model_image().shape_word:08x}u;",
                 f'"{a.kernel.shape_key}"', "constexpr int LOAD_MEM_WPL[10]"):
        assert line in params, line
    assert a.build_id not in params
    assert "hybrec::mvau<Layer1P>(act1, out," in (out_a / "mlp.h").read_text()


def test_params_refuse_a_manifest_that_disagrees(tiny_build: Path, tmp_path: Path) -> None:
    broken = tmp_path / "build"
    shutil.copytree(tiny_build, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["kernel"]["parameters"]["n_items"] = 512
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HlsError, match=r"kernel.parameters .* and its shape key .* disagree"):
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
    for name in ("run_hls.tcl", "hls_settings.tcl", "params.h", "mlp.h", "rom_recip.h", "csim/packets.txt",
                 "csim/expected.txt", "src/kernel/hybrec_kernel_hls.cpp", "src/kernel/kernel_tb.cpp",
                 "src/common/hybrec_hls.h", "src/topk/topk.h"):
        assert (out / name).is_file(), name
    assert not (out / "prj").exists() and not (out / "ip").exists() and not (out / "synth_report.json").exists()
    settings = (out / "hls_settings.tcl").read_text()
    assert "set hybrec_part xc7z020clg400-1" in settings and "set hybrec_clock_ns 5.000" in settings
    tcl = (out / "run_hls.tcl").read_text()
    for command in ("open_project", "set_top", "add_files", "csim_design", "csynth_design", "export_design",
                    "csim packets.txt"):
        assert command in tcl

    # The folder stands alone: its copy of the sources compiles with run_hls.tcl's include paths, and the
    # program passes on the folder's own model image and golden vectors.
    require_csim()
    exe = tmp_path / "relocated" / "kernel_tb"
    compile_program([out / "src" / "kernel" / "hybrec_kernel_hls.cpp", out / "src" / "kernel" / "kernel_tb.cpp"],
                    exe, [out, out / "src", out / "src" / "common"])
    result = subprocess.run([str(exe), str(out / "csim" / "packets.txt"), str(out / "csim" / "expected.txt"),
                             str(tmp_path / "results.txt")], capture_output=True, text=True)
    assert result.returncode == 0 and "mismatches 0 protocol_errors 0" in result.stdout


def test_ml100k_build_every_user(ml100k_build: Path) -> None:
    """The issue's check: the ML-100K build's golden vectors, every user and corner case."""
    require_csim()
    report = run_csim(ml100k_build)
    assert report["passed"] and report["mismatches"] == 0 and report["protocol_errors"] == 0
    assert report["users"] == 943 and report["packets"] == report["queries"] + 1
