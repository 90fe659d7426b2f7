"""The H100's wgmma FP8 recipes (issue #18, SPEC.md 8.6) against the silicon's
own outputs on the GEMMs that tools/fit_h100_wgmma.py did not use, what sets
them apart from the other models, and the errors of their API.  The fractions
reference of the same models runs in tests/test_dot.py
(test_block_fma_models_equal_reference)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mxspec

DATA = Path(__file__).parent / "data" / "h100"
FP8 = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}
FIT = {"e4m3_e4m3_K32_two", "e4m3_e4m3_K32_random"}  # tools/fit_h100_wgmma.py's fit set
# capture output -> (accumulator, whether the kernel started from the stored C)
RECIPES = {"cublas_fast": ("cublas_fp8_fast", False), "cublas": ("cublas_fp8", False),
           "triton": ("h100_fp8_wgmma", False), "triton_imp32": ("triton_fp8(32)", False),
           "tritonC": ("h100_fp8_wgmma", True), "tritonC_imp32": ("triton_fp8(32)", True)}


def _load(name):
    path = DATA / name
    if not path.exists():
        # committed with the tests: without it the silicon checks would vanish unseen
        pytest.fail(f"tests/data/h100/{name} is missing from this checkout")
    return np.load(path)


def _gemm(d, case, model, with_c=False):
    ta, tb = case.split("_")[:2]
    C = d[case + "_C"].view(np.float32) if with_c else None
    return mxspec.dot_elements(d[case + "_A"][:, None, :], d[case + "_B"][None, :, :],
                               FP8[ta], FP8[tb], accumulator=model, c=C).view(np.uint32)


def _cases(d):
    return sorted({k[:-2] for k in d.files if k.endswith("_A")})


@pytest.mark.parametrize("capture,recipe", [("wgmma.npz", r) for r in list(RECIPES)[:4]] +
                         [("wgmma_directed.npz", r) for r in RECIPES])
def test_wgmma_recipes_equal_silicon(capture, recipe):
    """Every held-out GEMM, bit for bit: cuBLAS with and without fast
    accumulation, Triton at its default and at max_num_imprecise_acc=32, with
    and without C; 3 type pairs (4 for Triton), K from 32 to 4096, random,
    directed and Gaussian codes, Inf and NaN.  The directed file was captured
    after the model was fixed."""
    d = _load(capture)
    model, with_c = RECIPES[recipe]
    n = 0
    for case in _cases(d):
        if case + "_" + recipe not in d.files or (capture == "wgmma.npz" and case in FIT):
            continue
        want = d[case + "_" + recipe]
        got = _gemm(d, case, model, with_c)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{case} {recipe}: {len(bad)} of {want.size} differ, first at "
                               f"{bad[0]}: {got[tuple(bad[0])]:08x} != {want[tuple(bad[0])]:08x}")
        n += want.size
    assert n >= 21 * 4096


def test_wgmma_capture_tells_the_models_apart():
    """The held-out data rejects the neighbours of the fitted row and the other
    models: a float32-wide sum, 13 or 15 bits kept, FP16 exponents, mma.sync."""
    from mxspec.tables.accumulators import AccumulatorModel
    d = _load("wgmma_directed.npz")
    near = [AccumulatorModel(f"near{i}", "blockfma", group=32, frac_bits=f, rounding="rz",
                             acc_bits=a, input_emin=e, nan_bits=0x7FFFFFFF)
            for i, (f, a, e) in enumerate([(13, 24, None), (13, 13, None), (13, 15, None),
                                           (12, 14, None), (14, 14, None), (13, 14, -14)])]
    for model in near + ["exact", "fp32_sequential", "h100_fp8_mma"]:
        miss = sum(int((_gemm(d, c, model) != d[c + "_triton"]).sum())
                   for c in ("e4m3_e5m2_K128_subnormal", "e5m2_e4m3_K160_gauss",
                             "e4m3_e4m3_K32_tiny_large", "e4m3_e4m3_K128_dist"))
        assert miss > 20, getattr(model, "name", model)


def test_promotion_and_c_placement():
    """With promotion, C starts the float32 sum; without, C is the datapath's
    first accumulator (both seen in the Triton capture, tested above).  Here the
    difference on one row: 2^24 in C swallows a product of 1 only in float32."""
    one = mxspec.encode_elements(np.ones(32, np.float32), "fp8_e4m3")
    zero_but_one = one.copy()
    zero_but_one[1:] = 0
    c = np.float32(2.0 ** 24)
    fast = mxspec.dot_elements(zero_but_one, one, "fp8_e4m3", "fp8_e4m3",
                               accumulator="h100_fp8_wgmma", c=c)
    promoted = mxspec.dot_elements(zero_but_one, one, "fp8_e4m3", "fp8_e4m3",
                                   accumulator="h100_fp8_wgmma(promote=32)", c=c)
    assert promoted == c  # 2^24 + 1 rounds to even in float32
    assert fast == c  # the 14-bit sum truncates 2^24 + 1 as well
    c = np.float32(2.0 ** 14 + 2.0)  # 13 bits below 2^14: the product 1 truncates to 0
    assert mxspec.dot_elements(zero_but_one, one, "fp8_e4m3", "fp8_e4m3",
                               accumulator="h100_fp8_wgmma", c=c) == c
    assert mxspec.dot_elements(zero_but_one, one, "fp8_e4m3", "fp8_e4m3",
                               accumulator="triton_fp8(32)", c=c) == c + 1


def test_mx_scales_enter_exactly():
    """MX operands: each block's scales enter its products exactly (a power of
    two), so scaling one operand's every block by 2^k scales the result by 2^k
    while it stays in float32's range."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 256)).astype(np.float32)
    w = rng.standard_normal((256, 3)).astype(np.float32)
    a = mxspec.encode(x, "mxfp8_e4m3")
    b = mxspec.encode(w, "mxfp8_e5m2", axis=0)
    for model in ("h100_fp8_wgmma", "cublas_fp8", "deepseek_fp8"):
        base = mxspec.matmul(a, b, accumulator=model)
        a2 = type(a)(a.codes, (a.scales.astype(np.int32) + 5).astype(np.uint8), a.format,
                     a.block_size, a.axis)
        assert np.array_equal(mxspec.matmul(a2, b, accumulator=model), base * np.float32(32))


