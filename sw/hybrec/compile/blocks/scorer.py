"""The scorer (``hw/scorer/``, ``hls_kernels/scorer``): the user vector against every item vector, ``lanes``
items per cycle, each lane a dot product (bit-plane adder trees in the fabric, or ``*`` products in DSP
blocks for ``mul_lanes`` of them).

Memory file (the item ROM): rows of ``lanes * D * item_bits`` bits, item ``r * lanes + l`` at lane ``l`` of
row ``r``, zeros past ``N``, cut into column groups of ``rom_group_bits`` bits (the last takes the rest; 0:
the whole row), group ``g`` in ``items_<gg>.hex``: ``ceil(N / lanes)`` lines of that group's bits. Each group
has its own copy of the row address.

Cycles: one row per cycle, ``ceil(N / lanes)`` rows per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.compile.blocks.base import (
    ID_WIDTH,
    MAX_FILE_GROUPS,
    FoldingError,
    Memory,
    column_groups,
    column_widths,
    pack_rows,
    write_column_groups,
)

ITEM_PREFIX = "items"
SCORE_WORD_BITS = 32   # the score field of the kernel's output word


@dataclass(frozen=True)
class Scorer:
    n_items: int
    out_dim: int
    user_bits: int
    user_signed: bool
    item_bits: int
    lanes: int
    adds_per_stage: int = 2
    bit_planes: int = 1
    mul_lanes: int = 0
    rom_group_bits: int = 0
    rom_out_reg: int = 0

    def __post_init__(self) -> None:
        if self.n_items >= 1 << ID_WIDTH:
            raise FoldingError(f"{self.n_items} items: ids must fit the {ID_WIDTH}-bit input")
        if self.mul_lanes > self.lanes:
            raise FoldingError(f"scorer: mul_lanes={self.mul_lanes} is more than lanes={self.lanes}")
        if self.rom_group_bits and -(-self.row_bits // self.rom_group_bits) > MAX_FILE_GROUPS:
            raise FoldingError(f"scorer: rom_group_bits={self.rom_group_bits} cuts the {self.row_bits}-bit item rows "
                               f"into more than {MAX_FILE_GROUPS} groups")
        if self.score_bits > SCORE_WORD_BITS:
            raise FoldingError(f"scores need {self.score_bits} bits; the output word holds {SCORE_WORD_BITS}")

    @property
    def row_bits(self) -> int:
        return self.lanes * self.out_dim * self.item_bits

    @property
    def score_bits(self) -> int:
        """Bits of an exact score: the product of a user and an item element, summed over ``D``."""
        return (self.user_bits + self.item_bits + (0 if self.user_signed else 1)
                + max(1, (self.out_dim - 1).bit_length()))

    def rows(self, n_items: int | None = None) -> int:
        """Cycles of the scoring loop: rows of ``lanes`` items for ``n_items`` (default: this kernel's)."""
        return -(-(self.n_items if n_items is None else n_items) // self.lanes)

    def parameters(self) -> dict[str, Any]:
        return {"out_dim": self.out_dim, "user_bits": self.user_bits, "user_signed": self.user_signed,
                "item_bits": self.item_bits, "lanes": self.lanes, "adds_per_stage": self.adds_per_stage,
                "bit_planes": self.bit_planes, "mul_lanes": self.mul_lanes,
                "item_rom_group_bits": self.rom_group_bits, "item_rom_out_reg": self.rom_out_reg,
                "score_bits": self.score_bits}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> Scorer:
        return cls(n_items=p["n_items"], out_dim=p["out_dim"], user_bits=p["user_bits"],
                   user_signed=p["user_signed"], item_bits=p["item_bits"], lanes=p["lanes"],
                   adds_per_stage=p["adds_per_stage"], bit_planes=p["bit_planes"], mul_lanes=p["mul_lanes"],
                   rom_group_bits=p["item_rom_group_bits"], rom_out_reg=p["item_rom_out_reg"])

    def item_rows(self, items: np.ndarray) -> np.ndarray:
        """``items [N, D]`` as ``[rows, lanes, D]``, zero past ``N``."""
        n, d = items.shape
        padded = np.zeros((self.rows(n) * self.lanes, d), dtype=np.int64)
        padded[:n] = items
        return padded.reshape(self.rows(n), self.lanes, d)

    def memories(self, items: np.ndarray) -> list[Memory]:
        """The item memories (one per column group) of the model image, at capacity: ``rows()`` lines."""
        padded = np.zeros((self.n_items, items.shape[1]), dtype=np.int64)
        padded[: items.shape[0]] = items
        rows = self.item_rows(padded)
        return column_groups(pack_rows(rows.reshape(rows.shape[0], -1), self.item_bits), self.row_bits,
                             self.rom_group_bits)

    def memory_shapes(self) -> list[tuple[int, int]]:
        """:meth:`memories`' ``(width, lines)``, from the shape alone."""
        return [(w, self.rows()) for w in column_widths(self.row_bits, self.rom_group_bits)]

    def write_memory(self, rtl_dir: Path, items: np.ndarray) -> list[Path]:
        rows = self.item_rows(items)
        words = pack_rows(rows.reshape(rows.shape[0], -1), self.item_bits)
        return write_column_groups(rtl_dir / ITEM_PREFIX, words, self.row_bits, self.rom_group_bits)

    def hls_item_rom(self, items: np.ndarray) -> np.ndarray:
        """The HLS block's item array ``[LANES][NROWS][D]``: ``items[l][r]`` = item ``r * LANES + l``."""
        return self.item_rows(items).transpose(1, 0, 2)

    def hls_struct(self, id_bits: int, in_par: int) -> dict[str, int | bool]:
        """``ScorerP`` of ``hls_kernels/scorer`` (``in_par``: the last MVAU's PE)."""
        return {"N": self.n_items, "D": self.out_dim, "UBITS": self.user_bits, "USIGNED": bool(self.user_signed),
                "IBITS": self.item_bits, "LANES": self.lanes, "ID_BITS": id_bits, "SCORE_BITS": self.score_bits,
                "IN_PAR": in_par}
