"""The hybrid (fusion) recommender, shaped for the FPGA kernel of DESIGN.md.

Item side (offline): each item has a feature vector ``f_i = [g_i ; P t_i]`` — its GNN (LightGCN)
embedding ``g_i`` (trainable, initialised from the trained LightGCN) and its projected language-model
embedding ``P t_i`` — and an item vector ``v_i = W_item f_i``. Either part can be switched off (the
``lm_float`` variant has no GNN part).

User side (online, per request, on the kernel): the user is the aggregation of the features of the
items in their history ``H`` (the last ``lmax`` training items by time):

    m_u = mean_{i in H} f_i,     u = MLP(m_u),     score(u, i) = <u, v_i>

Quantized variants: ``f_i`` is stored as ``feature_bits``-bit integers (per-tensor scale), the mean is
the kernel's integer normalised sum (:func:`hybrec.models.quant.integer_mean`), the MLP is made of
Brevitas layers (``weight_bits`` weights, ``act_bits`` hidden activations, ``out_bits`` user vector;
``Linear -> BatchNorm -> QuantReLU`` blocks that FINN streamlines into MVAU + thresholds), and the
item vectors are ``item_bits``-bit integers. Scores are then exact integer dot products.

Shapes:
    history ``[B, L]`` item ids, padded with -1; lengths ``[B]``; scores ``[B, n_items]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybrec.models.quant import FakeQuant, integer_mean


@dataclass(frozen=True)
class HybridShape:
    n_items: int
    gnn_dim: int  # 0: no GNN features
    text_in_dim: int  # language model embedding width; 0: no text features
    text_dim: int  # width of the projected text features
    hidden: tuple[int, ...] = (128,)
    out_dim: int = 64
    lmax: int = 64

    @property
    def feature_dim(self) -> int:
        return self.gnn_dim + (self.text_dim if self.text_in_dim else 0)


@dataclass(frozen=True)
class QuantSpec:
    weight_bits: int
    act_bits: int
    out_bits: int
    feature_bits: int = 8
    item_bits: int = 8

    def __post_init__(self) -> None:
        for name in ("weight_bits", "act_bits", "out_bits", "feature_bits", "item_bits"):
            value = getattr(self, name)
            if not 2 <= value <= 16:
                raise ValueError(f"{name}={value}: supported bit widths are 2..16")


def float_mlp(shape: HybridShape) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = shape.feature_dim
    for hidden in shape.hidden:
        layers += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        width = hidden
    layers += [nn.Linear(width, shape.out_dim, bias=False), nn.BatchNorm1d(shape.out_dim)]
    return nn.Sequential(*layers)


def quant_mlp(shape: HybridShape, spec: QuantSpec) -> nn.Sequential:
    """Brevitas MLP whose input is the integer mean (scale 1) and whose output is the user vector."""
    from brevitas.core.scaling import ScalingImplType
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat

    layers: list[nn.Module] = [
        QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=spec.feature_bits,
                      scaling_impl_type=ScalingImplType.CONST, scaling_init=float(2 ** (spec.feature_bits - 1)),
                      return_quant_tensor=True)
    ]
    width = shape.feature_dim
    for hidden in shape.hidden:
        layers += [
            QuantLinear(width, hidden, bias=False, weight_quant=Int8WeightPerChannelFloat,
                        weight_bit_width=spec.weight_bits),
            nn.BatchNorm1d(hidden),
            QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=spec.act_bits, return_quant_tensor=True),
        ]
        width = hidden
    layers += [
        QuantLinear(width, shape.out_dim, bias=False, weight_quant=Int8WeightPerChannelFloat,
                    weight_bit_width=spec.weight_bits),
        nn.BatchNorm1d(shape.out_dim),
        QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=spec.out_bits, return_quant_tensor=True),
    ]
    return nn.Sequential(*layers)


@dataclass
class IntegerModel:
    """Integer view of a quantized model: what the export stage writes for the kernel."""

    features: torch.Tensor  # [n_items, F] int
    items: torch.Tensor  # [n_items, D] int
    feature_scale: float
    item_scale: float


class HybridRecommender(nn.Module):
    """See the module docstring. ``quant=None`` builds the float model."""

    text_embeddings: torch.Tensor

    def __init__(self, shape: HybridShape, text_embeddings: torch.Tensor | None,
                 gnn_init: torch.Tensor | None, quant: QuantSpec | None = None,
                 train_gnn_features: bool = False) -> None:
        super().__init__()
        self.shape = shape
        self.quant = quant
        self.gnn: nn.Parameter | None = None
        if shape.gnn_dim:
            if gnn_init is None or tuple(gnn_init.shape) != (shape.n_items, shape.gnn_dim):
                raise ValueError(f"gnn_init must be [{shape.n_items}, {shape.gnn_dim}]")
            self.gnn = nn.Parameter(gnn_init.detach().clone().float(), requires_grad=train_gnn_features)
        if shape.text_in_dim:
            if text_embeddings is None or tuple(text_embeddings.shape) != (shape.n_items, shape.text_in_dim):
                raise ValueError(f"text_embeddings must be [{shape.n_items}, {shape.text_in_dim}]")
            self.register_buffer("text_embeddings", text_embeddings.detach().clone().float())
            self.text_proj: nn.Linear | None = nn.Linear(shape.text_in_dim, shape.text_dim, bias=False)
        else:
            self.register_buffer("text_embeddings", torch.zeros(0))
            self.text_proj = None
        if shape.feature_dim == 0:
            raise ValueError("the model needs GNN features, text features, or both")
        self.item_tower = nn.Linear(shape.feature_dim, shape.out_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))
        if quant is None:
            self.mlp = float_mlp(shape)
            self.feature_quant: FakeQuant | None = None
            self.item_quant: FakeQuant | None = None
        else:
            self.mlp = quant_mlp(shape, quant)
            self.feature_quant = FakeQuant(quant.feature_bits)
            self.item_quant = FakeQuant(quant.item_bits)

    # -- item side -----------------------------------------------------------------------------
    def item_features(self, text_embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """Float features ``[n_items, F]``; ``text_embeddings`` overrides the cached ones (LoRA)."""
        parts: list[torch.Tensor] = []
        if self.gnn is not None:
            parts.append(self.gnn)
        if self.text_proj is not None:
            text = self.text_embeddings if text_embeddings is None else text_embeddings
            parts.append(self.text_proj(text))
        return torch.cat(parts, dim=1)

    def item_vectors(self, features: torch.Tensor) -> torch.Tensor:
        vectors = self.item_tower(features)
        return vectors if self.item_quant is None else self.item_quant(vectors)

    # -- user side -----------------------------------------------------------------------------
    def user_vectors(self, history: torch.Tensor, lengths: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        if self.feature_quant is None:
            gathered = features[history.clamp_min(0)] * (history >= 0).unsqueeze(-1)
            mean = gathered.sum(1) / lengths.clamp_min(1).unsqueeze(-1).to(gathered.dtype)
            return self.mlp(mean)  # type: ignore[no-any-return]
        return self.mlp(self._integer_history_mean(history, lengths, features)).value  # type: ignore[no-any-return]

    def _integer_history_mean(self, history: torch.Tensor, lengths: torch.Tensor,
                              features: torch.Tensor) -> torch.Tensor:
        """The kernel's aggregation: int features of the history, summed, integer-normalised. ``[B, F]``."""
        assert self.quant is not None and self.feature_quant is not None
        feat_int = self.feature_quant.int_values(features)
        acc = (feat_int[history.clamp_min(0)] * (history >= 0).unsqueeze(-1)).sum(1)
        return integer_mean(acc, lengths, self.shape.lmax, self.quant.feature_bits)

    def forward(self, history: torch.Tensor, lengths: torch.Tensor,
                text_embeddings: torch.Tensor | None = None) -> torch.Tensor:
        features = self.item_features(text_embeddings)
        users = self.user_vectors(history, lengths, features)
        items = self.item_vectors(features)
        return (users @ items.T) * self.logit_scale.exp()

    # -- integer view (quantized models) --------------------------------------------------------
    @torch.no_grad()
    def integer_model(self) -> IntegerModel:
        if self.quant is None or self.feature_quant is None or self.item_quant is None:
            raise ValueError("integer_model() needs a quantized model")
        features = self.item_features()
        feat_int = self.feature_quant.int_values(features)
        item_int = self.item_quant.int_values(self.item_tower(features))
        return IntegerModel(feat_int.to(torch.int64), item_int.to(torch.int64),
                            float(self.feature_quant.scale), float(self.item_quant.scale))

    @torch.no_grad()
    def integer_user_vectors(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The user vectors as integers (what the kernel's MLP emits). Shape ``[B, D]`` int64."""
        out = self.mlp(self._integer_history_mean(history, lengths, self.item_features()))
        return torch.round(out.value / out.scale).to(torch.int64)

    @torch.no_grad()
    def integer_scores(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Exact integer scores ``[B, n_items]`` (int64), as the kernel computes them."""
        return self.integer_user_vectors(history, lengths) @ self.integer_model().items.T


def init_student_from_teacher(student: HybridRecommender, teacher: HybridRecommender) -> None:
    """Copy a float teacher into a quantized student before QAT.

    The student's MLP sees the integer mean (features / feature scale), the teacher's the float mean,
    so the first layer's weights are multiplied by the feature scale; everything else is copied.
    """
    if student.shape != teacher.shape or student.quant is None or teacher.quant is not None:
        raise ValueError("student must be the quantized twin of a float teacher of the same shape")
    with torch.no_grad():
        if teacher.gnn is not None and student.gnn is not None:
            student.gnn.copy_(teacher.gnn)
        if teacher.text_proj is not None and student.text_proj is not None:
            student.text_proj.weight.copy_(teacher.text_proj.weight)
        student.item_tower.weight.copy_(teacher.item_tower.weight)
        student.logit_scale.copy_(teacher.logit_scale)
        features = teacher.item_features()
        assert student.feature_quant is not None and student.item_quant is not None
        student.feature_quant.calibrate(features)
        student.item_quant.calibrate(teacher.item_tower(features))
        t_linear = [m for m in teacher.mlp if isinstance(m, nn.Linear)]
        s_linear = [m for m in student.mlp if isinstance(m, nn.Linear)]
        t_bn = [m for m in teacher.mlp if isinstance(m, nn.BatchNorm1d)]
        s_bn = [m for m in student.mlp if isinstance(m, nn.BatchNorm1d)]
        for index, (t, s) in enumerate(zip(t_linear, s_linear, strict=True)):
            factor = float(student.feature_quant.scale) if index == 0 else 1.0
            s.weight.copy_(t.weight * factor)
        for t_norm, s_norm in zip(t_bn, s_bn, strict=True):
            s_norm.load_state_dict(t_norm.state_dict())