def test_wgmma_errors_name_the_argument():
    e5 = mxspec.encode(np.ones(64, np.float32), "mxfp8_e5m2")
    e4 = mxspec.encode(np.ones(64, np.float32), "mxfp8_e4m3")
    for bad in (48, -32, 0.5):
        with pytest.raises(ValueError, match="promotion interval must be a positive multiple "
                                             "of 32"):
            mxspec.wgmma(bad)
    with pytest.raises(ValueError, match="promote=48"):
        mxspec.dot(e4, e4, accumulator="h100_fp8_wgmma(promote=48)")
    with pytest.raises(ValueError, match="max_num_imprecise_acc=N"):
        mxspec.dot(e4, e4, accumulator="triton_fp8(promote=32)")
    for model in ("cublas_fp8", "cublas_fp8_fast"):
        with pytest.raises(ValueError, match="does not take a=fp8_e5m2 with b=fp8_e5m2: cuBLAS"):
            mxspec.dot(e5, e5, accumulator=model)
        with pytest.raises(ValueError, match="has no addend"):
            mxspec.dot(e4, e5, accumulator=model, c=1.0)
        assert mxspec.dot(e4, e5, accumulator=model, c=0.0) == 64
    assert mxspec.dot(e5, e5, accumulator="h100_fp8_wgmma") == 64  # the instruction takes it
    with pytest.raises(ValueError, match="takes element formats fp8_e4m3, fp8_e5m2; a is int8"):
        mxspec.dot(mxspec.encode(np.ones(64, np.float32), "mxint8"), e4,
                   accumulator="deepseek_fp8")
    with pytest.raises(ValueError, match="K must match"):
        mxspec.matmul(mxspec.encode(np.ones((2, 64)), "mxfp8_e4m3"),
                      mxspec.encode(np.ones((96, 2)), "mxfp8_e4m3", axis=0),
                      accumulator="cublas_fp8")
