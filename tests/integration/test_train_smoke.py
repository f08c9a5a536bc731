"""The smoke preset end to end: every variant trained, evaluated, checkpointed; resume; bad input."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hybrec.cli import main
from hybrec.data import load_ml100k
from hybrec.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.integration

VARIANTS = {"pop", "bpr_float", "ease_float", "gnn_float", "gnn_cl_float", "lm_float", "hybrid_float", "hybrid_w8a8",
            "hybrid_w4a4"}
KEYS = {"ndcg@10", "recall@10", "hit@10", "mrr@10", "precision@10", "train_seconds", "params", "trainable_params"}


def test_metrics_json_has_every_variant(smoke_run: Path) -> None:
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert set(metrics["variants"]) == VARIANTS
    for name, entry in metrics["variants"].items():
        assert set(entry) >= KEYS, name
        assert 0.0 <= entry["ndcg@10"] <= 1.0
    assert metrics["dataset"]["users"] == 943 and metrics["dataset"]["items"] == 1682
    # Even a few epochs of training must beat random ranking by far (random NDCG@10 ~ 0.006).
    assert metrics["variants"]["pop"]["ndcg@10"] > 0.05
    assert metrics["variants"]["hybrid_w4a4"]["ndcg@10"] > 0.05
    assert (smoke_run / "metrics.md").read_text().count("| hybrid_w4a4 |") == 1


def test_terminal_summary_fits_80_columns(smoke_run: Path) -> None:
    from rich.console import Console

    from hybrec.train.runner import summary_table

    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for seeds in ([0], [0, 1, 2]):  # one seed: plain values; several: mean ± std, the widest cells
        if len(seeds) > 1:
            for entry in metrics["variants"].values():
                entry.update({f"{k}_std": 0.0123 for k in ("ndcg@10", "recall@10", "valid_ndcg@10")})
        metrics["protocol"]["seeds"] = seeds
        console = Console(width=80, record=True, file=io.StringIO())
        console.print(summary_table(metrics))
        text = console.export_text()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
        assert all(sum(line.split()[:1] == [name] for line in text.splitlines()) == 1 for name in VARIANTS)
        assert f"{metrics['variants']['hybrid_w4a4']['ndcg@10']:.4f}" in text


def test_split_files_use_dataset_ids(smoke_run: Path) -> None:
    data = load_ml100k(Path(".cache/hybrec"))
    pairs = set()
    for part, expected in (("train", 80808), ("valid", 9596), ("test", 9596)):
        lines = (smoke_run / "split" / f"{part}.tsv").read_text().splitlines()
        assert lines[0] == "user_id:token\titem_id:token"
        assert len(lines) - 1 == expected
        pairs |= {tuple(line.split("\t")) for line in lines[1:]}
    everything = {(data.user_ids[u], data.item_ids[i]) for u, i in zip(data.users, data.items, strict=True)}
    assert pairs == everything


def test_quantized_checkpoint_is_integer(smoke_run: Path) -> None:
    payload = load_checkpoint(smoke_run / "checkpoints" / "seed0" / "hybrid_w4a4.pt")
    assert payload["meta"]["quant"]["weight_bits"] == 4
    assert payload["meta"]["shape"]["lmax"] == 16
    assert len(payload["item_ids"]) == 1682


def test_rerun_resumes_and_gives_same_metrics(smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = json.loads((smoke_run / "metrics.json").read_text())
    assert main(["train", "--preset", "smoke", "--out", str(smoke_run), "--quiet"]) == 0
    assert "resumed" in capsys.readouterr().err
    after = json.loads((smoke_run / "metrics.json").read_text())
    assert after["variants"] == before["variants"]


def test_other_config_is_refused(smoke_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "other.yaml"
    config.write_text("hybrid:\n  lmax: 8\n")
    assert main(["train", "--config", str(config), "--out", str(smoke_run), "--quiet"]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_unknown_config_key_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("hybrid:\n  lmaxx: 8\n")
    out = tmp_path / "out"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "lmaxx" in err
    assert not out.exists()


def test_bad_data_names_file_and_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop.inter").write_text("user_id\titem_id\nu1\ti1\nu1\ti9\n")
    (tmp_path / "shop.item").write_text("item_id\ttitle\ni1\tKettle\n")
    config = tmp_path / "shop.yaml"
    config.write_text("dataset:\n  name: shop\n  interactions: shop.inter\n  items: shop.item\n")
    out = tmp_path / "out"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "shop.inter:3" in err and "i9" in err
    assert not out.exists()


def test_integer_mean_matches_numerics() -> None:
    from hybrec.models.quant import integer_mean
    from hybrec.numerics import normalised_sum

    rng = np.random.default_rng(0)
    n = rng.integers(1, 257, size=200)
    acc = np.stack([rng.integers(-128, 128, size=(k, 12)).sum(0) for k in n])
    got = integer_mean(torch.tensor(acc, dtype=torch.float32), torch.tensor(n), 256, 8).numpy()
    np.testing.assert_array_equal(got.astype(np.int64), normalised_sum(acc, n, 256, 8))


def test_interrupted_run_retrains_only_what_is_missing(smoke_run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # An interruption leaves no metrics.json and (say) the last variant's checkpoint missing.
    smoke_run = Path(shutil.copytree(smoke_run, tmp_path / "run"))  # the session's run stays untouched
    before = json.loads((smoke_run / "metrics.json").read_text())
    (smoke_run / "metrics.json").unlink()
    (smoke_run / "checkpoints" / "seed0" / "hybrid_w4a4.pt").unlink()
    assert main(["train", "--preset", "smoke", "--out", str(smoke_run), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "seed 0 hybrid_float: resumed" in err
    assert "hybrid_w4a4: resumed" not in err and "hybrid_w4a4: ndcg@10" in err
    after = json.loads((smoke_run / "metrics.json").read_text())
    # Deterministic on the CPU: retraining the variant gives the same numbers.
    for key in ("ndcg@10", "recall@10", "params"):
        assert after["variants"]["hybrid_w4a4"][key] == before["variants"]["hybrid_w4a4"][key]


def test_temporal_split_run(tmp_path: Path) -> None:
    config = tmp_path / "temporal.yaml"
    config.write_text("split: {kind: temporal}\nvariants: [pop, bpr_float]\n"
                      "bpr: {dim: 16, epochs: 2, eval_every: 1, patience: 1}\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["split"]["kind"] == "temporal"
    assert metrics["protocol"]["split"]["test"] == 943  # one (the latest) interaction per user
    assert len((out / "split" / "test.tsv").read_text().splitlines()) == 944


def test_run_evaluated_at_its_eval_k(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``eval.k: 20`` (a shop serving top-20 lists): every metric, the training log, metrics.json, metrics.md,
    the console table and the log lines are at K = 20, and nothing at 10."""
    import yaml

    from hybrec.config import smoke_config

    config = smoke_config().model_dump(mode="json")
    config["eval"]["k"] = 20
    config["variants"] = ["pop", "gnn_float", "hybrid_float", "hybrid_w4a4"]  # the BPR and history loops
    config["hybrid"]["graph_kd_teachers"] = ["graph_features"]
    path = tmp_path / "k20.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["k"] == 20 and "@20" in metrics["protocol"]["metrics"]
    for entry in metrics["variants"].values():
        assert {"ndcg@20", "recall@20", "hit@20", "mrr@20", "precision@20", "valid_ndcg@20", "sampled_ndcg@20",
                "sampled_hit@20"} <= set(entry)
        assert not any(key.endswith("@10") for key in (*entry, *entry["seeds"]["0"]))
    assert (out / "metrics.md").read_text().splitlines()[4].startswith(
        "| variant | NDCG@20 | Recall@20 | Hit@20 | MRR@20 | Precision@20 | valid NDCG@20 | train s |")
    assert "NDCG@20" in captured.out and "@10" not in captured.out
    assert "hybrid_w4a4: ndcg@20" in captured.err and "@10" not in captured.err
    log = load_checkpoint(out / "checkpoints" / "seed0" / "gnn_float.pt")["train_log"]
    assert "best_valid_ndcg@20" in log and all("valid_ndcg@20" in row for row in log["log"])
    hybrid_log = load_checkpoint(out / "checkpoints" / "seed0" / "hybrid_w4a4.pt")["train_log"]
    assert "best_valid_ndcg@20" in hybrid_log


