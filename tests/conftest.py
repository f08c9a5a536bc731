"""Fixtures shared across test folders: one smoke training run and its compiled kernel per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hybrec train --preset smoke`` (every variant; about a minute on 2 cores)."""
    from hybrec.cli import main

    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["train", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def smoke_build(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hybrec compile --preset smoke`` of the smoke run's hybrid_w4a4 (export, FINN, RTL, vectors)."""
    from hybrec.cli import main

    out = tmp_path_factory.mktemp("smoke-build") / "build"
    assert main(["compile", "--run", str(smoke_run), "--out", str(out), "--preset", "smoke"]) == 0
    return out
