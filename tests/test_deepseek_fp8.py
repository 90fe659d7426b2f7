"""DeepSeek-V3's FP8 activation quantizer as rows of the scaled engine
(SPEC.md 9.8): ``deepseek_fp8`` (float32 scales fl(amax x fl(1/448))) and
``deepseek_fp8_ue8m0`` (2^ceil(log2 s)), against the H200 capture of the Triton
kernel (tests/data/h200/deepseek_act_quant.npz) and a numpy reading of SPEC."""
import os

import ml_dtypes
import numpy as np
import pytest

import mxspec

DATA = os.path.join(os.path.dirname(__file__), "data", "h200", "deepseek_act_quant.npz")
F32 = np.float32


def _inputs(d, name):
    xb = d[name + "_x"]
    if name == "bf16":
        return xb.view(np.uint16).view(ml_dtypes.bfloat16)
    return xb.view(F32)


@pytest.mark.parametrize("name", ["bf16", "f32"])
@pytest.mark.parametrize("fmt, row", [("f32", "deepseek_fp8"), ("ue8m0", "deepseek_fp8_ue8m0")])
def test_equals_the_h200_triton_kernel(name, fmt, row):
    d = np.load(DATA)
    x = _inputs(d, name)
    a = mxspec.encode(x, row)
    scales, codes = d[f"{name}_{fmt}_scales"].view(F32), d[f"{name}_{fmt}_codes"]
    assert np.array_equal(a.scales.reshape(-1).view(np.uint32), scales.view(np.uint32))
    assert np.array_equal(a.codes, codes)
    assert a.codes.shape == (1024, 128) and a.scales.shape == (1024, 1)
    # dequantization as DeepSeek's kernels multiply: fl(code x s)
    want = (codes.view(ml_dtypes.float8_e4m3fn).astype(F32) * scales[:, None]).astype(F32)
    assert np.array_equal(mxspec.decode(a).view(np.uint32), want.view(np.uint32))


def test_the_true_division_reading_is_not_the_kernel():
    """amax / 448 as an IEEE division gives other scales in a large share of the
    captured groups (the kernel's quotient is fl(amax x fl(1/448)))."""
    d = np.load(DATA)
    for name in ("bf16", "f32"):
        x = _inputs(d, name).astype(F32)
        amax = np.maximum(np.abs(x).max(axis=1), F32(1e-4))
        true_div = (amax / F32(448)).astype(F32)
        got = d[f"{name}_f32_scales"].view(F32)
        share = (true_div.view(np.uint32) != got.view(np.uint32)).mean()
        assert 0.3 < share < 0.6, share


def _reading(x, pow2):
    """SPEC.md 9.8 in numpy: the float32 operations in the order the kernel runs them."""
    g = np.asarray(x, F32).reshape(-1, 128)
    amax = np.maximum(np.abs(g).max(axis=1), F32(1e-4))
    s = (amax * (F32(1) / F32(448))).astype(F32)
    if pow2:
        m, e = np.frexp(s.astype(np.float64))
        s = np.where(m == 0.5, s, np.ldexp(1.0, e)).astype(F32)
    y = (g / s[:, None]).astype(F32)
    codes = np.clip(y, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    return s, codes


@pytest.mark.parametrize("row, pow2", [("deepseek_fp8", False), ("deepseek_fp8_ue8m0", True)])
def test_equals_the_reading_on_wide_ranges_and_edges(row, pow2):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((512, 256)) * np.exp2(rng.integers(-40, 40, (512, 1)))
    x[0] = 0.0
    x[1, :128] = 2e-5          # under the clamp: s = 1e-4 / 448
    x[2, :128] = -448.0        # s = 1 exactly
    x[3, 128:] = 2.0 ** 60     # a power of two over 448: ue8m0 keeps s exact
    x = x.astype(F32)
    a = mxspec.encode(x, row)
    s, codes = _reading(x, pow2)
    assert np.array_equal(a.scales.reshape(-1).view(np.uint32), s.view(np.uint32))
    assert np.array_equal(a.codes.reshape(-1, 128), codes)
    if pow2:  # every ue8m0 scale a power of two
        m, _ = np.frexp(a.scales.astype(np.float64))
        assert (m == 0.5).all()


def test_worked_example():
    """SPEC.md 9.8's example: amax 3 gives s = fl(3 x fl(1/448)) = 0.0066964291...,
    one ulp above fl(3 / 448); x = 3 then scales to 447.99998 and encodes as 448,
    which decodes to fl(448 s) = 3.0000002.  ue8m0 rounds s up to 2^-7: every
    element exact."""
    x = np.zeros(128, F32)
    x[:3] = [3.0, -1.5, 1.0]
    a = mxspec.encode(x, "deepseek_fp8")
    s = F32(a.scales[0])
    assert s == F32(F32(3) * (F32(1) / F32(448))) == np.nextafter(F32(3) / F32(448), F32(1))
    assert a.codes[:3].tolist() == [0x7E, 0xF6, 0x71]  # 448, -224, 144 (1 / s = 149.33)
    assert mxspec.decode(a)[:3].tolist() == [float(F32(448 * s)), float(F32(-224 * s)),
                                            float(F32(144 * s))]
    assert float(F32(448 * s)) == 3.000000238418579
    b = mxspec.encode(x, "deepseek_fp8_ue8m0")
    assert float(b.scales[0]) == 2.0 ** -7 and mxspec.decode(b)[:3].tolist() == [3.0, -1.5, 1.0]


def test_names_and_refusals():
    f = mxspec.block_format("deepseek_fp8")
    assert (f.name, f.block_size, f.scale_kind, f.tensor_scale) == ("deepseek_fp8", 128,
                                                                     "float32", False)
    assert f.recipe.name == "deepseek"
    assert mxspec.block_format("bf(fp8_e4m3,float32,128):deepseek").recipe == f.recipe
    with pytest.raises(ValueError, match="recipe='deepseek' takes fp8_e4m3 elements with "
                                         "float32 scales, not fp4_e2m1 with ue4m3"):
        mxspec.block_format("nvfp4:deepseek")
    with pytest.raises(ValueError, match="recipe='modelopt' takes fp4_e2m1 elements with "
                                         "ue4m3 scales, not fp8_e4m3 with float32"):
        mxspec.block_format("bf(fp8_e4m3,float32,128):modelopt")
    with pytest.raises(ValueError, match="deepseek_fp8 is the 'deepseek' recipe's row"):
        mxspec.block_format("deepseek_fp8:modelopt")
