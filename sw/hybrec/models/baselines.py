"""Single-signal baselines: popularity, matrix factorisation (BPR-MF), EASE and LightGCN (PyG).

LightGCN (He et al., SIGIR 2020) propagates ID embeddings over the normalised user–item graph,
``E^(k+1) = D^-1/2 A D^-1/2 E^(k)``, and uses the layer mean ``sum_k alpha_k E^(k)`` with
``alpha_k = 1/(K+1)``; scores are dot products. We use ``torch_geometric.nn.LightGCN`` on the
bipartite graph with users at nodes ``0..U-1`` and items at ``U..U+I-1``, edges coalesced; the
symmetric normalisation is computed once (PyG's ``gcn_norm``) instead of in every layer call, and the
layers (PyG's ``LGConv``) use the adjacency's symmetry in the backward pass.

The contrastive encoder (``gnn_cl_float``) is the same model trained differently (SimGCL, Yu et al.,
SIGIR 2022; XSimGCL, TKDE 2023): :meth:`GraphRecommender.propagate` can add a random perturbation
``eps * sign(E) * normalize(U(0, 1))`` to every layer's output (PyG's ``LGConv``), and the training
loss adds an InfoNCE term between two views (see :mod:`hybrec.train.bpr`). With ``eps = 0`` the
propagation is exactly ``LightGCN.get_embedding``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import LGConv, LightGCN
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import coalesce, to_torch_csr_tensor, to_undirected

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


class Popularity(nn.Module):
    """Scores every item by its number of training interactions (the same list for every user)."""

    counts: torch.Tensor

    def __init__(self, n_items: int, train_items: np.ndarray) -> None:
        super().__init__()
        counts = np.bincount(train_items, minlength=n_items).astype(np.float32)
        self.register_buffer("counts", torch.from_numpy(counts))

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(users.shape[0], -1)


class MatrixFactorization(nn.Module):
    """BPR-MF: ``score(u, i) = <p_u, q_i>``, embeddings Xavier-normal initialised."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user.weight)
        nn.init.xavier_normal_(self.item.weight)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user.weight, self.item.weight

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) @ self.item.weight.T


class EASE(nn.Module):
    """EASE (Steck, WWW 2019): an item–item linear model in closed form, ``score(u) = x_u B`` with
    ``B = I - P diag(1 / diag(P))``, ``P = (X^T X + l2 I)^-1`` (``diag(B) = 0``), ``X`` the binary
    user–item training matrix."""

    weights: torch.Tensor
    interactions: torch.Tensor

    def __init__(self, n_users: int, n_items: int, train_users: np.ndarray, train_items: np.ndarray) -> None:
        super().__init__()
        x = torch.zeros(n_users, n_items)
        x[torch.from_numpy(train_users), torch.from_numpy(train_items)] = 1.0
        self.register_buffer("interactions", x, persistent=False)  # rebuilt from the split, not saved
        self.register_buffer("weights", torch.zeros(n_items, n_items))

    @torch.no_grad()
    def fit(self, l2: float) -> EASE:
        x = self.interactions.double()
        gram = x.T @ x + l2 * torch.eye(x.shape[1], dtype=torch.float64)
        p = torch.linalg.inv(gram)
        b = -p / torch.diagonal(p).unsqueeze(0)
        b.fill_diagonal_(0.0)
        self.weights.copy_(b.float())
        return self

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.interactions[users] @ self.weights


def bipartite_edges(users: np.ndarray, items: np.ndarray, n_users: int) -> torch.Tensor:
    """Undirected, coalesced ``edge_index`` of the user–item graph (items offset by ``n_users``)."""
    edge_index = torch.stack([torch.from_numpy(users), torch.from_numpy(items + n_users)]).to(torch.long)
    return coalesce(to_undirected(edge_index))


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a constant symmetric sparse ``A``: the gradient is ``A @ grad`` (torch would transpose
    the CSR matrix, a sort of every edge, in each backward pass: 5x slower here)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, adjacency: torch.Tensor,  # type: ignore[override]
                x: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency  # type: ignore[attr-defined]
        return adjacency @ x

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.adjacency @ grad  # type: ignore[attr-defined]


class SymmetricLGConv(LGConv):
    """PyG's ``LGConv`` (no normalisation: the adjacency comes normalised) for a symmetric sparse adjacency."""

    def __init__(self) -> None:
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _SymmetricSpMM.apply(adj_t, x)  # type: ignore[no-any-return]


class GraphRecommender(nn.Module):
    """LightGCN over a fixed training graph, through ``torch_geometric.nn.LightGCN``."""

    edge_index: torch.Tensor

    def __init__(self, n_users: int, n_items: int, dim: int, layers: int, edge_index: torch.Tensor) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.gcn = LightGCN(num_nodes=n_users + n_items, embedding_dim=dim, num_layers=layers)
        # The adjacency below is already D^-1/2 A D^-1/2 (one gcn_norm per model, not one per layer call).
        self.gcn.convs = nn.ModuleList([SymmetricLGConv() for _ in range(layers)])
        self.register_buffer("edge_index", edge_index)
        self._adjacency: torch.Tensor | None = None

    def adjacency(self) -> torch.Tensor:
        """The normalised graph as a CSR sparse matrix (about 6x faster propagation than ``edge_index``)."""
        if self._adjacency is None:
            size = self.n_users + self.n_items
            edge_index, weight = gcn_norm(self.edge_index, None, size, add_self_loops=False)
            self._adjacency = to_torch_csr_tensor(edge_index, weight, size=(size, size))
        return self._adjacency

    def propagate(self, eps: float = 0.0, cl_layer: int = 0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All nodes' layer-mean embeddings ``[U+I, dim]`` and the output of layer ``cl_layer`` (0: the ego
        embeddings). ``eps > 0`` perturbs every layer's output by ``eps * sign(x) * normalize(U(0, 1))``."""
        adjacency = self.adjacency()
        x = self.gcn.embedding.weight
        out = x * self.gcn.alpha[0]
        picked = x
        for k, conv in enumerate(self.gcn.convs):
            x = conv(x, adjacency)
            if eps > 0:
                noise = torch.rand(x.shape, generator=generator, dtype=x.dtype)
                x = x + torch.sign(x) * nn.functional.normalize(noise, dim=-1) * eps
            out = out + x * self.gcn.alpha[k + 1]
            if k + 1 == cl_layer:
                picked = x
        return out, picked

    def split(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return nodes[: self.n_users], nodes[self.n_users:]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.propagate()[0])

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self.embeddings()
        return user_emb[users] @ item_emb.T
