"""The one base class of every error hybrec reports to its user.

A :class:`HybrecError` is a clear reason a command cannot do what it was asked (bad input, a missing tool, a
failed tool, an artifact of another version); its message says what is wrong and the way out. The CLI prints
the message and exits with status 2 instead of a traceback. Anything else escaping a command is a bug.

Standard library only: the board-side driver shares it.
"""

from __future__ import annotations


class HybrecError(RuntimeError):
    """A user-facing error; the message names what is wrong and what to do."""
