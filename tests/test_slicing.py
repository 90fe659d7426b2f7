"""Slice-and-Scale in the code domain against the float path (SPEC.md section 7)."""
import warnings

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mxspec
from mxspec.codec.core import interpreted, pow2_f32, rne32_applies
from mxspec.codec.elements import value32_exact
from mxspec.tables.policies import INT_SYMMETRIC
from mxspec.compute.slicing import scaled_code32

PAIRS = [("int8", t) for t in ("int7", "int6", "int5", "int4", "int3", "int2")] + \
    [(a, t) for a in ("fp8_e4m3", "fp8_e5m2")
     for t in ("fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "fp5_e2m2", "fp7_e3m3", "fp6_e4m1_ieee")] + \
    [("fp6_e3m2", "fp4_e2m1"), ("int6", "int3"), ("fp8_e4m3fnuz", "fp6_e3m2"),
     ("fp8_e5m2fnuz", "fp8_e4m3fnuz"), ("p3109_k8p3se", "p3109_k6p2se"), ("int8", "uint4")]
RBITS = np.random.default_rng(11).integers(0, 1 << 32, 256, dtype=np.uint32)


def float_path(codes, a, t, d, rounding, overflow, rbits=None):
    v = mxspec.decode_elements(codes, a, np.float64) * 2.0 ** d  # exact in float64
    kw = {"rbits": rbits} if rounding == "stochastic" else {}
    return mxspec.encode_elements(v, t, rounding=rounding, overflow=overflow, **kw)


@pytest.mark.parametrize("a,t", PAIRS)
def test_every_code_every_offset_every_mode(a, t):
    """For every anchor code, every scale offset 2^d that can occur (d in
    -254..254) under rne, and d in -40..40 under every mode and overflow policy,
    the code-domain result equals decode-then-encode."""
    codes = np.arange(mxspec.element_format(a).n_codes, dtype=np.uint8)
    cases = [(d, "rne", "saturate") for d in range(-254, 255)]
    cases += [(d, m, o) for d in range(-40, 41) for m in mxspec.policies.ROUNDING
              for o in mxspec.policies.OVERFLOW
              if o not in ("wrap", "zero") or mxspec.element_format(t).is_int]
    for d, mode, ovf in cases:
        kw = {"rbits": RBITS[:codes.size]} if mode == "stochastic" else {}
        got = mxspec.slice_elements(codes, a, t, d, rounding=mode, overflow=ovf, **kw)
        exp = float_path(codes, a, t, d, mode, ovf, RBITS[:codes.size])
        bad = np.nonzero(got != exp)[0]
        assert bad.size == 0, f"{a}->{t} d={d} {mode} {ovf}: code {bad[0]:#x} gives " \
                              f"{got[bad[0]]:#x}, float path {exp[bad[0]]:#x}"


def anchor_blocks(anchor):
    el = mxspec.mx_format(anchor).element
    codes = st.lists(st.integers(0, el.n_codes - 1), min_size=1, max_size=70)
    scales = st.integers(0, 255) | st.sampled_from([0, 1, 127, 253, 254, 255])
    return st.tuples(codes, st.lists(scales, min_size=3, max_size=3))


def make_anchor(anchor, codes, scales, bs):
    n = len(codes)
    nb = -(-n // bs)
    sc = (scales * nb)[:nb]
    return mxspec.MXArray(np.array(codes, np.uint8), np.array(sc, np.uint8),
                          mxspec.mx_format(anchor), bs, 0)


MXPAIRS = [("mxint8", "mxint4"), ("mxint8", "mxint2"), ("mxfp8_e4m3", "mxfp4_e2m1"),
           ("mxfp8_e4m3", "mxfp6_e3m2"), ("mxfp8_e5m2", "mxfp6_e2m3"), ("mxfp8_e5m2", "mxfp4_e2m1"),
           ("mxfp8_e4m3", "mxfp5_e2m2")]


@given(st.sampled_from(MXPAIRS), st.data(), st.sampled_from([1, 8, 32]),
       st.sampled_from(["rne", "rtz", "rna", "up", "down"]),
       st.sampled_from(["saturate", "ieee"]), st.sampled_from(["nan_scale", "element"]),
       st.sampled_from(["min", "one"]))
def test_requantize_equals_float_path(pair, data, bs, rounding, overflow, inf, zero_scale):
    """rule='requantize' is bit for bit encode(decode(anchor), floor rule)."""
    a, t = pair
    codes, scales = data.draw(anchor_blocks(a))
    A = make_anchor(a, codes, scales, bs)
    kw = dict(rounding=rounding, overflow=overflow, inf=inf, zero_scale=zero_scale)
    got = mxspec.slice_and_scale(A, t, rule="requantize", **kw)
    exp = mxspec.encode(mxspec.decode(A, np.float64), t, axis=0, block_size=bs,
                        scale_rule="floor", **kw)
    assert got.equals(exp)


@given(st.sampled_from(MXPAIRS), st.data(), st.sampled_from([1, 8, 32]),
       st.sampled_from(["rne", "rtz", "rna"]))
def test_paper_rule_equals_its_float_reference(pair, data, bs, rounding):
    """rule='paper': scale code + emax(anchor) - emax(target), clamped; the
    elements are the decoded anchor values re-encoded under that scale."""
    a, t = pair
    codes, scales = data.draw(anchor_blocks(a))
    A = make_anchor(a, codes, scales, bs)
    got = mxspec.slice_and_scale(A, t, rule="paper", rounding=rounding)
    ea, et = mxspec.mx_format(a).element, mxspec.mx_format(t).element
    vals = mxspec.decode(A, np.float64)
    for j, S in enumerate(A.scales):
        blk = vals[j * bs:(j + 1) * bs]
        el_codes = A.codes[j * bs:(j + 1) * bs]
        special = np.isnan(ea.values[el_codes]).any() or np.isinf(ea.values[el_codes]).any()
        if S == 255 or special:
            assert got.scales[j] == 255 and (got.codes[j * bs:(j + 1) * bs] == 0).all()
            continue
        s2 = min(max(int(S) - 127 + ea.emax - et.emax, -127), 127)
        assert got.scales[j] == s2 + 127
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = mxspec.encode_elements(blk * 2.0 ** -s2, et, rounding=rounding)
        assert got.codes[j * bs:(j + 1) * bs].tolist() == exp.tolist()


def test_directed_blocks():
    e4 = mxspec.mx_format("mxfp8_e4m3")
    top = np.array([0x7E, 0x30, 0x81, 0x05], np.uint8)    # max element 448: top exponent
    low = np.array([0x38, 0x30, 0x81, 0x05], np.uint8)    # max element 1.0: below the top
    zero = np.zeros(4, np.uint8)
    for codes, scales in [(top, [127]), (low, [127]), (zero, [127]), (top, [255]), (top, [0]),
                          (top, [254]), (low, [0]), (low, [254])]:
        A = mxspec.MXArray(codes, np.array(scales, np.uint8), e4, 4, 0)
        for t in ("mxfp4_e2m1", "mxfp6_e3m2", "mxfp6_e2m3"):
            got = mxspec.slice_and_scale(A, t)
            exp = mxspec.encode(mxspec.decode(A, np.float64), t, block_size=4)
            assert got.equals(exp), (codes, scales, t)
    # where the rules differ: a block whose largest element is below the top exponent
    A = mxspec.MXArray(low, np.array([127], np.uint8), e4, 4, 0)
    paper = mxspec.slice_and_scale(A, "mxfp4_e2m1", rule="paper")
    req = mxspec.slice_and_scale(A, "mxfp4_e2m1", rule="requantize")
    assert paper.scales[0] == 127 + 6 and req.scales[0] == 127 + 0 - 2
    assert mxspec.decode(req).tolist() == [1.0, 0.5, -0.0, 0.0]   # keeps 0.5
    assert mxspec.decode(paper).tolist() == [0.0, 0.0, -0.0, 0.0]  # 1.0 / 64 underflows
    # MXINT8 -> MXINT4: same scale, codes sliced with rounding (SPEC.md 7.4)
    A = mxspec.MXArray(np.array([127, 0x81, 0x48, 0x38, 8, 0xF8], np.uint8),
                       np.array([127], np.uint8), mxspec.mx_format("mxint8"), 32, 0)
    B = mxspec.slice_and_scale(A, "mxint4", rule="paper")
    assert B.scales[0] == 127 and B.codes.tolist() == [7, 9, 4, 4, 0, 0]


def test_stochastic_slicing_is_reproducible():
    x = np.random.default_rng(1).standard_normal(256).astype(np.float32)
    A = mxspec.encode(x, "mxint8")
    a = mxspec.slice_and_scale(A, "mxint4", rounding="stochastic", seed=4)
    b = mxspec.slice_and_scale(A, "mxint4", rounding="stochastic", seed=4)
    c = mxspec.encode(mxspec.decode(A, np.float64), "mxint4", rounding="stochastic", seed=4)
    assert a.equals(b) and a.equals(c)


def test_refusals():
    A = mxspec.encode(np.ones(32, np.float32), "mxint8")
    with pytest.raises(ValueError, match=r"no Slice-and-Scale rule from mxint8 to mxfp4_e2m1; "
                                         r"defined pairs: int\{n\} -> int\{m\}"):
        mxspec.slice_and_scale(A, "mxfp4_e2m1")
    with pytest.raises(ValueError, match="no Slice-and-Scale rule from mxint8 to mxint8"):
        mxspec.slice_and_scale(A, "mxint8")
    with pytest.raises(ValueError, match="rule='floor' is not valid; allowed values: requantize, paper"):
        mxspec.slice_and_scale(A, "mxint4", rule="floor")
    with pytest.raises(TypeError, match="BlockArray"):
        mxspec.slice_and_scale(A.codes, "mxint4")
    F = mxspec.encode(np.ones(32, np.float32), "mxfp4_e2m1")
    with pytest.raises(ValueError, match="no Slice-and-Scale rule from mxfp4_e2m1 to mxfp8_e4m3"):
        mxspec.slice_and_scale(F, "mxfp8_e4m3")


@pytest.mark.parametrize("an,tg", [("mxint8", "mxint4"), ("mxint8", "mxint2"),
                                   ("mxfp8_e4m3", "mxfp4_e2m1"), ("mxfp8_e5m2", "mxfp6_e2m3"),
                                   ("mxfp8_e4m3fnuz", "mxfp4_e2m1"), ("mxint6", "mxint3")])
@pytest.mark.parametrize("L", [(1 << 15) + 7, 1 << 15])
def test_large_arrays_take_the_frozen_kernel_with_the_same_result(an, tg, L):
    """Arrays of 2^20 elements or more run a kernel with the block size and the
    key frozen in (the block's largest key a vector max: sign-magnitude or
    two's-complement codes, else the rank table; with whole blocks of 8-bit
    codes the max is vector code and the codes go eight to a word); its codes
    and scales equal the generic kernel's row by row, with NaN, Inf (as a NaN
    scale and as an element), zero blocks, a ragged last block (L = 2^15 + 7) or
    whole rows folded into one (2^15) and both rules."""
    from mxspec.compute import slicing
    rng = np.random.default_rng(5)
    rows = 33
    x = (rng.standard_normal((rows, L)) * np.exp2(rng.normal(0, 4, (rows, L)))).astype(np.float32)
    x[0, :6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30]
    x[1, :32] = 0.0
    x[2, 40] = np.inf
    x[3, 70] = -np.inf
    for inf in ("nan_scale", "element"):
        A = mxspec.encode(x, an, inf=inf)
        assert A.codes.size >= slicing.SPECIALIZE_MIN
        for rule in ("requantize", "paper"):
            big = mxspec.slice_and_scale(A, tg, rule=rule, inf=inf)
            for r in (0, 1, 2, 3, 17, 32):  # one row: the generic kernel
                one = mxspec.slice_and_scale(
                    mxspec.MXArray(A.codes[r:r + 1], A.scales[r:r + 1], A.format, 32, 1), tg,
                    rule=rule, inf=inf)
                assert np.array_equal(big.codes[r:r + 1], one.codes), (inf, rule, r)
                assert np.array_equal(big.scales[r:r + 1], one.scales), (inf, rule, r)
            if rule == "requantize":
                ref = mxspec.encode(mxspec.decode(A, np.float64), tg, inf=inf)
                assert big.equals(ref), inf


@pytest.mark.parametrize("an,tg", [("mxint8", "mxint3"), ("mxfp8_e4m3", "mxfp6_e3m2"),
                                   ("mxfp8_e5m2", "mxfp4_e2m1")])
def test_whole_block_kernel_on_every_code_and_a_misaligned_buffer(an, tg):
    """The word kernel (whole blocks of 8-bit codes, 2^20 of them) on codes
    drawn from all 256 values, -128 and NaN among them, every scale code, and a
    code array that starts one byte into its buffer: each block equals the
    generic kernel's result on it alone."""
    rng = np.random.default_rng(9)
    n = 1 << 20
    buf = rng.integers(0, 256, n + 1).astype(np.uint8)
    codes = buf[1:]  # not 8-byte aligned
    codes[:256] = np.arange(256)
    scales = rng.integers(0, 256, n // 32).astype(np.uint8)
    A = mxspec.MXArray(codes, scales, mxspec.block_format(an), 32, 0)
    big = mxspec.slice_and_scale(A, tg)
    for b in list(range(8)) + list(rng.integers(0, n // 32, 200)):
        one = mxspec.slice_and_scale(
            mxspec.MXArray(codes[b * 32:(b + 1) * 32], scales[b:b + 1], A.format, 32, 0), tg)
        assert np.array_equal(big.codes[b * 32:(b + 1) * 32], one.codes), b
        assert big.scales[b] == one.scales[0], b


def test_key_tables_order_the_codes():
    """The rank table puts NaN above Inf above every finite exponent above zero,
    and the arithmetic keys agree with it on every code."""
    from mxspec.compute import slicing
    for name in ("int8", "int4", "fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp8_e4m3fnuz"):
        P = mxspec.element_format(name).params
        lut, top, cls, key_tab, key_top, key_cls = slicing._tables(P, mxspec.policies.record(P))
        n = top.size
        for c in range(n):
            assert key_top[key_tab[c]] == top[c] and key_cls[key_tab[c]] == cls[c], (name, c)
        kind = slicing.key_kind(P)
        bits = mxspec.element_format(name).bits
        if kind == slicing.KEY_TABLE:
            continue
        for c in range(n):
            k = c & ((1 << (bits - 1)) - 1) if kind == slicing.KEY_SIGN_MAGNITUDE else \
                (c if c < (1 << (bits - 1)) else (1 << bits) - c)
            assert top[k] == top[c] and cls[k] == cls[c], (name, c)
        for c1 in range(n):  # a larger key never has a smaller rank
            for c2 in range(n):
                k1 = c1 & ((1 << (bits - 1)) - 1) if kind == slicing.KEY_SIGN_MAGNITUDE else \
                    (c1 if c1 < (1 << (bits - 1)) else (1 << bits) - c1)
                k2 = c2 & ((1 << (bits - 1)) - 1) if kind == slicing.KEY_SIGN_MAGNITUDE else \
                    (c2 if c2 < (1 << (bits - 1)) else (1 << bits) - c2)
                if k1 > k2:
                    assert key_tab[c1] >= key_tab[c2], (name, c1, c2)


@pytest.mark.parametrize("a,t", PAIRS)
def test_arithmetic_elements_equal_the_table_on_every_code(a, t):
    """The large-array kernel's element step by float32 arithmetic
    (slicing.scaled_code32: the code's value times 2^d, the FPU's rne) equals
    the code-domain rule (convert_span, the table every other kernel reads) on
    every anchor code for every offset d where arith_offsets lets the kernel take
    it; where it declines a pair (another rounding, unsigned or fnuz-style
    targets the FPU's rne does not decide), the table is all there is."""
    from mxspec.compute import slicing
    A, T = mxspec.element_format(a), mxspec.element_format(t)
    R = slicing._record(T, "rne", "saturate", "keep_sign", "symmetric")
    span = slicing.arith_offsets(A, R)
    if span is None:
        assert not interpreted(rne32_applies)(T.params, 0, INT_SYMMETRIC) or not value32_exact(A), \
            (a, t)
        return
    lo, hi = span
    assert lo == -126 and hi >= 100
    got = np.empty((hi - lo + 1, A.n_codes), np.uint8)
    _arith_rows(A.params, T.params, lo, hi, got)
    lut = slicing._tables(A.params, R)[0]
    exp = lut[lo - slicing.D_MIN:hi - slicing.D_MIN + 1, :A.n_codes]
    # NaN and Inf codes never reach it: their blocks take a NaN scale or the table
    v = mxspec.decode_elements(np.arange(A.n_codes), a, np.float64)
    finite = np.isfinite(v)
    assert finite.sum() >= A.n_codes - 14
    bad = np.argwhere((got != exp) & finite)
    assert bad.size == 0, f"{a}->{t}: d={bad[0][0] + lo} code {bad[0][1]:#x}: " \
                          f"{got[tuple(bad[0])]:#x}, table {exp[tuple(bad[0])]:#x}"
    # and every anchor value times 2^hi is finite: the kernel needs no check
    assert np.all(np.abs(v[finite]) * 2.0 ** hi < np.finfo(np.float32).max)


@numba.njit
def _arith_rows(Pa, Pt, lo, hi, out):
    for d in range(lo, hi + 1):
        m = pow2_f32(d)
        for c in range(out.shape[1]):
            out[d - lo, c] = scaled_code32(c, m, Pa, Pt)
