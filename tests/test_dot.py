"""Dot products and matrix products (SPEC.md section 8): every accumulator model
against the independent fractions reference in tests/dot_reference.py, on
Hypothesis inputs for every pair of MX element formats and on directed cases;
h100_fp8_mma against the H100's own outputs, on the half of the capture that
tools/fit_h100_mma.py did not use; the API's errors."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import mxspec
from mxspec.tables.accumulators import AccumulatorModel
from mxspec import MXArray
from mxspec import mx_format

import dot_reference as ref

MX = ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4")
PAIRS = list(itertools.product(MX, MX))
H100 = Path(__file__).parent / "data" / "h100" / "mma_sync.npz"
FP8 = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}


def _mx(codes, scales, fmt, bs):
    """An MXArray blocked along the last axis from raw codes and scale codes."""
    return MXArray(np.asarray(codes, np.uint8), np.asarray(scales, np.uint8),
                   mx_format("mx" + fmt), bs, np.asarray(codes).ndim - 1)


def _vals(codes, fmt):
    return [float(v) for v in mxspec.element_format(fmt).values[np.asarray(codes)]]


def _sexp(scales):
    return [None if int(s) == 255 else int(s) - 127 for s in scales]


@st.composite
def dot_case(draw, pair=None, finite=True, scale_lo=100, scale_hi=154):
    fa, fb = pair if pair else draw(st.sampled_from(PAIRS))
    bs = draw(st.sampled_from([1, 2, 4, 8, 32]))
    nb = draw(st.integers(1, 3))
    K = bs * nb
    ea, eb = mxspec.element_format(fa), mxspec.element_format(fb)

    def codes(f):
        ok = [c for c in range(f.n_codes) if not finite or math.isfinite(f.values[c])]
        return draw(st.lists(st.sampled_from(ok), min_size=K, max_size=K))
    ca, cb = codes(ea), codes(eb)
    sa = draw(st.lists(st.integers(scale_lo, scale_hi), min_size=nb, max_size=nb))
    sb = draw(st.lists(st.integers(scale_lo, scale_hi), min_size=nb, max_size=nb))
    c = draw(st.one_of(st.just(0.0), st.floats(width=32, allow_nan=not finite,
                                               allow_infinity=not finite)))
    return fa, fb, bs, ca, cb, sa, sb, c


@pytest.mark.parametrize("pair", PAIRS, ids=["x".join(p) for p in PAIRS])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exact_equals_fractions_reference(pair, data):
    fa, fb, bs, ca, cb, sa, sb, c = data.draw(dot_case(pair))
    mode = data.draw(st.sampled_from(["rne", "rtz", "rna", "up", "down"]))
    out = data.draw(st.sampled_from(["float32", "float64", "float16", "bfloat16"]))
    got = mxspec.dot(_mx(ca, sa, fa, bs), _mx(cb, sb, fb, bs), c=c, rounding=mode, out=out)
    want = ref.exact(_vals(ca, fa), _vals(cb, fb), _sexp(sa), _sexp(sb), bs, c, mode, out)
    assert np.asarray(got).dtype.name == out
    g = float(got)
    assert (math.isnan(g) and math.isnan(want)) or (g == want and math.copysign(1, g) ==
                                                    math.copysign(1, want)), (g, want)


@settings(max_examples=150, deadline=None)
@given(case=dot_case(finite=False, scale_lo=0, scale_hi=255))
def test_exact_specials_and_extreme_scales(case):
    """NaN/Inf elements and C, NaN scales, and scales over E8M0's whole range."""
    fa, fb, bs, ca, cb, sa, sb, c = case
    got = float(mxspec.dot(_mx(ca, sa, fa, bs), _mx(cb, sb, fb, bs), c=c))
    want = ref.exact(_vals(ca, fa), _vals(cb, fb), _sexp(sa), _sexp(sb), bs, c)
    assert (math.isnan(got) and math.isnan(want)) or got == want


