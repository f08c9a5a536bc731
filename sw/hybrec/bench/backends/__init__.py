"""The benchmark's backends, one module each: the golden model (the reference), the CPU (PyTorch, measured
here), the GPU (the committed JSON of the lent GPU machine), the simulated FPGA (the RTL behind the PYNQ
driver) and a PYNQ board. Each returns a :class:`Backend`: its status (``ok``, or ``unavailable`` / ``failed``
with the reason: nothing is invented in its place), its top-K lists and what the report shows of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybrec.console import console

Log = Callable[[str], Any]


@dataclass
class TopK:
    """Per query the K results: ``ids [Q, K]`` (kernel item indices, -1 where invalid), ``scores [Q, K]``."""

    ids: np.ndarray
    scores: np.ndarray

    def mismatches(self, other: TopK) -> np.ndarray:
        """Indices of the queries whose lists (ids or scores) differ."""
        return np.flatnonzero(((self.ids != other.ids) | (self.scores != other.scores)).any(axis=1))


@dataclass
class Backend:
    """One backend's outcome."""

    name: str
    status: str
    reason: str = ""
    lists: TopK | None = None
    data: dict[str, Any] = field(default_factory=dict)


def progress_bar(total: int, description: str, enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar on the shared console, where the log lines go, so they print above it (disabled: it
    draws nothing) and its task."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        disable=not enabled, transient=False, console=console)
    return progress, progress.add_task(description, total=total)


def stats(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)),
            "p99": float(np.percentile(v, 99)), "mean": float(v.mean()), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}