def test_compare_pairs_two_variants_user_by_user(smoke_run: Path) -> None:
    """`hybrec compare`: the per-user means equal metrics.json's (same users, same protocol), the difference
    is theirs, and its interval holds it; a variant the run lacks is refused by name."""
    assert main(["compare", "--run", str(smoke_run), "hybrid_w4a4", "pop", "--resamples", "300"]) == 0
    result = json.loads((smoke_run / "compare" / "hybrid_w4a4-vs-pop-test.json").read_text())
    metrics = json.loads((smoke_run / "metrics.json").read_text())["variants"]
    (seed, entry), = result["seeds"].items()
    assert entry["users"] == 943
    for key in ("ndcg@10", "recall@10", "hit@10"):
        m = entry[key]
        assert m["hybrid_w4a4"] == pytest.approx(metrics["hybrid_w4a4"]["seeds"][seed][key])
        assert m["pop"] == pytest.approx(metrics["pop"]["seeds"][seed][key])
        assert m["difference"] == pytest.approx(m["hybrid_w4a4"] - m["pop"])
        low, high = m["interval"]
        assert low <= m["difference"] <= high
    assert main(["compare", "--run", str(smoke_run), "hybrid_w4a4", "no_such_variant"]) == 2
    assert main(["compare", "--run", str(smoke_run), "hybrid_w4a4", "pop", "--resamples", "5"]) == 2

