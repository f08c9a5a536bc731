"""What travels on the kernel's streams, in numpy only: the input packets (item ids as little-endian
uint16) and the 64-bit result words, decoded and checked into :class:`Results`.

Result word (hw/kernel/README.md): ``[31:0]`` score (signed), ``[47:32]`` item id, ``[50:48]`` flags,
``[51]`` valid, ``[63:52]`` zero. A query's ``K`` words come best first; words without a result (fewer
than ``K`` candidates left) have ``valid = 0``, id ``0xFFFF`` and score 0 and follow the valid ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigurationError, HistoryTooLong, IdOutOfRange, MalformedResult, QueryError

FLAG_EMPTY = 1  # no valid id in the history (the mean is zero)
FLAG_TRUNCATED = 2  # more than lmax ids: only the first lmax were used
FLAG_BAD_ID = 4  # at least one id >= n_items was skipped
NO_ID = 0xFFFF  # what an empty history is sent as (always out of range)
ID_BYTES = 2  # ids are uint16 in memory, whatever the stream width
WORD_BYTES = 8


@dataclass(frozen=True)
class KernelInfo:
    """What the driver needs from a build's ``manifest.json``: ``kernel.parameters`` (``n_items``, ``lmax``,
    ``k``) and the stream widths from ``kernel.interface`` (``in_bits``/``out_bits``, or the older
    ``s_axis_tdata``/``m_axis_tdata``, or ``16 * kernel.parameters.ids_per_beat``; default 16 and 64)."""

    build_id: str
    top: str
    n_items: int
    lmax: int
    k: int
    in_bits: int = 16
    out_bits: int = 64

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> KernelInfo:
        try:
            kernel = manifest["kernel"]
            params = kernel["parameters"]
            iface = kernel.get("interface") or {}
            in_bits = iface.get("in_bits", iface.get("s_axis_tdata", 8 * ID_BYTES * int(params.get("ids_per_beat", 1))))
            info = cls(build_id=str(manifest["build_id"]), top=str(kernel.get("top", "hybrec_kernel")),
                       n_items=int(params["n_items"]), lmax=int(params["lmax"]), k=int(params["k"]),
                       in_bits=int(in_bits), out_bits=int(iface.get("out_bits", iface.get("m_axis_tdata", 64))))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigurationError(f"not a hybrec build manifest (missing or bad {err}); expected build_id and "
                                     "kernel.parameters.{n_items, lmax, k}") from None
        if info.out_bits != 8 * WORD_BYTES:
            raise ConfigurationError(f"the kernel's output stream is {info.out_bits} bits; this driver decodes "
                                     f"{8 * WORD_BYTES}-bit result words")
        if info.in_bits % (8 * ID_BYTES) or info.in_bits <= 0:
            raise ConfigurationError(f"the kernel's input stream is {info.in_bits} bits, not a multiple of 16 "
                                     "(whole 16-bit ids per beat)")
        if not 0 < info.n_items < NO_ID or info.k <= 0 or info.lmax <= 0:
            raise ConfigurationError(f"implausible kernel parameters: n_items {info.n_items}, lmax {info.lmax}, "
                                     f"k {info.k}")
        return info


@dataclass
class Results:
    """Answers of ``Q`` queries: ``ids`` ``(Q, K)`` int32 (-1 where invalid), ``scores`` ``(Q, K)`` int64
    (0 where invalid), ``valid`` ``(Q, K)`` bool, ``flags`` ``(Q,)`` int64 (``FLAG_*`` bits); ``words`` the
    raw 64-bit words; ``latency_s`` per query the host's wall-clock time from starting its input transfer
    to the end of its output transfer; ``wall_s`` the whole batch."""

    ids: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    flags: np.ndarray
    words: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.uint64))
    latency_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    wall_s: float = 0.0

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def as_history(history: Any, query: int) -> np.ndarray:
    """One history as int64 ids; refuses what cannot be an id sequence."""
    arr = np.asarray(history)
    if arr.ndim != 1:
        raise QueryError(f"query {query}: a history is a 1-D sequence of item ids (got shape {arr.shape})", query)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise QueryError(f"query {query}: item ids must be integers (got dtype {arr.dtype})", query)
    return arr.astype(np.int64)


def check_histories(histories: Sequence[Any], info: KernelInfo, strict: bool) -> list[np.ndarray]:
    """The packets to send: ids that fit 16 bits always, and in ``strict`` mode ids below ``n_items`` and at
    most ``lmax`` of them. An empty history becomes one ``NO_ID``."""
    packets: list[np.ndarray] = []
    for q, history in enumerate(histories):
        ids = as_history(history, q)
        if ids.size and (ids.min() < 0 or ids.max() > NO_ID):
            bad = int(ids[(ids < 0) | (ids > NO_ID)][0])
            raise IdOutOfRange(f"query {q}: id {bad} does not fit the kernel's 16-bit input", q)
        if strict:
            if ids.size and ids.max() >= info.n_items:
                bad = int(ids[ids >= info.n_items][0])
                pos = int(np.flatnonzero(ids >= info.n_items)[0])
                raise IdOutOfRange(f"query {q}: id {bad} at position {pos} is out of range (the kernel has "
                                   f"{info.n_items} items, ids 0..{info.n_items - 1})", q)
            if ids.size > info.lmax:
                raise HistoryTooLong(f"query {q}: {ids.size} ids, the kernel aggregates at most lmax = "
                                     f"{info.lmax} (send the latest {info.lmax})", q)
        packets.append(ids if ids.size else np.array([NO_ID], dtype=np.int64))
    return packets


def pack_packets(packets: Sequence[np.ndarray], align: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay the packets out in one byte buffer: each one's ids contiguous (little-endian uint16), each start
    aligned to ``align`` bytes. Returns (bytes, start offsets, byte counts)."""
    nbytes = np.array([ID_BYTES * p.size for p in packets], dtype=np.int64)
    slots = -(-nbytes // align) * align
    starts = np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int64) if len(packets) else \
        np.zeros(0, dtype=np.int64)
    buf = np.zeros(int(slots.sum()), dtype=np.uint8)
    for start, packet in zip(starts, packets, strict=True):
        buf[start: start + ID_BYTES * packet.size] = packet.astype("<u2").view(np.uint8)
    return buf, starts, nbytes