@pytest.mark.parametrize("model", ["fp32_sequential", "fp32_pairwise", "fp32_blockwise"])
@settings(max_examples=120, deadline=None)
@given(case=dot_case(scale_lo=90, scale_hi=160))
def test_fp32_models_equal_reference(model, case):
    fa, fb, bs, ca, cb, sa, sb, c = case
    A, B = _mx(ca, sa, fa, bs), _mx(cb, sb, fb, bs)
    got = float(mxspec.dot(A, B, accumulator=model, c=c))
    if model == "fp32_blockwise":
        want = ref.fp32_blockwise(_vals(ca, fa), _vals(cb, fb), _sexp(sa), _sexp(sb), bs, c)
    else:
        a32 = [float(v) for v in mxspec.decode(A)]
        b32 = [float(v) for v in mxspec.decode(B)]
        want = (ref.fp32_sequential if model == "fp32_sequential" else ref.fp32_pairwise)(
            a32, b32, c)
    assert (math.isnan(got) and math.isnan(want)) or (
        got == want and math.copysign(1, got) == math.copysign(1, want)), (got, want)


@pytest.mark.parametrize("model", ["fp32_sequential", "fp32_blockwise", "tosa"])
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp4_e2m1"])
def test_fp32_models_eight_outputs_at_a_time_equal_reference(model, fmt):
    """A matmul takes the sequential and blockwise float32 models eight outputs at
    a time (interleaved chains, dotcore._fp32_group), falling back to one at a
    time where one of the eight is special: every output of a 13 x 11 product
    (143: groups and a remainder), with Inf and NaN elements, a NaN scale,
    scales whose float32 product overflows or flushes to zero, and Inf or NaN
    addends, equals the fractions reference bit for bit."""
    rng = np.random.default_rng(3)
    el = mxspec.element_format(fmt)
    finite = [c for c in range(el.n_codes) if math.isfinite(el.values[c])]
    bs, nb, M, N = 32, 4, 13, 11
    K = bs * nb
    ca = rng.choice(finite, (M, K))
    cb = rng.choice(finite, (N, K))
    sa = rng.integers(60, 200, (M, nb))
    sb = rng.integers(60, 200, (N, nb))
    sa[1, 2], sb[4, 0] = 250, 254  # the scale product overflows float32
    sa[5, 1], sb[6, 3] = 0, 2      # and flushes to zero
    sa[9, 0] = 255                 # a NaN scale
    specials = [c for c in range(el.n_codes) if not math.isfinite(el.values[c])]
    if specials:
        ca[2, 7] = specials[0]
        cb[8, 100] = specials[-1]
    c = rng.standard_normal((M, N)).astype(np.float32)
    c[3, 5], c[10, 2] = np.inf, np.nan
    A = _mx(ca, sa, fmt, bs)
    B = MXArray(np.ascontiguousarray(cb.T).astype(np.uint8), np.ascontiguousarray(sb.T).astype(np.uint8),
                mx_format("mx" + fmt), bs, 0)
    got = mxspec.matmul(A, B, accumulator=model, c=c)
    for i in range(M):
        for j in range(N):
            if sa[i].max() == 255 or sb[j].max() == 255:
                want = math.nan  # a NaN scale: the output is NaN (SPEC.md 8)
            elif model == "fp32_sequential":
                want = ref.fp32_sequential([float(v) for v in mxspec.decode(_mx(ca[i], sa[i], fmt, bs))],
                                           [float(v) for v in mxspec.decode(_mx(cb[j], sb[j], fmt, bs))],
                                           float(c[i, j]))
            else:
                want = ref.fp32_blockwise(_vals(ca[i], fmt), _vals(cb[j], fmt), _sexp(sa[i]),
                                          _sexp(sb[j]), bs, float(c[i, j]))
            g = float(got[i, j])
            assert (math.isnan(g) and math.isnan(want)) or (
                g == want and math.copysign(1, g) == math.copysign(1, want)), (i, j, g, want)


@settings(max_examples=150, deadline=None)
@given(case=dot_case(scale_lo=0, scale_hi=254))
def test_fp32_blockwise_is_tosa_pseudocode_over_all_scales(case):
    """TOSA 1.1 MATMUL_T_BLOCK_SCALED over the whole E8M0 range, where the float32
    product of the two scales overflows to Inf or flushes to zero."""
    fa, fb, bs, ca, cb, sa, sb, c = case
    got = np.asarray(mxspec.dot(_mx(ca, sa, fa, bs), _mx(cb, sb, fb, bs),
                                accumulator="tosa", c=c))
    want = ref.fp32_blockwise(_vals(ca, fa), _vals(cb, fb), _sexp(sa), _sexp(sb), bs, c)
    g = float(got)
    if math.isnan(want):
        assert got.view(np.uint32) == 0x7FC00000
    else:
        assert g == want and math.copysign(1, g) == math.copysign(1, want), (g, want)


