"""Shared helpers of the HLS C-simulation tests: skip without g++ or the ap_types headers, write a block's
``case.h`` (parameter struct + ROMs), compile its testbench, run it on integers written by Python; a second
model of the tiny kernel's shape, and sessions of input packets (loads, queries, status requests) with the
words that must answer them."""

from __future__ import annotations

import subprocess
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybrec import protocol, tools
from hybrec.builddir import GoldenVectors
from hybrec.compile.config import HistAggConfig, KernelConfig, LayerFolding, ScorerConfig
from hybrec.compile.hls import HLS_DIR, SOURCE_INCLUDES, ap_types_dir, compile_program, run_program
from hybrec.compile.hls_headers import StructFields, c_array, c_struct
from hybrec.golden import KernelParams, LayerSpec, accumulator_range, no_model_result
from tiny_kernel import synthetic_build, tiny_config, tiny_params


def require_csim() -> None:
    """Skip (with the reason) where g++ or the hls4ml wheel's ap_types headers are missing."""
    try:
        tools.locate(tools.GXX)
        ap_types_dir()
    except tools.ToolMissing as err:
        pytest.skip(str(err))


def seed_of(case: Mapping[str, object]) -> int:
    return zlib.crc32(repr(sorted(case.items())).encode())


def build_block(block: str, folder: Path, struct_name: str, fields: StructFields,
                roms: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write ``folder/case.h`` (``namespace tbcase``) and compile ``hls_kernels/<block>/<block>_tb.cpp``.

    -O0: the blocks' code is compiled with -O2 by the kernel tests; here the compile time dominates.
    """
    require_csim()
    body = c_struct(struct_name, fields) + "".join(c_array(name, values) for name, values in (roms or {}).items())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.h").write_text(f"#pragma once\n#include \"hybrec_hls.h\"\nnamespace tbcase {{\n{body}}}\n")
    exe = folder / f"{block}_tb"
    compile_program([HLS_DIR / block / f"{block}_tb.cpp"], exe, [folder, *SOURCE_INCLUDES], opt="-O0")
    return exe


def run_block(exe: Path, lines: Sequence[Sequence[int]]) -> list[list[int]]:
    """Feed whitespace-separated integers (one query per line) on stdin; returns stdout's lines as ints."""
    text = "\n".join(" ".join(str(int(v)) for v in line) for line in lines) + "\n"
    result = subprocess.run([str(exe)], input=text, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{exe.name} exited {result.returncode}: {result.stderr[-2000:]}"
    assert "WARNING:" not in result.stderr, f"ap_types reported at run time: {result.stderr[-2000:]}"
    return [list(map(int, line.split())) for line in result.stdout.splitlines()]


def make_tiny_build(out: Path, seed: int = 3) -> Path:
    """A build directory of a random 9-item kernel (K = 6, LANES = 4, LMAX = 5, two MVAU layers) with the
    golden model's vectors: histories of 5 distinct items leave fewer than K candidates, so the padding
    results (valid 0, id 0xFFFF, score 0) are exercised, which the ML-100K and smoke builds never do."""
    rng = np.random.default_rng(seed)
    n, f, d, lmax = 9, 4, 4, 5
    # (mw, mh, in_bits, in_signed, w_bits, out_bits, out_bias): 4-bit signed means -> 2-bit -> signed 3-bit users
    specs = [(f, 8, 4, True, 3, 2, 0), (8, d, 2, False, 3, 3, -4)]
    weights, thresholds, layers = [], [], []
    for mw, mh, in_bits, in_signed, w_bits, out_bits, out_bias in specs:
        w = rng.integers(-4, 4, size=(mw, mh))
        lo, hi = accumulator_range(w, in_bits, in_signed)
        t = np.sort(rng.integers(lo // 2, hi // 2 + 2, size=(mh, (1 << out_bits) - 1)), axis=1)
        weights.append(w)
        thresholds.append(t)
        layers.append(LayerSpec(mw, mh, in_bits, in_signed, w_bits, out_bits, out_bias, acc_lo=lo, acc_hi=hi))
    params = KernelParams(features=rng.integers(-8, 8, size=(n, f)), feature_bits=4, lmax=lmax, weights=weights,
                          thresholds=thresholds, layers=layers, items=rng.integers(-8, 8, size=(n, d)), item_bits=4,
                          k=6)
    config = KernelConfig(k=6, layers=(LayerFolding(simd=2, pe=4), LayerFolding(simd=4, pe=2)),
                          hist_agg=HistAggConfig(norm_par=2), scorer=ScorerConfig(lanes=4), mask_banks=2)
    histories = [np.arange(5), np.array([8, 7, 6, 5, 4]), np.array([2, 2, 2]), np.arange(9), np.array([1]),
                 *(rng.permutation(n)[: int(rng.integers(1, 6))] for _ in range(20))]
    return synthetic_build(out, params, config, histories, "hls-tiny")


# ---------------------------------------------------------------------------------------------- kernel sessions
def perturbed_tiny_params(seed: int = 7, n_items: int = 20) -> KernelParams:
    """Another model of the tiny kernel's shape (tests/tiny_kernel.py): the same widths and layers, other
    values and fewer live items."""
    base = tiny_params()
    rng = np.random.default_rng(seed)
    weights, thresholds, layers = [], [], []
    for w, spec in zip(base.weights, base.layers, strict=True):
        lo_w, hi_w = -(1 << (spec.w_bits - 1)), (1 << (spec.w_bits - 1)) - 1
        new = rng.integers(lo_w, hi_w + 1, size=w.shape)
        lo, hi = accumulator_range(new, spec.in_bits, spec.in_signed)
        thresholds.append(np.sort(rng.integers(lo, hi + 2, size=(spec.mh, spec.n_thresholds)), axis=1))
        weights.append(new)
        layers.append(LayerSpec(spec.mw, spec.mh, spec.in_bits, spec.in_signed, spec.w_bits, spec.out_bits,
                                spec.out_bias, lo, hi))
    f_lo, f_hi = -(1 << (base.feature_bits - 1)), (1 << (base.feature_bits - 1)) - 1
    i_lo, i_hi = -(1 << (base.item_bits - 1)), (1 << (base.item_bits - 1)) - 1
    return KernelParams(features=rng.integers(f_lo, f_hi + 1, size=(n_items, base.feature_dim)),
                        feature_bits=base.feature_bits, lmax=base.lmax, weights=weights, thresholds=thresholds,
                        layers=layers, items=rng.integers(i_lo, i_hi + 1, size=(n_items, base.out_dim)),
                        item_bits=base.item_bits, k=base.k)


def make_perturbed_build(out: Path) -> Path:
    """A build of :func:`perturbed_tiny_params` with the tiny kernel's configuration (so its shape)."""
    params = perturbed_tiny_params()
    rng = np.random.default_rng(5)
    histories = [rng.integers(0, params.n_items + 4, size=int(rng.integers(1, params.lmax + 3))) for _ in range(8)]
    return synthetic_build(out, params, tiny_config(), histories, "tiny-perturbed")


Packet = tuple[np.ndarray, np.ndarray]   # an input packet's 16-bit units, the 64-bit words that answer it


def query_packets(vectors: GoldenVectors, queries: Sequence[int] | None = None) -> list[Packet]:
    """Golden queries answered by the model the vectors are of."""
    words = vectors.output_words()
    return [(vectors.query_units(q), words[q]) for q in (range(vectors.n_queries) if queries is None else queries)]


def no_model_packets(vectors: GoldenVectors, lmax: int, queries: Sequence[int] | None = None) -> list[Packet]:
    """The same queries answered by a kernel that holds no model (:func:`hybrec.golden.no_model_result`)."""
    found = []
    for q in range(vectors.n_queries) if queries is None else queries:
        r = no_model_result(vectors.history(q), vectors.k, lmax)
        words = protocol.result_words(r.ids[None], r.scores[None], r.valid[None], np.array([r.flags]))[0]
        found.append((vectors.query_units(q), words))
    return found


def status_answer(units: np.ndarray, shape_word: int, n_items: int, code: int, valid: bool,
                  sums: tuple[int, int]) -> Packet:
    return units, protocol.Status(shape_word, n_items, code, valid, *sums).words()


def run_session(exe: Path, folder: Path, packets: Sequence[Packet]) -> dict[str, Any]:
    """Feed ``packets`` to the kernel's C-sim program in one run (the model it loads stays between packets)."""
    folder.mkdir(parents=True, exist_ok=True)

    def line(values: np.ndarray) -> str:
        return f"{values.size} " + " ".join(map(str, np.asarray(values).tolist()))

    (folder / "packets.txt").write_text("\n".join(line(units) for units, _ in packets) + "\n")
    (folder / "expected.txt").write_text("\n".join(line(words) for _, words in packets) + "\n")
    return run_program(exe, folder)
