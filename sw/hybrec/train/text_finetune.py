"""Fine-tuning the language model (LM) on the recommendation objective (LoRA or all weights).

The objective, shared by ``hybrec train`` (``text.mode: lora|full``) and ``hybrec.bench.lm_training``:

* per step a batch of at most ``batch_users`` users (an epoch's users are cut into
  ``ceil(n / batch_users)`` batches of equal size); each user's *training* items are split as in
  :func:`hybrec.train.history.make_batch`: a random ``target_fraction`` (at least one) are the targets
  ``T_u``, the last ``lmax`` of the rest are the input history ``H_u``;
* a sampled softmax over the candidate set ``C`` = the batch's input items, its targets and ``negatives``
  items drawn uniformly from the catalogue; each user's own inputs are masked out::

      L = - mean_u  mean_{t in T_u}  log softmax_{i in C \\ H_u} (s(u, i))_t

* the candidates' item features come from the LM run on their texts with gradients (``lora``: peft LoRA
  adapters on the attention query/value projections, only the adapters train; ``full``: every weight
  trains) or, in ``frozen`` mode (the benchmark's baseline), from embeddings computed once beforehand;
* a small recommender head (:class:`hybrec.models.hybrid.HybridRecommender` with ``gnn_dim=0``: text
  projection, MLP over the history mean, item tower) trains with it, with its own learning rate (Adam).

Texts go through the LM in chunks of ``lm_chunk`` sorted by token length, each chunk padded to its own
longest text. Only the histories passed in are read (the training part of the split): validation and
test interactions never reach the LM. :func:`finetune_text_model` returns the embeddings of every item
text from one encoding pass of the adapted LM (eval mode, no gradients); the head is discarded.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hybrec.artifacts import atomic_write_bytes, atomic_write_json, sha256_strings
from hybrec.config import RunConfig
from hybrec.models.hybrid import HybridRecommender, HybridShape
from hybrec.models.text_encoder import TextModel, attach_lora, load_text_model
from hybrec.train.history import make_batch

MODES = ("frozen", "lora", "full")


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything the loop needs besides the model, the data and the seed (all of it goes into cache keys)."""

    mode: str = "lora"  # "lora" | "full" (| "frozen": head only, over precomputed embeddings)
    epochs: int = 1
    batch_users: int = 64  # users per step
    negatives: int = 256  # uniform sampled negatives per step
    lmax: int = 64  # input history length
    target_fraction: float = 0.2  # share of a user's training items held out as targets per step
    max_length: int = 64  # tokens per item text
    lm_chunk: int = 128  # texts per LM forward chunk
    text_dim: int = 32  # head: text projection width
    hidden: tuple[int, ...] = (128,)  # head: MLP widths
    out_dim: int = 64  # head: user / item vector width
    lm_lr: float = 1e-3  # Adam learning rate of the trainable LM weights
    head_lr: float = 3e-3  # Adam learning rate of the head
    lora_rank: int = 8
    lora_alpha: int = 16
    grad_clip: float = 10.0  # max global gradient norm
    max_users: int | None = None  # cut every epoch to this many users (quick runs and tests)


@dataclass
class Tokens:
    ids: torch.Tensor  # [n_items, T] on the device
    mask: torch.Tensor  # [n_items, T] on the device
    lengths: torch.Tensor  # [n_items] on the CPU


@dataclass
class StepBatch:
    history: torch.Tensor  # [B, lmax] candidate-local ids, -1 padded
    lengths: torch.Tensor  # [B]
    candidates: torch.Tensor  # [C] item ids (CPU)
    target_rows: torch.Tensor
    target_cols: torch.Tensor
    target_weights: torch.Tensor


@dataclass
class Trainer:
    """The head, the (possibly adapted) LM and their optimizer, ready for :func:`train_epoch`."""

    settings: FinetuneSettings
    text_model: TextModel
    tokens: Tokens
    head: HybridRecommender
    optimizer: torch.optim.Optimizer
    trainable: list[nn.Parameter]
    lm_trainable: int
    cached: torch.Tensor | None  # frozen mode: [n_items, dim] precomputed LM embeddings


