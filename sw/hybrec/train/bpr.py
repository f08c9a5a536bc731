"""BPR training (Rendle et al., 2009) of the ID-embedding baselines: BPR-MF and LightGCN.

Loss per sampled triple (user ``u``, positive ``i``, negative ``j`` drawn uniformly from the items
``u`` has no training interaction with):

    -log sigmoid(s(u, i) - s(u, j)) + reg * (|e_u|^2 + |e_i|^2 + |e_j|^2) / 2

with ``e`` the layer-0 embeddings. Early stopping on validation NDCG@K (``eval_k``, the run's ``eval.k``).

Contrastive graph encoders (LightGCN only, ``cl_weight > 0``), with ``InfoNCE(a, b)`` the softmax
cross-entropy of ``cos(a_n, b_m) / temperature`` with the matching row as the label, over the batch's
distinct users and (positive) items, summed for users and items:

* ``xsimgcl`` (XSimGCL): one perturbed propagation; the BPR loss on its layer mean, the InfoNCE term
  between the layer mean and the perturbed output of layer ``cl_layer`` (cross-layer contrast).
* ``simgcl`` (SimGCL): the BPR loss on the clean propagation, InfoNCE between two perturbed ones.

The total loss is ``BPR + reg * L2 + cl_weight * InfoNCE``; with ``cl_weight = 0`` and ``eps = 0``
training is exactly LightGCN's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hybrec.models.baselines import GraphRecommender, MatrixFactorization
from hybrec.train.early_stop import BestOnValidation


@dataclass(frozen=True)
class BPRConfig:
    epochs: int = 100
    batch_size: int = 4096
    lr: float = 0.005
    reg: float = 1e-4
    eval_every: int = 5
    patience: int = 4  # evaluations without improvement before stopping
    cl_method: str = "xsimgcl"  # "xsimgcl" or "simgcl" (used when cl_weight > 0)
    cl_weight: float = 0.0  # lambda of the InfoNCE term; 0: plain LightGCN / BPR-MF
    eps: float = 0.0  # perturbation size
    temperature: float = 0.2  # InfoNCE temperature
    cl_layer: int = 1  # XSimGCL: the layer contrasted with the layer mean
    eval_k: int = 10  # the K of the validation NDCG ``validate`` returns (names it in the training log)


def sample_negatives(rng: np.random.Generator, users: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """One uniform item per user that is not among the user's training items.

    ``positives`` is the boolean ``[n_users, n_items]`` matrix of training interactions; items are
    redrawn (vectorised) until none is a positive.
    """
    negatives = rng.integers(0, positives.shape[1], size=users.size)
    bad = np.flatnonzero(positives[users, negatives])
    while bad.size:
        negatives[bad] = rng.integers(0, positives.shape[1], size=bad.size)
        bad = bad[positives[users[bad], negatives[bad]]]
    return negatives


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of two views ``[N, d]``: row ``n`` of ``view1`` should pick row ``n`` of ``view2``."""
    view1 = nn.functional.normalize(view1, dim=1)
    view2 = nn.functional.normalize(view2, dim=1)
    logits = view1 @ view2.T / temperature
    return nn.functional.cross_entropy(logits, torch.arange(view1.shape[0]))


def contrastive_loss(model: GraphRecommender, nodes1: torch.Tensor, nodes2: torch.Tensor, users: torch.Tensor,
                     items: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE over the distinct users plus InfoNCE over the distinct items of a batch (node views ``[U+I, d]``)."""
    u = torch.unique(users)
    i = torch.unique(items) + model.n_users
    return info_nce(nodes1[u], nodes2[u], temperature) + info_nce(nodes1[i], nodes2[i], temperature)


def graph_batch_loss(model: GraphRecommender, config: BPRConfig, u_t: torch.Tensor, i_t: torch.Tensor,
                     j_t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The BPR (+ InfoNCE) loss of one batch of (user, positive, negative) triples, without the L2 term."""
    contrastive = config.cl_weight > 0
    if contrastive and config.cl_method == "xsimgcl":
        nodes, layer = model.propagate(config.eps, config.cl_layer, generator)
        cl = contrastive_loss(model, nodes, layer, u_t, i_t, config.temperature)
    else:
        nodes, _ = model.propagate()
        cl = None
        if contrastive:  # simgcl
            view1, _ = model.propagate(config.eps, 0, generator)
            view2, _ = model.propagate(config.eps, 0, generator)
            cl = contrastive_loss(model, view1, view2, u_t, i_t, config.temperature)
    user_emb, item_emb = model.split(nodes)
    diff = (user_emb[u_t] * (item_emb[i_t] - item_emb[j_t])).sum(-1)
    loss = nn.functional.softplus(-diff).mean()
    return loss if cl is None else loss + config.cl_weight * cl


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
    if config.cl_weight > 0 and not isinstance(model, GraphRecommender):
        raise ValueError("the contrastive loss needs a graph model (LightGCN)")
    if config.cl_method not in ("xsimgcl", "simgcl"):
        raise ValueError(f"unknown contrastive method {config.cl_method!r} (expected 'xsimgcl' or 'simgcl')")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    positives = np.zeros((int(train_users.max()) + 1, n_items), dtype=bool)
    positives[train_users, train_items] = True
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    stopper = BestOnValidation(model, config.patience, config.eval_k)
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = rng.permutation(train_users.size)
        total = 0.0
        for start in range(0, order.size, config.batch_size):
            rows = order[start:start + config.batch_size]
            users, pos = train_users[rows], train_items[rows]
            neg = sample_negatives(rng, users, positives)
            u_t, i_t, j_t = (torch.from_numpy(a) for a in (users, pos, neg))
            if isinstance(model, GraphRecommender):
                loss = graph_batch_loss(model, config, u_t, i_t, j_t, generator)
                base = model.gcn.embedding.weight
                reg = (base[u_t].pow(2).sum() + base[model.n_users + i_t].pow(2).sum()
                       + base[model.n_users + j_t].pow(2).sum()) / (2 * rows.size)
            else:
                user_emb, item_emb = model.embeddings()
                diff = (user_emb[u_t] * (item_emb[i_t] - item_emb[j_t])).sum(-1)
                loss = nn.functional.softplus(-diff).mean()
                reg = (model.user.weight[u_t].pow(2).sum() + model.item.weight[i_t].pow(2).sum()
                       + model.item.weight[j_t].pow(2).sum()) / (2 * rows.size)
            loss = loss + config.reg * reg
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * rows.size
        due = epoch % config.eval_every == 0 or epoch == config.epochs
        if due and stopper.evaluate(epoch, total / order.size, validate, bar):
            break
    return model, stopper.finish()
