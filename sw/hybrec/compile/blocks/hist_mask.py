"""The history mask (``hw/kernel/hist_mask.v``, ``hls_kernels/hist_mask``): snoops the kernel's input and clears
the valid bit of every scored item that is in the query's counted history, one bank of 1-bit RAMs per query
in flight (``banks``, a power of two: queries between the input and this stage).

Cycles: one (the RAMs' read) per row, overlapped with the scorer. The query's flags wait in a FIFO of
``flags_depth`` entries for its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybrec.compile.blocks.base import FoldingError


@dataclass(frozen=True)
class HistMask:
    n_items: int
    lanes: int
    banks: int = 2

    def __post_init__(self) -> None:
        if self.banks < 1 or self.banks & (self.banks - 1):
            raise FoldingError(f"mask_banks={self.banks} must be a power of two")

    @property
    def flags_depth(self) -> int:
        """Entries of the flags FIFO: every query in flight between the aggregation and the output."""
        return max(8, 1 << (self.banks + 4).bit_length())

    def parameters(self) -> dict[str, Any]:
        return {"mask_banks": self.banks, "flags_depth": self.flags_depth}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> HistMask:
        return cls(n_items=p["n_items"], lanes=p["lanes"], banks=p["mask_banks"])

    def hls_struct(self, id_bits: int, score_bits: int) -> dict[str, int | bool]:
        """``MaskP`` of ``hls_kernels/hist_mask``."""
        return {"N": self.n_items, "LANES": self.lanes, "ID_BITS": id_bits, "SCORE_BITS": score_bits}
