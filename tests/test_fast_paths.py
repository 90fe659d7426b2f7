"""The branch-free fast paths (SPEC.md 2.9) against the full path, on every
float16 and bfloat16 input scaled by every shared exponent a block can have.

A fast path may decline an element (NaN, Inf, a float32 subnormal, an overflow
that goes to Inf or NaN); every code it does give must equal the full path's,
and it must decline nothing else, or the test could pass by declining all."""
from concurrent.futures import ThreadPoolExecutor

import ml_dtypes
import numba
import numpy as np
import pytest

import mxspec
from mxspec.codec import core
from mxspec.tables import policies

_POOL = ThreadPoolExecutor(max_workers=mxspec._kernel.parallel.threads())
ALL16 = np.arange(1 << 16, dtype=np.uint16)
INPUTS = {"float16": ALL16.view(np.float16).astype(np.float32),
          "bfloat16": ALL16.view(ml_dtypes.bfloat16).astype(np.float32)}
FORMATS = ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4",
           "fp8_e4m3_ieee", "fp7_e3m3_b5", "fp3_e2m0", "int2",
           # no -0 (the sign of a zero result), ties to the even code with M = 0
           "fp8_e4m3fnuz", "fp8_e5m2fnuz", "p3109_k8p1se", "p3109_k5p1se",
           # unsigned: values below zero (SPEC.md 2.4)
           "uint4", "uint2", "p3109_k8p3ue", "p3109_k8p1uf", "p3109_k6p3uf"]
# both E8M0 clamps, the range where values reach a format's subnormals, and between
SHIFTS = sorted(set(range(-127, -100, 3)) | set(range(-40, 41)) | set(range(100, 128, 3))
                | {-127, -126, 126, 127})


@numba.njit(cache=True, nogil=True)
def _compare(x, shift, P, mode, ovf, irange):
    """For each fast pass (0 encode_rne32, where it applies and the mode is rne;
    1 encode_fast32; 2 encode_fast): how many of its codes differ from the
    full path's, and which elements it declined."""
    n = x.size
    bad = np.zeros(3, np.int64)
    declined = np.zeros((3, n), np.bool_)
    rne32 = mode == 0 and core.rne32_applies(P, shift, irange)
    m = core.pow2_f32(-shift) if rne32 else np.float32(0)
    for i in range(n):
        full, f = core.encode_scaled(np.float64(x[i]), shift, P, mode, ovf, 0, irange,
                                     numba.uint32(0))
        for which in range(3):
            if which == 0:
                if not rne32:
                    continue
                c, ok = core.encode_rne32(x[i] * m, P, ovf)
            elif which == 1:
                c, ok = core.encode_fast32(core._bitcast(x[i], np.int32(0)), shift, P, mode,
                                           ovf, irange)
            else:
                c, ok = core.encode_fast(np.float64(x[i]), shift, P, mode, ovf, irange,
                                         numba.uint32(0))
            if ok and c != full:
                bad[which] += 1
            declined[which, i] = not ok
    return bad, declined


