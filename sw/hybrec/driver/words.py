"""What travels on the kernel's streams (docs/model-image.md), in numpy only: query packets as the AXI DMA
sends them, the 64-bit result words decoded and checked into :class:`Results`, and the two status words.

The formats themselves are defined once, in :mod:`hybrec.protocol` (the ground floor, numpy only); this module
adds what the driver needs around them: the manifest's view of the kernel (:class:`KernelInfo`), the checks a
caller's input gets before anything is sent, the byte layout of a batch, and the checks an answer gets.

Query packet: a header word ``0x51 << 24 | n_hist``, then the history's ids, then the ids that are only
excluded, two 16-bit ids per 32-bit word (little-endian; the DMA marks an odd count's last half word with
``tkeep``). Result word: ``[31:0]`` score (signed), ``[47:32]`` item id, ``[51:48]`` flags (``EMPTY`` 1,
``TRUNCATED`` 2, ``BAD_ID`` 4, ``NO_MODEL`` 8), ``[52]`` valid, ``[63:53]`` zero. A query's ``K`` words come
best first; words without a result (fewer than ``K`` candidates left) have ``valid = 0``, id ``0xFFFF`` and
score 0 and follow the valid ones. Status words carry ``0xA5`` in their top byte, which no result word has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybrec import protocol
from hybrec.protocol import FLAG_BAD_ID, FLAG_EMPTY, FLAG_NO_MODEL, FLAG_TRUNCATED, NO_ID, Status

from .errors import ConfigurationError, HistoryTooLong, IdOutOfRange, MalformedResult, QueryError

__all__ = ["FLAG_BAD_ID", "FLAG_EMPTY", "FLAG_NO_MODEL", "FLAG_TRUNCATED", "NO_ID", "KernelInfo", "Results", "Status",
           "bitstream_shape_key", "check_histories", "decode_words", "is_status_answer", "pack_packets", "query_bytes"]

ID_BYTES = 2        # ids are uint16 on the stream
WORD_BYTES = 8      # one output word
IN_WORD_BITS = 32   # one input word per beat (protocol v2)
STATUS_WORDS = 2
_RESERVED_SHIFT = 53


@dataclass(frozen=True)
class KernelInfo:
    """What the driver needs from a build's ``manifest.json``: the kernel's shape (``kernel.shape``: ``key``,
    ``n_items_max``, the shape word), ``lmax`` and ``k`` (``kernel.parameters``), and the stream widths
    (``kernel.interface``: ``in_bits``/``out_bits``, or ``s_axis_tdata``/``m_axis_tdata``, or ``16 *
    ids_per_beat``). ``n_items_max`` is the item capacity; how many items are live is the loaded model's."""

    build_id: str
    top: str
    shape_key: str
    n_items_max: int
    lmax: int
    k: int
    in_bits: int = IN_WORD_BITS
    out_bits: int = 64

    @property
    def shape_word(self) -> int:
        return protocol.shape_word(self.shape_key)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> KernelInfo:
        try:
            kernel = manifest["kernel"]
            params = kernel["parameters"]
            iface = kernel.get("interface") or {}
            shape = kernel.get("shape") or {}
            in_bits = iface.get("in_bits", iface.get("s_axis_tdata", 8 * ID_BYTES * int(params.get("ids_per_beat", 1))))
            info = cls(build_id=str(manifest["build_id"]), top=str(kernel.get("top", "hybrec_kernel")),
                       shape_key=str(shape.get("key", "")),
                       n_items_max=int(shape.get("n_items_max", params["n_items"])), lmax=int(params["lmax"]),
                       k=int(params["k"]), in_bits=int(in_bits),
                       out_bits=int(iface.get("out_bits", iface.get("m_axis_tdata", 64))))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigurationError(f"not a hybrec build manifest (missing or bad {err}); expected build_id, "
                                     "kernel.shape.key and kernel.parameters.{n_items, lmax, k}") from None
        if len(info.shape_key) != 64 or any(c not in "0123456789abcdef" for c in info.shape_key):
            raise ConfigurationError("the build manifest has no kernel shape (kernel.shape.key): a build of the "
                                     "stream protocol before model images; compile it again (docs/model-image.md)")
        word = shape.get("word")
        if word is not None and int(str(word), 16) != info.shape_word:
            raise ConfigurationError(f"the manifest's kernel.shape.word {word} is not its key's "
                                     f"({info.shape_word:08x})")
        if info.out_bits != 8 * WORD_BYTES:
            raise ConfigurationError(f"the kernel's output stream is {info.out_bits} bits; this driver decodes "
                                     f"{8 * WORD_BYTES}-bit result and status words")
        if info.in_bits != IN_WORD_BITS:
            raise ConfigurationError(f"the kernel's input stream is {info.in_bits} bits; the stream protocol "
                                     f"(docs/model-image.md) has one {IN_WORD_BITS}-bit word per beat")
        if not 0 < info.n_items_max < NO_ID or info.k <= 0 or info.lmax <= 0:
            raise ConfigurationError(f"implausible kernel parameters: n_items_max {info.n_items_max}, lmax "
                                     f"{info.lmax}, k {info.k}")
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

    @property
    def no_model(self) -> np.ndarray:
        """Per query: answered by a kernel that held no complete model (``FLAG_NO_MODEL``)."""
        return (self.flags & FLAG_NO_MODEL) != 0


