"""MX4 / MX6 / MX9 and HiF4 (SPEC.md section 11): quantize-dequantize equals the
published reference recipes (tests/micro_reference.py, written from their rules)
on Gaussian tensors of every scale and on directed units; the layout of what
encode returns; errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mxspec
import micro_reference as ref


def _ref(name, x):
    if name == "hif4":
        return ref.hif4(x)
    return ref.mxn(x, {"mx4": 1, "mx6": 3, "mx9": 6}[name])


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
@pytest.mark.parametrize("log_sigma", [-40, -12, -3, 0, 3, 12])
def test_equals_reference_on_gaussian_data(name, log_sigma):
    x = np.random.default_rng(log_sigma + 50).standard_normal(512) * 2.0 ** log_sigma
    got = mxspec.decode(mxspec.encode(x, name), np.float64)
    assert np.array_equal(got, _ref(name, x))


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_equals_reference_on_hypothesis_units(name, data):
    unit = mxspec.micro.micro_format(name).unit
    n = data.draw(st.integers(1, 3)) * unit - data.draw(st.integers(0, unit - 1))
    mant = data.draw(st.lists(st.floats(-2, 2, allow_subnormal=False), min_size=n, max_size=n))
    lo = data.draw(st.integers(-60, 40))
    ex = data.draw(st.lists(st.integers(lo, lo + 20), min_size=n, max_size=n))
    x = np.array([m * 2.0 ** e for m, e in zip(mant, ex)])
    got = mxspec.decode(mxspec.encode(x, name), np.float64)
    assert np.array_equal(got, _ref(name, x))


def test_directed_units():
    # all zeros; one value; values at the thresholds of each level; saturation
    for name in ("mx4", "mx6", "mx9", "hif4"):
        unit = mxspec.micro.micro_format(name).unit
        for x in (np.zeros(unit), np.eye(1, unit, 5)[0] * 3.0,
                  np.linspace(-7, 7, unit), np.full(unit, 1.999), np.full(unit, 2.0 ** -50)):
            got = mxspec.decode(mxspec.encode(x, name), np.float64)
            assert np.array_equal(got, _ref(name, x)), (name, x[:4])


def test_layout_and_worked_example():
    x = np.float32([1.0, -0.3, 2.5, 0.01] + [0.0] * 12)
    mx = mxspec.encode(x, "mx6")
    assert mx.scales.tolist() == [127]                 # E8 = floor(log2 2.5) - 1 = 0
    assert mx.micro[0].tolist() == [[0, 1, 0, 0, 0, 0, 0, 0]]  # the pair (2.5, 0.01) reaches 2
    assert mxspec.decode(mx)[:4].tolist() == [1.0, -0.25, 2.5, 0.0]
    h = mxspec.encode(np.linspace(-1, 1, 128), "hif4")
    assert h.scales.shape == (2,) and [b.shape for b in h.micro] == [(2, 8), (2, 16)]
    assert h.block_size == 64 and h.format.element.name == "fp4_e1m2_b1"  # S1P2, no specials


def test_errors():
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        mxspec.encode(np.array([1.0, np.nan]), "hif4")
    with pytest.raises(ValueError, match="block_size is fixed by the format"):
        mxspec.encode(np.ones(32), "mx4", block_size=32)
