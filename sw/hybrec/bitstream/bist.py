"""The ULX3S self-test's ROMs (``hw/boards/ulx3s/ulx3s_bist.v``): golden queries in, golden answers to compare.

The top replays ``bist_ids.hex`` into the kernel's input stream and compares every result word with
``bist_words.hex``; its LEDs say done, pass, fail and how many words differed. The stimulus is the first
``queries`` user queries of the build's golden vectors and every corner case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrec.artifacts import atomic_write_text
from hybrec.builddir import BuildDir

IDS_FILE = "bist_ids.hex"
WORDS_FILE = "bist_words.hex"


@dataclass(frozen=True)
class BistRoms:
    """``ids``: one entry per input beat, ``{tlast, tkeep, tdata}`` with ``ids_per_beat`` 16-bit ids;
    ``words``: one entry per result word, ``{tlast, word}``."""

    ids: list[int]
    words: list[int]
    queries: int
    ids_per_beat: int

    @property
    def k(self) -> int:
        return len(self.words) // self.queries

    def write(self, folder: Path) -> None:
        digits = -(-(18 * self.ids_per_beat + 1) // 4)
        atomic_write_text(folder / IDS_FILE, "".join(f"{v:0{digits}x}\n" for v in self.ids))
        atomic_write_text(folder / WORDS_FILE, "".join(f"{v:017x}\n" for v in self.words))


def bist_roms(build: BuildDir, queries: int) -> BistRoms:
    """The self-test's stimulus and expectation from the build's golden vectors."""
    vectors = build.vectors()
    chosen = [int(q) for q in np.concatenate([vectors.user_rows()[:queries], vectors.corner_rows()])]
    words = vectors.output_words()
    ipb = build.kernel.interface.ids_per_beat
    id_rom: list[int] = []
    word_rom: list[int] = []
    for q in chosen:
        packet = [int(x) for x in vectors.packet(q)]
        beats = [packet[i: i + ipb] for i in range(0, len(packet), ipb)]
        for b, beat in enumerate(beats):
            data = sum(value << (16 * j) for j, value in enumerate(beat))
            keep = (1 << (2 * len(beat))) - 1
            id_rom.append(data | (keep << (16 * ipb)) | ((1 << (18 * ipb)) if b == len(beats) - 1 else 0))
        row = [int(w) for w in words[q]]
        word_rom += [value | ((1 << 64) if i == len(row) - 1 else 0) for i, value in enumerate(row)]
    return BistRoms(id_rom, word_rom, len(chosen), ipb)
