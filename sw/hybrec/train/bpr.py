"""BPR training (Rendle et al., 2009) of the ID-embedding baselines: BPR-MF and LightGCN.

Loss per sampled triple (user ``u``, positive ``i``, negative ``j`` drawn uniformly from the items
``u`` has no training interaction with):

    -log sigmoid(s(u, i) - s(u, j)) + reg * (|e_u|^2 + |e_i|^2 + |e_j|^2) / 2

with ``e`` the layer-0 embeddings. Early stopping on validation NDCG@10.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hybrec.models.baselines import GraphRecommender, MatrixFactorization


@dataclass(frozen=True)
class BPRConfig:
    epochs: int = 100
    batch_size: int = 4096
    lr: float = 0.005
    reg: float = 1e-4
    eval_every: int = 5
    patience: int = 4  # evaluations without improvement before stopping


def sample_negatives(rng: np.random.Generator, users: np.ndarray, positives: list[set[int]],
                     n_items: int) -> np.ndarray:
    negatives = rng.integers(0, n_items, size=users.size)
    for k, u in enumerate(users):
        while int(negatives[k]) in positives[u]:
            negatives[k] = rng.integers(0, n_items)
    return negatives


def train_bpr(
    model: MatrixFactorization | GraphRecommender,
    train_users: np.ndarray,
    train_items: np.ndarray,
    n_items: int,
    config: BPRConfig,
    validate: Callable[[nn.Module], float],
    seed: int,
    desc: str,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, object]]:
    """Train with BPR; return the best model (by ``validate``) and a small training log."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    positives: list[set[int]] = [set() for _ in range(int(train_users.max()) + 1)]
    for u, i in zip(train_users, train_items, strict=True):
        positives[int(u)].add(int(i))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    best_score, best_state, best_epoch, waited = -1.0, copy.deepcopy(model.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = rng.permutation(train_users.size)
        total = 0.0
        for start in range(0, order.size, config.batch_size):
            rows = order[start:start + config.batch_size]
            users, pos = train_users[rows], train_items[rows]
            neg = sample_negatives(rng, users, positives, n_items)
            user_emb, item_emb = model.embeddings()
            u_t, i_t, j_t = (torch.from_numpy(a) for a in (users, pos, neg))
            diff = (user_emb[u_t] * (item_emb[i_t] - item_emb[j_t])).sum(-1)
            loss = nn.functional.softplus(-diff).mean()
            if isinstance(model, GraphRecommender):
                base = model.gcn.embedding.weight
                reg = (base[u_t].pow(2).sum() + base[model.n_users + i_t].pow(2).sum()
                       + base[model.n_users + j_t].pow(2).sum()) / (2 * rows.size)
            else:
                reg = (model.user.weight[u_t].pow(2).sum() + model.item.weight[i_t].pow(2).sum()
                       + model.item.weight[j_t].pow(2).sum()) / (2 * rows.size)
            loss = loss + config.reg * reg
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * rows.size
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            model.eval()
            with torch.no_grad():
                score = validate(model)
            history.append({"epoch": epoch, "loss": total / order.size, "valid_ndcg@10": score})
            bar.set_postfix(loss=f"{total / order.size:.4f}", valid_ndcg=f"{score:.4f}")
            if score > best_score:
                best_score, best_state, best_epoch, waited = score, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return model, {"best_epoch": best_epoch, "best_valid_ndcg@10": best_score, "log": history}
