"""Checkpoints: one file per trained variant, written atomically, keyed by the run's config hash.

A checkpoint (``torch.save`` of a dict) holds ``format`` (``hybrec-checkpoint/1``), ``variant``,
``kind`` (``pop``/``mf``/``lightgcn``/``hybrid``), ``config_sha256``, ``seed``, ``state_dict``,
``meta`` (shapes, quantization spec, training log) and ``metrics``. The export stage reads the
``hybrid`` ones (see docs/checkpoint.md).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from hybrec.artifacts import atomic_write_bytes
from hybrec.errors import HybrecError

FORMAT = "hybrec-checkpoint/1"


class CheckpointError(HybrecError):
    pass


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, config_sha256: str | None = None) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise CheckpointError(f"{path}: not a readable hybrec checkpoint ({err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint")
    if config_sha256 is not None and payload.get("config_sha256") != config_sha256:
        raise CheckpointError(f"{path}: written by a run with another configuration")
    return payload