def tokenize_items(text_model: TextModel, texts: list[str], max_length: int, device: torch.device) -> Tokens:
    text_model.tokenizer.padding_side = "right"  # type: ignore[attr-defined]  # chunks are cut below
    batch = text_model.tokenize(texts, max_length)
    mask = batch["attention_mask"]
    return Tokens(batch["input_ids"].to(device), mask.to(device), mask.sum(1))


def embed_items(text_model: TextModel, tokens: Tokens, items: torch.Tensor, chunk: int) -> torch.Tensor:
    """LM embeddings of ``items`` (CPU int64 tensor ``[C]``) -> ``[C, dim]``, in length-sorted chunks."""
    order = torch.argsort(tokens.lengths[items], stable=True)
    device = tokens.ids.device
    parts = []
    for start in range(0, order.numel(), chunk):
        selected = items[order[start:start + chunk]]
        width = int(tokens.lengths[selected].max())
        index = selected.to(device)
        parts.append(text_model.embed({"input_ids": tokens.ids[index, :width],
                                       "attention_mask": tokens.mask[index, :width]}))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return torch.cat(parts)[inverse.to(device)]


def encode_all(text_model: TextModel, tokens: Tokens, chunk: int) -> torch.Tensor:
    """Embeddings of every item text: one pass, eval mode, no gradients -> ``[n_items, dim]``."""
    text_model.model.eval()
    with torch.no_grad():
        return embed_items(text_model, tokens, torch.arange(tokens.lengths.numel()), chunk)


def sampled_batch(rng: np.random.Generator, histories: list[np.ndarray], users: np.ndarray,
                  settings: FinetuneSettings, n_items: int, device: torch.device) -> StepBatch:
    """Inputs, targets and the candidate set (inputs + targets + uniform negatives) of one step."""
    history, lengths, targets = make_batch(rng, histories, users, settings.lmax, settings.target_fraction)
    hist = history.numpy()
    negatives = rng.integers(0, n_items, size=settings.negatives)
    candidates = np.unique(np.concatenate([hist[hist >= 0], *targets, negatives]))
    local = np.where(hist >= 0, np.searchsorted(candidates, np.maximum(hist, 0)), -1)
    rows = np.concatenate([np.full(t.size, r, dtype=np.int64) for r, t in enumerate(targets)])
    cols = np.searchsorted(candidates, np.concatenate(targets))
    weights = np.concatenate([np.full(t.size, 1.0 / t.size) for t in targets]) / len(targets)
    return StepBatch(torch.from_numpy(local).to(device), lengths.to(device), torch.from_numpy(candidates),
                     torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device),
                     torch.from_numpy(weights.astype(np.float32)).to(device))


def sampled_softmax_loss(scores: torch.Tensor, batch: StepBatch) -> torch.Tensor:
    """Mean over users and their targets of -log softmax over the candidates, own inputs masked out."""
    valid = batch.history >= 0
    rows = torch.arange(scores.shape[0], device=scores.device).unsqueeze(1).expand_as(batch.history)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask[rows[valid], batch.history[valid]] = True
    log_probs = torch.log_softmax(scores.masked_fill(mask, float("-inf")), dim=1)
    return -(log_probs[batch.target_rows, batch.target_cols] * batch.target_weights).sum()


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def build_head(settings: FinetuneSettings, n_items: int, text_dim_in: int,
               text_embeddings: torch.Tensor | None) -> HybridRecommender:
    """The ``lm_float`` recommender (``gnn_dim=0``) that the LM trains through."""
    shape = HybridShape(n_items=n_items, gnn_dim=0, text_in_dim=text_dim_in, text_dim=settings.text_dim,
                        hidden=tuple(settings.hidden), out_dim=settings.out_dim, lmax=settings.lmax)
    if text_embeddings is None:
        text_embeddings = torch.zeros(n_items, text_dim_in)
    return HybridRecommender(shape, text_embeddings, None)


def training_users(histories: list[np.ndarray], max_users: int | None) -> tuple[np.ndarray, int]:
    """Users with at least two training items (one input, one target), cut to ``max_users``; and their count."""
    users = np.asarray([u for u, h in enumerate(histories) if h.size >= 2], dtype=np.int64)
    eligible = int(users.size)
    return (users if max_users is None else users[:max_users]), eligible


