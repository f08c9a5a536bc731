"""A tiny kernel build (24 items, F = 4, lmax 8, K = 3) made without training: what `hybrec compile`
writes for the kernel (rtl/, vectors/, a manifest.json with the same keys). Shared by the synthesis and
bitstream tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybrec.artifacts import atomic_write_json, sha256_file, sha256_json
from hybrec.compile.build import FORMAT
from hybrec.compile.config import HistAggConfig, KernelConfig, LayerFolding, ScorerConfig
from hybrec.compile.rtl import TOP, plan_layers, write_rtl
from hybrec.compile.vectors import build_vectors, save_vectors
from hybrec.export.golden import GoldenModel, KernelParams, LayerSpec, accumulator_range


def tiny_params() -> KernelParams:
    rng = np.random.default_rng(0)
    n, f, h, d = 24, 4, 4, 2
    w0, w1 = rng.integers(-7, 8, size=(f, h)), rng.integers(-7, 8, size=(h, d))
    lo0, hi0 = accumulator_range(w0, 8, True)
    lo1, hi1 = accumulator_range(w1, 2, False)
    return KernelParams(
        features=rng.integers(-128, 128, size=(n, f)), feature_bits=8, lmax=8, weights=[w0, w1],
        thresholds=[np.sort(rng.integers(lo0, hi0, size=(h, 3)), axis=1),
                    np.sort(rng.integers(lo1, hi1, size=(d, 15)), axis=1)],
        layers=[LayerSpec(f, h, 8, True, 4, 2, 0, lo0, hi0), LayerSpec(h, d, 2, False, 4, 4, -8, lo1, hi1)],
        items=rng.integers(-8, 8, size=(n, d)), item_bits=4, k=3)


def make_tiny_build(out: Path) -> Path:
    """A build directory with what `hybrec compile` writes for the kernel (rtl/, vectors/, manifest.json
    with the same keys), made without training."""
    params = tiny_params()
    config = KernelConfig(layers=(LayerFolding(simd=2, pe=2), LayerFolding(simd=2, pe=1)),
                          scorer=ScorerConfig(lanes=2), hist_agg=HistAggConfig(norm_par=2), mask_banks=2, k=3,
                          ids_per_beat=1)  # one id per beat: the other input width of the RTL, in the default suite
    plans = plan_layers(params, [(2, 2), (2, 1)])
    inputs = {"checkpoint_sha256": "0" * 64, "kernel_config": "tiny", "hybrec": "test"}
    build_id = sha256_json(inputs)[:16]
    rtl = write_rtl(out / "rtl", params, plans, config,
                    {"manifest_name": "manifest.json", "build_id": build_id, "checkpoint_sha256": "0" * 64,
                     "variant": "synthetic", "seed": 0})
    rng = np.random.default_rng(1)
    histories = [rng.integers(0, params.n_items, size=int(rng.integers(1, params.lmax + 1))) for _ in range(6)]
    vectors = build_vectors(GoldenModel(params), histories)
    save_vectors(out / "vectors" / "golden.npz", vectors)
    files = {str(p.relative_to(out)): sha256_file(p) for folder in ("rtl", "vectors")
             for p in sorted((out / folder).rglob("*")) if p.is_file()}
    manifest = {
        "format": FORMAT, "inputs": inputs, "build_id": build_id,
        "kernel": {"top": TOP, "sources": [f"rtl/{name}" for name in rtl["sources"]],
                   "memory_files": [f"rtl/{name}" for name in rtl["memory_files"]], "mem_dir_parameter": "MEM_DIR",
                   "interface": {"ids_per_beat": 1, "in_bits": 16, "out_bits": 64},
                   "parameters": {k: v for k, v in rtl.items() if k not in ("sources", "memory_files")}},
        "vectors": {"file": "vectors/golden.npz", "queries": int(vectors["offsets"].size - 1),
                    "user_queries": len(histories)},
        "files": files,
    }
    atomic_write_json(out / "manifest.json", manifest)
    return out
