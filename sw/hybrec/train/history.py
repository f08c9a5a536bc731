"""Training of the history-based models (``lm_float``, ``hybrid_*``): QAT and distillation.

Objective (denoising, as in Mult-DAE): for each user in a batch, a random ``target_fraction`` of
their training items (at least one) is held out as targets; the user is represented by the rest
(the last ``lmax`` by time, as the kernel sees a history). The loss is the softmax cross-entropy of
the targets over the whole catalogue, the input items masked out:

    L_rec = - 1/|T| sum_{t in T} log softmax_{i not in H}(s(u, i))_t

The learning rate follows a cosine schedule over ``epochs`` (the validation curve of a constant rate
swings by +-0.01 NDCG@10 between evaluations); the state with the best validation NDCG@K (``eval_k``, the
run's ``eval.k``) is kept.

Knowledge distillation (quantized student, float teacher on the same inputs, temperature tau):

    L = L_rec + kd_weight * tau^2 * KL(softmax(s_teacher / tau) || softmax(s_student / tau))

At evaluation the user's history is their last ``lmax`` training items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hybrec.models.hybrid import HybridRecommender
from hybrec.train.early_stop import BestOnValidation


@dataclass(frozen=True)
class HistoryTrainConfig:
    epochs: int = 150
    batch_size: int = 128
    lr: float = 0.003
    weight_decay: float = 0.0
    target_fraction: float = 0.2
    eval_every: int = 5
    patience: int = 6
    kd_weight: float = 1.0
    kd_temperature: float = 2.0
    eval_k: int = 10  # the K of the validation NDCG ``validate`` returns (names it in the training log)


def pad_histories(lists: list[np.ndarray], lmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Last ``lmax`` ids of each list, right-padded with -1. Returns ``([B, lmax], [B])``."""
    out = np.full((len(lists), lmax), -1, dtype=np.int64)
    lengths = np.zeros(len(lists), dtype=np.int64)
    for row, items in enumerate(lists):
        tail = items[-lmax:]
        out[row, : tail.size] = tail
        lengths[row] = tail.size
    return torch.from_numpy(out), torch.from_numpy(lengths)


def make_batch(rng: np.random.Generator, histories: list[np.ndarray], users: np.ndarray, lmax: int,
               target_fraction: float) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    inputs, targets = [], []
    for u in users:
        items = histories[int(u)]
        n_targets = min(max(1, round(target_fraction * items.size)), items.size - 1)
        chosen = np.zeros(items.size, dtype=bool)
        chosen[rng.choice(items.size, size=n_targets, replace=False)] = True
        inputs.append(items[~chosen])
        targets.append(items[chosen])
    history, lengths = pad_histories(inputs, lmax)
    return history, lengths, targets


def masked_logits(scores: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros_like(scores, dtype=torch.bool)
    rows = torch.arange(history.shape[0]).unsqueeze(1).expand_as(history)
    valid = history >= 0
    mask[rows[valid], history[valid]] = True
    return scores.masked_fill(mask, float("-inf"))


def recommendation_loss(logits: torch.Tensor, targets: list[np.ndarray]) -> torch.Tensor:
    log_probs = torch.log_softmax(logits, dim=1)
    losses = [-log_probs[row, torch.from_numpy(t)].mean() for row, t in enumerate(targets)]
    return torch.stack(losses).mean()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    finite = torch.isfinite(teacher)
    s = torch.log_softmax(student / temperature, dim=1)
    t = torch.softmax(teacher / temperature, dim=1)
    kl = torch.where(finite, t * (torch.log(t.clamp_min(1e-30)) - s), torch.zeros_like(s))
    return kl.sum(1).mean() * temperature**2


def train_history_model(
    model: HybridRecommender,
    histories: list[np.ndarray],
    config: HistoryTrainConfig,
    validate: Callable[[HybridRecommender], float],
    seed: int,
    desc: str,
    teacher: Callable[[np.ndarray, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, HybridRecommender], None] | None = None,
) -> tuple[HybridRecommender, dict[str, object]]:
    """Train ``model``; keep the state with the best validation NDCG@K (``config.eval_k``).

    ``teacher(users, history, lengths)`` returns the teacher's scores ``[B, n_items]`` for distillation.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    users = np.asarray([u for u, h in enumerate(histories) if h.size >= 2], dtype=np.int64)
    lmax = model.shape.lmax
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                 weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    stopper = BestOnValidation(model, config.patience, config.eval_k)
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = rng.permutation(users)
        total = 0.0
        for start in range(0, order.size, config.batch_size):
            batch = order[start:start + config.batch_size]
            history, lengths, targets = make_batch(rng, histories, batch, lmax, config.target_fraction)
            logits = masked_logits(model(history, lengths), history)
            loss = recommendation_loss(logits, targets)
            if teacher is not None and config.kd_weight > 0:
                with torch.no_grad():
                    teacher_logits = masked_logits(teacher(batch, history, lengths), history)
                loss = loss + config.kd_weight * distillation_loss(logits, teacher_logits,
                                                                   config.kd_temperature)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            total += loss.item() * batch.size
        schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
        due = epoch % config.eval_every == 0 or epoch == config.epochs
        if due and stopper.evaluate(epoch, total / order.size, validate, bar):
            break
    return model, stopper.finish()
