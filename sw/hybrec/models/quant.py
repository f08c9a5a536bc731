"""Quantization pieces the hybrid model trains through (QAT), matching :mod:`hybrec.numerics`.

* :class:`FakeQuant` — symmetric per-tensor integer quantizer (item features, item vectors) with a
  straight-through estimator; its scale follows the running max-abs while training and is frozen in
  eval. ``int_values`` returns the exact integers the hardware stores.
* :func:`integer_mean` — the kernel's normalised history sum, bit-exact with
  :func:`hybrec.numerics.normalised_sum`, with the gradient of a plain mean.

The fusion MLP itself is built from Brevitas layers (see :mod:`hybrec.models.hybrid`).
"""

from __future__ import annotations

import torch
from torch import nn

from hybrec.numerics import AGG_SHIFT, int_range, reciprocal_table


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.floor(x + 0.5)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


def round_half_up_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)`` forward, identity backward."""
    return _RoundSTE.apply(x)  # type: ignore[no-any-return]


class FakeQuant(nn.Module):
    """Symmetric per-tensor ``bits``-bit quantizer: ``q = clamp(floor(x / s + 1/2), lo, hi)``.

    Args:
        bits: integer width (signed).
        momentum: weight of the newest max-abs in the running estimate of the range while training.
    """

    scale: torch.Tensor

    def __init__(self, bits: int = 8, momentum: float = 0.1) -> None:
        super().__init__()
        self.bits = bits
        self.lo, self.hi = int_range(bits)
        self.momentum = momentum
        self.register_buffer("scale", torch.tensor(0.0))

    def calibrate(self, x: torch.Tensor) -> None:
        self.scale.fill_(float(x.detach().abs().max().clamp_min(1e-8)) / self.hi)

    def int_values(self, x: torch.Tensor) -> torch.Tensor:
        """Integers (as a float tensor, gradient by STE)."""
        if self.training:
            with torch.no_grad():
                current = x.detach().abs().max().clamp_min(1e-8) / self.hi
                if float(self.scale) == 0.0:
                    self.scale.copy_(current)
                else:
                    self.scale.mul_(1 - self.momentum).add_(self.momentum * current)
        if float(self.scale) == 0.0:
            raise RuntimeError("FakeQuant used in eval before any calibration")
        return torch.clamp(round_half_up_ste(x / self.scale), self.lo, self.hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.int_values(x) * self.scale


class _IntegerMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, acc: torch.Tensor, n: torch.Tensor,  # type: ignore[override]
                recip: torch.Tensor, shift: int, lo: int, hi: int) -> torch.Tensor:
        ctx.save_for_backward(n)
        r = recip[n].unsqueeze(-1)
        value = (acc.round().to(torch.int64) * r + (1 << (shift - 1))) >> shift
        return value.clamp(lo, hi).to(acc.dtype)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        (n,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad / n.clamp_min(1).unsqueeze(-1).to(grad.dtype), None, None, None, None, None


def integer_mean(acc: torch.Tensor, n: torch.Tensor, lmax: int, bits: int, shift: int = AGG_SHIFT) -> torch.Tensor:
    """Bit-exact :func:`hybrec.numerics.normalised_sum` in torch. Shapes: ``acc [B, F]``, ``n [B]``."""
    recip = torch.from_numpy(reciprocal_table(lmax, shift))
    lo, hi = int_range(bits)
    return _IntegerMean.apply(acc, n.to(torch.int64), recip, shift, lo, hi)  # type: ignore[no-any-return]
