"""The whole kernel of the smoke build under cocotb + Verilator and through the C++ harness: its model image
loaded through the input stream, then bit-exact against the golden vectors under random backpressure; a second
model of the same shape loaded into the same kernel and bit-exact too; every status answer; latency and
initiation interval, reset mid-packet. (The ML-100K kernel is checked the same way by `make sim`.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from rtl_support import require_verilator

from hybrec.simulate.harness import run_harness
from hybrec.simulate.kernel import simulate_build

pytestmark = [pytest.mark.sim]

N_CORNERS = 8   # hybrec.compile.vectors.corner_cases


@pytest.fixture(scope="module")
def second_model(smoke_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another trained model of the smoke kernel's shape, as a build of its own: the smoke model with its
    item vectors rotated among the items, its features negated and its first layer's weights reversed in
    sign (every value still in range), and another catalogue up to the kernel's capacity: 82 of the items
    removed, 192 added (copies of others' rows), 1792 live items."""
    from hybrec.builddir import BuildDir
    from hybrec.compile.config import KernelConfig
    from tiny_kernel import synthetic_build

    build = BuildDir.open(smoke_build)
    params = build.kernel_params()
    rows = np.concatenate([np.roll(np.arange(params.n_items), 7)[:1600], np.arange(192)])
    other = params.with_catalogue(np.clip(-params.features[rows], -127, 127), params.items[np.roll(rows, 3)])
    layer = other.layers[0]
    flipped = dataclasses.replace(layer, acc_lo=-layer.acc_hi, acc_hi=-layer.acc_lo)
    other = dataclasses.replace(other, weights=[-other.weights[0], *other.weights[1:]],
                                thresholds=[np.clip(other.thresholds[0], flipped.acc_lo, flipped.acc_hi + 1),
                                            *other.thresholds[1:]],
                                layers=[flipped, *other.layers[1:]])
    other.validate()
    config = KernelConfig.model_validate(build.manifest.inputs["kernel_config"])
    queries = build.queries()
    out = synthetic_build(tmp_path_factory.mktemp("second") / "build", other, config,
                          queries.histories[:100], "second")
    assert BuildDir.open(out).kernel.shape_key == build.kernel.shape_key
    return out


def test_kernel_cocotb_against_golden_vectors(smoke_build: Path) -> None:
    require_verilator()
    report = simulate_build(smoke_build, users=24, source_pause=0.3, sink_pause=0.4, seed=5,
                            checks=("golden", "latency", "reset"))
    assert report["passed"], report["error"]
    assert report["mismatches"] == 0 and report["golden"]["queries"] == 24 + N_CORNERS
    assert {"empty", "overlong", "bad_ids", "exclude_only", "long_exclusion"} <= set(report["corner_cases"])
    assert report["reset_check"]["mismatches"] == 0
    load = report["golden"]["models"][0]
    assert load["load_cycles"] >= load["load_words"]
    timing = report["timing"]
    model = report["cycle_model"]
    # The documented pipelines give the budget; the simulation may not be slower than it plus glue.
    budget = (model["aggregation"] + model["mlp_layer0"] + model["mlp_rest"] + model["scorer_rows"]
              + model["topk_merge"] + 32)
    assert 0 < timing["latency_cycles"] <= budget
    assert timing["ii_mean_cycles"] >= model["scorer_rows"]
    assert report["mlp_vs_finn"]["within_tolerance"], report["mlp_vs_finn"]
    assert (smoke_build / "sim" / "report.json").is_file()


def test_every_status_answer_on_the_tiny_kernel(tmp_path: Path) -> None:
    """Queries before a load, status requests, loads of another shape, cut short, too long, with a bad item
    count, a bad header: each answered as docs/model-image.md says, and the next query shows whether the kernel
    still holds a model (the controller is the same for every shape; the tiny one loads in 83 words)."""
    from tiny_kernel import make_tiny_build

    require_verilator()
    build = make_tiny_build(tmp_path / "build")
    report = simulate_build(build, users=4, seed=6, checks=("load",))
    assert report["passed"], report["error"]
    steps = report["load_check"]["steps"]
    assert [s.get("code") for s in steps if "code" in s] == ["OK", "OK", "WRONG_SHAPE", "BAD_HEADER", "INTERRUPTED",
                                                             "OK", "OVERLONG", "BAD_COUNT"]
    assert sum(1 for s in steps if "mismatches" in s) == 7 and all(s.get("mismatches", 0) == 0 for s in steps)


def test_kernel_harness_every_user(smoke_build: Path) -> None:
    require_verilator()
    report = run_harness(smoke_build, source_pause=0.5, sink_pause=0.5, seed=11)
    assert report["passed"] and report["mismatches"] == 0
    assert report["users"] == 943 and report["answered"] == report["queries"] == 1 + 943 + N_CORNERS
    assert report["cycles_per_second"] > 0


def test_two_models_of_one_shape_on_one_kernel(smoke_build: Path, second_model: Path) -> None:
    """The smoke model, then another model (other values, another catalogue up to the capacity) loaded into the
    same simulated kernel: both bit-exact in the C++ harness, without rebuilding anything."""
    require_verilator()
    report = run_harness(smoke_build, users=200, source_pause=0.4, sink_pause=0.4, seed=12, models=[second_model])
    assert report["passed"] and report["mismatches"] == 0
    assert [m["users"] for m in report["models"]] == [200, 100]


