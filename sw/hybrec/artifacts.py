"""Atomic, content-keyed artifact writing.

Every file hybrec writes as a result (checkpoints, metrics, splits, reports) goes through
:func:`atomic_write_bytes` or one of its wrappers: the data are written to a temporary file in the
same directory, flushed and fsync'ed, then renamed over the target. A crash therefore leaves either
the old file or the new one, never a half-written one that looks whole. A result that is a whole folder
(a build directory, a bitstream folder) is made in a staging folder beside it and renamed into place
(:func:`staged_directory`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hybrec.errors import HybrecError


class ArtifactBusy(HybrecError):
    """Another hybrec process is writing the same result folder."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def compact_json(obj: Any) -> str:
    """JSON with one key per line but lists of numbers on one line (readable, and small in a diff)."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[[\s\d.,eE+-]*\]", lambda m: re.sub(r"\s+", "", m.group(0)).replace(",", ", "), text) + "\n"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_changed_file(folder: str | os.PathLike[str], digests: dict[str, str]) -> Path | None:
    """The first of ``{relative path: sha256}`` under ``folder`` that is missing or differs, else None."""
    for name, digest in digests.items():
        path = Path(folder) / name
        if not path.is_file() or sha256_file(path) != digest:
            return path
    return None


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object in canonical form (sorted keys, no whitespace)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def sha256_strings(items: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for item in items:
        encoded = item.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive(target: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of the result folder ``target`` (a lock file beside it) for the block; a second process
    that asks for it is refused at once, naming the first: two runs into one folder would overwrite each
    other's files (and one would delete the other's staging folder as stale)."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = final.parent / f".{final.name}.lock"
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ArtifactBusy(f"{final} is being written by {holder}; wait for it to finish, or write to another "
                               "folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"hybrec pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Make a folder that replaces ``target`` only when it is complete.

    Yields an empty staging folder beside ``target`` (same file system). When the block ends without an
    error, ``target`` (if any) is moved aside, the staging folder renamed to ``target`` and the old one
    deleted; on an error the staging folder is deleted and ``target`` is left as it was. Staging folders
    left behind by a crash are removed on the next call. The whole block holds :func:`exclusive`."""
    final = Path(target)
    with exclusive(final):
        for stale in final.parent.glob(f".{final.name}.staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old = final.parent / f".{final.name}.staging-old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
