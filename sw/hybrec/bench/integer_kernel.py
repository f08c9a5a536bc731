"""The kernel's integer pipeline as a PyTorch module, for the CPU and GPU backends of the HIL benchmark.

Imports only torch and numpy, so the same file runs on this machine and on the lent GPU machine
(``scripts/device_hil_gpu.sh``). For one padded batch of histories it computes what the kernel and the
golden model (:mod:`hybrec.golden`) compute, bit for bit:

    acc   = sum of the history items' int8 feature rows                       (gather + sum)
    mean  = sat8(floor((acc * R[n] + 2^15) / 2^16))                           (integer normalised sum)
    x_l+1 = #{T_l[c, j] <= (x_l @ W_l)[c]} + out_bias_l                        (MVAU with thresholds)
    s     = u @ items.T                                                        (int8 x int8 scores)
    top-K = the K highest scores among the items not in the query, ties to the lower id

**Exactness in float32.** Every value is an integer, and every partial sum stays below 2^24 in
magnitude, so float32 (24-bit significand) represents every intermediate exactly whatever order the
adds happen in: history sums <= 256 * 128 = 2^15; ``acc * R[n]`` <= 128 n * (2^16 / n + 1/2) < 2^23 + 2^14;
layer 0 (96 int8 x int4) <= 96 * 128 * 8 = 98,304; layer 1 (128 uint4 x int4) <= 15,360; scores
(64 int8 x int8) <= 64 * 128 * 128 = 2^20. :func:`check_exact_bounds` checks these bounds for a given
set of parameters. On a GPU this needs TF32 off (:func:`exact_matmul`: TF32 keeps 10 mantissa bits).
The top-K selection runs on int64 keys ``s * 2^b - id`` (``2^b > N``), which order by score and then
by the lower id, the kernel's tie rule; ``torch.topk`` alone does not define the order of ties.

A query is its history and its exclusion list (the user's other seen items), one padded row: the first
``lmax`` columns are aggregated and excluded, the rest only excluded, as the kernel treats a query packet.

float16 (``dtype=torch.float16``) is offered for timing only: 98,304 and 65,536 (``R[1]``) are beyond
its range and its 11-bit significand, so its lists are not the kernel's.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FLOAT32_EXACT = 1 << 24
INPUTS_FORMAT = "hybrec-hil-inputs/1"


@dataclass
class KernelArrays:
    """The integer kernel parameters in plain numpy (what :class:`hybrec.golden.KernelParams` holds),
    plus the padded queries. ``histories [Q, lmax + E]``: per query its counted ids padded with ``N`` to
    ``lmax`` (``recip`` has ``lmax + 1`` entries), then the ids it only excludes, padded with ``N``."""

    features: np.ndarray
    items: np.ndarray
    weights: list[np.ndarray]
    thresholds: list[np.ndarray]
    out_biases: list[int]
    recip: np.ndarray
    feature_bits: int
    agg_shift: int
    k: int
    histories: np.ndarray
    lengths: np.ndarray
    header: dict[str, Any]

    @property
    def n_items(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: Path) -> bytes:
        """The arrays as one ``.npz`` (returned as bytes; the caller writes it atomically)."""
        arrays: dict[str, np.ndarray] = {
            "features": self.features.astype(np.int8), "items": self.items.astype(np.int8),
            "recip": self.recip.astype(np.int64), "histories": self.histories.astype(np.int32),
            "lengths": self.lengths.astype(np.int32),
            "header": np.frombuffer(json.dumps({**self.header, "format": INPUTS_FORMAT, "feature_bits":
                                                self.feature_bits, "agg_shift": self.agg_shift, "k": self.k,
                                                "out_biases": [int(b) for b in self.out_biases]}).encode(),
                                    dtype=np.uint8)}
        for index, (w, t) in enumerate(zip(self.weights, self.thresholds, strict=True)):
            arrays[f"weights{index}"] = w.astype(np.int64)
            arrays[f"thresholds{index}"] = t.astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> KernelArrays:
        with np.load(path) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header.get("format") != INPUTS_FORMAT:
                raise ValueError(f"{path}: format {header.get('format')!r}, expected {INPUTS_FORMAT}")
            n_layers = len(header["out_biases"])
            return cls(features=data["features"].astype(np.int64), items=data["items"].astype(np.int64),
                       weights=[data[f"weights{i}"] for i in range(n_layers)],
                       thresholds=[data[f"thresholds{i}"] for i in range(n_layers)],
                       out_biases=list(header["out_biases"]), recip=data["recip"],
                       feature_bits=int(header["feature_bits"]), agg_shift=int(header["agg_shift"]),
                       k=int(header["k"]), histories=data["histories"].astype(np.int64),
                       lengths=data["lengths"].astype(np.int64), header=header)


def check_exact_bounds(arrays: KernelArrays, lmax: int) -> dict[str, int]:
    """The largest magnitude each float32 step can reach (every partial sum is bounded by these sums of
    absolute values); raises ``ValueError`` if one reaches 2^24."""
    feat = int(np.abs(arrays.features).max(initial=0))
    bounds = {"history_sum": lmax * feat}
    recip_n = arrays.recip[1:]
    n = np.arange(1, recip_n.size + 1)
    bounds["normalise"] = int((n * feat * recip_n).max(initial=0) + (1 << (arrays.agg_shift - 1)))
    x_max = (1 << (arrays.feature_bits - 1))
    for index, (w, t, bias) in enumerate(zip(arrays.weights, arrays.thresholds, arrays.out_biases, strict=True)):
        bounds[f"layer{index}"] = int(np.abs(w).sum(axis=0).max(initial=0) * x_max)
        bounds[f"layer{index}_thresholds"] = int(np.abs(t).max(initial=0))
        n_levels = t.shape[1]
        x_max = max(abs(bias), abs(bias + n_levels))
    bounds["scores"] = int(np.abs(arrays.items).sum(axis=1).max(initial=0) * x_max)
    over = {name: value for name, value in bounds.items() if value >= FLOAT32_EXACT}
    if over:
        raise ValueError(f"float32 is not exact for these parameters: {over} reach 2^24")
    return bounds


def exact_matmul() -> None:
    """float32 matrix products at full precision (no TF32, no reduced-precision reductions)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if hasattr(torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction"):
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False


class IntegerKernel(nn.Module):
    """The kernel's pipeline on padded batches: ``forward(history [B, L] int64, lengths [B] int64)``
    -> ``(ids [B, K] int64, scores [B, K] int64)``; ids of invalid results (fewer than K candidates) are -1
    with score 0. History ids must be ``0 .. N-1`` or the pad value ``N``; ``lengths`` counts the real ones."""

    features: torch.Tensor
    items_t: torch.Tensor
    recip: torch.Tensor
    ids: torch.Tensor

    def __init__(self, arrays: KernelArrays, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        n, f = arrays.features.shape
        features = np.zeros((n + 1, f), dtype=np.float32)  # row N: the padding's zero row
        features[:n] = arrays.features
        items_t = np.zeros((arrays.items.shape[1], n + 1), dtype=np.float32)  # column N: a padding column
        items_t[:, :n] = arrays.items.T
        self.register_buffer("features", torch.from_numpy(features).to(dtype))
        self.register_buffer("items_t", torch.from_numpy(items_t).to(dtype))
        self.register_buffer("recip", torch.from_numpy(arrays.recip.astype(np.float32)).to(dtype))
        self.register_buffer("ids", torch.arange(n + 1, dtype=torch.int64))
        self.weights = nn.ParameterList([nn.Parameter(torch.from_numpy(w.astype(np.float32)).to(dtype),
                                                      requires_grad=False) for w in arrays.weights])
        for index, t in enumerate(arrays.thresholds):
            self.register_buffer(f"thresholds{index}", torch.from_numpy(t.astype(np.float32)).to(dtype).contiguous())
        self.out_biases = [float(b) for b in arrays.out_biases]
        self.n_items = n
        self.k = arrays.k
        self.half_unit = float(1 << (arrays.agg_shift - 1))
        self.unit = float(1 << arrays.agg_shift)
        self.sat_lo, self.sat_hi = -float(1 << (arrays.feature_bits - 1)), float((1 << (arrays.feature_bits - 1)) - 1)
        self.id_shift = int(n).bit_length()  # 2^id_shift > N
        self.agg_cols = int(arrays.recip.size) - 1   # lmax: R[0..lmax]; the aggregated columns of a row

    def user_vectors(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        acc = self.features[history[:, : self.agg_cols]].sum(dim=1)                # [B, F]
        scaled = acc * self.recip[lengths].unsqueeze(1) + self.half_unit
        x = torch.floor(scaled / self.unit).clamp(self.sat_lo, self.sat_hi)       # the integer mean
        for index, w in enumerate(self.weights):
            a = x @ w                                                             # [B, MH]
            t = getattr(self, f"thresholds{index}")                               # [MH, T], ascending
            count = torch.searchsorted(t, a.T.contiguous(), right=True).T         # #{T <= a}
            x = count.to(a.dtype) + self.out_biases[index]
        return x

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        users = self.user_vectors(history, lengths)
        scores = users @ self.items_t                                             # [B, N + 1]
        keys = (scores.to(torch.int64) << self.id_shift) - self.ids                   # by score, then lower id
        low = torch.iinfo(torch.int64).min
        keys = keys.scatter(1, history, low)                    # the history, the exclusion list (and the pad N)
        top_keys, top = torch.topk(keys[:, : self.n_items], self.k, dim=1)      # never the pad column N
        valid = top_keys != low
        top_scores = torch.gather(scores, 1, top).to(torch.int64)
        return torch.where(valid, top, -1), torch.where(valid, top_scores, 0)


def pad_histories(histories: list[np.ndarray], lmax: int, n_items: int,
                  excludes: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each query's counted ids (the first ``lmax`` below ``N``, as the kernel counts them), padded with ``N``
    to ``lmax`` columns, then the ids below ``N`` that are only excluded (the history's uncounted ones and the
    exclusion list), padded with ``N``."""
    extra = []
    for row, h in enumerate(histories):
        ids = np.concatenate([np.asarray(h, dtype=np.int64)[lmax:],
                              np.asarray(excludes[row] if excludes is not None else [], dtype=np.int64)])
        extra.append(ids[(ids >= 0) & (ids < n_items)])
    width = lmax + max((e.size for e in extra), default=0)
    out = np.full((len(histories), width), n_items, dtype=np.int64)
    lengths = np.zeros(len(histories), dtype=np.int64)
    for row, h in enumerate(histories):
        ids = np.asarray(h, dtype=np.int64)[:lmax]
        ids = ids[(ids >= 0) & (ids < n_items)]
        out[row, : ids.size] = ids
        out[row, lmax: lmax + extra[row].size] = extra[row]
        lengths[row] = ids.size
    return out, lengths


def random_catalogue(arrays: KernelArrays, n_items: int, seed: int = 0) -> KernelArrays:
    """The same MLP and queries with ``n_items`` random int8 item features and vectors (for timing only;
    the queries' ids stay below the real catalogue's size, so they stay valid)."""
    rng = np.random.default_rng(seed)
    f, d = arrays.features.shape[1], arrays.items.shape[1]
    hist = np.where(arrays.histories >= arrays.n_items, n_items, arrays.histories)
    return KernelArrays(features=rng.integers(-128, 128, (n_items, f), dtype=np.int8),
                        items=rng.integers(-128, 128, (n_items, d), dtype=np.int8),
                        weights=arrays.weights, thresholds=arrays.thresholds, out_biases=arrays.out_biases,
                        recip=arrays.recip, feature_bits=arrays.feature_bits, agg_shift=arrays.agg_shift,
                        k=arrays.k, histories=hist, lengths=arrays.lengths,
                        header={**arrays.header, "random_catalogue": n_items})


def percentiles(samples_us: np.ndarray) -> dict[str, float]:
    s = np.asarray(samples_us, dtype=np.float64)
    return {"p50_us": float(np.percentile(s, 50)), "p90_us": float(np.percentile(s, 90)),
            "p99_us": float(np.percentile(s, 99)), "mean_us": float(s.mean()), "min_us": float(s.min()),
            "max_us": float(s.max()), "calls": int(s.size)}


def lists_digest(ids: np.ndarray, scores: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()
                          + np.ascontiguousarray(scores, dtype=np.int64).tobytes()).hexdigest()
