"""The ULX3S self-test image (``bist.bin``): what ``hw/boards/ulx3s/ulx3s_bist.v`` reads from the board's SPI
flash, streams into the kernel and checks the kernel's answers against.

The self-test bitstream is a function of the kernel's shape only; the model and the golden answers live in
this image, written beside the bitstream and flashed at a byte offset (default :data:`FLASH_OFFSET`, past the
bitstream of an 85F). Format ``hybrec-selftest/1``, all integers little-endian (docs/self-test.md):

====== ===== ==================================================================================
offset bytes content
====== ===== ==================================================================================
0      8     magic ``HYBRECST``
8      4     format version (1)
12     4     header bytes (128)
16     4     shape word of the kernel the image is for
20     4     packets (records below)
24     4     record words ``R`` (32-bit words after the header)
28     4     ``s1`` of the record words (:func:`hybrec.protocol.checksums`)
32     4     ``s2`` of the record words
36     4     output words the kernel answers with (64-bit)
40     4     output packets (words with tlast)
44     4     ``s1`` of the output words' 32-bit halves, low half first
48     4     ``s2`` of the same
52     4     queries (user queries + corner cases)
56     4     ``K``
60     4     ``n_items`` of the model
64     32    shape key (sha256, raw bytes)
96     32    sha256 of the model image (``model.img``) the load packet came from
128    4·R   records
====== ===== ==================================================================================

A record is one input packet: a word ``0xA << 28 | tkeep_last << 24 | beats`` (``beats`` 1 .. 2^24-1, every
beat but the last has tkeep ``0xF``; tlast on the last), then its ``beats`` words, one per beat. The packets
are the model's load packet (byte for byte the model image's), the chosen golden queries, then a status
request; the expected answers are the load's two status words (``OK``, the image's checksums), each query's
``K`` result words, and the status request's two status words.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrec import protocol
from hybrec.artifacts import atomic_write_bytes, atomic_write_text
from hybrec.builddir import BuildDir

MAGIC = b"HYBRECST"
VERSION = 1
HEADER_BYTES = 128
FILE = "bist.bin"
FLASH_OFFSET = 0x400000      # past an LFE5U-85F bitstream (about 2.3 MB uncompressed) in the 16 MB flash
RECORD_MARK = 0xA
MAX_BEATS = (1 << 24) - 1
KEEP_ALL = 0xF

# what ulx3s_bist.v shows on led[7:4] once led[0] (done) is lit and led[2] (fail) too
FAIL_CODES = {
    1: "no self-test image at the flash offset (magic, version or header size)",
    2: "the image is for another kernel shape",
    3: "the image read from flash is damaged (a record out of bounds, or its checksum differs)",
    4: "stalled: no input taken and no answer for 2^STALL_BITS cycles before the image's end",
    5: "the number of answer words or of answers (tlast) differs",
    6: "the answers' checksum differs",
}


class SelfTestError(protocol.ImageError):
    """A self-test image that cannot be read or made."""


@dataclass(frozen=True)
class Packet:
    """One input packet: its 32-bit words and the last word's tkeep."""

    words: np.ndarray
    last_keep: int = KEEP_ALL

    @classmethod
    def from_units(cls, units: np.ndarray) -> Packet:
        """A packet of 16-bit units (low half first); an odd count leaves the last word half full."""
        units = np.asarray(units, dtype=np.uint32)
        odd = units.size % 2
        padded = np.concatenate([units, np.zeros(odd, dtype=np.uint32)])
        return cls((padded[0::2] | (padded[1::2] << 16)).astype(np.uint32), 0b0011 if odd else KEEP_ALL)

    def record(self) -> np.ndarray:
        n = int(self.words.size)
        if not 1 <= n <= MAX_BEATS or not 1 <= self.last_keep <= KEEP_ALL:
            raise SelfTestError(f"a packet of {n} words (tkeep {self.last_keep:#x}) does not fit a record")
        head = (RECORD_MARK << 28) | (self.last_keep << 24) | n
        return np.concatenate([[head], self.words]).astype(np.uint32)


@dataclass(frozen=True)
class Expected:
    """The output the kernel must give: word count, tlast count and the checksums of the 32-bit halves."""

    words: int
    lasts: int
    s1: int
    s2: int

    @classmethod
    def of(cls, answers: list[np.ndarray]) -> Expected:
        flat = np.concatenate(answers).astype("<u8") if answers else np.zeros(0, dtype="<u8")
        s1, s2 = protocol.checksums(flat.view("<u4"))
        return cls(int(flat.size), len(answers), s1, s2)