def test_two_models_of_one_shape_under_cocotb(tmp_path: Path) -> None:
    """The same under cocotb, on the tiny kernel (a load costs a Python call per beat there): the tiny model,
    then a retrained one, each bit-exact under random backpressure on both streams."""
    from tiny_kernel import make_tiny_build, retrained_params

    require_verilator()
    first = make_tiny_build(tmp_path / "first")
    second = make_tiny_build(tmp_path / "second", retrained_params(), "retrained")
    report = simulate_build(first, seed=13, checks=("golden",), models=[second])
    assert report["passed"] and report["mismatches"] == 0, report["error"]
    assert [m["mismatches"] for m in report["golden"]["models"]] == [0, 0]
    assert report["golden"]["queries"] == 6 + N_CORNERS


def test_harness_counts_a_corrupted_answer(smoke_build: Path, tmp_path: Path) -> None:
    """The harness is not a test that cannot fail: one wrong expected word is one mismatching query."""
    import json
    import subprocess

    require_verilator()
    run_harness(smoke_build, users=8)  # builds (or reuses) the program and writes its inputs
    work = smoke_build.resolve() / "sim" / "harness"
    lines = (work / "expected.txt").read_text().splitlines()
    fields = lines[3].split()
    fields[2] = str(int(fields[2]) ^ 1)  # the second result of query 3, score's lowest bit
    lines[3] = " ".join(fields)
    (tmp_path / "expected.txt").write_text("\n".join(lines) + "\n")
    report = tmp_path / "report.json"
    result = subprocess.run([str(work / "obj" / "Vhybrec_kernel"), str(work / "packets.txt"),
                             str(tmp_path / "expected.txt"), str(report), "4", "0.2", "0.2"], check=False)
    assert result.returncode == 1
    measured = json.loads(report.read_text())
    assert measured["mismatches"] == 1 and measured["first_mismatch"] == 3


def test_sim_cli_with_a_relative_build_path(smoke_build: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from hybrec.cli import main

    require_verilator()
    monkeypatch.chdir(smoke_build.parent)
    assert main(["sim", "--build", smoke_build.name, "--harness", "--users", "5"]) == 0
    assert "0 mismatches" in capsys.readouterr().err


@pytest.mark.slow
def test_kernel_on_icarus(smoke_build: Path) -> None:
    """The second simulator (extended suite; needs `iverilog`, e.g. apt-get install iverilog)."""
    from hybrec.simulate.runner import simulator_available

    if not simulator_available("icarus"):
        pytest.skip("iverilog is not installed (apt-get install iverilog)")
    report = simulate_build(smoke_build, users=3, simulator="icarus", seed=9)
    assert report["passed"] and report["mismatches"] == 0, report["error"]
    assert report["reset_check"]["mismatches"] == 0


@pytest.mark.slow
def test_kernel_one_mask_bank_two_lanes(smoke_run: Path, tmp_path: Path) -> None:
    """Another configuration of the same model: one history-mask bank (queries cannot overlap between
    input and mask), two scorer lanes, merge without the split compare."""
    from hybrec.cli import main

    require_verilator()
    config = tmp_path / "kernel.yaml"
    config.write_text("layers: [{simd: 4, pe: 16}, {simd: 16, pe: 4, lut_mult: true}]\nscorer: {lanes: 2}\n"
                      "topk: {merge_split: 0}\nmask_banks: 1\nhist_agg: {norm_par: 24}\n")
    build = tmp_path / "build"
    assert main(["compile", "--run", str(smoke_run), "--out", str(build), "--config", str(config)]) == 0
    report = run_harness(build, users=200, source_pause=0.3, sink_pause=0.6, seed=3)
    assert report["passed"] and report["mismatches"] == 0


def test_a_simulation_that_cannot_run_reports_no_mismatch_count(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel that does not elaborate: `hybrec sim` (cocotb and the C++ harness) exits with the simulator's
    error and its log's path, and never prints a mismatch count it did not measure."""
    import json

    from hybrec.artifacts import sha256_file
    from hybrec.cli import main
    from tiny_kernel import make_tiny_build

    require_verilator()
    build = make_tiny_build(tmp_path / "build")
    top = build / "rtl" / "hybrec_kernel.v"
    top.write_text(top.read_text().replace("endmodule", "  wire broken = ;\nendmodule"))
    manifest = json.loads((build / "manifest.json").read_text())   # a consistent build of broken RTL
    manifest["files"]["rtl/hybrec_kernel.v"] = sha256_file(top)
    (build / "manifest.json").write_text(json.dumps(manifest))
    for args in (["--users", "2"], ["--harness"]):
        assert main(["sim", "--build", str(build), *args]) == 2
        err = capsys.readouterr().err
        assert "error:" in err and "mismatch" not in err and ".log" in err, err
    report = json.loads((build / "sim" / "report.json").read_text())
    assert report["passed"] is False and report["mismatches"] is None
