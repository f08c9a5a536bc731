"""The integer golden model of the recommendation kernel (numpy only): the contract every other
implementation (Brevitas' quantized forward, FINN's execution of the HW graph, the RTL, the HLS C++)
is checked against, bit for bit.

One query, as the kernel computes it (every step is a function of :mod:`hybrec.numerics`)::

    ids        the query's history item ids, in arrival order; ``exclude``: more ids, only excluded
    mean, fl   = aggregate_history(ids, features, lmax, feature_bits)      # int [F], flags
    x_0        = mean
    x_{l+1}    = multithreshold(x_l @ W_l, T_l) + out_bias_l               # per MLP layer
    u          = x_L                                                       # the user vector, int [D]
    s          = u @ items.T                                               # int [N]
    top-K      = the K best (id, score) by score, ties to the lower id, among the items that are
                 neither in the history nor in ``exclude``

``N`` is the number of live items (the rows of ``features``); an id ``>= N`` is never excluded, and in the
history's first ``lmax`` it is a bad id. When fewer than ``K`` items are left, the list is padded with
``(id -1, score 0, valid False)`` entries. ``flags`` (``numerics.FLAG_*``) travel with every result of the
query. A kernel without a complete model answers as a kernel of no items (:func:`no_model_result`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import numerics
from hybrec.artifacts import atomic_write_bytes
from hybrec.errors import HybrecError


class KernelParamsError(HybrecError, ValueError):
    """A kernel parameter file that cannot be read, or parameters that do not fit together."""


@dataclass(frozen=True)
class LayerSpec:
    """One MLP layer as an MVAU: ``y = multithreshold(x @ W, T) + out_bias``.

    ``acc_lo``/``acc_hi`` bound every accumulator over all inputs of the stated width (the
    thresholds are clipped to ``[acc_lo, acc_hi + 1]``: a threshold of ``acc_hi + 1`` never fires).
    """

    mw: int
    mh: int
    in_bits: int
    in_signed: bool
    w_bits: int
    out_bits: int
    out_bias: int
    acc_lo: int
    acc_hi: int

    @property
    def out_signed(self) -> bool:
        return self.out_bias < 0

    @property
    def n_thresholds(self) -> int:
        return (1 << self.out_bits) - 1

    def worst_case(self) -> LayerSpec:
        """The same layer with the accumulator bounds of *any* ``w_bits`` weights (a kernel shape's: every
        trained model of the shape fits them; this layer's own bounds lie inside)."""
        lo_x, hi_x = numerics.int_range(self.in_bits, self.in_signed)
        lo_w, hi_w = numerics.int_range(self.w_bits)
        corners = [x * w for x in (lo_x, hi_x) for w in (lo_w, hi_w)]
        return replace(self, acc_lo=self.mw * min(min(corners), 0), acc_hi=self.mw * max(max(corners), 0))

    @property
    def acc_bits(self) -> int:
        """Signed width holding every accumulator and every threshold (``acc_hi + 1`` included)."""
        bits = 2
        while not (-(1 << (bits - 1)) <= self.acc_lo and self.acc_hi + 1 <= (1 << (bits - 1)) - 1):
            bits += 1
        return bits


def accumulator_range(weights: np.ndarray, in_bits: int, in_signed: bool) -> tuple[int, int]:
    """Exact bounds of ``x @ W`` over every ``x`` of the given width. ``weights [MW, MH]``."""
    lo_x, hi_x = numerics.int_range(in_bits, in_signed)
    w = np.asarray(weights, dtype=np.int64)
    hi = np.maximum(w * lo_x, w * hi_x).sum(axis=0).max(initial=0)
    lo = np.minimum(w * lo_x, w * hi_x).sum(axis=0).min(initial=0)
    return int(lo), int(hi)


@dataclass
class KernelParams:
    """Everything the kernel holds: item features, the MLP's integer weights and thresholds, item vectors.

    Shapes: ``features [N, F]`` (signed ``feature_bits``), ``weights[l] [MW_l, MH_l]``,
    ``thresholds[l] [MH_l, 2^out_bits_l - 1]``, ``items [N, D]`` (signed ``item_bits``).
    """

    features: np.ndarray
    feature_bits: int
    lmax: int
    weights: list[np.ndarray]
    thresholds: list[np.ndarray]
    layers: list[LayerSpec]
    items: np.ndarray
    item_bits: int
    k: int = 10
    exclude_history: bool = True
    agg_shift: int = numerics.AGG_SHIFT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.items.shape[1])

    @property
    def user_bits(self) -> int:
        return self.layers[-1].out_bits

    @property
    def user_signed(self) -> bool:
        return self.layers[-1].out_signed

    def validate(self) -> None:
        """Raise :class:`KernelParamsError` on any inconsistency (shapes, ranges, threshold order)."""
        def in_range(name: str, values: np.ndarray, bits: int, signed: bool = True) -> None:
            lo, hi = numerics.int_range(bits, signed)
            if values.size and (values.min() < lo or values.max() > hi):
                raise KernelParamsError(f"{name} outside the {'signed' if signed else 'unsigned'} "
                                        f"{bits}-bit range [{lo}, {hi}]")

        if self.features.ndim != 2 or self.items.ndim != 2 or self.items.shape[0] != self.features.shape[0]:
            raise KernelParamsError(f"features {self.features.shape} and items {self.items.shape} must be "
                                    "[N, F] and [N, D] with the same N")
        if not 1 <= self.k <= self.n_items:
            raise KernelParamsError(f"k={self.k} outside 1..{self.n_items}")
        if self.lmax < 1:
            raise KernelParamsError(f"lmax={self.lmax} must be >= 1")
        in_range("features", self.features, self.feature_bits)
        in_range("item vectors", self.items, self.item_bits)
        if not (len(self.weights) == len(self.thresholds) == len(self.layers) >= 1):
            raise KernelParamsError("weights, thresholds and layers must list the same (>= 1) layers")
        width, bits, signed = self.feature_dim, self.feature_bits, True
        for index, (w, t, spec) in enumerate(zip(self.weights, self.thresholds, self.layers, strict=True)):
            name = f"layer {index}"
            if (spec.mw, spec.mh) != w.shape or spec.mw != width:
                raise KernelParamsError(f"{name}: weights {w.shape}, spec (MW, MH) = {(spec.mw, spec.mh)}, "
                                        f"input width {width}")
            if (spec.in_bits, spec.in_signed) != (bits, signed):
                raise KernelParamsError(f"{name}: input is {bits}-bit {'signed' if signed else 'unsigned'}, "
                                        f"spec says {spec.in_bits}-bit")
            in_range(f"{name} weights", w, spec.w_bits)
            if t.shape != (spec.mh, spec.n_thresholds):
                raise KernelParamsError(f"{name}: thresholds {t.shape}, expected {(spec.mh, spec.n_thresholds)}")
            if np.any(np.diff(t, axis=1) < 0):
                raise KernelParamsError(f"{name}: thresholds are not ascending per channel")
            lo, hi = accumulator_range(w, spec.in_bits, spec.in_signed)
            if lo < spec.acc_lo or hi > spec.acc_hi:
                raise KernelParamsError(f"{name}: accumulators reach [{lo}, {hi}], spec says "
                                        f"[{spec.acc_lo}, {spec.acc_hi}]")
            if t.size and (t.min() < spec.acc_lo or t.max() > spec.acc_hi + 1):
                raise KernelParamsError(f"{name}: thresholds outside [{spec.acc_lo}, {spec.acc_hi + 1}]")
            width, bits, signed = spec.mh, spec.out_bits, spec.out_signed
        if width != self.out_dim:
            raise KernelParamsError(f"the MLP emits {width} values, item vectors have {self.out_dim}")

    def with_catalogue(self, features: np.ndarray, items: np.ndarray) -> KernelParams:
        """The same MLP over another catalogue: ``features [N', F]`` and ``items [N', D]`` (items removed, added
        or changed; the kernel's capacity bounds ``N'``, not this model's ``N``)."""
        changed = replace(self, features=np.asarray(features, dtype=np.int64), items=np.asarray(items, dtype=np.int64))
        changed.validate()
        return changed

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """One ``.npz`` (arrays + a JSON header), written atomically."""
        import io

        header = {"feature_bits": self.feature_bits, "lmax": self.lmax, "item_bits": self.item_bits,
                  "k": self.k, "exclude_history": self.exclude_history, "agg_shift": self.agg_shift,
                  "layers": [asdict(spec) for spec in self.layers], "extra": self.extra}
        arrays: dict[str, np.ndarray] = {"features": self.features.astype(np.int64),
                                         "items": self.items.astype(np.int64),
                                         "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
        for index, (w, t) in enumerate(zip(self.weights, self.thresholds, strict=True)):
            arrays[f"weights{index}"] = w.astype(np.int64)
            arrays[f"thresholds{index}"] = t.astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> KernelParams:
        try:
            with np.load(path) as data:
                header = json.loads(bytes(data["header"]).decode())
                layers = [LayerSpec(**spec) for spec in header["layers"]]
                params = cls(features=data["features"], feature_bits=header["feature_bits"], lmax=header["lmax"],
                             weights=[data[f"weights{i}"] for i in range(len(layers))],
                             thresholds=[data[f"thresholds{i}"] for i in range(len(layers))],
                             layers=layers, items=data["items"], item_bits=header["item_bits"], k=header["k"],
                             exclude_history=header["exclude_history"], agg_shift=header["agg_shift"],
                             extra=header.get("extra", {}))
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise KernelParamsError(f"{path}: not a readable kernel parameter file ({err})") from None
        params.validate()
        return params


@dataclass
class QueryResult:
    """Top-K of one query: ``ids [K]`` (-1 for padding), ``scores [K]`` (0 for padding), ``valid [K]``."""

    ids: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    flags: int


class GoldenModel:
    """The kernel in numpy. See the module docstring for the definition."""

    def __init__(self, params: KernelParams) -> None:
        params.validate()
        self.p = params

    def counted_ids(self, history: np.ndarray) -> np.ndarray:
        """The ids the aggregation uses: the first ``lmax`` of the history that are ``< N``."""
        ids = np.asarray(history, dtype=np.int64)[: self.p.lmax]
        return ids[(ids >= 0) & (ids < self.p.n_items)]

    def excluded_ids(self, history: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Every id of the query (history and ``exclude``) that is ``< N``."""
        ids = np.asarray(history, dtype=np.int64)
        if exclude is not None:
            ids = np.concatenate([ids, np.asarray(exclude, dtype=np.int64)])
        return ids[(ids >= 0) & (ids < self.p.n_items)]

    def aggregate(self, history: np.ndarray) -> tuple[np.ndarray, int]:
        return numerics.aggregate_history(np.asarray(history, dtype=np.int64), self.p.features, self.p.lmax,
                                          self.p.feature_bits, self.p.agg_shift)

    def mlp(self, means: np.ndarray) -> np.ndarray:
        """User vectors ``[B, D]`` from means ``[B, F]``; also the per-layer outputs on request."""
        x = np.asarray(means, dtype=np.int64)
        for w, t, spec in zip(self.p.weights, self.p.thresholds, self.p.layers, strict=True):
            x = numerics.mvau(x, w, t, spec.out_bias)
        return x

    def layer_outputs(self, means: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(means, dtype=np.int64)
        outputs = []
        for w, t, spec in zip(self.p.weights, self.p.thresholds, self.p.layers, strict=True):
            x = numerics.mvau(x, w, t, spec.out_bias)
            outputs.append(x)
        return outputs

    def scores(self, users: np.ndarray) -> np.ndarray:
        return numerics.item_scores(users, self.p.items)

    def select(self, scores: np.ndarray, excluded: np.ndarray, flags: int) -> QueryResult:
        """Top-K of one score row ``[N]`` without the ``excluded`` ids."""
        k = self.p.k
        n = scores.size
        banned = np.zeros(n, dtype=bool)
        if self.p.exclude_history:
            banned[excluded] = True
        order = np.lexsort((np.arange(n), ~scores.astype(np.int64), banned))[:k]
        valid = ~banned[order]
        ids = np.where(valid, order, -1).astype(np.int64)
        chosen = np.where(valid, scores[order], 0).astype(np.int64)
        return QueryResult(ids, chosen, valid, flags)

    def query(self, history: np.ndarray, exclude: np.ndarray | None = None) -> QueryResult:
        return self.run([history], None if exclude is None else [exclude])[0]

    def run(self, histories: list[np.ndarray], excludes: list[np.ndarray] | None = None) -> list[QueryResult]:
        """Answer a batch of queries (a history each, and optionally more ids to exclude each)."""
        if excludes is not None and len(excludes) != len(histories):
            raise ValueError(f"{len(excludes)} exclusion lists for {len(histories)} queries")
        means, flags = zip(*(self.aggregate(h) for h in histories), strict=True)
        users = self.mlp(np.stack(means))
        all_scores = self.scores(users)
        return [self.select(all_scores[row], self.excluded_ids(h, None if excludes is None else excludes[row]), fl)
                for row, (h, fl) in enumerate(zip(histories, flags, strict=True))]


def no_model_result(history: np.ndarray, k: int, lmax: int) -> QueryResult:
    """The answer of a kernel that holds no complete model: no item is live (``N = 0``), so every history id
    in the first ``lmax`` is a bad id, every result is invalid, and ``FLAG_NO_MODEL`` is set."""
    ids = np.asarray(history, dtype=np.int64)
    flags = numerics.FLAG_NO_MODEL | numerics.FLAG_EMPTY
    if ids.size > lmax:
        flags |= numerics.FLAG_TRUNCATED
    if ids.size:
        flags |= numerics.FLAG_BAD_ID
    return QueryResult(np.full(k, -1, dtype=np.int64), np.zeros(k, dtype=np.int64), np.zeros(k, dtype=bool), flags)
