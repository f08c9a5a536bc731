"""The host driver of the hybrec kernel on a PYNQ board (pynq 4.0: ``Overlay``, ``allocate``, the AXI DMA).

It imports numpy, pynq, the standard library and hybrec's ground floor (:mod:`hybrec.builddir`, numpy
only), so it runs in a board's own Python; nothing here imports the stages (torch, FINN). ``KernelDriver``
needs pynq and is imported on first use, so the result decoding (:mod:`hybrec.driver.words`) and the
exceptions also work where pynq is not installed. The simulated device (:mod:`hybrec.driver.simdevice`) is a
separate module a board never imports.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    BitstreamMismatch,
    ConfigurationError,
    DmaError,
    DmaTimeout,
    DriverError,
    HistoryTooLong,
    IdOutOfRange,
    MalformedResult,
    QueryError,
    ResultError,
    WordCountMismatch,
)
from .words import FLAG_BAD_ID, FLAG_EMPTY, FLAG_TRUNCATED, NO_ID, KernelInfo, Results, decode_words

__all__ = [
    "FLAG_BAD_ID", "FLAG_EMPTY", "FLAG_TRUNCATED", "NO_ID", "BitstreamMismatch", "ConfigurationError", "DmaError",
    "DmaTimeout", "DriverError", "HistoryTooLong", "IdOutOfRange", "KernelDriver", "KernelInfo", "MalformedResult",
    "QueryError", "ResultError", "Results", "WordCountMismatch", "decode_words",
]


def __getattr__(name: str) -> Any:
    if name == "KernelDriver":
        from .kernel import KernelDriver

        return KernelDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