def as_ids(values: Any, query: int, what: str = "a history") -> np.ndarray:
    """One id sequence as int64; refuses what cannot be one."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise QueryError(f"query {query}: {what} is a 1-D sequence of item ids (got shape {arr.shape})", query)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise QueryError(f"query {query}: item ids must be integers (got dtype {arr.dtype})", query)
    return arr.astype(np.int64)


def _check_range(ids: np.ndarray, q: int, n_items: int | None, what: str) -> None:
    if ids.size and (ids.min() < 0 or ids.max() > NO_ID):
        bad = int(ids[(ids < 0) | (ids > NO_ID)][0])
        raise IdOutOfRange(f"query {q}: id {bad} ({what}) does not fit the kernel's 16-bit input", q)
    if n_items is not None and ids.size and ids.max() >= n_items:
        pos = int(np.flatnonzero(ids >= n_items)[0])
        live = f"the loaded model has {n_items} items, ids 0..{n_items - 1}" if n_items else "no model is loaded"
        raise IdOutOfRange(f"query {q}: id {int(ids[pos])} at position {pos} of {what} is out of range ({live})", q)


def check_histories(histories: Sequence[Any], info: KernelInfo, strict: bool, n_items: int | None = None,
                    excludes: Sequence[Any] | None = None) -> list[np.ndarray]:
    """The packets to send, as 16-bit units (:func:`hybrec.protocol.query_units`: the header word, the
    history, the exclusion list). Always: ids that fit 16 bits, a history of at most 65535 ids, one exclusion
    list per history. In ``strict`` mode also: every id below the live ``n_items`` (default: the capacity),
    and at most ``lmax`` history ids."""
    if excludes is not None and len(excludes) != len(histories):
        raise ValueError(f"{len(excludes)} exclusion lists for {len(histories)} histories")
    live = info.n_items_max if n_items is None else int(n_items)
    packets: list[np.ndarray] = []
    for q, history in enumerate(histories):
        ids = as_ids(history, q)
        extra = as_ids(excludes[q], q, "an exclusion list") if excludes is not None else np.zeros(0, np.int64)
        _check_range(ids, q, live if strict else None, "the history")
        _check_range(extra, q, live if strict else None, "the exclusion list")
        if ids.size > protocol.MAX_HISTORY:
            raise HistoryTooLong(f"query {q}: {ids.size} history ids; the header's n_hist holds at most "
                                 f"{protocol.MAX_HISTORY}", q)
        if strict and ids.size > info.lmax:
            raise HistoryTooLong(f"query {q}: {ids.size} ids, the kernel aggregates at most lmax = "
                                 f"{info.lmax} (send the latest {info.lmax})", q)
        packets.append(protocol.query_units(ids, extra))
    return packets


def query_bytes(history: Any, exclude: Any = ()) -> bytes:
    """One query packet as the DMA sends it (little-endian 16-bit units, the header word first)."""
    return protocol.query_units(as_ids(history, 0), as_ids(exclude, 0, "an exclusion list")).astype("<u2").tobytes()


def pack_packets(packets: Sequence[np.ndarray], align: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay packets of 16-bit units out in one byte buffer: each one contiguous (little-endian), each start
    aligned to ``align`` bytes. Returns (bytes, start offsets, byte counts)."""
    nbytes = np.array([ID_BYTES * p.size for p in packets], dtype=np.int64)
    slots = -(-nbytes // align) * align
    starts = np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int64) if len(packets) else \
        np.zeros(0, dtype=np.int64)
    buf = np.zeros(int(slots.sum()), dtype=np.uint8)
    for start, packet in zip(starts, packets, strict=True):
        buf[start: start + ID_BYTES * packet.size] = np.asarray(packet).astype("<u2").view(np.uint8)
    return buf, starts, nbytes


def is_status_answer(words: np.ndarray) -> bool:
    """Whether an answer is the kernel's two status words (its first word carries the status mark)."""
    w = np.asarray(words, dtype=np.uint64).reshape(-1)
    return w.size == STATUS_WORDS and int(w[0]) >> 56 == protocol.STATUS_MARK


def decode_words(words: np.ndarray, n_items: int, first_query: int = 0) -> Results:
    """Decode ``(Q, K)`` result words and check each query's answer against the live ``n_items``;
    :class:`MalformedResult` names the first query (``first_query`` + row) and word that breaks the format."""
    words = np.asarray(words, dtype=np.uint64)
    if words.ndim != 2:
        raise ValueError("result words are a (queries, K) array")
    scores = (words & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
    ids = ((words >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
    flags = ((words >> np.uint64(48)) & np.uint64(0xF)).astype(np.int64)
    valid = ((words >> np.uint64(52)) & np.uint64(1)).astype(bool)

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            row, col = (int(x[0]) for x in np.nonzero(mask))
            raise MalformedResult(f"query {first_query + row}, word {col} (0x{int(words[row, col]):016x}): {what}",
                                  first_query + row)

    fail((words >> np.uint64(56)) == np.uint64(protocol.STATUS_MARK),
         "a status word where a result word was expected")
    fail((words >> np.uint64(_RESERVED_SHIFT)) != 0, "reserved bits [63:53] are not zero")
    fail(~valid & ((ids != NO_ID) | (scores != 0)), "an invalid word must carry id 0xFFFF and score 0")
    fail(valid & ((flags & FLAG_NO_MODEL) != 0), "a valid result flagged NO_MODEL")
    fail(valid & (ids >= n_items), f"item id out of range (the loaded model has {n_items} items)")
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


def bitstream_shape_key(bitstream: dict[str, Any]) -> str | None:
    """The kernel shape key a bitstream manifest records (``shape.key``), or None if it records none."""
    key = (bitstream.get("shape") or {}).get("key")
    return str(key) if key else None


def decode_status(words: np.ndarray) -> Status:
    """The two status words of a load, a status request or a bad header (:class:`hybrec.protocol.Status`)."""
    try:
        return Status.from_words(words)
    except ValueError as err:
        raise MalformedResult(f"expected the kernel's two status words: {err}", -1) from None
