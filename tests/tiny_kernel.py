"""Kernel builds made without training, by `hybrec compile`'s own writer: the tiny kernel (24 items, F = 4,
lmax 8, K = 3), shared by the synthesis, bitstream and driver tests, and any synthetic model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from hybrec.builddir import Queries
from hybrec.compile.build import write_kernel
from hybrec.compile.config import HistAggConfig, KernelConfig, LayerFolding, ScorerConfig
from hybrec.compile.rtl import plan_kernel
from hybrec.golden import KernelParams, LayerSpec, accumulator_range


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


def shaped_params(n_items: int, f: int = 96, hidden: tuple[int, ...] = (128,), d: int = 64, lmax: int = 256,
                  k: int = 10) -> KernelParams:
    """A model of the ML-100K hybrid's widths (int8 features and items, int4 weights, 4-bit hidden and 8-bit
    signed user activations) with ``n_items`` items; every value zero (the shape is what matters)."""
    layers, width, bits, signed = [], f, 8, True
    dims = [*hidden, d]
    for index, mh in enumerate(dims):
        last = index == len(dims) - 1
        out_bits, bias = (8, -128) if last else (4, 0)
        layers.append(LayerSpec(width, mh, bits, signed, 4, out_bits, bias, 0, 0).worst_case())
        width, bits, signed = mh, out_bits, bias < 0
    return KernelParams(features=np.zeros((n_items, f), dtype=np.int64), feature_bits=8, lmax=lmax,
                        weights=[np.zeros((s.mw, s.mh), dtype=np.int64) for s in layers],
                        thresholds=[np.zeros((s.mh, s.n_thresholds), dtype=np.int64) for s in layers],
                        layers=layers, items=np.zeros((n_items, d), dtype=np.int64), item_bits=8, k=k)


def retrained_params(seed: int = 11) -> KernelParams:
    """A model of the tiny kernel's shape with other values everywhere (as another training run gives)."""
    base = tiny_params()
    rng = np.random.default_rng(seed)
    weights = [rng.integers(-7, 8, size=w.shape) for w in base.weights]
    layers, thresholds = [], []
    for spec, w, t in zip(base.layers, weights, base.thresholds, strict=True):
        lo, hi = accumulator_range(w, spec.in_bits, spec.in_signed)
        layers.append(LayerSpec(spec.mw, spec.mh, spec.in_bits, spec.in_signed, spec.w_bits, spec.out_bits,
                                spec.out_bias, lo, hi))
        thresholds.append(np.sort(rng.integers(lo, hi, size=t.shape), axis=1))
    return dataclasses.replace(base, features=rng.integers(-128, 128, size=base.features.shape), weights=weights,
                               thresholds=thresholds, layers=layers,
                               items=rng.integers(-8, 8, size=base.items.shape))


def exclusion_lists(histories: list[np.ndarray], n_items: int, seed: int = 3) -> list[np.ndarray]:
    """Per history, a few other ids (as a user's other seen items), none of the history's."""
    rng = np.random.default_rng(seed)
    return [np.setdiff1d(rng.choice(n_items, size=min(n_items, 2 + u % 5), replace=False), h).astype(np.int64)
            for u, h in enumerate(histories)]


def synthetic_build(out: Path, params: KernelParams, config: KernelConfig, histories: list[np.ndarray],
                    name: str = "synthetic") -> Path:
    """A build directory of ``params`` made without training, by the same writer as `hybrec compile` (no FINN
    front-end: there is no QONNX model): export/kernel.npz and queries.npz, rtl/, model/, vectors/,
    manifest.json, hls/. Each query excludes a few more ids (:func:`exclusion_lists`)."""
    plan = plan_kernel(params, config, [(layer.simd, layer.pe) for layer in config.layers or ()])
    params.save(out / "export" / "kernel.npz")
    excludes = exclusion_lists(histories, params.n_items)
    Queries(histories, [str(u) for u in range(len(histories))], [str(i) for i in range(params.n_items)],
            excludes).save(out / "export" / "queries.npz")
    key = {"checkpoint_sha256": "0" * 64, "kernel_config": config.model_dump(mode="json"), "hybrec": name}
    source = {"run_dir": f"({name}: no run)", "variant": name, "seed": 0, "checkpoint": "",
              "checkpoint_sha256": "0" * 64, "config_sha256": ""}
    write_kernel(out, params, plan, config, histories, excludes, key, source)
    return out


def tiny_config(n_items_max: int = 32) -> KernelConfig:
    """The tiny kernel's configuration (its shape, with :func:`tiny_params`' widths): capacity 32."""
    return KernelConfig(layers=(LayerFolding(simd=2, pe=2), LayerFolding(simd=2, pe=1)),
                        scorer=ScorerConfig(lanes=2), hist_agg=HistAggConfig(norm_par=2), mask_banks=2, k=3,
                        n_items_max=n_items_max)


def make_tiny_build(out: Path, params: KernelParams | None = None, name: str = "tiny",
                    n_items_max: int = 32) -> Path:
    """The tiny kernel's build directory (capacity 32 for its 24 live items); with ``params``, the build of
    another model of the same shape; with another ``n_items_max``, a build of another shape."""
    params = params or tiny_params()
    rng = np.random.default_rng(1)
    histories = [rng.integers(0, params.n_items, size=int(rng.integers(1, params.lmax + 1))) for _ in range(6)]
    return synthetic_build(out, params, tiny_config(n_items_max), histories, name)