def test_tosa_scale_product_order():
    """The two scales multiply first: 2^120 * 2^10 overflows float32 although the
    scaled result (2^-8 * 2^130 = 2^122) does not; a tiny block sum survives."""
    one_16th = 0x18  # E4M3 2^-4
    a = _mx([one_16th] * 2, [127 + 120], "fp8_e4m3", 2)
    b = _mx([one_16th, 0], [127 + 10], "fp8_e4m3", 2)
    assert float(mxspec.dot(a, b, accumulator="fp32_blockwise")) == math.inf
    assert float(mxspec.dot(a, b, accumulator="exact")) == 2.0 ** 122
    z = _mx([0, 0], [127 + 120], "fp8_e4m3", 2)  # 0 * Inf in the pseudocode: NaN
    assert math.isnan(float(mxspec.dot(z, b, accumulator="fp32_blockwise")))
    assert float(mxspec.dot(z, b, accumulator="exact")) == 0.0
    # E5M2 2^-16 * 2^-16 = 2^-32 with scales 2^-127 and 2^20: (2^-32 * 2^-127) * 2^20
    # would flush to 0 in float32; 2^-32 * (2^-127 * 2^20) = 2^-139 exactly
    a = _mx([1, 0], [0], "fp8_e5m2", 2)
    b = _mx([1, 0], [127 + 20], "fp8_e5m2", 2)
    assert float(mxspec.dot(a, b, accumulator="tosa")) == 2.0 ** -139


@pytest.mark.parametrize("model", ["fixed(12,rz,4)", "fixed(20,rne,8)", "fixed(6,rz,32)",
                                   "fixed(24,rne,16,add)", "h100_fp8_mma", "h100_fp8_wgmma",
                                   "h100_fp8_wgmma(promote=64)", "deepseek_fp8",
                                   AccumulatorModel("narrow_rne", "blockfma", group=8,
                                                    frac_bits=12, rounding="rne",
                                                    acc_bits=10)],
                         ids=lambda m: getattr(m, "name", m))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_block_fma_models_equal_reference(model, data):
    m = mxspec.accumulator(model)
    pair = data.draw(st.sampled_from(PAIRS if m.formats is None else
                                     [(a, b) for a in m.formats for b in m.formats]))
    fa, fb, bs, ca, cb, sa, sb, c = data.draw(dot_case(pair, scale_lo=110, scale_hi=144))
    got = float(mxspec.dot(_mx(ca, sa, fa, bs), _mx(cb, sb, fb, bs), accumulator=m, c=c))
    want = ref.blockfma_model(_vals(ca, fa), _vals(cb, fb), _sexp(sa), _sexp(sb), bs, c, m,
                              mxspec.element_format(fa), mxspec.element_format(fb))
    assert got == want and math.copysign(1, got) == math.copysign(1, want), (got, want)


@pytest.mark.parametrize("model", ["fixed(12,rz,4)", "fixed(24,rne,16)", "h100_fp8_mma",
                                   "cublas_fp8", "h100_fp8_wgmma", "fixed(20,rne,8,add)"])
@pytest.mark.parametrize("c", [None, 0.0, -0.0])
def test_block_fma_zero_times_large_scale_is_zero(model, c):
    """A zero element against a subnormal one under a large scale: the pair's
    exponent sum lies a little above the zero marker, and a step that took it
    for a real product scaled by 2**(F - E) = Inf and returned NaN-made garbage
    (found by the property above); every step of zero products is +0."""
    m = mxspec.accumulator(model)
    f = (m.formats or ("fp8_e4m3",))[0]
    a, b = _mx([0, 0], [110], f, 2), _mx([1, 1], [133], f, 2)
    if c is not None and model == "cublas_fp8":
        c = None
    got = float(mxspec.dot(a, b, accumulator=m, c=c))
    want = ref.blockfma_model(_vals([0, 0], f), _vals([1, 1], f), _sexp([110]), _sexp([133]), 2,
                              0.0 if c is None else c, m, mxspec.element_format(f),
                              mxspec.element_format(f))
    assert got == want == 0.0 and math.copysign(1, got) == math.copysign(1, want), (got, want)


# -- directed cases -----------------------------------------------------------
def _e4m3(vals):
    return mxspec.encode_elements(np.array(vals, np.float32), "fp8_e4m3")


