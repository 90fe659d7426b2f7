"""HiFloat8 (SPEC.md section 10): every code against the definition written out
here and against en-dtypes' hifloat8 (a test-only cross-check, like ml_dtypes);
every float16 and bfloat16 input and every rounding breakpoint against a
reference written here; the laws of a rounding."""
from __future__ import annotations


# en-dtypes, the independent HiF8 cast, is a test dependency (the [test] extra), like
# gfloat: a missing one fails the run instead of skipping the cross-checks
import en_dtypes as en
import ml_dtypes
import numpy as np
import pytest

import mxspec
from hifloat8_reference import POS, SPEC, ref_encode, ref_flags


def test_every_code_decodes_as_the_definition():
    got = mxspec.decode_elements(np.arange(256, dtype=np.uint8), "hifloat8", np.float64)
    assert np.array_equal(got, SPEC, equal_nan=True)
    f = mxspec.tables.tapered.tapered_format("hifloat8")
    assert f.max_normal == 2.0 ** 15 and f.min_normal == 2.0 ** -15
    assert f.min_subnormal == 2.0 ** -22 and SPEC[0x6E] == 2.0 ** 15 and SPEC[0x7E] == 2.0 ** -15


def test_every_code_equals_en_dtypes():
    theirs = np.arange(256, dtype=np.uint8).view(en.hifloat8).astype(np.float64)
    assert np.array_equal(theirs, SPEC, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_every_16_bit_input(dtype):
    """All 65,536 inputs: the reference for every mode and policy; en-dtypes'
    cast (ties away, overflow to Inf, NaN to 0x80, -0 to 0x00) for the defaults."""
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(dtype)
    got = mxspec.encode_elements(x, "hifloat8")
    assert np.array_equal(got, ref_encode(x.astype(np.float64)))
    for mode, ovf, nan in (("rtz", "ieee", "keep"), ("up", "saturate", "zero"),
                           ("down", "ieee", "keep"), ("rna", "saturate", "zero")):
        sub = x[::7]
        assert np.array_equal(mxspec.encode_elements(sub, "hifloat8", rounding=mode, overflow=ovf, nan=nan),
                              ref_encode(sub.astype(np.float64), mode, ovf, nan)), (mode, ovf)
    theirs = x.astype(np.float32).astype(en.hifloat8).view(np.uint8)
    assert np.array_equal(got, theirs)


def test_every_breakpoint():
    """Each midpoint between neighbours, the largest value's overflow threshold,
    and their float32 and float64 neighbours, under every mode."""
    mids = (POS[:-1] + POS[1:]) / 2
    pts = np.concatenate([POS, mids, [1.25 * 2.0 ** 15, 1.5 * 2.0 ** 15, np.inf, 2.0 ** -23]])
    xs = [pts]
    for dt in (np.float32, np.float64):
        p = pts.astype(dt)
        xs += [np.nextafter(p, dt(0)), np.nextafter(p, dt(np.inf))]
    x = np.concatenate([a.astype(np.float64) for a in xs])
    x = np.concatenate([x, -x])
    for mode in mxspec.tables.tapered.TAPERED_ROUNDING:
        for ovf in mxspec.tables.tapered.TAPERED_OVERFLOW:
            assert np.array_equal(mxspec.encode_elements(x, "hifloat8", rounding=mode, overflow=ovf),
                                  ref_encode(x, mode, ovf)), (mode, ovf)


def test_laws():
    codes = np.array([c for c in range(256) if c != 0x80], np.uint8)
    v = SPEC[codes]
    # idempotence: every value encodes to its own code
    assert np.array_equal(mxspec.encode_elements(v, "hifloat8"), codes)
    # monotonicity and sign symmetry on a dense sweep
    x = np.sort(np.random.default_rng(0).standard_normal(20000) * 2.0 ** 8)
    c = mxspec.encode_elements(x, "hifloat8")
    d = mxspec.decode_elements(c, "hifloat8", np.float64)
    assert (np.diff(d) >= 0).all()
    neg = mxspec.encode_elements(-x, "hifloat8")
    assert np.array_equal(mxspec.decode_elements(neg, "hifloat8", np.float64), -d + 0.0)
    # nearest-ness under rna: no representable value is closer
    err = np.abs(d - x)
    assert (err <= np.min(np.abs(POS[None, :] - np.abs(x)[:, None]), axis=1) + 0).all()


def test_errors():
    with pytest.raises(ValueError, match="rounding='rne' is not valid for hifloat8; allowed "
                                         "values: rna, rtz, up, down, hybrid"):
        mxspec.encode_elements(1.0, "hifloat8", rounding="rne")
    with pytest.raises(ValueError, match="a tapered format takes rounding, overflow, nan, "
                                         "return_flags, and seed or rbits"):
        mxspec.encode_elements(1.0, "hifloat8", recipe="ml_dtypes")
    with pytest.raises(ValueError, match="rounding='hybrid' needs seed= or rbits="):
        mxspec.encode_elements(1.0, "hifloat8", rounding="hybrid")
    with pytest.raises(ValueError, match="seed= and rbits= are for rounding='hybrid', not 'rna'"):
        mxspec.encode_elements(1.0, "hifloat8", seed=1)
    with pytest.raises(ValueError, match="rbits must be a uint32 array of 2 elements"):
        mxspec.encode_elements([1.0, 2.0], "hifloat8", rounding="hybrid", rbits=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="out of range"):
        mxspec.decode_elements([256], "hif8")


def test_show(capsys):
    from mxspec.app import cli
    assert cli.main(["show", "hifloat8"]) == 0
    out = capsys.readouterr().out
    assert "0x6E  01101110  32768" in out and "0x80  10000000  nan" in out
    assert cli.main(["show", "2.7", "hif8"]) == 0
    assert "code 0x13 (00010011) = 2.75 (rna, ieee): inexact" in capsys.readouterr().out
    assert cli.main(["show", "2.7", "hifloat8", "--rounding", "rne"]) == 2


def test_flags():
    """SPEC.md 10.3 against the reference, on every float16 input and the
    breakpoints, under every mode and policy."""
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    x = np.concatenate([x[::5], (POS[:-1] + POS[1:]) / 2, [40960.0, -40960.0, 1e9]])
    for mode in mxspec.tables.tapered.TAPERED_ROUNDING:
        for ovf in mxspec.tables.tapered.TAPERED_OVERFLOW:
            for nan in mxspec.tables.tapered.TAPERED_NAN:
                c, fl = mxspec.encode_elements(x, "hifloat8", rounding=mode, overflow=ovf, nan=nan, return_flags=True)
                assert np.array_equal(c, ref_encode(x, mode, ovf, nan))
                assert np.array_equal(fl, ref_flags(x, c, mode, ovf, nan)), (mode, ovf, nan)


def test_float32_table_equals_the_search():
    """SPEC.md 10.4: float32 inputs are decided by a table of 16,384 codes that
    the search itself made.  Every table entry, read with low bits 0, 1, a
    middle pattern and all ones (so both sides of every entry's range), equals
    the search (the float64 path) under every mode and policy, both signs, and
    the reference on a sample."""
    top = np.arange(8192, dtype=np.uint32) << np.uint32(19)
    lows = np.uint32([0, 1, 0x2AAAA, 0x40000, 0x7FFFF])
    x32 = (top[:, None] | lows[None, :]).reshape(-1).view(np.float32)
    x64 = x32.astype(np.float64)
    for mode in mxspec.tables.tapered.TAPERED_ROUNDING:
        for ovf in mxspec.tables.tapered.TAPERED_OVERFLOW:
            for nan in mxspec.tables.tapered.TAPERED_NAN:
                got = mxspec.encode_elements(x32, "hifloat8", rounding=mode, overflow=ovf, nan=nan)
                assert np.array_equal(got, mxspec.encode_elements(x64, "hifloat8", rounding=mode, overflow=ovf,
                                                                  nan=nan)), (mode, ovf, nan)
                sub = slice(None, None, 37)
                assert np.array_equal(got[sub], ref_encode(x64[sub], mode, ovf, nan))


def test_hybrid_float32_path_equals_the_search():
    """Hybrid rounding of float32 inputs (the tables plus the stochastic choice)
    against the search (float64 inputs), on every table entry with several low
    bit patterns, float32 subnormals and the specials, with random r, under
    both overflow policies."""
    top = np.arange(8192, dtype=np.uint32) << np.uint32(19)
    lows = np.uint32([0, 1, 0x2AAAA, 0x40000, 0x7FFFF])
    bits = np.concatenate([(top[:, None] | lows[None, :]).reshape(-1),
                           np.uint32([1, 0x7FFFFF, 0x80000001, 0x477FFFFF, 0x47200000])])
    x32 = bits.view(np.float32)
    r = np.random.default_rng(9).integers(0, 1 << 32, x32.size, dtype=np.uint32)
    for ovf in mxspec.tables.tapered.TAPERED_OVERFLOW:
        for nan in mxspec.tables.tapered.TAPERED_NAN:
            got = mxspec.encode_elements(x32, "hifloat8", rounding="hybrid", overflow=ovf, nan=nan, rbits=r)
            want = mxspec.encode_elements(x32.astype(np.float64), "hifloat8", rounding="hybrid", overflow=ovf, nan=nan,
                                          rbits=r)
            assert np.array_equal(got, want), (ovf, nan)
    sub = slice(None, None, 29)
    assert np.array_equal(got[sub], ref_encode(x32[sub], "hybrid", "saturate", "zero", r=r[sub]))


def test_hybrid_rounding():
    """SPEC.md 10.2's hybrid: every float16 input with random bits against the
    reference (fractions); ties away where |E| < 4; stochastic elsewhere, where
    r = 0 rounds toward zero, r = 2^32 - 1 away from it, and r spread evenly
    over 2^32 gives the input's value on average."""
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    x = x[np.isfinite(x)].astype(np.float32)
    r = np.random.default_rng(5).integers(0, 1 << 32, x.size, dtype=np.uint32)
    for ovf in mxspec.tables.tapered.TAPERED_OVERFLOW:
        got = mxspec.encode_elements(x, "hifloat8", rounding="hybrid", overflow=ovf, rbits=r)
        assert np.array_equal(got, ref_encode(x, "hybrid", ovf, r=r)), ovf
    assert np.array_equal(mxspec.encode_elements(x, "hifloat8", rounding="hybrid", seed=3),
                          mxspec.encode_elements(x, "hifloat8", rounding="hybrid", seed=3))
    E = np.frexp(np.abs(x.astype(np.float64)))[1] - 1
    ta = (np.abs(E) < 4) & (x != 0)
    for rv in (0, 0xFFFFFFFF):
        got = mxspec.encode_elements(x, "hifloat8", rounding="hybrid", rbits=np.full(x.size, rv, np.uint32))
        assert np.array_equal(got[ta], mxspec.encode_elements(x[ta], "hifloat8", rounding="rna"))
        sr = ~ta & (np.abs(x) < 40960)
        want = "rtz" if rv == 0 else None
        if want:
            assert np.array_equal(got[sr], mxspec.encode_elements(x[sr], "hifloat8", rounding="rtz"))
        else:  # away from zero: up for positives, down for negatives
            pos, neg = sr & (x > 0), sr & (x < 0)
            assert np.array_equal(got[pos], mxspec.encode_elements(x[pos], "hifloat8", rounding="up"))
            assert np.array_equal(got[neg], mxspec.encode_elements(x[neg], "hifloat8", rounding="down"))
    # unbiased: 2^12 evenly spread r give the mean exactly to within 2^-12 of a step
    for v in (20.3, -1000.7, 3.0e-6, 2.0 ** -21 * 1.3, 1e-8, 33000.0):
        rr = (np.arange(1 << 12, dtype=np.uint64) << np.uint64(20)).astype(np.uint32)
        c = mxspec.encode_elements(np.full(rr.size, v), "hifloat8", rounding="hybrid", overflow="saturate", rbits=rr)
        d = mxspec.decode_elements(c, "hifloat8", np.float64)
        lo, hi = np.min(np.abs(d)), np.max(np.abs(d))
        step = max(hi - lo, abs(v) * 2.0 ** -40)
        assert abs(d.mean() - v) <= step * 2.0 ** -12 if v != 33000.0 else d.mean() == 32768.0
    # exactly representable values never move, and 40960 and past overflow as rna does
    codes = np.array([c for c in range(256) if c not in (0x80, 0x6F, 0xEF)], np.uint8)
    vals = SPEC[codes]
    rr = np.full(vals.size, 0xFFFFFFFF, np.uint32)
    assert np.array_equal(mxspec.encode_elements(vals, "hifloat8", rounding="hybrid", rbits=rr), codes)
    big = np.array([40960.0, -50000.0, np.inf])
    assert mxspec.encode_elements(big, "hifloat8", rounding="hybrid", seed=0).tolist() == [0x6F, 0xEF, 0x6F]
    c, fl = mxspec.encode_elements(x, "hifloat8", rounding="hybrid", overflow="saturate", nan="zero", rbits=r,
                                   return_flags=True)
    assert np.array_equal(fl, ref_flags(x, c, "hybrid", "saturate", "zero", r))
