"""The whole kernel of the smoke build under cocotb + Verilator and through the C++ harness: bit-exact
against the golden vectors under random backpressure, latency and initiation interval, reset mid-packet.
(The ML-100K kernel is checked the same way by `make sim`.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from rtl_support import require_verilator

from hybrec.simulate.harness import run_harness
from hybrec.simulate.kernel import simulate_build

pytestmark = [pytest.mark.sim]


def test_kernel_cocotb_against_golden_vectors(smoke_build: Path) -> None:
    require_verilator()
    report = simulate_build(smoke_build, users=24, source_pause=0.3, sink_pause=0.4, seed=5)
    assert report["passed"], report["error"]
    assert report["mismatches"] == 0 and report["golden"]["queries"] == 24 + 6
    assert {"empty", "overlong", "bad_ids"} <= set(report["corner_cases"])
    assert report["reset_check"]["mismatches"] == 0
    timing = report["timing"]
    model = report["cycle_model"]
    # The documented pipelines give the budget; the simulation may not be slower than it plus glue.
    budget = (model["aggregation"] + model["mlp_layer0"] + model["mlp_rest"] + model["scorer_rows"]
              + model["topk_merge"] + 32)
    assert 0 < timing["latency_cycles"] <= budget
    assert timing["ii_mean_cycles"] >= model["scorer_rows"]
    assert report["mlp_vs_finn"]["within_tolerance"], report["mlp_vs_finn"]
    assert (smoke_build / "sim" / "report.json").is_file()


def test_kernel_harness_every_user(smoke_build: Path) -> None:
    require_verilator()
    report = run_harness(smoke_build, source_pause=0.5, sink_pause=0.5, seed=11)
    assert report["passed"] and report["mismatches"] == 0
    assert report["users"] == 943 and report["answered"] == report["queries"] == 943 + 6
    assert report["cycles_per_second"] > 0


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
    result = subprocess.run([str(work / "obj" / "Vhybrec_kernel"), str(work / "queries.txt"),
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
    input and mask), two scorer lanes, merge without the split compare, one id per input beat."""
    from hybrec.cli import main

    require_verilator()
    config = tmp_path / "kernel.yaml"
    config.write_text("layers: [{simd: 4, pe: 16}, {simd: 16, pe: 4, lut_mult: true}]\nscorer: {lanes: 2}\n"
                      "topk: {merge_split: 0}\nmask_banks: 1\nhist_agg: {norm_par: 24}\nids_per_beat: 1\n")
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
