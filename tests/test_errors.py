"""Bad input gets an error that names the argument and the allowed values."""
import numpy as np
import pytest

import mxspec


@pytest.mark.parametrize("kw,match", [
    ({"rounding": "nearest"}, r"rounding='nearest'.*rne, rtz, rna, up, down, stochastic"),
    ({"overflow": "clamp"}, r"overflow='clamp'.*saturate, ieee"),
    ({"nan": "quiet"}, r"nan='quiet'.*keep_sign, canonical, ml_dtypes"),
    ({"int_range": "wide"}, r"int_range='wide'.*symmetric, full"),
    ({"rounding": "stochastic"}, r"seed= or rbits="),
    ({"seed": 1}, r"seed=, rbits= and rbits_layout= are for rounding='stochastic'"),
    ({"rounding": "stochastic", "rbits": np.zeros(2, np.uint64)}, r"rbits must be a uint32 array of 3"),
])
def test_bad_policy(kw, match):
    with pytest.raises(ValueError, match=match):
        mxspec.encode_elements(np.ones(3), "fp8_e4m3", **kw)


@pytest.mark.parametrize("x", [np.arange(3), np.ones(3, bool), np.array(["a"]), True])
def test_non_float_input(x):
    with pytest.raises(TypeError, match="float64, float32, float16, bfloat16 or float8"):
        mxspec.encode_elements(x, "fp4_e2m1")


def test_unknown_format_lists_names():
    with pytest.raises(mxspec.FormatError, match="valid names: fp8_e4m3"):
        mxspec.encode_elements(1.0, "fp7")


def test_decode_bad_codes():
    with pytest.raises(ValueError, match=r"holds 16, out of range for fp4_e2m1 \(codes are 0..15\)"):
        mxspec.decode_elements(np.array([1, 16]), "fp4_e2m1")
    with pytest.raises(ValueError, match="holds -1"):
        mxspec.decode_elements(np.array([-1]), "int8")
    with pytest.raises(TypeError, match="integer array"):
        mxspec.decode_elements(np.array([1.0]), "int8")
    with pytest.raises(ValueError, match="dtype=float16 is not valid"):
        mxspec.decode_elements(np.array([1], np.uint8), "int8", np.float16)


def test_shapes_and_scalars():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    c = mxspec.encode_elements(x, "fp6_e2m3")
    assert c.shape == (2, 3, 4) and c.dtype == np.uint8
    assert mxspec.decode_elements(c, "fp6_e2m3").shape == (2, 3, 4)
    assert np.ndim(mxspec.encode_elements(1.5, "int4")) == 0
    assert mxspec.encode_elements([1.5, 2.0], "int4").tolist() == [6, 7]
    # non-contiguous input
    assert np.array_equal(mxspec.encode_elements(x[:, ::2], "fp6_e2m3"), c[:, ::2])