def test_cancellation_to_zero_and_its_sign():
    a, b = _e4m3([3.0, 3.0]), _e4m3([2.0, -2.0])
    z = mxspec.dot_elements(a, b, "fp8_e4m3", "fp8_e4m3")
    assert z == 0 and not np.signbit(z)
    assert np.signbit(mxspec.dot_elements(a, b, "fp8_e4m3", "fp8_e4m3", rounding="down"))
    # all products -0 and C = -0: IEEE's -0
    nz = mxspec.dot_elements(_e4m3([-0.0, 0.0]), _e4m3([1.0, -1.0]), "fp8_e4m3", "fp8_e4m3",
                             c=-0.0)
    assert nz == 0 and np.signbit(nz)
    # a tiny remainder survives exact cancellation of huge terms
    got = mxspec.dot_elements(_e4m3([448.0, -448.0, 2.0 ** -9]), _e4m3([448.0, 448.0, 2.0 ** -9]),
                              "fp8_e4m3", "fp8_e4m3")
    assert got == np.float32(2.0 ** -18)


def test_output_overflow_and_subnormals():
    big = _mx([0x7E] * 32, [254], "fp8_e4m3", 32)  # 448 * 2^127 each
    assert np.isinf(mxspec.dot(big, big))
    assert mxspec.dot(big, big, rounding="rtz") == np.finfo(np.float32).max
    tiny = _mx([0x01] * 32, [0], "fp8_e4m3", 32)  # 2^-9 * 2^-127 each
    one = _mx([0x38] * 32, [127], "fp8_e4m3", 32)
    got = mxspec.dot(tiny, one)  # 32 * 2^-136 = 2^-131: a float32 subnormal, exact
    assert got == np.float32(2.0 ** -131) and got < np.finfo(np.float32).tiny
    # below half the smallest subnormal: 0 under rne, the smallest under up
    assert mxspec.dot(tiny, _mx([0x01] * 32, [0], "fp8_e4m3", 32)) == 0
    assert mxspec.dot(tiny, _mx([0x01] * 32, [0], "fp8_e4m3", 32),
                      rounding="up") == np.float32(2.0 ** -149)


@pytest.mark.parametrize("model", ["exact", "fp32_sequential", "fp32_pairwise", "fp32_blockwise",
                                   "fixed(16)", "h100_fp8_mma"])
def test_nan_and_inf_propagate_in_every_model(model):
    f = "fp8_e5m2"  # has Inf
    inf = mxspec.element_format(f).inf_mag_code
    one5 = list(mxspec.encode_elements(np.ones(32, np.float32), f))
    A = _mx(one5, [127], f, 32)
    with_inf = _mx([inf] + one5[1:], [127], f, 32)
    with_neg_inf = _mx([inf | 0x80] + one5[1:], [127], f, 32)
    nan_scale = _mx(one5, [255], f, 32)
    zero = _mx([0] * 32, [127], f, 32)
    assert np.isposinf(mxspec.dot(with_inf, A, accumulator=model))
    assert np.isnan(mxspec.dot(with_inf, zero, accumulator=model))  # Inf * 0
    assert np.isnan(mxspec.dot(A, nan_scale, accumulator=model))
    assert np.isnan(mxspec.dot(with_inf, A, accumulator=model, c=-np.inf))
    assert np.isneginf(mxspec.dot(with_neg_inf, A, accumulator=model))
    assert np.isnan(mxspec.dot(A, A, accumulator=model, c=np.nan))


# -- the H100 -----------------------------------------------------------------
def _capture():
    if not H100.exists():
        # committed with the tests: without it the silicon checks would vanish unseen
        pytest.fail("tests/data/h100/mma_sync.npz is missing from this checkout")
    return np.load(H100)


