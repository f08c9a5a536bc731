"""Single-signal baselines: popularity, matrix factorisation (BPR-MF) and LightGCN (PyG).

LightGCN (He et al., SIGIR 2020) propagates ID embeddings over the normalised user–item graph,
``E^(k+1) = D^-1/2 A D^-1/2 E^(k)``, and uses the layer mean ``sum_k alpha_k E^(k)`` with
``alpha_k = 1/(K+1)``; scores are dot products. We use ``torch_geometric.nn.LightGCN`` on the
bipartite graph with users at nodes ``0..U-1`` and items at ``U..U+I-1``, edges coalesced.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import LightGCN
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


def bipartite_edges(users: np.ndarray, items: np.ndarray, n_users: int) -> torch.Tensor:
    """Undirected, coalesced ``edge_index`` of the user–item graph (items offset by ``n_users``)."""
    edge_index = torch.stack([torch.from_numpy(users), torch.from_numpy(items + n_users)]).to(torch.long)
    return coalesce(to_undirected(edge_index))


class GraphRecommender(nn.Module):
    """LightGCN over a fixed training graph, through ``torch_geometric.nn.LightGCN``."""

    edge_index: torch.Tensor

    def __init__(self, n_users: int, n_items: int, dim: int, layers: int, edge_index: torch.Tensor) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.gcn = LightGCN(num_nodes=n_users + n_items, embedding_dim=dim, num_layers=layers)
        self.register_buffer("edge_index", edge_index)
        self._adjacency: torch.Tensor | None = None

    def adjacency(self) -> torch.Tensor:
        """The graph as a CSR sparse matrix (about 6x faster propagation than ``edge_index``)."""
        if self._adjacency is None:
            size = self.n_users + self.n_items
            self._adjacency = to_torch_csr_tensor(self.edge_index, size=(size, size))
        return self._adjacency

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.gcn.get_embedding(self.adjacency())
        return out[: self.n_users], out[self.n_users:]

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self.embeddings()
        return user_emb[users] @ item_emb.T
