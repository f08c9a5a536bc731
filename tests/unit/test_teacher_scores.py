"""hybrid_float's distillation teacher: standardised per user, averaged; a name listed twice counts twice."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from hybrec.train.runner import teacher_scores


class Fixed(nn.Module):
    def __init__(self, scores: torch.Tensor) -> None:
        super().__init__()
        self.table = scores

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.table[users]


def standardised(s: torch.Tensor) -> torch.Tensor:
    return (s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True)


def test_teacher_is_the_weighted_mean_of_standardised_scores() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(3, 7) * 5 + 2, torch.randn(3, 7) * 0.1 - 1
    ctx = SimpleNamespace(data=SimpleNamespace(n_users=3, n_items=7), models={"a": Fixed(a), "b": Fixed(b)})
    once = teacher_scores(ctx, ("a", "b"))  # type: ignore[arg-type]
    twice = teacher_scores(ctx, ("a", "a", "b"))  # type: ignore[arg-type]
    torch.testing.assert_close(once, (standardised(a) + standardised(b)) / 2)
    torch.testing.assert_close(twice, (2 * standardised(a) + standardised(b)) / 3)
