"""The one error type for bad input data: it names the file and, where it can, the line."""

from __future__ import annotations

from pathlib import Path

from hybrec.errors import HybrecError


class DataError(HybrecError, ValueError):
    """Malformed or inconsistent input data.

    ``str(err)`` reads ``path:line: message`` (or ``path: message`` when no line applies), the form
    editors and terminals turn into a link.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")
