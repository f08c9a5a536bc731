"""The hardware-in-the-loop benchmark on the smoke build: every query carries the user's exclusion list, so the
served lists reach the evaluation protocol's NDCG@10; the CPU backend's lists are the golden model's, the top-K
files carry the dataset's own ids, the report is written, and what is missing (GPU figures, a bitstream, a
board) is said, never filled in. The simulated-FPGA run (model image loaded through the driver) needs
.venv-board and a Verilator build of the smoke kernel: slow tier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybrec.bench.backends import Backend, TopK
from hybrec.bench.backends.cpu import run_cpu
from hybrec.bench.backends.golden import golden_lists
from hybrec.bench.backends.gpu import read_gpu
from hybrec.bench.fpga_timing import HostModel, bar_10x, fpga_clock
from hybrec.bench.hil import HilOptions, run_hil
from hybrec.bench.workload import HilError, Workload, load_workload, prepare_gpu_inputs, read_topk_tsv, write_topk_tsv
from hybrec.builddir import BITSTREAM_FORMAT
from hybrec.cli import cache_dir, main
from hybrec.simulate.shared_model import build_shared_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def work(smoke_build: Path) -> Workload:
    return load_workload(smoke_build, cache_dir(), log=lambda _: None)


def test_queries_exclude_what_the_protocol_masks_and_the_served_lists_leave_it_out(work: Workload) -> None:
    for history, extra, masked in zip(work.histories, work.excludes, work.eval_masked, strict=True):
        np.testing.assert_array_equal(np.union1d(history, extra), np.unique(masked))
    golden = golden_lists(work)
    for row, masked in enumerate(work.eval_masked):
        assert not np.isin(golden.ids[row], masked).any()
    assert sum(e.size for e in work.excludes) > 0


def test_cpu_backend_lists_equal_the_golden_model(work: Workload) -> None:
    golden = golden_lists(work)
    cpu = run_cpu(work, [1, 7], min_calls=1, threads=1, progress=False, log=lambda _: None)
    assert cpu.status == "ok" and cpu.lists is not None
    assert cpu.lists.mismatches(golden).size == 0
    assert {r["batch"] for r in cpu.data["rows"]} == {1, 7}
    assert all(r["queries_differing_from_first_row"] == 0 for r in cpu.data["rows"])
    assert len(cpu.data["rows"][0]["samples_us"]["compute"]) == work.n_queries  # batch 1: one sample per query


def test_topk_tsv_uses_the_datasets_ids(work: Workload, tmp_path: Path) -> None:
    golden = golden_lists(work)
    lists = TopK(golden.ids.copy(), golden.scores.copy())
    lists.ids[0, -1], lists.scores[0, -1] = -1, 0  # an invalid result is left out of the file
    path = tmp_path / "topk_x.tsv"
    write_topk_tsv(path, work, lists)
    lines = path.read_text().splitlines()
    assert lines[0] == "user_id\trank\titem_id\tscore"
    assert len(lines) == 1 + work.n_queries * work.params.k - 1
    user, rank, item, score = lines[1].split("\t")
    assert (user, rank) == (work.user_ids[0], "1")
    assert item == work.item_ids[int(golden.ids[0, 0])] and int(score) == golden.scores[0, 0]
    # dataset ids are not kernel indices: ML-100K's item "1" is kernel item 0
    assert work.item_ids[0] != "0"
    back = read_topk_tsv(path, work)
    np.testing.assert_array_equal(back.ids, lists.ids)
    np.testing.assert_array_equal(back.scores, lists.scores)


def test_report_without_gpu_figures_bitstream_or_board(smoke_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    options = HilOptions(backends=("cpu", "gpu", "pynq"), cpu_batches=(1, 16), cpu_min_calls=1, progress=False)
    (out / "topk_cpu.tsv").parent.mkdir(parents=True)
    (out / "topk_cpu.tsv").write_text("a stale list of an earlier run")
    report = run_hil(smoke_build, out, cache_dir(), options, log=lambda _: None)
    for name in ("hil.json", "hil.md", "topk_golden.tsv", "latency_distribution.png",
                 "throughput_vs_batch.png", "latency_vs_catalogue.png"):
        assert (out / name).is_file(), name
    # the CPU's lists equal the golden ones: no second copy of them (and no stale one)
    assert not any((out / f"topk_{name}.tsv").exists() for name in ("cpu", "gpu", "pynq"))
    saved = json.loads((out / "hil.json").read_text())
    assert saved["quality"]["cpu"]["lists_differing_from_golden"] == 0
    assert saved["quality"]["cpu"]["topk_file"].startswith("topk_golden.tsv")
    assert saved["quality"]["cpu"]["ndcg"] == pytest.approx(saved["quality"]["golden"]["ndcg"])
    gpu = saved["backends"]["gpu"]
    assert gpu["status"] == "unavailable" and "no GPU results given (--gpu-json)" in gpu["reason"]
    assert "rows" not in gpu
    assert saved["backends"]["pynq"]["status"] == "unavailable" and "board" in saved["backends"]["pynq"]["reason"]
    assert saved["bar_10x"]["met"] is None and saved["bar_10x"]["gpu"] is None
    assert all(r["backend"] == "cpu" for r in saved["throughput"])  # no GPU or FPGA row was made up
    assert not any("gpu" in p for p in saved["catalogue"]["points"])
    md = (out / "hil.md").read_text()
    assert "**unavailable**: no GPU results" in md and "not evaluated" in md and "topk_cpu.tsv" not in md
    assert report["protocol_check"]["equal_to_run_metrics"]  # the golden scores reproduce the run's NDCG@10
    # the served lists (history and exclusion list left out) reach the protocol's NDCG@10 and the run's
    served = saved["served_vs_protocol"]["backends"]
    assert served["golden"]["equal_to_protocol"] and served["cpu"]["equal_to_protocol"]
    assert served["golden"]["equal_to_run_metrics"]
    assert saved["quality"]["golden"]["ndcg"] == pytest.approx(saved["protocol_check"]["ndcg"], abs=1e-12)
    assert "Served NDCG and the evaluation protocol's" in md and "| golden |" in md and "**not equal**" not in md


def test_report_without_batch_1(smoke_build: Path, tmp_path: Path) -> None:
    """`--batches` without 1: no batch-1 latency rows, and the report and its plots are still written."""
    out = tmp_path / "report"
    options = HilOptions(backends=("cpu",), cpu_batches=(4,), cpu_min_calls=1, progress=False)
    run_hil(smoke_build, out, cache_dir(), options, log=lambda _: None)
    saved = json.loads((out / "hil.json").read_text())
    assert [r["batch"] for r in saved["backends"]["cpu"]["rows"]] == [4]
    assert (out / "latency_distribution.png").is_file() and (out / "hil.md").is_file()


def bitstream_manifest(folder: Path, build_id: str, kernel_files: dict[str, str], fmax: float, met: bool,
                       shape_key: str, constraint: float = 100.0) -> Path:
    """A bitstream folder's manifest as `hybrec bitstream` writes it (the fields the benchmark reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ulx3s_bist.bit").write_bytes(b"bits")
    (folder / "manifest.json").write_text(json.dumps({
        "format": BITSTREAM_FORMAT, "target": "ecp5-85k", "device": "LFE5U-85F",
        "build": {"build_id": build_id, "kernel_files": kernel_files}, "fmax_mhz": fmax, "timing_met": met,
        "clock": {"constraint_mhz": constraint}, "bitstream": {"file": "ulx3s_bist.bit", "sha256": "0" * 64},
        "shape": {"key": shape_key}}))
    return folder