def _must_decide(x, fmt, shift, ovf, which):
    """Elements a fast pass has no reason to decline."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.abs(x.astype(np.float64)) * 2.0 ** -shift
        finite = np.isfinite(x)
        if which == 0:  # x * 2**-shift past float32's range: Inf, which it declines
            finite &= scaled < 2.0 ** 128
        if which == 1:  # encode_fast32 leaves float32 subnormals to the full path
            finite &= (x == 0) | (np.abs(x) >= np.finfo(np.float32).tiny)
        # the passes decline an overflow to a NaN whose code the NaN profile
        # picks (fn formats); encode_rne32 every wrapped integer, the others
        # those too large for their shift
        nan_profile = fmt.has_nan and not fmt.has_inf and not fmt.nan_is_negative_zero
        if (ovf == "wrap" and which == 0) or (ovf == "ieee" and nan_profile):
            finite &= scaled < fmt.max_normal
        if ovf == "wrap" and which > 0:
            finite &= scaled < 2.0 ** (fmt.qmin + (23 if which == 1 else 52))
        if ovf == "zero" and which == 0:  # encode_rne32 declines every out-of-range integer
            finite &= scaled < fmt.max_normal
    return finite


def _shifts(mode, ovf, every):
    """Every shift (--runslow), or a spread that keeps both clamps."""
    if every:
        return SHIFTS
    step = 3 if (mode, ovf) == ("rne", "saturate") else 11  # the default gets the most
    return sorted(set(SHIFTS[::step]) | {-127, -126, 126, 127})


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("dtype", list(INPUTS))
def test_fast_paths_equal_full_path(name, dtype):
    _check_fast_paths(name, dtype, every=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("dtype", list(INPUTS))
def test_fast_paths_equal_full_path_every_shift(name, dtype):
    _check_fast_paths(name, dtype, every=True)


def _check_fast_paths(name, dtype, every):
    f = mxspec.element_format(name)
    x = INPUTS[dtype]
    ranges = ["symmetric", "full"] if f.kind == "int" else ["symmetric"]
    for mode in ["rne", "rtz", "rna", "up", "down"]:
        for ovf in [o for o in policies.OVERFLOW if o not in ("wrap", "zero") or f.is_int]:
            shifts = _shifts(mode, ovf, every)
            for irange in ranges:
                ids = (policies.check("rounding", mode), policies.check("overflow", ovf),
                       policies.check("int_range", irange))
                # the shifts on every core at once (the kernel releases the GIL)
                results = _POOL.map(lambda sh: _compare(x, sh, f.params, *ids), shifts)
                for shift, (bad, declined) in zip(shifts, results):
                    for which in range(3):
                        where = f"{name} {mode} {ovf} {irange} shift={shift} pass={which}"
                        assert bad[which] == 0, f"{where}: {bad[which]} codes differ"
                        if which == 0 and not (mode == "rne" and core.rne32_applies(
                                f.params, shift, policies.check("int_range", irange))):
                            continue
                        if mode == "rne" or ovf == "saturate":
                            must = _must_decide(x, f, shift, ovf, which)
                            assert not (declined[which] & must).any(), f"{where}: declined"
                        if which == 0 and core.rne32_declines_only_specials(f.params, ids[1]):
                            # the block kernels drop the check here: only a NaN or
                            # Inf product may be declined
                            with np.errstate(over="ignore", invalid="ignore"):
                                y = x * np.float32(2.0 ** -shift)
                            bad = declined[0] & np.isfinite(y)
                            assert not bad.any(), f"{where}: declined a finite product"


def test_rne32_applies_where_it_should():
    """The rne fast path covers every OCP format at every scale but the top."""
    for name in ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4"]:
        P = mxspec.element_format(name).params
        assert all(core.rne32_applies(P, s, 0) for s in range(-127, 127)), name
        assert not core.rne32_applies(P, 127, 0)
    assert not core.rne32_applies(mxspec.element_format("e8m0").params, 0, 0)
    assert not core.rne32_applies(mxspec.element_format("int8").params, 0, policies.INT_FULL)


@numba.njit(cache=True, nogil=True)
def _value_misses(x, shift, P, ovf):
    """How many of encode_rne32_value's decided values differ from its code's
    value (core.decode_one; a zero compares equal whatever its sign), and how
    many it decided."""
    m = core.pow2_f32(-shift)
    bad = 0
    seen = 0
    for i in range(x.size):
        c, ok, v = core.encode_rne32_value(x[i] * m, P, ovf)
        if ok:
            seen += 1
            want = core.decode_one(c, P)
            bad += not (v == want and (v == 0 or np.signbit(v) == np.signbit(want)))
    return bad, seen


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("dtype", list(INPUTS))
def test_rne32_value_is_its_codes_value_under_saturate(name, dtype):
    """encode_rne32_value's value (what a Four Over Six candidate's error reads
    in place of a decode, SPEC.md 9.10) equals the value of the code it gives,
    on every float16 / bfloat16 input at every shift where rne32 applies."""
    f = mxspec.element_format(name)
    ovf = policies.check("overflow", "saturate")
    irange = policies.check("int_range", "symmetric")
    shifts = [s for s in SHIFTS if core.rne32_applies(f.params, s, irange)]
    if not shifts:
        pytest.skip(f"encode_rne32 does not apply to {name}")
    results = _POOL.map(lambda sh: _value_misses(INPUTS[dtype], sh, f.params, ovf), shifts)
    for shift, (bad, seen) in zip(shifts, results):
        assert seen > 0 and bad == 0, f"{name} shift={shift}: {bad} of {seen} values differ"
