"""The driver's exceptions. Every one is a :class:`DriverError`; those about the caller's input are also
``ValueError``s."""

from __future__ import annotations

from hybrec.errors import HybrecError


class DriverError(HybrecError):
    """Base class of everything the hybrec kernel driver raises on purpose."""


class ConfigurationError(DriverError):
    """The manifest or the DMA is not something this driver can drive (missing keys, stream widths that do
    not match the DMA's, a DMA without both channels or in scatter-gather mode)."""


class BitstreamMismatch(DriverError):
    """The bitstream is not the one its manifest describes, or it was built from another kernel build."""


class DmaError(DriverError):
    """A DMA channel reported an error (DMASR error bits set) or halted."""

    def __init__(self, message: str, channel: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.channel = channel
        self.status = status


class DmaTimeout(DmaError):
    """A DMA transfer did not complete within the driver's ``timeout_s``."""


class QueryError(DriverError, ValueError):
    """A history that cannot be sent (an id that does not fit the stream) or that strict checking refuses."""

    def __init__(self, message: str, query: int) -> None:
        super().__init__(message)
        self.query = query


class IdOutOfRange(QueryError):
    """An item id outside ``0 .. n_items - 1`` (strict checking), or outside ``0 .. 65535`` (always)."""


class HistoryTooLong(QueryError):
    """A history longer than the kernel's ``lmax`` (strict checking only)."""


class ResultError(DriverError):
    """The kernel's answer is not a well-formed one."""

    def __init__(self, message: str, query: int) -> None:
        super().__init__(message)
        self.query = query


class WordCountMismatch(ResultError):
    """A query's answer did not have ``K`` result words."""


class MalformedResult(ResultError):
    """A result word breaks the output format (reserved bits, padding, an id out of range, order, flags)."""


class ShapeMismatch(DriverError, ValueError):
    """A model image, or the hardware, of another kernel shape than the bitstream's (``kernel.shape.key``):
    the image is refused before any byte of it is sent; the hardware when the driver opens it."""


class ModelLoadError(DriverError):
    """A load the kernel did not confirm: a status code other than ``OK``, no model held, or an item count or
    checksum other than the image's. ``status`` is the kernel's answer (:class:`hybrec.protocol.Status`)."""

    def __init__(self, message: str, status: object = None) -> None:
        super().__init__(message)
        self.status = status


class NoModel(DriverError):
    """Queries answered by a kernel that holds no complete model (``FLAG_NO_MODEL``): nothing was loaded since
    the bitstream was configured, or the last load failed. ``results`` holds the decoded answers."""

    def __init__(self, message: str, results: object = None) -> None:
        super().__init__(message)
        self.results = results
