"""The host driver of the hybrec kernel on a PYNQ board (pynq 4.0: ``Overlay``, ``allocate``, the AXI DMA).

It imports numpy, pynq, the standard library and hybrec's ground floor (:mod:`hybrec.builddir` and
:mod:`hybrec.protocol`, numpy only), so it runs in a board's own Python; nothing here imports the stages
(torch, FINN). ``KernelDriver`` needs pynq and is imported on first use, so the result decoding
(:mod:`hybrec.driver.words`) and the exceptions also work where pynq is not installed. The simulated device
(:mod:`hybrec.driver.simdevice`) is a separate module a board never imports.
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
    ModelLoadError,
    NoModel,
    QueryError,
    ResultError,
    ShapeMismatch,
    WordCountMismatch,
)
from .words import (
    FLAG_BAD_ID,
    FLAG_EMPTY,
    FLAG_NO_MODEL,
    FLAG_TRUNCATED,
    NO_ID,
    KernelInfo,
    Results,
    Status,
    decode_words,
)

__all__ = [
    "FLAG_BAD_ID", "FLAG_EMPTY", "FLAG_NO_MODEL", "FLAG_TRUNCATED", "NO_ID", "BitstreamMismatch", "ConfigurationError",
    "DmaError", "DmaTimeout", "DriverError", "HistoryTooLong", "IdOutOfRange", "KernelDriver", "KernelInfo",
    "LoadReport", "MalformedResult", "ModelLoadError", "NoModel", "QueryError", "ResultError", "Results",
    "ShapeMismatch", "Status", "WordCountMismatch", "decode_words",
]


def __getattr__(name: str) -> Any:
    if name in ("KernelDriver", "LoadReport"):
        from . import kernel

        return getattr(kernel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