def prepare_training(text_model: TextModel, tokens: Tokens, n_items: int, settings: FinetuneSettings, seed: int,
                     device: torch.device, cached: torch.Tensor | None = None) -> Trainer:
    """Build the head (seed ``seed``), attach LoRA (seed ``seed + 1``) and the Adam optimizer."""
    if settings.mode not in MODES:
        raise ValueError(f"unknown fine-tuning mode {settings.mode!r}; known: {MODES}")
    if (settings.mode == "frozen") != (cached is not None):
        raise ValueError("precomputed embeddings are for (and needed by) the 'frozen' mode only")
    torch.manual_seed(seed)
    head = build_head(settings, n_items, text_model.dim, None if cached is None else cached.cpu()).to(device)
    torch.manual_seed(seed + 1)
    if settings.mode == "lora":
        text_model = attach_lora(text_model, rank=settings.lora_rank, alpha=settings.lora_alpha)
        text_model.model.to(device)
    if settings.mode == "frozen":
        text_model.model.requires_grad_(False)
    lm_params = [p for p in text_model.model.parameters() if p.requires_grad] if settings.mode != "frozen" else []
    groups: list[dict[str, Any]] = [{"params": list(head.parameters()), "lr": settings.head_lr}]
    if lm_params:
        groups.append({"params": lm_params, "lr": settings.lm_lr})
    trainable = [p for group in groups for p in group["params"]]
    return Trainer(settings, text_model, tokens, head, torch.optim.Adam(groups), trainable,
                   int(sum(p.numel() for p in lm_params)), cached)


def train_step(trainer: Trainer, batch: StepBatch) -> torch.Tensor:
    """One optimizer step on one batch; returns the (detached) loss."""
    if trainer.cached is not None:
        text = trainer.cached[batch.candidates.to(trainer.cached.device)]
    else:
        text = embed_items(trainer.text_model, trainer.tokens, batch.candidates, trainer.settings.lm_chunk)
    head = trainer.head
    features = head.item_features(text)
    scores = (head.user_vectors(batch.history, batch.lengths, features)
              @ head.item_vectors(features).T) * head.logit_scale.exp()
    loss = sampled_softmax_loss(scores, batch)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(trainer.trainable, trainer.settings.grad_clip)
    trainer.optimizer.step()
    return loss.detach()


def train_epoch(trainer: Trainer, rng: np.random.Generator, histories: list[np.ndarray], users: np.ndarray,
                n_items: int, device: torch.device, desc: str, progress: bool) -> dict[str, Any]:
    """One pass over ``users`` in random order; returns the user-weighted mean loss, steps, mean candidates."""
    trainer.head.train()
    if trainer.cached is None:
        trainer.text_model.model.train()
    n_batches = max(1, math.ceil(users.size / trainer.settings.batch_users))
    order = rng.permutation(users)
    loss_sum, candidates_sum = 0.0, 0
    bar = tqdm(np.array_split(order, n_batches), desc=desc, disable=not progress, leave=False, file=sys.stderr)
    for batch_users in bar:
        batch = sampled_batch(rng, histories, batch_users, trainer.settings, n_items, device)
        loss = float(train_step(trainer, batch))
        loss_sum += loss * batch_users.size
        candidates_sum += int(batch.candidates.numel())
        bar.set_postfix(loss=f"{loss:.3f}", cands=int(batch.candidates.numel()))
    return {"loss": loss_sum / users.size, "steps": n_batches, "mean_candidates": candidates_sum / n_batches}