def decode_words(words: np.ndarray, n_items: int, first_query: int = 0) -> Results:
    """Decode ``(Q, K)`` result words and check each query's answer; :class:`MalformedResult` names the first
    query (``first_query`` + row) and word that breaks the format."""
    words = np.asarray(words, dtype=np.uint64)
    if words.ndim != 2:
        raise ValueError("result words are a (queries, K) array")
    scores = (words & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
    ids = ((words >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
    flags = ((words >> np.uint64(48)) & np.uint64(0x7)).astype(np.int64)
    valid = ((words >> np.uint64(51)) & np.uint64(1)).astype(bool)
    reserved = (words >> np.uint64(52)) != 0

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            row, col = (int(x[0]) for x in np.nonzero(mask))
            raise MalformedResult(f"query {first_query + row}, word {col} (0x{int(words[row, col]):016x}): {what}",
                                  first_query + row)

    fail(reserved, "reserved bits [63:52] are not zero")
    fail(~valid & ((ids != NO_ID) | (scores != 0)), "an invalid word must carry id 0xFFFF and score 0")
    fail(valid & (ids >= n_items), f"item id out of range (the kernel has {n_items} items)")
    if words.shape[1] > 1:
        fail(np.pad(valid[:, 1:] & ~valid[:, :-1], ((0, 0), (1, 0))), "a valid result after an invalid one")
        fail(np.pad(flags[:, 1:] != flags[:, :-1], ((0, 0), (1, 0))), "flags differ between a query's words")
        pair = valid[:, 1:] & valid[:, :-1]
        ordered = (scores[:, :-1] > scores[:, 1:]) | ((scores[:, :-1] == scores[:, 1:]) & (ids[:, :-1] < ids[:, 1:]))
        fail(np.pad(pair & ~ordered, ((0, 0), (1, 0))),
             "results out of order (best score first, ties to the lower id) or an item twice")
    return Results(ids=np.where(valid, ids, -1).astype(np.int32), scores=np.where(valid, scores, 0),
                   valid=valid, flags=flags[:, 0] if words.shape[1] else np.zeros(words.shape[0], dtype=np.int64),
                   words=words)