@pytest.mark.parametrize("pair", ["e4m3_e4m3", "e4m3_e5m2", "e5m2_e4m3", "e5m2_e5m2"])
@pytest.mark.parametrize("split", ["held_out", "fit"])
def test_h100_fp8_mma_equals_silicon(pair, split):
    """Tiles with an odd index were not used by tools/fit_h100_mma.py: 100% of
    them must match, bit for bit, for every generator, zero and nonzero C."""
    d = _capture()
    ta, tb = pair.split("_")
    sel = np.arange(d[pair + "_A"].shape[0]) % 2 == (1 if split == "held_out" else 0)
    A, B = d[pair + "_A"][sel], d[pair + "_B"][sel]
    C = d[pair + "_C"][sel].view(np.float32)
    D = d[pair + "_D"][sel]
    got = mxspec.dot_elements(A[:, :, None, :], B[:, None, :, :], FP8[ta], FP8[tb],
                              accumulator="h100_fp8_mma", c=C).view(np.uint32)
    bad = np.argwhere(got != D)
    assert bad.size == 0, f"{len(bad)} of {D.size} differ, first at {bad[0]}"
    assert D.size == 240 * 128 and (C != 0).any() and (C == 0).any()


def test_h100_capture_tells_the_models_apart():
    """The capture is not one that any model passes: plain float32 and a round-
    once model both miss on it."""
    d = _capture()
    A, B = d["e5m2_e5m2_A"], d["e5m2_e5m2_B"]
    C = d["e5m2_e5m2_C"].view(np.float32)
    D = d["e5m2_e5m2_D"]
    for model in ("exact", "fp32_sequential", "fixed(24)", "fixed(25,rne,16)"):
        got = mxspec.dot_elements(A[:, :, None, :], B[:, None, :, :], "fp8_e5m2", "fp8_e5m2",
                                  accumulator=model, c=C).view(np.uint32)
        assert (got != D).mean() > 0.01, model


# -- API --------------------------------------------------------------------------
def test_matmul_equals_dot_and_broadcasting():
    rng = np.random.default_rng(1)
    a = mxspec.encode(rng.standard_normal((5, 64)).astype(np.float32), "mxfp8_e4m3")
    bT = rng.standard_normal((3, 64)).astype(np.float32)
    b = mxspec.encode(bT.T, "mxfp6_e2m3", axis=0)
    bt = mxspec.encode(bT, "mxfp6_e2m3")
    c = rng.standard_normal((5, 3)).astype(np.float32)
    for model in ("exact", "fixed(20)", "fp32_sequential", "fp32_pairwise"):
        mm = mxspec.matmul(a, b, accumulator=model, c=c)
        dd = mxspec.dot(MXArray(a.codes[:, None, :], a.scales[:, None, :], a.format, 32, 2),
                        bt, accumulator=model, c=c)
        assert mm.shape == (5, 3) and np.array_equal(mm.view(np.uint32), dd.view(np.uint32))
    exact = mxspec.matmul(a, b)
    assert np.allclose(exact, mxspec.decode(a).astype(np.float64) @ mxspec.decode(b), rtol=1e-6)


def test_decoded_operands_of_fp32_models_are_decode():
    """fp32_sequential on an MX pair equals the same model on the float32 values
    that mxspec.decode gives, fed through a one-block MX of scale 1."""
    rng = np.random.default_rng(2)
    a = mxspec.encode(rng.standard_normal(32).astype(np.float32) * 1e3, "mxfp8_e5m2")
    b = mxspec.encode(rng.standard_normal(32).astype(np.float32), "mxfp8_e5m2")
    want = ref.fp32_sequential([float(v) for v in mxspec.decode(a)],
                               [float(v) for v in mxspec.decode(b)])
    assert float(mxspec.dot(a, b, accumulator="fp32")) == want