def test_the_clock_comes_from_the_bitstream_named_or_is_labelled_assumed(work: Workload, tmp_path: Path) -> None:
    clock = fpga_clock(work, None, None)
    assert clock["mhz"] is None and "no bitstream given" in clock["label"] and "cycles only" in clock["label"]
    assumed = fpga_clock(work, None, 150.0)
    assert assumed["mhz"] == 150.0 and "ASSUMED" in assumed["label"]
    kernel = work.build.manifest.kernel_files()
    assert kernel
    # a bitstream of this build: its clock, whatever the user assumed; timing met: the clock its PLL makes
    # (100 MHz), not the post-route Fmax above it
    shape = work.build.kernel.shape_key
    mine = bitstream_manifest(tmp_path / "mine", work.build_id, kernel, 123.4, True, shape)
    real = fpga_clock(work, mine, 150.0)
    assert real["mhz"] == 100.0 and real["source"] == "bitstream" and real["ignored_assumed_mhz"] == 150.0
    assert real["bitstream"]["match"] == "same build" and real["bitstream"]["fmax_mhz"] == 123.4
    assert "100 MHz" in real["label"] and "123.4" in real["label"] and "timing met" in real["label"]
    # a bitstream of the same shape made for another model serves this one, at its Fmax when timing was not met
    same = bitstream_manifest(tmp_path / "same", "another-model", kernel, 87.5, False, shape)
    same_shape = fpga_clock(work, same / "manifest.json", None)
    assert same_shape["mhz"] == 87.5 and same_shape["bitstream"]["match"] == "same shape"
    assert "timing NOT met" in same_shape["label"]
    # one differing kernel file, or another shape: the bitstream of another kernel is refused, not used
    changed = bitstream_manifest(tmp_path / "changed", "changed-rtl", {**kernel, next(iter(kernel)): "0" * 64},
                                 300.0, True, shape)
    with pytest.raises(HilError, match=r"or of other kernel files"):
        fpga_clock(work, changed, None)
    other_shape = bitstream_manifest(tmp_path / "other-shape", work.build_id, kernel, 90.0, False, "1" * 64)
    with pytest.raises(HilError, match=r"of kernel shape 1{16}…, the build \w+ is of shape"):
        fpga_clock(work, other_shape, None)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "manifest.json").write_text("{}")
    with pytest.raises(HilError, match="format None"):
        fpga_clock(work, tmp_path / "foreign", None)

    gpu = Backend("gpu", "ok", data={"rows": [
        {"mode": "cuda_graph", "dtype": "float32", "batch": 1, "exact": True,
         "compute": {"p50_us": 50.0, "p99_us": 60.0}, "end_to_end": {"p50_us": 100.0, "p99_us": 120.0}},
        {"mode": "cuda_graph", "dtype": "float16", "batch": 1, "exact": False,  # not the same work: never the best
         "compute": {"p50_us": 1.0, "p99_us": 1.0}, "end_to_end": {"p50_us": 2.0, "p99_us": 2.0}}]})

    def sim(c: dict) -> Backend:
        return Backend("sim", "ok", data={"cycles": {"p50": 500.0}, "clock": c,
                                          "host_model": HostModel(dma_us=1.0, register_us=0.2).terms(10)})

    none = bar_10x(sim(clock), gpu)
    assert none["met"] is None and "no clock" in none["reason"] and "fpga_kernel_us" not in none
    assert none["gpu"]["dtype"] == "float32"
    assert none["clock_needed_mhz"]["device"] == pytest.approx(10 * 500 / 50.0)
    assert none["clock_needed_mhz"]["end_to_end"] == pytest.approx(500 / (100.0 / 10 - 3.0))
    at_assumed = bar_10x(sim(assumed), gpu)  # an assumed clock never establishes the bar
    assert at_assumed["met"] is None and at_assumed["met_at_assumed_clock"] is True
    assert "assumed" in at_assumed["reason"]
    met = bar_10x(sim(real), gpu)  # 500 cycles at 100 MHz = 5 us (10x below 50 us); + 3 us: 12.5x below 100
    assert met["met"] is True
    assert met["ratios"]["device"] == pytest.approx(50.0 / (500 / 100.0))
    assert met["ratios"]["end_to_end"] == pytest.approx(100.0 / (500 / 100.0 + 3.0))
    gpu.data["rows"][0]["end_to_end"]["p50_us"] = 60.0  # now 7.5x end to end: not met
    assert bar_10x(sim(real), gpu)["met"] is False


