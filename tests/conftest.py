"""Fixtures shared across test folders: one smoke training run and its compiled kernel per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# tests/driver run in the board-like environment (.venv-board: pynq 4.0.0, numpy<2), where pynq is installed;
# the main environment has no pynq and does not collect them (`make test` runs both).
collect_ignore = [] if importlib.util.find_spec("pynq") else ["driver"]


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


@pytest.fixture(scope="session")
def ml100k_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real thing, reduced to what the kernel needs: configs/ml100k.yaml's LightGCN, float hybrid and
    W4A4 hybrid (seed 0; about 3 minutes on 2 cores), compiled with configs/kernel-ml100k.yaml."""
    import yaml

    from hybrec.cli import main

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "configs" / "ml100k.yaml").read_text())
    config["variants"] = ["gnn_float", "hybrid_float", "hybrid_w4a4"]
    folder = tmp_path_factory.mktemp("ml100k")
    (folder / "ml100k.yaml").write_text(yaml.safe_dump(config))
    run, build = folder / "run", folder / "build"
    assert main(["train", "--config", str(folder / "ml100k.yaml"), "--out", str(run), "--quiet"]) == 0
    assert main(["compile", "--run", str(run), "--out", str(build), "--config",
                 str(root / "configs" / "kernel-ml100k.yaml")]) == 0
    return build