def test_errors_name_the_argument():
    a = mxspec.encode(np.ones(64, np.float32), "mxfp8_e4m3")
    b16 = mxspec.encode(np.ones(64, np.float32), "mxfp8_e4m3", block_size=16)
    with pytest.raises(ValueError, match="block_size=32 and b has block_size=16"):
        mxspec.dot(a, b16)
    with pytest.raises(ValueError, match="K=40 is not a whole number of blocks of 32"):
        x = mxspec.encode(np.ones(40, np.float32), "mxfp8_e4m3")
        mxspec.dot(x, x)
    with pytest.raises(ValueError, match="unknown accumulator 'fp31'"):
        mxspec.dot(a, a, accumulator="fp31")
    with pytest.raises(ValueError, match="takes element formats fp8_e4m3, fp8_e5m2; b is fp4_e2m1"):
        mxspec.dot(a, mxspec.encode(np.ones(64, np.float32), "mxfp4_e2m1"),
                   accumulator="h100_fp8_mma")
    with pytest.raises(ValueError, match="returns float32"):
        mxspec.dot(a, a, accumulator="fp32", out="float64")
    with pytest.raises(ValueError, match="out='float8'"):
        mxspec.dot(a, a, out="float8")
    with pytest.raises(ValueError, match="rounding='stochastic'"):
        mxspec.dot(a, a, rounding="stochastic")
    with pytest.raises(ValueError, match="blocked along their last axis; b is blocked along axis 0"):
        mxspec.dot(a, mxspec.encode(np.ones((64, 2), np.float32), "mxfp8_e4m3", axis=0))
    with pytest.raises(ValueError, match="K must match"):
        mxspec.matmul(mxspec.encode(np.ones((2, 64)), "mxfp8_e4m3"),
                      mxspec.encode(np.ones((32, 2)), "mxfp8_e4m3", axis=0))
    with pytest.raises(ValueError, match="blocked along axis 0"):
        mxspec.matmul(mxspec.encode(np.ones((2, 64)), "mxfp8_e4m3"),
                      mxspec.encode(np.ones((64, 2)), "mxfp8_e4m3"))
    with pytest.raises(ValueError, match="does not broadcast"):
        mxspec.dot(a, a, c=np.ones(3))
    with pytest.raises(ValueError, match="not float32"):
        mxspec.dot(a, a, accumulator="fp32", c=0.1)
    with pytest.raises(TypeError, match="must be a BlockArray"):
        mxspec.dot(np.ones(32), a)
    with pytest.raises(ValueError, match="codes_a has K=3 and codes_b has K=4"):
        mxspec.dot_elements([1, 2, 3], [1, 2, 3, 4], "fp8_e4m3", "fp8_e4m3")
    with pytest.raises(ValueError, match="frac_bits=60"):
        mxspec.fixed(60)
    with pytest.raises(ValueError, match="rounding='up'"):
        mxspec.fixed(10, "up")


def test_spec_worked_example_of_the_block_fma_family():
    """SPEC.md 8.3: products 1.5 * 1 and 1.25 * 0.25 under fixed(3, rz, 2)."""
    a, b = _e4m3([1.5, 1.25]), _e4m3([1.0, 0.25])
    assert mxspec.dot_elements(a, b, "fp8_e4m3", "fp8_e4m3", accumulator="fixed(3,rz,2)") == 1.75
    assert mxspec.dot_elements(a, b, "fp8_e4m3", "fp8_e4m3") == 1.8125


def test_block_fma_overflow_to_inf_stays_inf():
    """rne: a step that rounds past float32's max gives Inf (IEEE), and the later
    steps keep it (a C at the largest float32 plus products that round up)."""
    big = np.float32(np.finfo(np.float32).max)
    a = mxspec.encode_elements(np.full(16, 448.0, np.float32), "fp8_e4m3")
    m = mxspec.accumulator("fixed(20,rne,8)")
    got = mxspec.dot_elements(a, a, "fp8_e4m3", "fp8_e4m3", accumulator=m, c=big)
    want = ref.blockfma_model([448.0] * 16, [448.0] * 16, [0], [0], 16, float(big), m,
                              mxspec.element_format("fp8_e4m3"), mxspec.element_format("fp8_e4m3"))
    assert got == np.inf and want == np.inf
    rz = mxspec.dot_elements(a, a, "fp8_e4m3", "fp8_e4m3", accumulator="fixed(20,rz,8)", c=big)
    assert np.isfinite(rz) and rz <= big  # rz truncates (C itself keeps 20 bits) and never overflows


# Every block family beside MX: NVFP4 under each recipe, with and without a tensor
# scale, float32 and UE4M3 block scales, and the micro-exponent formats.
# Every row the registry lists (a new row is tested the moment it exists), and rows made on demand.
FAMILIES = mxspec.block_formats() + ["nvfp4:modelopt", "nvfp4:torchao", "nvfp4:compressed_tensors",
                                     "bf(fp6_e2m3,float32,32)", "bf(fp8_e4m3,ue4m3,16,tensor)",
                                     "mxfp5_e2m2"]
# 2D tile formats (nvfp4_2d, deepseek_fp8_2d) scale tiles of a matrix: their own test
# below takes whole tiles
TILED = [f for f in FAMILIES if mxspec.block_format(f).tile_rows > 1]
FAMILIES = [f for f in FAMILIES if f not in TILED]


