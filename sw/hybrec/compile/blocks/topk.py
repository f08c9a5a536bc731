"""The streaming top-K (``hw/topk/topk.v``, ``hls_kernels/topk``): ``lanes`` sorted lists, one per scorer lane,
filled as the rows pass, then merged into the ``K`` best (ties to the lower id).

Cycles after the last row: the keys' input register, the lists' hand-over (``WAVE_D``) and the merge of
``lanes`` lists, one result every ``merge step`` cycles (2 with ``merge_split``: the merge's compare is
registered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybrec.compile.blocks.base import FoldingError


@dataclass(frozen=True)
class TopK:
    k: int
    lanes: int
    merge_split: int = 1

    def __post_init__(self) -> None:
        if self.k < 1:
            raise FoldingError(f"top-K: k={self.k} must be >= 1")

    @property
    def merge_step(self) -> int:
        return 2 if self.merge_split else 1

    @property
    def wave_d(self) -> int:
        """``topk.v``'s ``WAVE_D``: cycles of the lists' hand-over before the merge."""
        return max(3, self.k - self.merge_step * self.lanes - self.merge_step + 2)

    def merge_cycles(self) -> int:
        """From the last row's keys to the last result."""
        return self.merge_step * (self.lanes + self.k) + self.wave_d + 1

    def parameters(self) -> dict[str, Any]:
        return {"k": self.k, "merge_split": self.merge_split}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> TopK:
        return cls(k=p["k"], lanes=p["lanes"], merge_split=p["merge_split"])

    def hls_struct(self, id_bits: int, score_bits: int) -> dict[str, int | bool]:
        """``TopkP`` of ``hls_kernels/topk``."""
        return {"LANES": self.lanes, "K": self.k, "ID_BITS": id_bits, "SCORE_BITS": score_bits}