def test_gpu_script_on_the_cpu_and_its_json_read_back(work: Workload, tmp_path: Path) -> None:
    """gpu_baseline (the lent GPU machine's module) with --device cpu: its lists are the golden model's, and the
    benchmark reads its JSON back as this build's; a JSON of another kernel gives timings but no lists."""
    from hybrec.bench.gpu_baseline import main as gpu_main

    inputs = prepare_gpu_inputs(work, tmp_path / "in")
    assert gpu_main(["--inputs", str(inputs), "--out", str(tmp_path / "out"), "--device", "cpu", "--batches", "1",
                     "5", "--min-calls", "1", "--warmup", "0"]) == 0
    path = tmp_path / "out" / "hil_gpu.json"
    gpu = read_gpu(work, path)
    assert gpu.status == "ok" and gpu.data["same_kernel"] and gpu.data["same_queries"]
    assert gpu.lists is not None and gpu.lists.mismatches(golden_lists(work)).size == 0
    assert {(r["mode"], r["batch"]) for r in gpu.data["rows"]} == {("eager", 1), ("eager", 5)}
    other = json.loads(path.read_text())
    other["inputs"]["kernel_sha256"] = "f" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    foreign = read_gpu(work, tmp_path / "other.json")
    assert foreign.status == "ok" and foreign.lists is None and "not this model's" in foreign.data["note"]
    older = json.loads(path.read_text())
    del older["inputs"]["exclusion_lists"]   # lists of queries without their exclusion lists
    (tmp_path / "older.json").write_text(json.dumps(older))
    timings = read_gpu(work, tmp_path / "older.json")
    assert timings.lists is None and timings.data["timings_only"] and "timings only" in timings.data["note"]
    assert main(["hil", "--build", str(work.build.path), "--gpu-json", str(tmp_path / "missing.json"),
                 "--backends", "gpu", "--out", str(tmp_path / "r")]) == 2


