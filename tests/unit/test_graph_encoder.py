"""The graph encoders: LightGCN's propagation (against PyG's own), the perturbation, InfoNCE, and the
contrastive training (SimGCL / XSimGCL) reducing to LightGCN's when its weight and noise are 0."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.nn import LightGCN

from hybrec.models.baselines import GraphRecommender, bipartite_edges
from hybrec.train.bpr import BPRConfig, contrastive_loss, info_nce, sample_negatives, train_bpr

pytestmark = pytest.mark.unit

N_USERS, N_ITEMS = 6, 9


def tiny_graph(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(N_USERS), 4)
    items = np.concatenate([rng.choice(N_ITEMS, size=4, replace=False) for _ in range(N_USERS)])
    return users.astype(np.int64), items.astype(np.int64)


def tiny_model(layers: int = 2, dim: int = 8, seed: int = 0) -> GraphRecommender:
    users, items = tiny_graph(seed)
    torch.manual_seed(seed)
    return GraphRecommender(N_USERS, N_ITEMS, dim, layers, bipartite_edges(users, items, N_USERS))


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_propagation_equals_pyg_lightgcn_with_gradients(layers: int) -> None:
    model = tiny_model(layers)
    reference = LightGCN(N_USERS + N_ITEMS, 8, layers)  # PyG's own: gcn_norm in every layer, edge_index input
    reference.load_state_dict(model.gcn.state_dict())
    ours, _ = model.propagate()
    theirs = reference.get_embedding(model.edge_index)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(ours)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    assert model.gcn.embedding.weight.grad is not None and reference.embedding.weight.grad is not None
    torch.testing.assert_close(model.gcn.embedding.weight.grad, reference.embedding.weight.grad,
                               rtol=1e-5, atol=1e-6)


def test_embeddings_and_scores_shapes() -> None:
    model = tiny_model()
    users, items = model.embeddings()
    assert users.shape == (N_USERS, 8) and items.shape == (N_ITEMS, 8)
    assert model.scores(torch.tensor([0, 3])).shape == (2, N_ITEMS)


def test_perturbation_moves_each_layer_by_eps() -> None:
    model = tiny_model(layers=1)
    clean, ego = model.propagate(cl_layer=0)
    torch.testing.assert_close(ego, model.gcn.embedding.weight)
    generator = torch.Generator().manual_seed(1)
    noisy, layer1 = model.propagate(eps=0.1, cl_layer=1, generator=generator)
    # one layer: the layer mean moves by alpha_1 * eps * sign(x) * (a unit vector) in every row with edges;
    # a node without edges (sign 0) is not moved
    plain = model.gcn.convs[0](model.gcn.embedding.weight, model.adjacency())
    connected = plain.abs().sum(1) > 0
    assert 0 < int(connected.sum()) < N_USERS + N_ITEMS  # the tiny graph has an item nobody chose
    shift = (noisy - clean).norm(dim=1)
    torch.testing.assert_close(shift[connected], torch.full_like(shift[connected], float(model.gcn.alpha[1]) * 0.1))
    assert torch.all(shift[~connected] == 0)
    # the noise keeps every coordinate's sign (it is added along sign(x))
    assert torch.all((layer1 - plain) * torch.sign(plain) >= 0)
    # the same generator state gives the same views; another state another view
    again, _ = model.propagate(eps=0.1, cl_layer=1, generator=torch.Generator().manual_seed(1))
    other, _ = model.propagate(eps=0.1, cl_layer=1, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(noisy, again)
    assert not torch.allclose(noisy, other)


def test_info_nce_values() -> None:
    tau = 0.5
    e = torch.eye(2)
    # orthogonal unit rows: each row's positive scores 1/tau, the other 0
    assert info_nce(e, e, tau).item() == pytest.approx(math.log(1 + math.exp(-1 / tau)))
    # scale-free (cosine), and the same loss for any joint order of the rows
    v1, v2 = torch.randn(5, 4), torch.randn(5, 4)
    perm = torch.randperm(5)
    assert info_nce(3 * v1, v2, tau).item() == pytest.approx(info_nce(v1, v2, tau).item(), rel=1e-5)
    assert info_nce(v1[perm], v2[perm], tau).item() == pytest.approx(info_nce(v1, v2, tau).item(), rel=1e-5)
    # matching views beat mismatched ones
    assert info_nce(v1, v1, tau) < info_nce(v1, v1[torch.tensor([1, 0, 3, 4, 2])], tau)


def test_contrastive_loss_counts_distinct_users_and_items() -> None:
    model = tiny_model()
    nodes, _ = model.propagate()
    view = nodes + 0.01 * torch.randn_like(nodes)
    users, items = torch.tensor([0, 0, 2]), torch.tensor([1, 1, 5])
    u, i = torch.tensor([0, 2]), torch.tensor([1, 5]) + N_USERS
    expected = info_nce(nodes[u], view[u], 0.2) + info_nce(nodes[i], view[i], 0.2)
    torch.testing.assert_close(contrastive_loss(model, nodes, view, users, items, 0.2), expected)


def test_sample_negatives_never_returns_a_positive() -> None:
    users, items = tiny_graph()
    positives = np.zeros((N_USERS, N_ITEMS), dtype=bool)
    positives[users, items] = True
    negatives = sample_negatives(np.random.default_rng(0), np.repeat(users, 20), positives)
    assert not positives[np.repeat(users, 20), negatives].any()
    again = sample_negatives(np.random.default_rng(0), np.repeat(users, 20), positives)
    np.testing.assert_array_equal(negatives, again)


def _train(config: BPRConfig) -> GraphRecommender:
    users, items = tiny_graph()
    model = tiny_model()
    trained, _ = train_bpr(model, users, items, N_ITEMS, config, lambda m: 0.0, seed=0, desc="t", progress=False)
    assert isinstance(trained, GraphRecommender)
    return trained


@pytest.mark.parametrize("method", ["xsimgcl", "simgcl"])
def test_contrastive_training_reduces_to_lightgcn(method: str) -> None:
    base = BPRConfig(epochs=3, batch_size=8, lr=0.01, reg=1e-4, eval_every=1, patience=5)
    plain = _train(base)
    off = _train(BPRConfig(**{**base.__dict__, "cl_method": method, "cl_weight": 0.0, "eps": 0.0}))
    on = _train(BPRConfig(**{**base.__dict__, "cl_method": method, "cl_weight": 0.5, "eps": 0.1}))
    torch.testing.assert_close(off.gcn.embedding.weight, plain.gcn.embedding.weight, rtol=0, atol=0)
    assert not torch.allclose(on.gcn.embedding.weight, plain.gcn.embedding.weight)


def test_contrastive_term_pulls_views_together() -> None:
    """A few steps of the InfoNCE term alone make the two perturbed views of each node agree more."""
    model = tiny_model(dim=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    users, items = (torch.from_numpy(a) for a in tiny_graph())
    generator = torch.Generator().manual_seed(0)

    def loss() -> torch.Tensor:
        nodes, layer = model.propagate(0.2, 1, generator)
        return contrastive_loss(model, nodes, layer, users, items, 0.2)

    before = loss().item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < before


def test_contrastive_loss_needs_a_graph_model() -> None:
    from hybrec.models.baselines import MatrixFactorization

    users, items = tiny_graph()
    with pytest.raises(ValueError, match="graph model"):
        train_bpr(MatrixFactorization(N_USERS, N_ITEMS, 4), users, items, N_ITEMS,
                  BPRConfig(epochs=1, cl_weight=0.1, eps=0.1), lambda m: 0.0, seed=0, desc="t", progress=False)
