"""IEEE P3109 formats against gfloat, Graphcore's independent implementation of
P3109 (``format_info_p3109``, ``round_ndarray``, ``encode_ndarray``): every
code of every format decodes to gfloat's value, and every float16 and bfloat16
input and every rounding breakpoint (ties and their float32 neighbours, the
overflow tie, subnormal edges) encodes to gfloat's code under each of the five
IEEE rounding modes, saturating and not (SPEC.md 1.5, 2.4)."""
import warnings

import ml_dtypes
import numpy as np
import pytest

import mxspec
from mxspec.app.vectors import element_edge_inputs

gfloat = pytest.importorskip("gfloat")
from gfloat import (Domain, RoundMode, Signedness, decode_ndarray, encode_ndarray,  # noqa: E402
                    round_ndarray)
from gfloat.formats import format_info_p3109  # noqa: E402

ALL16 = np.arange(1 << 16, dtype=np.uint16)
with np.errstate(invalid="ignore"):  # bfloat16 NaNs widen with a warning
    INPUTS16 = np.concatenate([ALL16.view(np.float16).astype(np.float64),
                               ALL16.view(ml_dtypes.bfloat16).astype(np.float64)])
MODES = {"rne": RoundMode.TiesToEven, "rna": RoundMode.TiesToAway, "rtz": RoundMode.TowardZero,
         "up": RoundMode.TowardPositive, "down": RoundMode.TowardNegative}
NAMES = mxspec.p3109_formats()


def gfloat_format(name):
    f = mxspec.element_format(name)
    k, p = f.bits, f.mbits + 1
    return format_info_p3109(k, p, Signedness.Signed if f.signed else Signedness.Unsigned,
                             Domain.Extended if f.has_inf else Domain.Finite)


def breakpoints(f):
    """Every rounding breakpoint of ``f`` in float32 and float64 (vectors.py's
    edge inputs: ties, ties +- one float32 ulp, max, past max, subnormals)."""
    xs = [element_edge_inputs(f, it)[0].astype(np.float64) for it in ("float32", "float64")]
    return np.concatenate(xs)


def gfloat_encode(fi, x, mode, sat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = round_ndarray(fi, x, MODES[mode], sat)
        return np.asarray(encode_ndarray(fi, r)).astype(np.int64)


def test_names_and_facts_match_gfloat():
    assert len(NAMES) == 120 and len(set(NAMES)) == 120
    for name in NAMES:
        f, fi = mxspec.element_format(name), gfloat_format(name)
        assert fi.name == name == f.name
        assert (f.bias, f.signed, f.has_inf) == (fi.bias, fi.is_signed, fi.domain == Domain.Extended)
        assert f.max_normal == fi.max and f.min_subnormal == fi.smallest_subnormal
        assert f.nan_code == fi.code_of_nan
        if f.has_inf:
            assert f.inf_mag_code == fi.code_of_posinf


@pytest.mark.parametrize("name", NAMES)
def test_every_code_decodes_as_gfloat(name):
    f, fi = mxspec.element_format(name), gfloat_format(name)
    codes = np.arange(f.n_codes)
    ref = np.asarray(decode_ndarray(fi, codes), np.float64)
    got = mxspec.decode_elements(codes.astype(np.uint8), f, np.float64)
    assert np.array_equal(got, ref, equal_nan=True), name
    # one NaN, no negative zero
    assert np.isnan(got).sum() == 1 and not (np.signbit(got) & (got == 0)).any()


@pytest.mark.parametrize("name", NAMES)
def test_every_16bit_input_and_breakpoint_encodes_as_gfloat(name):
    f, fi = mxspec.element_format(name), gfloat_format(name)
    x = np.concatenate([INPUTS16, breakpoints(f)])
    if not f.signed:  # gfloat leaves negative inputs to unsigned formats undefined
        x = x[~(np.signbit(x) & (x != 0))]  # SPEC.md 2.4 and test_unsigned_below_zero
    for mode in MODES:
        for sat, overflow in ((True, "saturate"), (False, "ieee")):
            got = mxspec.encode_elements(x, f, rounding=mode, overflow=overflow).astype(np.int64)
            ref = gfloat_encode(fi, x, mode, sat)
            bad = np.nonzero(got != ref)[0]
            assert bad.size == 0, (f"{name} {mode} {overflow}: {bad.size} differ, first "
                                   f"x={x[bad[0]]!r} got {got[bad[0]]:#x} gfloat {ref[bad[0]]:#x}")
        # sat_propagate: saturate for finite inputs, ieee for infinities
        got = mxspec.encode_elements(x, f, rounding=mode, overflow="sat_propagate").astype(np.int64)
        ref = np.where(np.isinf(x), gfloat_encode(fi, x, mode, False), gfloat_encode(fi, x, mode, True))
        assert np.array_equal(got, ref), f"{name} {mode} sat_propagate"


def test_p1_ties_go_to_the_even_code():
    """P = 1: every value is a power of two, so the even *multiple* of the step
    is always the upper neighbour; P3109 (and mxspec for P3109 formats) break
    the tie toward the even code instead.  E8M0 keeps ties up (SPEC.md 2.2)."""
    f = mxspec.element_format("p3109_k8p1se")  # bias 64: 1.0 is code 64
    enc = lambda v: int(mxspec.encode_elements(v, f))  # noqa: E731
    assert enc(1.5) == 64 and enc(3.0) == 66   # 1|2: code 64 even; 2|4: 65 odd -> 66
    assert enc(-1.5) == 64 | 0x80
    assert int(mxspec.encode_elements(1.5, "e8m0")) == 128  # OCP E8M0: up


def test_fnuz_is_p3109_signed_finite():
    """AMD/Graphcore FNUZ FP8 is P3109's signed finite format of the same K, P."""
    for fnuz, p3109 in (("fp8_e4m3fnuz", "p3109_k8p4sf"), ("fp8_e5m2fnuz", "p3109_k8p3sf")):
        a, b = mxspec.element_format(fnuz), mxspec.element_format(p3109)
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert a.params == b.params


def test_unsigned_below_zero():
    """SPEC.md 2.4: a negative input to an unsigned format gives +0 when it
    rounds to zero; otherwise 0 when saturating (or rounding toward zero), else
    NaN."""
    f = mxspec.element_format("p3109_k8p3ue")
    tiny = f.min_subnormal / 4
    enc = lambda x, *a: [int(c) for c in mxspec.encode_elements(  # noqa: E731
        np.array(x), f, **dict(zip(("rounding", "overflow"), a)))]
    assert enc([-0.0, -tiny]) == [0, 0]
    assert enc([-1.0, -np.inf], "rne", "saturate") == [0, 0]
    assert enc([-1.0, -np.inf], "rne", "ieee") == [0xFF, 0xFF]
    assert enc([-1.0, -np.inf], "rne", "sat_propagate") == [0, 0xFF]
    assert enc([-1.0], "rtz", "ieee") == [0]  # toward zero: the limit, 0
    assert enc([-tiny], "down", "ieee") == [0xFF]  # rounds away from zero to -min: out of range
    _, fl = mxspec.encode_elements(np.array([-1.0, -tiny]), f, return_flags=True)
    assert [mxspec.policies.flag_names(v) for v in fl] == [["inexact", "invalid"],
                                                           ["inexact", "underflow"]]
