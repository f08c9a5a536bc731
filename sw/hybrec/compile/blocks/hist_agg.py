"""The history aggregation (``hw/hist_agg/hist_agg.v``, ``hls_kernels/hist_agg``): a query's item ids in,
the integer normalised sum of their feature rows out (:func:`hybrec.numerics.aggregate_history`).

Memory files:

- feature ROM: ``rom_groups`` files ``features_<gg>.hex``, group ``g`` with ``N`` lines of
  ``(F / rom_groups) * feature_bits`` bits, feature ``g * F / rom_groups + j`` at ``[j * bits +: bits]``
  (two's complement); each group has its own copy of the address registers;
- reciprocal table ``recip.hex``: ``lmax + 1`` lines of ``agg_shift + 1`` bits
  (:func:`hybrec.numerics.reciprocal_table`).

Cycles: one input beat per cycle (``ids_per_beat`` ids: both ports of the feature ROM), then
``F / norm_par`` normalisation steps and a pipeline of :data:`PIPELINE` cycles (the input register, the copy
of the ROM read, the products registered in the DSP and in the fabric).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import numerics
from hybrec.compile.blocks.base import (
    MAX_FILE_GROUPS,
    FoldingError,
    Memory,
    column_groups,
    column_widths,
    pack_rows,
    write_column_groups,
    write_memh,
)

PIPELINE = 6
FEATURE_PREFIX = "features"
RECIP_FILE = "recip.hex"


@dataclass(frozen=True)
class HistAgg:
    n_items: int
    feature_dim: int
    feature_bits: int
    lmax: int
    agg_shift: int
    norm_par: int
    rom_groups: int
    ids_per_beat: int

    def __post_init__(self) -> None:
        if self.feature_dim % self.norm_par:
            raise FoldingError(f"hist_agg: F={self.feature_dim} is not a multiple of norm_par={self.norm_par}")
        if self.feature_dim % self.rom_groups or not 1 <= self.rom_groups <= MAX_FILE_GROUPS:
            raise FoldingError(f"hist_agg: F={self.feature_dim} is not a multiple of rom_groups={self.rom_groups} "
                               f"(1..{MAX_FILE_GROUPS})")
        # the count of used ids (0..lmax) must be as wide as the count of ids in one beat (0..ids_per_beat)
        if self.lmax.bit_length() < self.ids_per_beat.bit_length():
            raise FoldingError(f"hist_agg: lmax={self.lmax} with ids_per_beat={self.ids_per_beat}: one input beat "
                               "can hold more ids than a query may use; use ids_per_beat: 1 or a larger lmax")

    @property
    def id_bits(self) -> int:
        """Bits of an id inside the kernel: ``2^id_bits > N``, so the all-ones id is out of range."""
        return max(1, self.n_items.bit_length())

    def parameters(self) -> dict[str, Any]:
        return {"n_items": self.n_items, "feature_dim": self.feature_dim, "feature_bits": self.feature_bits,
                "lmax": self.lmax, "agg_shift": self.agg_shift, "norm_par": self.norm_par,
                "rom_groups": self.rom_groups, "id_bits": self.id_bits}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> HistAgg:
        return cls(n_items=p["n_items"], feature_dim=p["feature_dim"], feature_bits=p["feature_bits"], lmax=p["lmax"],
                   agg_shift=p["agg_shift"], norm_par=p["norm_par"], rom_groups=p["rom_groups"],
                   ids_per_beat=p["ids_per_beat"])

    def cycles(self, history: int) -> int:
        """First input beat to the mean's output beat, for a history of ``history`` ids."""
        beats = -(-history // self.ids_per_beat)
        return beats + self.feature_dim // self.norm_par + PIPELINE

    def padded(self, features: np.ndarray) -> np.ndarray:
        """``features [n, F]`` of ``n <= n_items`` live items, zero rows up to the capacity ``n_items``."""
        rows = np.zeros((self.n_items, self.feature_dim), dtype=np.int64)
        rows[: features.shape[0]] = features
        return rows

    def memories(self, features: np.ndarray) -> list[Memory]:
        """The feature memories (one per ROM group) of the model image, at capacity."""
        width = self.feature_dim // self.rom_groups
        return column_groups(pack_rows(self.padded(features), self.feature_bits),
                             self.feature_dim * self.feature_bits, width * self.feature_bits)

    def memory_shapes(self) -> list[tuple[int, int]]:
        """:meth:`memories`' ``(width, lines)``, from the shape alone."""
        width = self.feature_dim // self.rom_groups
        return [(w, self.n_items) for w in column_widths(self.feature_dim * self.feature_bits,
                                                          width * self.feature_bits)]

    def write_recip(self, rtl_dir: Path) -> Path:
        """The reciprocal ROM (a function of the shape: ``lmax``, ``agg_shift``)."""
        return write_memh(rtl_dir / RECIP_FILE, [int(r) for r in self.reciprocals()], self.agg_shift + 1)

    def write_memory(self, rtl_dir: Path, features: np.ndarray) -> list[Path]:
        width = self.feature_dim // self.rom_groups
        files = write_column_groups(rtl_dir / FEATURE_PREFIX, pack_rows(features, self.feature_bits),
                                    self.feature_dim * self.feature_bits, width * self.feature_bits)
        files.append(write_memh(rtl_dir / RECIP_FILE, [int(r) for r in self.reciprocals()], self.agg_shift + 1))
        return files

    def reciprocals(self) -> np.ndarray:
        return numerics.reciprocal_table(self.lmax, self.agg_shift)

    def hls_struct(self, out_par: int) -> dict[str, int | bool]:
        """``HistAggP`` of ``hls_kernels/hist_agg`` (``out_par``: the first MVAU's SIMD)."""
        return {"N": self.n_items, "F": self.feature_dim, "FB": self.feature_bits, "LMAX": self.lmax,
                "SHIFT": self.agg_shift, "NORM_PAR": self.norm_par, "OUT_PAR": out_par, "ID_BITS": self.id_bits}