def test_pynq_backend_off_a_board_says_so(smoke_build: Path, tmp_path: Path) -> None:
    if not (ROOT / ".venv-board" / "bin" / "python").is_file():
        pytest.skip("no .venv-board (make setup builds it)")
    (tmp_path / "hybrec.bit").write_bytes(b"not a bitstream")
    (tmp_path / "bit.json").write_text("{}")
    options = HilOptions(backends=("pynq",), bitfile=tmp_path / "hybrec.bit", bitstream_manifest=tmp_path / "bit.json",
                         progress=False, plots=False)
    report = run_hil(smoke_build, tmp_path / "r", cache_dir(), options, log=lambda _: None)
    pynq = report["backends"]["pynq"]
    assert pynq["status"] == "unavailable" and pynq["reason"].startswith("board_worker pynq: not on a PYNQ board")
    assert "pynq" not in report["quality"] and report["fpga_equals_golden"] == {}


def test_sim_backend_needs_the_simulation_library_and_never_builds_it(smoke_build: Path, tmp_path: Path) -> None:
    if not (ROOT / ".venv-board" / "bin" / "python").is_file():
        pytest.skip("no .venv-board (make setup builds it)")
    copy = tmp_path / "build"
    shutil.copytree(smoke_build, copy, ignore=shutil.ignore_patterns("sim"))
    report = run_hil(copy, tmp_path / "r", cache_dir(), HilOptions(backends=("sim",), progress=False, plots=False),
                     log=lambda _: None)
    sim = report["backends"]["sim"]
    assert sim["status"] == "unavailable" and "--shared-lib" in sim["reason"]
    assert not (copy / "sim" / "model").exists()


@pytest.mark.slow
def test_sim_backend_through_the_driver_equals_the_golden_model(smoke_build: Path, tmp_path: Path) -> None:
    if not (ROOT / ".venv-board" / "bin" / "python").is_file():
        pytest.skip("no .venv-board (make setup builds it)")
    build_shared_model(smoke_build, log=lambda _: None)
    out = tmp_path / "report"
    # batch 256 after the 32-query latency chunks: the driver's buffers grow (the simulated device once mixed
    # re-allocated buffers up; every batched answer is compared with the one-at-a-time answers)
    report = run_hil(smoke_build, out, cache_dir(), HilOptions(backends=("sim",), fpga_batches=(1, 16, 256),
                                                               progress=False, plots=False), log=lambda _: None)
    sim = report["backends"]["sim"]
    assert sim["status"] == "ok", sim["reason"]
    assert report["fpga_equals_golden"] == {"sim": True}
    assert len(sim["cycles_per_query"]) == report["workload"]["queries"] and sim["cycles"]["min"] > 0
    assert sim["batches"]["16"]["differ_from_latency_run"] == 0 == sim["batches"]["256"]["differ_from_latency_run"]
    assert report["fpga_batched_runs_differing"] == {}
    assert not (out / "topk_sim.tsv").exists() and report["quality"]["sim"]["lists_differing_from_golden"] == 0
    assert report["served_vs_protocol"]["backends"]["sim"]["equal_to_protocol"]
    load = report["model_load"]["sim"]
    image = work_image(smoke_build)
    assert load["words"] == image.packet.size and load["cycles"] >= image.packet.size
    assert (load["s1"], load["s2"]) == image.checksums and load["n_items"] == image.n_items


def work_image(build: Path):
    from hybrec.builddir import BuildDir

    return BuildDir.open(build).model_image()
