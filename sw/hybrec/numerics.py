"""The numeric contract of the recommendation kernel: every integer step, defined once.

The training code (in torch, with straight-through gradients), the integer golden model, the RTL and
the HLS C++ all implement exactly these functions. Shapes use ``L`` for a history length, ``F`` for
the item-feature width, ``D`` for the user/item vector width and ``N`` for the number of items.

History aggregation (the GNN-style normalised sum over the user's history items):

    acc[j]  = sum_t feat[h_t, j]                               (exact, signed)
    mean[j] = sat_B((acc[j] * R[n] + 2^(S-1)) >> S)            (>> is an arithmetic shift: floor)
    R[n]    = floor(2^S / n + 1/2)                            (a ROM of LMAX entries in hardware)

with ``n`` the number of valid ids, ``S`` = ``AGG_SHIFT`` and ``sat_B`` saturation to signed ``B`` bits.
Scores are integer dot products; the top-K list is ordered by score (descending), ties broken by the
lower item id.

Status flags (a bit field in the kernel's output): ``FLAG_EMPTY`` — no valid id (the mean is all
zeros); ``FLAG_TRUNCATED`` — more than ``LMAX`` ids arrived, only the first ``LMAX`` were used;
``FLAG_BAD_ID`` — at least one id was >= N and was ignored (not counted in ``n``); ``FLAG_NO_MODEL`` — the
kernel held no complete model (it answers as a kernel of no items: every result invalid).
"""

from __future__ import annotations

import numpy as np

AGG_SHIFT = 16
FLAG_EMPTY = 1
FLAG_TRUNCATED = 2
FLAG_BAD_ID = 4
FLAG_NO_MODEL = 8


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    if bits < 1 or bits > 32:
        raise ValueError(f"bit width {bits} outside 1..32")
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def saturate(values: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    lo, hi = int_range(bits, signed)
    return np.clip(values, lo, hi)


def reciprocal_table(lmax: int, shift: int = AGG_SHIFT) -> np.ndarray:
    """``R[n] = floor(2^shift / n + 1/2)`` for ``n = 0..lmax`` (``R[0] = 0``). Shape ``[lmax + 1]``."""
    n = np.arange(1, lmax + 1, dtype=np.int64)
    table = ((np.int64(1) << (shift + 1)) // n + 1) >> 1  # floor(2^s/n + 1/2) computed exactly
    return np.concatenate([[0], table]).astype(np.int64)


def normalised_sum(acc: np.ndarray, n: np.ndarray | int, lmax: int, bits: int,
                   shift: int = AGG_SHIFT) -> np.ndarray:
    """``sat_B((acc * R[n] + 2^(S-1)) >> S)``. Shapes: ``acc [..., F]``, ``n [...]`` -> ``[..., F]``."""
    recip = reciprocal_table(lmax, shift)[np.asarray(n, dtype=np.int64)]
    scaled = (acc.astype(np.int64) * np.expand_dims(recip, -1) + (1 << (shift - 1))) >> shift
    return saturate(scaled, bits)


def aggregate_history(history: np.ndarray, features: np.ndarray, lmax: int, bits: int,
                      shift: int = AGG_SHIFT) -> tuple[np.ndarray, int]:
    """Aggregate one query's history ids as the kernel does; returns ``(mean [F], flags)``.

    ``history`` is the packet of ids in arrival order; ``features`` is ``[N, F]`` signed ``bits``-bit.
    """
    flags = 0
    ids = np.asarray(history, dtype=np.int64)
    if ids.size > lmax:
        flags |= FLAG_TRUNCATED
        ids = ids[:lmax]
    valid = (ids >= 0) & (ids < features.shape[0])
    if not valid.all():
        flags |= FLAG_BAD_ID
        ids = ids[valid]
    if ids.size == 0:
        return np.zeros(features.shape[1], dtype=np.int64), flags | FLAG_EMPTY
    acc = features[ids].astype(np.int64).sum(axis=0)
    return normalised_sum(acc, ids.size, lmax, bits, shift), flags


def multithreshold(acc: np.ndarray, thresholds: np.ndarray, out_bias: int = 0) -> np.ndarray:
    """FINN's MultiThreshold on integers: ``y[c] = sum_k [acc[c] >= T[c, k]] + out_bias``.

    Shapes: ``acc [..., C]``, ``thresholds [C, K]`` (sorted ascending per channel) -> ``[..., C]``.
    """
    return (acc[..., :, None] >= thresholds).sum(axis=-1).astype(np.int64) + out_bias


def mvau(x: np.ndarray, weights: np.ndarray, thresholds: np.ndarray | None, out_bias: int = 0) -> np.ndarray:
    """Matrix-vector-activation unit: ``multithreshold(x @ W, T)`` (or ``x @ W`` without thresholds).

    Shapes: ``x [..., MW]``, ``weights [MW, MH]``, ``thresholds [MH, K]`` -> ``[..., MH]``.
    """
    acc = x.astype(np.int64) @ weights.astype(np.int64)
    return acc if thresholds is None else multithreshold(acc, thresholds, out_bias)


def item_scores(user: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Integer dot products. Shapes: ``user [..., D]``, ``items [N, D]`` -> ``[..., N]`` int64."""
    return user.astype(np.int64) @ items.astype(np.int64).T


def topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (id, score) of a 1-D score vector: descending score, ties to the lower id."""
    order = np.lexsort((np.arange(scores.size), ~scores.astype(np.int64)))[:k]  # ~x == -x-1, no overflow
    return order.astype(np.int64), scores[order].astype(np.int64)
