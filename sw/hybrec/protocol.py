"""What travels on the kernel's streams, and the model image that carries a trained model to it
(docs/model-image.md). Standard library and numpy only: the driver uses it on a board.

Input packets are 32-bit words (two 16-bit ids per word, little-endian); each starts with a header word whose
top byte is its kind. Output words are 64 bits: a query's ``K`` result words, or two status words answering a
load, a status request or a packet with a bad header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_bytes
from hybrec.errors import HybrecError
from hybrec.numerics import FLAG_BAD_ID, FLAG_EMPTY, FLAG_NO_MODEL, FLAG_TRUNCATED

__all__ = ["FLAG_BAD_ID", "FLAG_EMPTY", "FLAG_NO_MODEL", "FLAG_TRUNCATED", "MAX_ITEMS", "ModelImage", "Status",
           "id_limit_message"]

KIND_QUERY = 0x51    # 'Q': n_hist in bits 15:0, then ids
KIND_LOAD = 0x4C     # 'L': the shape word, n_items, the payload
KIND_STATUS = 0x53   # 'S': nothing else
STATUS_MARK = 0xA5   # top byte of a status word (never of a result word)

# status codes (status word 0, bits 51:48)
OK, INTERRUPTED, WRONG_SHAPE, BAD_HEADER, BAD_COUNT, OVERLONG = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {OK: "OK", INTERRUPTED: "INTERRUPTED", WRONG_SHAPE: "WRONG_SHAPE", BAD_HEADER: "BAD_HEADER",
                BAD_COUNT: "BAD_COUNT", OVERLONG: "OVERLONG"}

NO_ID = 0xFFFF
MAX_ITEMS = NO_ID - 1          # ids are 16 bits and 0xFFFF means "no item": ids 0..65533
MAX_HISTORY = 0xFFFF          # n_hist is a 16-bit field

IMAGE_MAGIC = b"HYBRECMI"
IMAGE_VERSION = 1
IMAGE_HEADER_BYTES = 128
IMAGE_NAME = "model.img"
PACKET_HEAD_WORDS = 3         # the load header, the shape word, n_items
_MASK32 = 0xFFFFFFFF


class ImageError(HybrecError, ValueError):
    """A model image that cannot be read, or one that does not fit the kernel it is meant for."""


# ---------------------------------------------------------------------------------------------- the shape
def shape_key(shape: dict[str, Any]) -> str:
    """sha256 (hex) of the shape's canonical JSON: sorted keys, no spaces."""
    return hashlib.sha256(json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def shape_word(key: str) -> int:
    """The 32-bit word the kernel carries for its shape: the key's first 8 hex digits."""
    return int(key[:8], 16)


# ---------------------------------------------------------------------------------------------- packets
def header_word(kind: int, value: int = 0) -> int:
    return ((kind & 0xFF) << 24) | (value & 0xFFFF)


def query_units(history: Sequence[int] | np.ndarray, exclude: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """A query packet as 16-bit units (uint16): the header word (low half first), the history, then the ids
    that are only excluded. Ids must fit 16 bits; the history at most ``MAX_HISTORY`` ids."""
    hist = np.asarray(history, dtype=np.int64).reshape(-1)
    extra = np.asarray(exclude, dtype=np.int64).reshape(-1)
    if hist.size > MAX_HISTORY:
        raise ValueError(f"a history of {hist.size} ids: the header's n_hist holds at most {MAX_HISTORY}")
    ids = np.concatenate([hist, extra])
    if ids.size and (ids.min() < 0 or ids.max() > NO_ID):
        raise ValueError("item ids must fit 16 bits (0..65535)")
    head = header_word(KIND_QUERY, hist.size)
    return np.concatenate([[head & 0xFFFF, head >> 16], ids]).astype(np.uint16)


def status_units() -> np.ndarray:
    head = header_word(KIND_STATUS)
    return np.array([head & 0xFFFF, head >> 16], dtype=np.uint16)


def words_to_units(words: np.ndarray) -> np.ndarray:
    """32-bit words as 16-bit units, low half first (the byte order on the stream)."""
    return np.asarray(words, dtype="<u4").view("<u2").astype(np.uint16)


# ---------------------------------------------------------------------------------------------- output words
def result_words(ids: np.ndarray, scores: np.ndarray, valid: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """``[Q, K]`` result words: ``[31:0]`` score, ``[47:32]`` id (0xFFFF when not valid), ``[51:48]`` flags,
    ``[52]`` valid. ``flags``: ``[Q]``."""
    ok = np.asarray(valid).astype(np.uint64)
    idw = np.where(ok == 1, ids, NO_ID).astype(np.int64).astype(np.uint64)
    sc = np.where(ok == 1, scores, 0).astype(np.int64).astype(np.uint64) & np.uint64(_MASK32)
    fl = np.repeat(np.asarray(flags).astype(np.uint64).reshape(-1, 1), ok.shape[1], axis=1)
    return (ok << np.uint64(52)) | (fl << np.uint64(48)) | (idw << np.uint64(32)) | sc


@dataclass(frozen=True)
class Status:
    """The two status words: the kernel's shape word, the live item count, the code, whether a model is held,
    and the checksums of the last load's received payload."""

    shape_word: int
    n_items: int
    code: int
    model_valid: bool
    s1: int
    s2: int

    @property
    def code_name(self) -> str:
        return STATUS_NAMES.get(self.code, f"code {self.code}")

    def words(self) -> np.ndarray:
        w0 = ((STATUS_MARK << 56) | (int(self.model_valid) << 52) | ((self.code & 0xF) << 48)
              | ((self.n_items & 0xFFFF) << 32) | (self.shape_word & _MASK32))
        return np.array([w0, ((self.s2 & _MASK32) << 32) | (self.s1 & _MASK32)], dtype=np.uint64)

    @classmethod
    def from_words(cls, words: Sequence[int] | np.ndarray) -> Status:
        w = [int(x) for x in np.asarray(words, dtype=np.uint64).reshape(-1)]
        if len(w) != 2 or (w[0] >> 56) != STATUS_MARK or (w[0] >> 53) & 0x7:
            raise ValueError("not the kernel's two status words: " + " ".join(f"0x{x:016x}" for x in w))
        return cls(shape_word=w[0] & _MASK32, n_items=(w[0] >> 32) & 0xFFFF, code=(w[0] >> 48) & 0xF,
                   model_valid=bool((w[0] >> 52) & 1), s1=w[1] & _MASK32, s2=w[1] >> 32)


# ---------------------------------------------------------------------------------------------- model image
def checksums(words: np.ndarray) -> tuple[int, int]:
    """``s1 = sum w_i``, ``s2 = sum of the running s1`` (both mod 2^32) over 32-bit words. uint64 arithmetic
    wraps mod 2^64, a multiple of 2^32, so the low 32 bits are exact."""
    w = np.asarray(words, dtype=np.uint64)
    running = np.cumsum(w, dtype=np.uint64)
    return int(running[-1]) & _MASK32 if w.size else 0, int(running.sum(dtype=np.uint64)) & _MASK32


def line_words(lines: Sequence[int], width: int) -> np.ndarray:
    """Memory lines of ``width`` bits as 32-bit words, ``ceil(width / 32)`` per line, LSB first."""
    per = -(-width // 32)
    out = np.zeros((len(lines), per), dtype=np.uint32)
    limit = 1 << width
    for row, line in enumerate(lines):
        value = int(line)
        if not 0 <= value < limit:
            raise ValueError(f"line {row}: {value:#x} does not fit {width} bits")
        for col in range(per):
            out[row, col] = (value >> (32 * col)) & _MASK32
    return out.reshape(-1)


@dataclass(frozen=True)
class ModelImage:
    """A trained model as the kernel loads it: the load packet (32-bit words) and what the header says of it."""

    shape_key: str
    n_items: int
    n_items_max: int
    packet: np.ndarray            # uint32: header, shape word, n_items, payload
    checkpoint_sha256: str = "0" * 64

    @classmethod
    def build(cls, key: str, n_items: int, n_items_max: int, memories: Sequence[tuple[int, Sequence[int]]],
              checkpoint_sha256: str | None = None) -> ModelImage:
        """The image of ``memories`` (``(width, lines)`` each, in the kernel's memory order)."""
        if not 1 <= n_items <= n_items_max:
            raise ImageError(f"{n_items} live items for a capacity of {n_items_max}")
        head = np.array([header_word(KIND_LOAD), shape_word(key), n_items], dtype=np.uint32)
        payload = [line_words(lines, width) for width, lines in memories]
        return cls(key, n_items, n_items_max, np.concatenate([head, *payload]).astype(np.uint32),
                   checkpoint_sha256 or "0" * 64)

    @property
    def shape_word(self) -> int:
        return shape_word(self.shape_key)

    @property
    def checksums(self) -> tuple[int, int]:
        return checksums(self.packet[2:])

    def packet_units(self) -> np.ndarray:
        return words_to_units(self.packet)

    def packet_bytes(self) -> bytes:
        return self.packet.astype("<u4").tobytes()

    def to_bytes(self) -> bytes:
        s1, s2 = self.checksums
        head = (IMAGE_MAGIC + np.array([IMAGE_VERSION, IMAGE_HEADER_BYTES, self.shape_word, self.n_items,
                                        self.n_items_max, self.packet.size, s1, s2], dtype="<u4").tobytes()
                + bytes.fromhex(self.shape_key) + bytes.fromhex(self.checkpoint_sha256))
        return head + bytes(IMAGE_HEADER_BYTES - len(head)) + self.packet_bytes()

    def write(self, path: Path) -> Path:
        atomic_write_bytes(path, self.to_bytes())
        return path

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "model image") -> ModelImage:
        if len(data) < IMAGE_HEADER_BYTES or data[:8] != IMAGE_MAGIC:
            raise ImageError(f"{source}: not a hybrec model image (no {IMAGE_MAGIC.decode()} header)")
        fields = np.frombuffer(data[8:40], dtype="<u4")
        version, header_bytes, word, n_items, n_max, words, s1, s2 = (int(x) for x in fields)
        if version != IMAGE_VERSION or header_bytes != IMAGE_HEADER_BYTES:
            raise ImageError(f"{source}: image format {version} (header {header_bytes} bytes); this hybrec reads "
                             f"format {IMAGE_VERSION}: compile the model again")
        if len(data) != IMAGE_HEADER_BYTES + 4 * words:
            raise ImageError(f"{source}: {len(data)} bytes, the header says {IMAGE_HEADER_BYTES + 4 * words} "
                             "(a truncated or damaged image)")
        image = cls(data[40:72].hex(), n_items, n_max,
                    np.frombuffer(data[IMAGE_HEADER_BYTES:], dtype="<u4").astype(np.uint32), data[72:104].hex())
        packet = image.packet
        if (words < PACKET_HEAD_WORDS or int(packet[0]) != header_word(KIND_LOAD) or int(packet[1]) != word
                or word != image.shape_word or int(packet[2]) != n_items or not 1 <= n_items <= n_max):
            raise ImageError(f"{source}: the header and the load packet disagree (a damaged image)")
        if image.checksums != (s1, s2):
            raise ImageError(f"{source}: checksum mismatch (a damaged image)")
        return image

    @classmethod
    def read(cls, path: Path) -> ModelImage:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise ImageError(f"{path}: cannot read the model image ({err.strerror})") from None
        return cls.from_bytes(data, str(path))

    def check_fits(self, key: str, n_items_max: int, what: str = "the kernel") -> None:
        """Refuse an image of another shape before anything is sent."""
        if key != self.shape_key:
            raise ImageError(f"the model image is for shape {self.shape_key[:16]} (word {self.shape_word:08x}); "
                             f"{what} has shape {key[:16]} (word {shape_word(key):08x}): compile the model for "
                             "this kernel's configuration, or build a bitstream of the image's shape")
        if self.n_items > n_items_max:
            raise ImageError(f"the image has {self.n_items} items; {what} holds at most {n_items_max}")


def id_limit_message(n_items: int) -> str | None:
    """Why a catalogue of ``n_items`` can never be served by a hybrec kernel, or None."""
    if n_items <= MAX_ITEMS:
        return None
    return (f"the catalogue has {n_items:,} items, but the kernel's item ids are 16-bit (0xFFFF means 'no item'): "
            f"a kernel holds at most {MAX_ITEMS:,} items, so no hybrec kernel can serve this catalogue")