@dataclass(frozen=True)
class SelfTestImage:
    """``bist.bin``: the packets to send and what the answers must add up to."""

    shape_key: str
    packets: list[Packet]
    expected: Expected
    queries: int
    k: int
    n_items: int
    model_sha256: str

    @property
    def shape_word(self) -> int:
        return protocol.shape_word(self.shape_key)

    def records(self) -> np.ndarray:
        return np.concatenate([p.record() for p in self.packets]).astype(np.uint32)

    def to_bytes(self) -> bytes:
        records = self.records()
        s1, s2 = protocol.checksums(records)
        e = self.expected
        fields = [VERSION, HEADER_BYTES, self.shape_word, len(self.packets), records.size, s1, s2,
                  e.words, e.lasts, e.s1, e.s2, self.queries, self.k, self.n_items]
        head = (MAGIC + np.array(fields, dtype="<u4").tobytes() + bytes.fromhex(self.shape_key)
                + bytes.fromhex(self.model_sha256))
        assert len(head) == HEADER_BYTES
        return head + records.astype("<u4").tobytes()

    def write(self, path: Path) -> Path:
        atomic_write_bytes(path, self.to_bytes())
        return path


@dataclass(frozen=True)
class Header:
    """The header of a ``bist.bin`` as read back (what the board checks first)."""

    shape_word: int
    packets: int
    record_words: int
    s1: int
    s2: int
    expected: Expected
    queries: int
    k: int
    n_items: int
    shape_key: str
    model_sha256: str


def read_header(data: bytes, source: str = FILE) -> Header:
    """The header of a self-test image, checked against its records (size, checksum, record framing)."""
    if len(data) < HEADER_BYTES or data[:8] != MAGIC:
        raise SelfTestError(f"{source}: not a hybrec self-test image (no {MAGIC.decode()} header)")
    f = [int(x) for x in np.frombuffer(data[8:64], dtype="<u4")]
    if f[0] != VERSION or f[1] != HEADER_BYTES:
        raise SelfTestError(f"{source}: self-test image format {f[0]} (header {f[1]} bytes); this hybrec "
                            f"writes format {VERSION}: run `hybrec bitstream` again")
    header = Header(f[2], f[3], f[4], f[5], f[6], Expected(f[7], f[8], f[9], f[10]), f[11], f[12], f[13],
                    data[64:96].hex(), data[96:128].hex())
    if len(data) != HEADER_BYTES + 4 * header.record_words:
        raise SelfTestError(f"{source}: {len(data)} bytes, the header says "
                            f"{HEADER_BYTES + 4 * header.record_words} (a truncated or damaged image)")
    records = np.frombuffer(data[HEADER_BYTES:], dtype="<u4")
    if protocol.checksums(records) != (header.s1, header.s2):
        raise SelfTestError(f"{source}: checksum mismatch (a damaged image)")
    at, packets = 0, 0
    while at < records.size:
        word = int(records[at])
        if word >> 28 != RECORD_MARK or not 1 <= (word & MAX_BEATS) <= records.size - at - 1:
            raise SelfTestError(f"{source}: record {packets} at word {at} is damaged ({word:#010x})")
        at += 1 + (word & MAX_BEATS)
        packets += 1
    if packets != header.packets:
        raise SelfTestError(f"{source}: {packets} records, the header says {header.packets}")
    return header


def selftest_image(build: BuildDir, queries: int) -> SelfTestImage:
    """The self-test of ``build``'s model: its load packet, the first ``queries`` user queries of the golden
    vectors and every corner case, then a status request; the answers are the golden model's."""
    image = build.model_image()
    vectors = build.vectors()
    chosen = [int(q) for q in np.concatenate([vectors.user_rows()[:queries], vectors.corner_rows()])]
    words = vectors.output_words()
    s1, s2 = image.checksums
    status = protocol.Status(image.shape_word, image.n_items, protocol.OK, True, s1, s2).words()
    packets = [Packet(image.packet.astype(np.uint32))]
    answers = [status]
    for q in chosen:
        packets.append(Packet.from_units(vectors.query_units(q)))
        answers.append(words[q])
    packets.append(Packet.from_units(protocol.status_units()))
    answers.append(status)
    model_sha = hashlib.sha256(build.image_path.read_bytes()).hexdigest()
    return SelfTestImage(image.shape_key, packets, Expected.of(answers), len(chosen), vectors.k, image.n_items,
                         model_sha)


def write_flash_hex(data: bytes, path: Path) -> Path:
    """``data`` as ``$readmemh`` text, one byte per line (the simulated flash's contents)."""
    atomic_write_text(path, "".join(f"{b:02x}\n" for b in data))
    return path