def finetune_text_model(text_model: TextModel, texts: list[str], histories: list[np.ndarray], n_items: int,
                        settings: FinetuneSettings, seed: int, device: torch.device | str = "cpu",
                        progress: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Fine-tune ``text_model`` (mode ``lora`` or ``full``) on the sampled-softmax objective above.

    ``histories`` are the users' *training* items (``histories[u]``: item ids); ``texts[i]`` is item
    ``i``'s text. Returns the float32 embeddings ``[n_items, dim]`` of every item text from the adapted LM
    (one encoding pass, eval mode, no gradients) and a log (per-epoch loss and time, parameter counts).
    Seeds: head ``seed``, LoRA init ``seed + 1``, sampling ``numpy.random.default_rng(seed)``, the rest
    ``seed + 2`` (as in the benchmark).
    """
    if settings.mode not in ("lora", "full"):
        raise ValueError(f"fine-tuning needs mode 'lora' or 'full', not {settings.mode!r}")
    device = torch.device(device)
    started = time.perf_counter()
    text_model.model.to(device)
    tokens = tokenize_items(text_model, texts, settings.max_length, device)
    users, eligible = training_users(histories, settings.max_users)
    trainer = prepare_training(text_model, tokens, n_items, settings, seed, device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed + 2)
    epochs = []
    for epoch in range(1, settings.epochs + 1):
        t0 = time.perf_counter()
        stats = train_epoch(trainer, rng, histories, users, n_items, device,
                            f"{settings.mode} fine-tuning {epoch}/{settings.epochs}", progress)
        epochs.append({"epoch": epoch, "seconds": time.perf_counter() - t0, **stats})
    embeddings = encode_all(trainer.text_model, tokens, settings.lm_chunk).float().cpu().numpy()
    log = {"mode": settings.mode, "epochs": epochs, "users_per_epoch": int(users.size),
           "users_eligible": eligible, "trainable_lm_params": trainer.lm_trainable,
           "trainable_head_params": count_params(trainer.head), "seconds": time.perf_counter() - started}
    return embeddings.astype(np.float32), log


# ---------------------------------------------------------------------------------------------------
# ``hybrec train`` (text.mode: lora | full): settings from the run configuration, cached results

CACHE_FORMAT = "hybrec-text-finetune/1"


def settings_from_config(config: RunConfig) -> FinetuneSettings:
    """The loop's settings for a run: the ``text`` section, the head shaped like the run's ``lm_float``."""
    t, h = config.text, config.hybrid
    lm_lr = t.lm_lr if t.lm_lr is not None else (5e-5 if t.mode == "full" else 1e-3)
    return FinetuneSettings(
        mode=t.mode, epochs=t.finetune_epochs, batch_users=t.batch_users, negatives=t.sampled_negatives,
        lmax=h.lmax, target_fraction=h.target_fraction, max_length=t.max_length, lm_chunk=t.batch_size,
        text_dim=h.text_dim, hidden=tuple(h.hidden), out_dim=h.out_dim, lm_lr=lm_lr, head_lr=t.head_lr,
        lora_rank=t.lora_rank, lora_alpha=t.lora_alpha, max_users=t.finetune_max_users)


def finetune_cache_key(model_name: str, settings: FinetuneSettings, texts: list[str],
                       histories: list[np.ndarray], seed: int) -> str:
    """sha256 (24 hex digits) of the format, model name, every setting (mode included), seed, texts, histories."""
    head = json.dumps({"format": CACHE_FORMAT, "model": model_name, "settings": asdict(settings), "seed": seed},
                      sort_keys=True)
    hist = [",".join(map(str, h.tolist())) for h in histories]
    return sha256_strings([head, str(len(texts)), *texts, str(len(hist)), *hist])[:24]


def cached_finetuned_embeddings(model_name: str, texts: list[str], histories: list[np.ndarray], n_items: int,
                                settings: FinetuneSettings, seed: int, cache_dir: Path,
                                progress: bool = True) -> np.ndarray:
    """:func:`finetune_text_model` on the CPU, cached (atomically) as
    ``cache_dir/text-embeddings/<model>-<mode>-<key>.npy`` with ``key`` from :func:`finetune_cache_key`."""
    key = finetune_cache_key(model_name, settings, texts, histories, seed)
    path = cache_dir / "text-embeddings" / f"{model_name}-{settings.mode}-{key}.npy"
    if path.is_file():
        return np.load(path)  # type: ignore[no-any-return]
    embeddings, log = finetune_text_model(load_text_model(model_name), texts, histories, n_items, settings, seed,
                                          "cpu", progress)
    buffer = io.BytesIO()
    np.save(buffer, embeddings)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_json(path.with_suffix(".json"), {"key": key, "seed": seed, "model": model_name,
                                                  "settings": asdict(settings), "log": log})
    return embeddings