@pytest.mark.parametrize("fmt", FAMILIES)
def test_exact_matmul_of_each_listed_format_is_the_decoded_values_exact_product(fmt):
    """Row by row of the block table: `exact` matmul of a format with itself is
    the exact product of the decoded values, rounded once (tests/dot_reference.py)."""
    rng = np.random.default_rng(5)
    K = 128
    x = (rng.standard_normal((2, K)) * np.exp2(rng.normal(0, 4, (2, K)))).astype(np.float32)
    y = (rng.standard_normal((K, 3)) * 3).astype(np.float32)
    a, b = mxspec.encode(x, fmt), mxspec.encode(y, fmt, axis=0)
    va, vb = mxspec.decode(a, np.float64), mxspec.decode(b, np.float64)
    got = mxspec.matmul(a, b)
    for r in range(2):
        for c in range(3):
            want = ref.exact(va[r].tolist(), vb[:, c].tolist(), [0], [0], K)
            assert np.float32(got[r, c]).tobytes() == np.float32(want).tobytes(), (fmt, r, c)


@pytest.mark.parametrize("rounding", ["rne", "rtz", "down", "up"])
@pytest.mark.parametrize("spread", [0.5, 6.0])
def test_exact_nvfp4_with_its_tensor_scales_factored_out_and_an_addend(rounding, spread):
    """NVFP4's values are multiples of their tensor scale's odd significand; the
    exact engine takes it out of each operand (one limb instead of two or three)
    and multiplies the long sum by both before adding c and rounding once: every
    output the fractions reference's, with addends that cancel the sum, under
    each rounding, and both operands' factors taken (checked)."""
    from mxspec.compute.dot import _model, _value_operand
    rng = np.random.default_rng(11)
    K = 256
    x = (rng.standard_normal((3, K)) * np.exp2(rng.normal(0, spread, (3, K)))).astype(np.float32)
    y = (rng.standard_normal((K, 4)) * 3.3).astype(np.float32)
    a, b = mxspec.encode(x, "nvfp4"), mxspec.encode(y, "nvfp4", axis=0)
    va, vb = mxspec.decode(a, np.float64), mxspec.decode(b, np.float64)
    for v, ts in ((va, a.tensor_scale), (vb.T, b.tensor_scale)):
        sig = int(np.frexp(np.float64(ts))[0] * 2 ** 53)
        odd = sig // (sig & -sig)
        rec, lw, factor = _value_operand(np.ascontiguousarray(v), 16, _model("exact"), None)
        assert odd > 1 and factor % odd == 0 and rec[7].shape[0] == 1  # one limb
    exact = va @ vb  # near the sum: the addends cancel most of it
    c = np.float32(-exact * rng.choice([0.0, 1.0, 0.999], exact.shape)).astype(np.float64)
    got = mxspec.matmul(a, b, c=c, rounding=rounding)
    for r in range(3):
        for col in range(4):
            want = ref.exact(va[r].tolist(), vb[:, col].tolist(), [0], [0], K, c=c[r, col],
                             mode=rounding)
            assert np.float32(got[r, col]).tobytes() == np.float32(want).tobytes(), (r, col)


