"""The process's one rich console, on standard error.

Log lines and progress bars must be drawn by the same console: rich prints a line above a live bar only when
the line comes through the bar's own console (another console writes straight to the terminal, into the
bar's row). The CLI logs through this console and every progress bar draws on it.
"""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
