"""Fixtures of the RTL simulation tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def runtime_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder for Verilator's run-time library objects (see rtl_support.RUNTIME_OBJECTS)."""
    return tmp_path_factory.mktemp("verilator-runtime")
