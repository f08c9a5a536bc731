"""The QAT quantizers: FakeQuant and the torch integer mean, against the numeric contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrec.models.hybrid import QuantSpec
from hybrec.models.quant import FakeQuant, integer_mean, round_half_up_ste
from hybrec.numerics import normalised_sum

pytestmark = pytest.mark.unit

floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=1, max_size=40), st.sampled_from([2, 4, 8]), st.floats(0.01, 50.0))
def test_fakequant_integers_in_range_and_round_half_up(values: list[float], bits: int, scale: float) -> None:
    quant = FakeQuant(bits).eval()
    quant.scale.fill_(scale)
    x = torch.tensor(values, dtype=torch.float32)
    q = quant.int_values(x)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert torch.all(q == torch.round(q)) and q.min() >= lo and q.max() <= hi
    expected = np.clip(np.floor(x.numpy() / np.float32(quant.scale.item()) + 0.5), lo, hi)
    np.testing.assert_array_equal(q.numpy(), expected)
    np.testing.assert_allclose(quant(x).numpy(), q.numpy() * quant.scale.item(), rtol=1e-6)


def test_fakequant_calibrate_maps_max_to_top_code() -> None:
    quant = FakeQuant(8)
    x = torch.tensor([-3.0, 0.5, 2.0])
    quant.calibrate(x)
    assert quant.eval().int_values(x).tolist() == [-127.0, 21.0, 85.0]


def test_fakequant_refuses_eval_before_calibration() -> None:
    with pytest.raises(RuntimeError, match="calibration"):
        FakeQuant(8).eval().int_values(torch.ones(3))


def test_fakequant_straight_through_gradient() -> None:
    x = torch.tensor([0.3, 1.7, -2.2], requires_grad=True)
    round_half_up_ste(x).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 512), st.integers(2, 12), st.data())
def test_integer_mean_is_bit_exact_with_numerics(lmax: int, bits: int, data: st.DataObject) -> None:
    rows = data.draw(st.integers(1, 8))
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    n = np.array(data.draw(st.lists(st.integers(1, lmax), min_size=rows, max_size=rows)))
    acc = np.array([data.draw(st.lists(st.integers(lo * int(k), hi * int(k)), min_size=3, max_size=3))
                    for k in n])
    got = integer_mean(torch.tensor(acc, dtype=torch.float64), torch.tensor(n), lmax, bits)
    np.testing.assert_array_equal(got.numpy().astype(np.int64), normalised_sum(acc, n, lmax, bits))


def test_integer_mean_gradient_is_that_of_a_mean() -> None:
    acc = torch.tensor([[10.0, -4.0], [3.0, 3.0]], requires_grad=True)
    integer_mean(acc, torch.tensor([4, 2]), 8, 8).sum().backward()
    assert acc.grad is not None and acc.grad.tolist() == [[0.25, 0.25], [0.5, 0.5]]


@pytest.mark.parametrize("bits", [1, 17])
def test_quant_spec_rejects_impossible_bit_widths(bits: int) -> None:
    with pytest.raises(ValueError, match="bit widths"):
        QuantSpec(weight_bits=bits, act_bits=4, out_bits=4)