@pytest.mark.parametrize("fmt", TILED)
def test_exact_matmul_of_2d_tiles_is_the_decoded_values_exact_product(fmt):
    """The 2D tile formats (SPEC.md 9.12, 9.13) through the one block layer: A (T x 256)
    times B (256 x T), each in T x bs tiles, is the exact product of their values."""
    assert {"nvfp4_2d", "deepseek_fp8_2d", "deepseek_fp8_2d_ue8m0"} <= set(TILED)
    T = mxspec.block_format(fmt).tile_rows
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((T, 256)) * np.exp2(rng.normal(0, 4, (T, 256)))).astype(np.float32)
    y = (rng.standard_normal((256, T)) * 3).astype(np.float32)
    a, b = mxspec.encode(x, fmt), mxspec.encode(y, fmt, axis=0)
    va, vb = mxspec.decode(a, np.float64), mxspec.decode(b, np.float64)
    got = mxspec.matmul(a, b)
    for r in range(0, T, T // 3 + 1):
        for c in range(0, T, T // 3 + 1):
            want = ref.exact(va[r].tolist(), vb[:, c].tolist(), [0], [0], 256)
            assert np.float32(got[r, c]).tobytes() == np.float32(want).tobytes(), (r, c)


@st.composite
def family_rows(draw):
    """Two rows of 128 float32 values over a wide exponent range (zeros, both
    signs, values that cancel), for a random pair of families."""
    fa, fb = draw(st.sampled_from(FAMILIES)), draw(st.sampled_from(FAMILIES))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([0.5, 4.0, 12.0]))
    x = (rng.standard_normal((2, 2, 128)) * np.exp2(rng.normal(0, spread, (2, 2, 128)))
         ).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = 0.0
    if "float16" in (mxspec.block_format(fa).scale_kind, mxspec.block_format(fb).scale_kind):
        x = np.clip(x, -60000, 60000)  # integer groups' float16 scales hold |x| / 15 < 65504
    if draw(st.booleans()):
        x[1, :, :64] = -x[0, :, :64]  # cancellation
    return fa, fb, x


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family_rows())
def test_exact_dot_of_every_block_family_is_the_decoded_values_exact_product(case):
    """`exact` dot and matmul over any block format: the exact sum of the
    products of the decoded values (tensor scales, UE4M3 and float32 block scales
    and micro levels entering exactly), rounded once; fp32_sequential and
    fp32_pairwise over the float32 values decode gives (the fractions reference
    of SPEC.md section 8, tests/dot_reference.py)."""
    fa, fb, x = case
    a, b = mxspec.encode(x[0], fa), mxspec.encode(x[1], fb)
    va, vb = mxspec.decode(a, np.float64), mxspec.decode(b, np.float64)
    got = mxspec.dot(a, b)
    c = float(np.float32(x[0, 0, 0]))
    got_c = mxspec.dot(a, b, c=c)
    seq = mxspec.dot(a, b, accumulator="fp32_sequential")
    pw = mxspec.dot(a, b, accumulator="fp32_pairwise")
    for r in range(2):
        ra, rb = va[r].tolist(), vb[r].tolist()
        for g, cc in ((got, 0.0), (got_c, c)):
            want = ref.exact(ra, rb, [0], [0], 128, cc)
            assert np.float32(g[r]).tobytes() == np.float32(want).tobytes(), (fa, fb, r, cc)
        a32, b32 = mxspec.decode(a)[r].tolist(), mxspec.decode(b)[r].tolist()
        assert np.float32(seq[r]) == np.float32(ref.fp32_sequential(a32, b32)), (fa, fb)
        assert np.float32(pw[r]) == np.float32(ref.fp32_pairwise(a32, b32)), (fa, fb)
    bt = mxspec.encode(np.ascontiguousarray(x[1].T), fb, axis=0)
    mm = mxspec.matmul(a, bt)
    for r in range(2):
        for s in range(2):
            want = ref.exact(va[r].tolist(), mxspec.decode(bt, np.float64)[:, s].tolist(),
                             [0], [0], 128)
            assert np.float32(mm[r, s]).tobytes() == np.float32(want).tobytes(), (fa, fb)


def test_the_issue_cases_and_models_that_refuse_a_family():
    """All-ones NVFP4 (1, 16) x (16, 1) gave 144 for 16.000...; MX6 gave 8 for 32;
    nvfp4_block_only dot(a, a) gave 0.  A datapath model refuses the family by name."""
    ones = np.ones((1, 16), np.float32)
    a, b = mxspec.encode(ones, "nvfp4"), mxspec.encode(ones.T, "nvfp4", axis=0)
    va, vb = mxspec.decode(a, np.float64), mxspec.decode(b, np.float64)
    assert mxspec.matmul(a, b)[0, 0] == np.float32(ref.exact(va[0].tolist(), vb[:, 0].tolist(),
                                                              [0], [0], 16))
    m6 = mxspec.encode(np.ones((1, 32), np.float32), "mx6")
    assert mxspec.dot(m6, m6).tolist() == [32.0]
    x = np.float32([[0.3, -1.7, 5.5, 2.25] * 4])
    nb = mxspec.encode(x, "nvfp4_block_only")
    want = float(np.sum(mxspec.decode(nb, np.float64) ** 2))
    assert mxspec.dot(nb, nb)[0] == np.float32(want) and want > 30
    for model in ("h100_fp8_mma", "fp32_blockwise", "fixed(24,rz,16)", "cublas_fp8"):
        with pytest.raises(ValueError, match="blocks of any size; a is nvfp4 with UE4M3"):
            mxspec.dot(a, a, accumulator=model)
