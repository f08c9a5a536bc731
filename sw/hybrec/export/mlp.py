"""The fusion MLP's integer form: exact weights and thresholds from the trained Brevitas layers, and
its QONNX export.

A block ``QuantLinear -> BatchNorm1d -> act quantizer`` computes, for an integer input ``x`` at scale
``s_in`` and integer weights ``W`` at per-channel scales ``s_w``::

    acc[c] = sum_r x[r] W[r, c]
    z[c]   = BN(acc[c] s_w[c] s_in) / s_out = a[c] acc[c] + b[c]
    y[c]   = clamp(round(z[c]), lo, hi)

so ``y[c] = lo + #{k = 1 .. hi - lo : z[c] >= lo + k - 1/2}``, a multithreshold of ``acc[c]`` with
``T[c, k] = ceil((lo + k - 1/2 - b[c]) / a[c])`` when ``a[c] > 0``. A channel with ``a[c] < 0`` has its
weight column negated (what FINN's streamlining does with a negative scale), and one with ``a[c] == 0``
is constant. The thresholds are computed in float64 from the layer parameters and clipped to the
accumulator range; they define the kernel (the golden model), and Brevitas' float32 forward is
checked against them (it can differ at exact rounding boundaries, a float32 artefact).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrec.errors import HybrecError
from hybrec.golden import LayerSpec, accumulator_range


class ExportError(HybrecError):
    pass


def _act_levels(module: nn.Module, scale: float) -> tuple[int, int, int, bool]:
    """``(lo, hi, bits, signed)`` of a Brevitas activation quantizer's integer output."""
    proxy: Any = module.act_quant
    bits = int(proxy.bit_width())
    signed = bool(proxy.is_signed)
    narrow = bool(getattr(proxy, "is_narrow_range", False))
    if signed:
        lo, hi = -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1 - int(narrow)
    if not scale > 0:
        raise ExportError(f"{type(module).__name__}: non-positive output scale {scale}")
    return lo, hi, bits, signed


def _output_scales(mlp: nn.Sequential, width: int) -> dict[int, float]:
    """Per-tensor output scale of every activation quantizer (a forward pass with hooks, eval mode)."""
    scales: dict[int, float] = {}
    handles = []
    for index, module in enumerate(mlp):
        if hasattr(module, "act_quant"):
            def hook(_m: nn.Module, _i: object, out: object, index: int = index) -> None:
                scale = out.scale  # type: ignore[attr-defined]
                if scale.numel() != 1:
                    raise ExportError(f"layer {index}: per-channel activation scales are not supported")
                scales[index] = float(scale.reshape(()).double())
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            mlp(torch.zeros(2, width))
    finally:
        for handle in handles:
            handle.remove()
    return scales


def integer_layers(mlp: nn.Sequential, in_features: int) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                   list[LayerSpec]]:
    """Integer weights ``[MW, MH]``, thresholds ``[MH, hi - lo]`` and specs of every block of ``mlp``.

    ``mlp`` is :func:`hybrec.models.hybrid.quant_mlp`'s layout: an input quantizer, then blocks of
    ``QuantLinear, BatchNorm1d, activation quantizer``; it must be in eval mode.
    """
    from brevitas.nn import QuantLinear

    if mlp.training:
        raise ExportError("export needs the MLP in eval mode (frozen BatchNorm statistics and scales)")
    modules = list(mlp)
    scales = _output_scales(mlp, in_features)
    if not modules or not hasattr(modules[0], "act_quant") or (len(modules) - 1) % 3:
        raise ExportError("unexpected MLP layout: want an input quantizer + (QuantLinear, BatchNorm1d, act) blocks")
    in_scale = scales[0]
    lo, hi, in_bits, in_signed = _act_levels(modules[0], in_scale)
    if in_scale != 1.0 or (lo, hi) != (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1):
        raise ExportError(f"the MLP's input quantizer must pass the integer mean unchanged: scale 1 and the full "
                          f"signed range (found scale {in_scale}, range [{lo}, {hi}])")
    weights, thresholds, specs = [], [], []
    for start in range(1, len(modules), 3):
        linear, norm, act = modules[start: start + 3]
        if not isinstance(linear, QuantLinear) or not isinstance(norm, nn.BatchNorm1d) or linear.bias is not None:
            raise ExportError(f"block at {start}: want QuantLinear (no bias) + BatchNorm1d + act quantizer")
        with torch.no_grad():
            qw = linear.quant_weight()
        w_int = torch.round(qw.value / qw.scale).to(torch.int64).T.numpy()        # [MW, MH]
        w_scale = qw.scale.double().reshape(-1).numpy()                             # [MH] (or [1])
        w_bits = int(qw.bit_width)
        gamma = norm.weight.detach().double().numpy()
        beta = norm.bias.detach().double().numpy()
        assert norm.running_mean is not None and norm.running_var is not None
        mean = norm.running_mean.double().numpy()
        inv_std = 1.0 / np.sqrt(norm.running_var.double().numpy() + norm.eps)
        out_scale = scales[start + 2]
        out_lo, out_hi, out_bits, _signed = _act_levels(act, out_scale)
        a = w_scale * in_scale * gamma * inv_std / out_scale                         # [MH]
        b = (beta - mean * gamma * inv_std) / out_scale
        negative = a < 0
        w_int[:, negative] *= -1
        a = np.abs(a)
        acc_lo, acc_hi = accumulator_range(w_int, in_bits, in_signed)
        levels = out_lo + np.arange(1, out_hi - out_lo + 1) - 0.5                   # [n]
        t = np.empty((w_int.shape[1], levels.size), dtype=np.int64)
        for c in range(w_int.shape[1]):
            if a[c] == 0.0:
                t[c] = np.where(b[c] >= levels, acc_lo, acc_hi + 1)
            else:
                bound = (levels - b[c]) / a[c]
                t[c] = [min(max(math.ceil(v), acc_lo), acc_hi + 1) if math.isfinite(v) else
                        (acc_lo if v < 0 else acc_hi + 1) for v in bound]
        if (1 << out_bits) - 1 != levels.size:
            raise ExportError(f"block at {start}: {out_bits}-bit output with {levels.size} levels (narrow range "
                              "is not supported)")
        spec = LayerSpec(mw=w_int.shape[0], mh=w_int.shape[1], in_bits=in_bits, in_signed=in_signed, w_bits=w_bits,
                         out_bits=out_bits, out_bias=out_lo, acc_lo=acc_lo, acc_hi=acc_hi)
        weights.append(w_int)
        thresholds.append(t)
        specs.append(spec)
        in_scale, in_bits, in_signed = out_scale, out_bits, out_lo < 0
    return weights, thresholds, specs


def input_scale(mlp: nn.Sequential, in_features: int) -> float:
    return _output_scales(mlp, in_features)[0]


def brevitas_integer_outputs(mlp: nn.Sequential, means: np.ndarray) -> np.ndarray:
    """Brevitas' own (float32) forward of integer means, as integers ``round(value / scale)``."""
    with torch.no_grad():
        out = mlp(torch.from_numpy(np.asarray(means, dtype=np.float32)))
        return torch.round(out.value / out.scale).to(torch.int64).numpy()  # type: ignore[no-any-return]


def export_qonnx_file(mlp: nn.Sequential, in_features: int, path: Path) -> None:
    """The MLP as one QONNX file (Brevitas' exporter, TorchScript path: one file, no external data)."""
    from brevitas.export import export_qonnx

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad():
        export_qonnx(mlp, torch.zeros(1, in_features), export_path=str(tmp), dynamo=False)
    tmp.replace(path)
