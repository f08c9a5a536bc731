"""The K of a run's metrics: the key names, metrics.json's K (recorded, or read from the keys of a file written
before it was), the clear error of a reader that needs another K, and the ML-100K (K = 10) reports unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hybrec.bench.report import render_markdown
from hybrec.bench.workload import _run_metrics
from hybrec.eval.run_keys import MetricsKError, metric_keys, metrics_k, require_k, valid_key

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
TRAIN_REPORT = ROOT / "reports" / "train" / "ml100k-3seeds"


def metrics_at(k: int, recorded: bool = True) -> dict:
    entry = {key: 0.25 for key in (*metric_keys(k), valid_key(k), f"sampled_ndcg@{k}", "train_seconds")}
    entry |= {"params": 10, "trainable_params": 10, "seeds": {"0": {f"ndcg@{k}": 0.25}}}
    protocol = {"split": {"kind": "random", "ratios": [0.8, 0.1, 0.1]}, "ranking": "full ranking",
                "metrics": f"RecBole definitions @{k}, averaged over test users", "seeds": [0]}
    if recorded:
        protocol["k"] = k
    return {"dataset": {"name": "shop", "users": 2, "items": 30, "interactions": 9}, "protocol": protocol,
            "variants": {"pop": copy.deepcopy(entry), "hybrid_w4a4": copy.deepcopy(entry)}}


def test_keys_are_named_after_k() -> None:
    assert metric_keys(20) == ("ndcg@20", "recall@20", "hit@20", "mrr@20", "precision@20")
    assert valid_key(20) == "valid_ndcg@20"


def test_k_recorded_or_read_from_the_keys_of_an_older_file() -> None:
    assert metrics_k(metrics_at(20)) == 20
    assert metrics_k(metrics_at(20, recorded=False)) == 20
    committed = json.loads((TRAIN_REPORT / "metrics.json").read_text())
    assert metrics_k(committed) == 10
    older = copy.deepcopy(committed)  # as written before protocol.k existed: the K comes from the keys
    del older["protocol"]["k"]
    assert metrics_k(older) == 10
    with pytest.raises(MetricsKError, match=r"no protocol\.k and no ndcg@K figure"):
        metrics_k({"variants": {"pop": {"train_seconds": 1.0}}}, "x/metrics.json")


def test_a_reader_needing_another_k_gets_a_clear_error() -> None:
    require_k(metrics_at(10), 10)
    with pytest.raises(MetricsKError) as err:
        require_k(metrics_at(10), 20, "runs/shop/metrics.json", "the kernel's top-20 lists")
    message = str(err.value)
    assert message.startswith("runs/shop/metrics.json: the run was evaluated at K=10")
    assert "but the kernel's top-20 lists need K=20" in message and "eval: {k: 20}" in message


def test_metrics_md_at_k10_is_unchanged_and_at_k20_says_20() -> None:
    from hybrec.train.runner import metrics_table  # lazy: torch

    committed = json.loads((TRAIN_REPORT / "metrics.json").read_text())
    assert metrics_table(committed) == (TRAIN_REPORT / "metrics.md").read_text()
    table = metrics_table(metrics_at(20))
    assert ("| variant | NDCG@20 | Recall@20 | Hit@20 | MRR@20 | Precision@20 | valid NDCG@20 | train s | params | "
            "trainable |") in table.splitlines()
    assert "| pop | 0.2500 | 0.2500 | 0.2500 | 0.2500 | 0.2500 | 0.2500 | 0.2 | 10 | 10 |" in table


def test_hil_compares_with_the_run_only_at_the_kernels_k(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(metrics_at(10)))
    entry, summary = _run_metrics(tmp_path, "hybrid_w4a4", 0, 10)
    assert entry == {"ndcg@10": 0.25} and summary["best_variant_ndcg"] == 0.25
    entry, summary = _run_metrics(tmp_path, "hybrid_w4a4", 0, 20)  # a top-20 kernel of a run evaluated at 10
    assert entry is None and "best_variant" not in summary
    assert "evaluated at K=10" in summary["not_compared"] and "top-20 lists need K=20" in summary["not_compared"]
    assert _run_metrics(tmp_path / "none", "hybrid_w4a4", 0, 20) == (None, {})


def test_hil_report_at_k20_names_20_and_says_why_the_run_is_not_compared() -> None:
    report = json.loads((ROOT / "reports" / "hil" / "ml100k" / "hil.json").read_text())
    report["build"]["k"] = 20
    pc = report["protocol_check"]
    for key in ("run_metrics_ndcg", "equal_to_run_metrics"):
        pc.pop(key)
    pc["run_metrics_not_compared"] = "runs/x/metrics.json: the run was evaluated at K=10 (its eval.k), ..."
    pc["run_summary"] = {"not_compared": pc["run_metrics_not_compared"]}
    text = render_markdown(report)
    assert "| backend | lists ≠ golden | NDCG@20 | recall@20 | hit@20 |" in text
    assert "| backend | served NDCG@20 | protocol NDCG@20 | served = protocol |" in text
    assert "not compared with the run's `metrics.json`: runs/x/metrics.json: the run was evaluated at K=10" in text
    assert "top-10" not in text and "Here: NDCG@20" in text
