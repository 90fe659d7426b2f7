"""The numeric core, as Numba functions that other Numba code can call.

Every value, whether a float input or an element code, is first split into
*parts*: ``(cls, neg, sig, e_top, e_lsb)`` meaning ``(-1)**neg * sig * 2**e_lsb``
with ``floor(log2(value)) == e_top`` (class ``CLS_ZERO``, ``CLS_FINITE``,
``CLS_INF`` or ``CLS_NAN``).  :func:`encode_parts` turns parts into a code of any
format under the named policies; :func:`round_shift` is the one place where
bits are discarded and a rounding mode is applied.  Element encode, block encode
and Slice-and-Scale all go through these functions.

>>> from mxspec import element_format
>>> from mxspec.codec import core
>>> P = element_format("fp4_e2m1").params
>>> core.encode_one(2.5, P, 0, 0, 0, 0, 0)   # rne: 2.5 is a tie between 2 and 3
(4, 1)
>>> core.decode_one(4, P)
2.0
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._kernel import cache as _cache
from .._kernel.jit import (ABS_MAX_RUN_MAX, _bitcast, abs_bits_value, abs_max_bits_run,  # noqa: F401
                           as_width, bit_length, f64_bits, float_abs_bits, interpreted,
                           is_float32, jit)
from ..tables.element import (P_BIAS, P_BITS, P_EMAX, P_EMIN, P_HAS_INF, P_HAS_NAN, P_HAS_ZERO,
                      P_INF_MAG, P_IS_INT, P_MAX_MAG, P_MBITS, P_NAN_MIN_MAG, P_NANZ, P_QMIN,
                      P_QNAN_MAG, P_SIGNED, P_SUBNORMALS, P_TIE_CODE, P_UZERO)
from ..tables.policies import (DOWN, IEEE, INEXACT, INT_FULL, INVALID, NAN_CANONICAL, NAN_KEEP_SIGN,
                       OVERFLOW_FLAG, RNA, RNE, RNZ, RTZ, SAT_PROPAGATE, SATURATE, STOCHASTIC,
                       UNDERFLOW, UP, WRAP, ZERO)
from ..tables.policies import R_IRANGE, R_MODE, R_NAN, R_OVF

CLS_ZERO, CLS_FINITE, CLS_INF, CLS_NAN = 0, 1, 2, 3
F64_SUBNORMAL_TOP = -1100  # e_top given to float64 subnormals: below every scaled range



@jit
def float_parts(v):
    """Parts of a float64 (exact: float32/float16/bfloat16 widen exactly)."""
    b = f64_bits(v)
    neg = b < 0
    ex = (b >> 52) & 0x7FF
    fr = b & 0xFFFFFFFFFFFFF
    if ex == 0x7FF:
        return (CLS_NAN if fr != 0 else CLS_INF), neg, 0, 0, 0
    if ex == 0:
        if fr == 0:
            return CLS_ZERO, neg, 0, 0, 0
        return CLS_FINITE, neg, fr, F64_SUBNORMAL_TOP, -1074
    return CLS_FINITE, neg, fr | 0x10000000000000, ex - 1023, ex - 1075


@jit
def code_parts(code, P):
    """Parts of an element code, read from its bit fields alone."""
    bits = P[P_BITS]
    if P[P_IS_INT]:
        c = code - (1 << bits) if (P[P_SIGNED] and code >= (1 << (bits - 1))) else code
        if c == 0:
            return CLS_ZERO, False, 0, 0, 0
        mag = -c if c < 0 else c
        return CLS_FINITE, c < 0, mag, bit_length(mag) - 1 + P[P_QMIN], P[P_QMIN]
    if P[P_SIGNED]:
        neg = ((code >> (bits - 1)) & 1) == 1
        mag = code & ((1 << (bits - 1)) - 1)
    else:
        neg = False
        mag = code
    if P[P_HAS_NAN] and ((mag >= P[P_NAN_MIN_MAG] >= 0) or (P[P_NANZ] and neg and mag == 0)):
        return CLS_NAN, neg, 0, 0, 0
    if P[P_HAS_INF] and mag == P[P_INF_MAG]:
        return CLS_INF, neg, 0, 0, 0
    M = P[P_MBITS]
    e = mag >> M
    m = mag & ((1 << M) - 1)
    if P[P_SUBNORMALS] and e == 0:
        if m == 0:
            return CLS_ZERO, neg, 0, 0, 0
        return CLS_FINITE, neg, m, bit_length(m) - 1 + P[P_QMIN], P[P_QMIN]
    e_top = e - P[P_BIAS]
    return CLS_FINITE, neg, m | (1 << M), e_top, e_top - M


@jit
def decode_one(code, P):
    """The exact value of one code, as float64."""
    cls, neg, sig, e_top, e_lsb = code_parts(code, P)
    if cls == CLS_NAN:
        v = math.nan  # keeps the code's sign bit, as ml_dtypes does
    elif cls == CLS_INF:
        v = math.inf
    else:
        v = math.ldexp(float(sig), e_lsb)
    return -v if neg else v


@jit
def round_core(sig, sh, neg, mode, frac32, r32, odd):
    """``sig * 2**-sh`` rounded to an integer under ``mode``, for 1 <= sh <= 62
    (int64 ``sig``) or 1 <= sh <= 30 (int32 ``sig``), branch-free so that loops
    over it vectorize: the one rounding rule of mxspec.  ``frac32`` is the
    discarded fraction truncated to 32 bits and is read only by
    ``stochastic``.  ``odd`` (0 or 1) is added to the kept integer before its
    parity decides an rne tie: the code's parity where ties go to the even
    code (:func:`tie_offset`).  Returns (integer of ``sig``'s width, whether
    any nonzero bit was discarded)."""
    one = as_width(sig, 1)
    kept = as_width(sig, sig >> sh)
    rem = as_width(sig, sig & as_width(sig, as_width(sig, one << sh) - one))
    half = as_width(sig, one << as_width(sig, sh - one))
    nz = rem != 0
    gt = rem > half
    eq = rem == half
    # Bitwise, not short-circuit, logic: the data-dependent parts stay branch-free.
    if mode == RNE:
        inc = gt | (eq & (((kept + as_width(sig, odd)) & 1) == 1))
    elif mode == RNA:
        inc = gt | eq
    elif mode == RNZ:
        inc = gt
    elif mode == RTZ:
        inc = False
    elif mode == UP:
        inc = nz & (not neg)
    elif mode == DOWN:
        inc = nz & neg
    else:  # STOCHASTIC
        inc = (frac32 + numba.int64(r32)) >= 4294967296
    return as_width(sig, kept + as_width(sig, inc)), nz


@jit
def stochastic_fraction(sig, shift):
    """The fraction that ``shift`` (>= 1) discards from ``sig`` (< 2**53),
    truncated to 32 bits: floor(frac * 2**32)."""
    rem = sig if shift >= 53 else sig & ((numba.int64(1) << shift) - 1)
    if shift <= 32:
        return rem << (32 - shift)
    return rem >> (shift - 32) if shift - 32 < 63 else numba.int64(0)


@jit
def round_shift(sig, shift, neg, mode, r32, odd):
    """``sig * 2**-shift`` rounded to an integer under ``mode``, for any shift.

    ``stochastic`` rounds up iff ``f + r32 >= 2**32``, where ``f`` is the
    discarded fraction truncated to 32 bits, ``floor(frac * 2**32)``, and ``r32``
    is the element's 32 random bits (a uint32)."""
    if shift <= 0:
        return sig << (-shift), False
    frac32 = stochastic_fraction(sig, shift) if mode == STOCHASTIC else numba.int64(0)
    # sig < 2**53, so every shift past 62 discards all of it exactly as 62 does
    return round_core(sig, min(shift, 62), neg, mode, frac32, r32, odd)


@jit
def magnitude_code(e_top, k, P):
    """The magnitude code of ``k`` steps of 2**q, q the step at exponent e_top
    (SPEC.md 2.1); a carry out of the mantissa moves into the exponent."""
    if P[P_IS_INT]:
        return k
    M = P[P_MBITS]
    return ((max(e_top, P[P_EMIN]) + P[P_BIAS]) << M) + k - (numba.int64(1) << M)


@jit
def step_exponent(e_top, P):
    """q: the exponent of the format's step at exponent e_top."""
    if P[P_IS_INT]:
        return P[P_QMIN]
    return max(e_top, P[P_EMIN]) - P[P_MBITS]


@jit
def tie_offset(e_top, P):
    """0 or 1: what makes the kept step count's parity the code's parity, where
    rne ties go to the even *code* (P3109).  The code is magnitude_code(e_top,
    0) + k, and for M >= 1 that base is even; only M = 0 formats can need 1."""
    if P[P_TIE_CODE] and P[P_MBITS] == 0 and not P[P_IS_INT]:
        return (max(e_top, P[P_EMIN]) + P[P_BIAS] - 1) & 1
    return 0


@jit
def _nan_code(neg, P, nanp):
    """The code a NaN result gets (the format has NaN)."""
    if not P[P_SIGNED]:
        return P[P_NAN_MIN_MAG]
    top = 1 << (P[P_BITS] - 1)
    if P[P_NANZ]:
        return top  # the one NaN, where -0 would be
    if nanp == NAN_CANONICAL:
        return top - 1
    return P[P_QNAN_MAG] | (top if neg else 0)


@jit
def _signed(mag, neg, P):
    n = numba.int64(neg)
    if P[P_IS_INT]:
        if not P[P_SIGNED]:
            return mag
        return ((mag ^ -n) + n) & ((1 << P[P_BITS]) - 1)  # two's complement of +-mag
    # fnuz-style formats have no -0, and zeros='unsigned' gives none: a zero
    # magnitude keeps the sign bit clear
    s = n & P[P_SIGNED] & (numba.int64(mag != 0) | (1 - (P[P_NANZ] | P[P_UZERO])))
    return mag | (s << (P[P_BITS] - 1))


@jit
def _wrap_code(sig, e_lsb, neg, P, mode, r32, zero):
    """Integer formats under overflow='wrap': +-round(|x| / 2**qmin) reduced
    modulo 2**bits (two's complement for int, plain for uint), as a C cast of
    the truncated value does (ml_dtypes 0.5-0.6's int2/uint2/uint4 casts with
    rtz); with ``zero`` (overflow='zero', ml_dtypes 0.7) a value outside the
    two's-complement (or unsigned) range gives 0 instead."""
    d = e_lsb - P[P_QMIN]
    bits = P[P_BITS]
    if d >= bits:
        k, nz = numba.int64(0), False  # a multiple of 2**bits
    else:
        k, nz = round_shift(sig, -d, neg, mode, r32, 0)
    n = numba.int64(neg)
    code = ((k ^ -n) + n) & ((1 << bits) - 1)
    lo = -(P[P_MAX_MAG] + 1) if P[P_SIGNED] else 0
    v = -k if neg else k
    wrapped = d >= bits or v > P[P_MAX_MAG] or v < lo
    if zero and wrapped:
        code = numba.int64(0)
    flags = numba.int64(nz or wrapped) * INEXACT | numba.int64(wrapped) * OVERFLOW_FLAG
    return code, flags


@jit
def encode_parts(cls, neg, sig, e_top, e_lsb, P, mode, ovf, nanp, irange, r32):
    """Encode the value given by its parts into format ``P``.  Returns
    (code, flags); flags are the SoftFloat bits INEXACT, UNDERFLOW, OVERFLOW,
    INVALID.  The value is rounded once, from its exact parts."""
    max_mag = P[P_MAX_MAG]
    is_int = P[P_IS_INT]
    if cls == CLS_NAN:
        if P[P_HAS_NAN]:
            return _nan_code(neg, P, nanp), 0
        if nanp == NAN_KEEP_SIGN:
            return _signed(0, neg, P), INVALID
        if nanp == NAN_CANONICAL:
            return 0, INVALID
        return _signed(0, not neg, P), INVALID  # ml_dtypes
    if not P[P_HAS_ZERO] and (neg or cls == CLS_ZERO):
        return _nan_code(False, P, nanp), INVALID  # E8M0 has no zero and no sign
    if cls == CLS_ZERO:
        return _signed(0, neg, P), 0
    if is_int and (ovf == WRAP or ovf == ZERO):
        if cls == CLS_INF:
            return 0, INEXACT | INVALID
        return _wrap_code(sig, e_lsb, neg, P, mode, r32, ovf == ZERO)
    emin = P[P_EMIN]
    toward_zero = mode == RTZ or (mode == UP and neg) or (mode == DOWN and not neg)
    if neg and not P[P_SIGNED]:
        # Below an unsigned format's range (SPEC.md 2.4): a value that rounds
        # to zero gives +0; any other saturates to 0 (saturating policies and
        # rounding toward zero) or is NaN (else 0: formats without NaN).
        if cls == CLS_FINITE:
            if e_top <= P[P_EMAX] + 1:
                k, nz = round_shift(sig, step_exponent(e_top, P) - e_lsb, neg, mode, r32,
                                    tie_offset(e_top, P))
            else:
                k, nz = numba.int64(1), True
            if k == 0:
                tiny = e_top < (P[P_QMIN] if is_int else emin)
                return 0, INEXACT | (UNDERFLOW * numba.int64(tiny))
        if P[P_HAS_NAN] and not (ovf == SATURATE or (cls == CLS_FINITE and (
                ovf == SAT_PROPAGATE or toward_zero))):
            return _nan_code(False, P, nanp), INEXACT | INVALID
        return 0, INEXACT | INVALID
    if cls == CLS_INF:
        limit = max_mag + 1 if (is_int and neg and irange == INT_FULL) else max_mag
        if ovf == SATURATE:
            return _signed(limit, neg, P), INEXACT | (0 if P[P_HAS_INF] else INVALID)
        if P[P_HAS_INF]:
            return _signed(P[P_INF_MAG], neg, P), 0
        if P[P_HAS_NAN]:
            return _nan_code(neg, P, nanp), INEXACT | INVALID
        return _signed(limit, neg, P), INEXACT | INVALID
    limit = max_mag + 1 if (is_int and neg and irange == INT_FULL) else max_mag
    tiny = e_top < (P[P_QMIN] if is_int else emin)
    if e_top > P[P_EMAX] + 1:
        pass  # far past max: it overflows whatever the rounding
    elif not P[P_SUBNORMALS] and not is_int and e_top < emin:
        return _signed(0, neg, P), INEXACT | UNDERFLOW  # E8M0: clamp to 2^-127
    else:
        k, nz = round_shift(sig, step_exponent(e_top, P) - e_lsb, neg, mode, r32,
                            tie_offset(e_top, P))
        mag = magnitude_code(e_top, k, P)
        if mag <= limit:
            return _signed(mag, neg, P), numba.int64(nz) * (INEXACT | (UNDERFLOW * numba.int64(tiny)))
    flags = INEXACT | OVERFLOW_FLAG
    if ovf != IEEE or toward_zero:
        return _signed(limit, neg, P), flags
    if P[P_HAS_INF]:
        return _signed(P[P_INF_MAG], neg, P), flags
    if P[P_HAS_NAN]:
        return _nan_code(neg, P, nanp), flags
    return _signed(limit, neg, P), flags


@jit
def fast_code(k, e_top, neg, P, mode, ovf, irange):
    """The code of ``k`` steps of the step at ``e_top`` with the sign ``neg``,
    every policy applied by selects, not branches, in ``k``'s integer width:
    (code, ok).  ``ok`` is False only where the code depends on the NaN
    profile (an overflow to NaN in an ``fn`` format); :func:`encode_parts`
    is the same rule written with branches, and tests/test_fast_paths.py
    holds the two equal.  E8M0 (no zero, no subnormals) is always declined."""
    w = k
    mag = as_width(w, magnitude_code(e_top, k, P))
    is_int = P[P_IS_INT] == 1
    limit = as_width(w, P[P_MAX_MAG] + numba.int64(is_int and irange == INT_FULL) * numba.int64(neg))
    tz = (mode == RTZ) | ((mode == UP) & neg) | ((mode == DOWN) & (not neg))
    wrap = ovf == WRAP  # integer formats only (policies.record refuses others)
    zero = ovf == ZERO  # integer formats only: out of the whole range gives 0
    has_inf, has_nan = P[P_HAS_INF] == 1, P[P_HAS_NAN] == 1
    # past max: saturating policies, rounding toward zero and formats with
    # neither Inf nor NaN give the limit; else Inf, else NaN
    over = (mag > limit) & (not wrap) & (not zero)
    to_limit = (ovf != IEEE) | tz | ((not has_inf) & (not has_nan))
    to_big = over & (not to_limit)
    code = as_width(w, _signed(limit if over else mag, neg, P))
    inf_code = as_width(w, _signed(P[P_INF_MAG], neg, P))
    code = inf_code if (to_big & has_inf) else code
    code = as_width(w, 1 << (P[P_BITS] - 1)) if (to_big & (not has_inf) & (P[P_NANZ] == 1)) else code
    ok = not (to_big & (not has_inf) & (P[P_NANZ] == 0))
    # wrap: the two's complement of +-k (the int code), never clamped
    twos = as_width(w, as_width(w, as_width(w, k ^ -as_width(w, neg)) + as_width(w, neg))
                    & as_width(w, (1 << P[P_BITS]) - 1))
    code = twos if wrap else code
    # zero: the two's complement of +-k within -(max+1) .. max (or 0 .. max), else 0
    signed = P[P_SIGNED] == 1
    fits = k <= as_width(w, P[P_MAX_MAG] + numba.int64(neg & signed))
    code = (twos if fits else as_width(w, 0)) if zero else code
    # below an unsigned format's range (SPEC.md 2.4): 0 if k rounds to zero,
    # else the wrap, 0 (saturating, toward zero, no NaN) or NaN
    below = neg & (P[P_SIGNED] == 0)
    out_nan = (ovf == IEEE) & (not tz) & has_nan
    under = as_width(w, P[P_NAN_MIN_MAG]) if out_nan else as_width(w, 0)
    under = twos if wrap else under
    under = as_width(w, 0) if k == 0 else under
    code = under if below else code
    return code, ok & (P[P_HAS_ZERO] == 1)


@jit
def encode_fast(v, shift, P, mode, ovf, irange, r32):
    """The common case of :func:`encode_scaled`, branch-free so that loops over
    it vectorize: (code, ok).  ``ok`` is False where the full path must decide
    (NaN, Inf, float64 subnormals, overflow to Inf/NaN under ``ieee``, E8M0, a
    stochastic value below the step's 2**-62); the code is then meaningless.
    Same rule, same functions; an overflow that saturates (SPEC.md 2.4) is the
    select below."""
    b = f64_bits(v)
    neg = b < 0
    ex = (b >> 52) & 0x7FF
    fr = b & 0xFFFFFFFFFFFFF
    sig = fr | (numba.int64(ex != 0) << 52)       # zero stays zero
    e_top = ex - 1023 - shift
    # >= 1 except for values far past an int format's max, which saturate or go
    # to the full path; clamped so that no shift count is ever out of range
    sh = max(step_exponent(e_top, P) - (e_top - 52), 1)
    frac32 = stochastic_fraction(sig, sh) if mode == STOCHASTIC else numba.int64(0)
    k, nz = round_core(sig, min(sh, 62), neg, mode, frac32, r32, tie_offset(e_top, P))
    # wrap needs the exact step count: decline values whose shift was clamped
    big = (ovf == WRAP) & (e_top - 52 > step_exponent(e_top, P) - 1)
    code, okc = fast_code(k, e_top, neg, P, mode, ovf, irange)
    ok = (ex != 0x7FF) & ((ex != 0) | (fr == 0)) & okc & (not big)
    ok = ok & ((mode != STOCHASTIC) | (sh <= 62))
    return code, ok


@jit
def encode_fast32(b, shift, P, mode, ovf, irange):
    """:func:`encode_fast` for a float32 given by its bits ``b`` (an int32),
    in int32 arithmetic throughout: (code, ok).  The same steps on a 24-bit
    significand, so a vector holds eight lanes instead of four.  Not for
    ``stochastic`` (its 32-bit fraction needs int64); ``ok`` is also False for
    float32 subnormals, which the full path handles exactly."""
    i32 = np.int32
    neg = b < 0
    ex = i32((b >> 23) & 0xFF)
    fr = i32(b & 0x7FFFFF)
    sig = i32(fr | i32(i32(ex != 0) << 23))
    # zero sits below every scaled range, as it does in encode_fast
    e_top = i32(ex - i32(127 + shift)) if ex != 0 else i32(-1024)
    # sig < 2**24: any shift past 25 discards all of it exactly as 30 does
    sh = i32(min(max(i32(i32(step_exponent(e_top, P)) - i32(e_top - 23)), 1), 30))
    k, nz = round_core(sig, sh, neg, mode, numba.int64(0), numba.uint32(0), tie_offset(e_top, P))
    big = (ovf == WRAP) & (e_top - 23 > i32(step_exponent(e_top, P)) - 1)
    code, okc = fast_code(k, e_top, neg, P, mode, ovf, irange)
    ok = (ex != 0xFF) & ((ex != 0) | (fr == 0)) & okc & (not big) & (mode != STOCHASTIC)
    return i32(code), ok


@jit
def encode_one(v, P, mode, ovf, nanp, irange, r32):
    """Encode one float64 ``v``: (code, flags).  ``v * 2**0``; see encode_scaled."""
    cls, neg, sig, e_top, e_lsb = float_parts(v)
    return encode_parts(cls, neg, sig, e_top, e_lsb, P, mode, ovf, nanp, irange, r32)


@jit
def encode_scaled(v, shift, P, mode, ovf, nanp, irange, r32):
    """Encode ``v * 2**-shift`` (exactly: the shift acts on the exponent)."""
    cls, neg, sig, e_top, e_lsb = float_parts(v)
    return encode_parts(cls, neg, sig, e_top - shift, e_lsb - shift, P, mode, ovf, nanp,
                        irange, r32)


@jit
def rne32_applies(P, shift, irange):
    """Whether :func:`encode_rne32` decides ``x * 2**-shift`` for float32 ``x``:
    the multiplier 2**-shift is a normal float32, every product that leaves
    the normal range (and so may be rounded) lies below half the format's
    smallest step, where rne gives zero whatever was lost, and the int range
    is symmetric (it saturates at +-max)."""
    if not P[P_SIGNED] or shift > 126 or (P[P_IS_INT] and irange == INT_FULL):
        return False
    if P[P_TIE_CODE] and P[P_MBITS] == 0 and not P[P_IS_INT]:
        return False  # the FPU's tie goes to the even step, P3109's to the even code
    if P[P_IS_INT]:
        return P[P_QMIN] - 1 > -126
    return P[P_EMIN] - P[P_MBITS] - 1 > -126


@jit
def pow2_f32(k):
    """2**k as a float32, for -126 <= k <= 127, from its bits (no pow call
    where k is not a compile-time constant)."""
    return _bitcast(np.int32((k + 127) << 23), np.float32(0))


@jit
def decode_value32(c, P):
    """The float32 value of the code ``c`` by arithmetic on its fields, in int32
    and float32 operations with no table and no branch, so that a loop of them
    vectorizes.  It equals :func:`decode_one` for every code of a format whose
    values and the constants below are float32 normals; the block kernels use it
    only where :func:`mxspec.elements.value32_exact` has checked that on every
    code.  A code past the format's width is masked to it.

    A float's exponent and mantissa fields, moved to float32's positions and
    rebiased, are the value's float32 bits when the exponent field is nonzero;
    a subnormal (field zero) is its mantissa times 2**(1 - bias - mbits), exact.
    An integer code is sign-extended and scaled by 2**-(bits-2), exact.

    >>> from mxspec import element_format
    >>> P = element_format("fp8_e4m3").params
    >>> [float(decode_value32(c, P)) for c in (0x7E, 0x5C, 0x01, 0xFF)]
    [448.0, 24.0, 0.001953125, nan]
    """
    i32, f32 = numba.int32, np.float32
    bits = P[P_BITS]
    c = i32(i32(c) & i32((1 << bits) - 1))
    if P[P_IS_INT]:
        if P[P_SIGNED]:
            v = i32(i32(c << i32(32 - bits)) >> i32(32 - bits))  # two's complement
        else:
            v = c
        return f32(v) * f32(2.0 ** P[P_QMIN])
    m = P[P_MBITS]
    if P[P_SIGNED]:
        mag = i32(c & i32((1 << (bits - 1)) - 1))
        sign = i32(i32(c >> i32(bits - 1)) << i32(31))
    else:
        mag, sign = c, i32(0)
    normal = i32(i32(mag << i32(23 - m)) + i32((127 - P[P_BIAS]) << 23))
    sub = _bitcast(f32(mag) * f32(2.0 ** (1 - P[P_BIAS] - m)), i32(0))
    r = normal if mag >= i32(1 << m) or not P[P_SUBNORMALS] else sub
    if P[P_HAS_INF]:
        r = i32(0x7F800000) if mag == i32(P[P_INF_MAG]) else r
    if P[P_HAS_NAN] and not P[P_NANZ]:
        r = i32(0x7FC00000) if mag >= i32(P[P_NAN_MIN_MAG]) else r  # decode_one's NaN
    if P[P_NANZ]:
        r = i32(0x7FC00000) if c == i32(1 << (bits - 1)) else r
    return _bitcast(i32(r | sign), f32(0))


@jit
def encode_rne32(y, P, ovf):
    """Round-to-nearest-even of the float32 ``y`` (already scaled, exactly) with
    the FPU's own rne: (code, ok), ``ok`` False for NaN/Inf and, under
    ``ieee``, for overflow (:func:`encode_rne32_value`, its value dropped)."""
    code, ok, _ = _rne32(y, P, ovf)
    return code, ok


@jit
def encode_rne32_value(y, P, ovf):
    """:func:`encode_rne32` and the float32 value of its code (the same
    rounding, :func:`_rne32`)."""
    return _rne32(y, P, ovf)


# Inlined in Numba's IR into both callers: a call from encode_rne32 to a compiled
# function left LLVM a call it did not inline in some kernels, whose loops then
# stayed scalar (IF4's 2D tile encode fell from 411 to 164 M/s).
@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _rne32(y, P, ovf):
    """:func:`encode_rne32` and the float32 value of its code: (code, ok,
    value), the value exact where ``ok`` and ``ovf`` is ``saturate`` (the
    rounded magnitude, capped at the format's largest, with y's sign), so that
    a caller that needs both (a candidate's error, SPEC.md 9.10) does not decode
    the code again; elsewhere it is not the code's value (Inf and the wrapped
    or overflowed codes are not), and a caller must not read it.  Eight int32/float32 lanes and about half the
    operations of :func:`encode_fast32`; tests/test_fast_paths.py checks it
    against the full path bit for bit.

    Adding C = 2**(23 + q), q the step at y's exponent, leaves a float32 whose
    last place is exactly 2**q, so the FPU rounds |y| to the format's grid;
    subtracting C again is exact.  The code is then read off the rounded
    value's bits (normal) or its multiple of the smallest step (subnormal)."""
    i32 = np.int32
    f32 = np.float32
    yb = _bitcast(y, i32(0))
    a = i32(yb & 0x7FFFFFFF)
    limit = i32(P[P_MAX_MAG])
    # capped well past max so that C stays finite; the cap still overflows
    ay = min(_bitcast(a, f32(0)), pow2_f32(P[P_EMAX] + 2))
    if P[P_IS_INT]:
        mag = i32(np.rint(ay * pow2_f32(-P[P_QMIN])))
        n = i32(yb >> 31)  # 0 or -1
        code = i32(i32(min(mag, limit) ^ n) - n) & ((1 << P[P_BITS]) - 1)
        value = f32(min(mag, limit)) * pow2_f32(P[P_QMIN])
    else:
        M = P[P_MBITS]
        emin = P[P_EMIN]
        cb = i32(max(i32(_bitcast(ay, i32(0)) & 0x7F800000), i32((emin + 127) << 23))
                 + i32((23 - M) << 23))
        C = _bitcast(cb, f32(0))
        r = (ay + C) - C
        norm = i32(i32(_bitcast(r, i32(0)) >> (23 - M)) - i32((emin + 126) << M))
        sub = i32(r * pow2_f32(M - emin))
        mag = sub if r < pow2_f32(emin) else norm
        cm = min(mag, limit)
        # the largest code's value, a normal: its fields moved to float32's (a call
        # to decode_value32 here was not removed where the value is unused)
        value = min(r, _bitcast(i32(i32(limit << (23 - M)) + i32((127 - P[P_BIAS]) << 23)),
                                f32(0)))
        # fnuz-style formats have no -0: a zero keeps the sign bit clear
        sgn = i32(i32(yb >> 31) & 1) & i32(i32(cm != 0) | i32(1 - (P[P_NANZ] | P[P_UZERO])))
        code = i32(cm | i32(sgn << (P[P_BITS] - 1)))
        # overflow under ieee (rne rounds away): Inf, or the fnuz NaN
        big = (mag > limit) & (ovf == IEEE)
        sbit = i32(i32(i32(yb >> 31) & 1) << (P[P_BITS] - 1))
        if P[P_HAS_INF]:
            code = i32(i32(P[P_INF_MAG]) | sbit) if big else code
        elif P[P_NANZ]:
            code = i32(1 << (P[P_BITS] - 1)) if big else code
    # past max: decided unless wrapped, or NaN under ieee where the NaN profile
    # picks the code (fn formats)
    profile_nan = (ovf == IEEE) & (P[P_HAS_INF] == 0) & (P[P_HAS_NAN] == 1) & (P[P_NANZ] == 0)
    ok = (a < 0x7F800000) & ((mag <= limit) | ((ovf != WRAP) & (ovf != ZERO) & (not profile_nan)))
    # y's sign on the magnitude: an OR of the bit (sign symmetry of the grid)
    value = _bitcast(i32(_bitcast(value, i32(0)) | i32(yb & i32(-0x80000000))), f32(0))
    return code, ok, value


def rne32_declines_only_specials(P, ovf) -> bool:
    """Whether :func:`encode_rne32` under overflow policy ``ovf`` declines
    (``ok`` False) only NaN and Inf products: it declines overflow too where
    integers wrap and where the NaN profile picks an overflow's code (fn
    formats under ``ieee``).  Plain Python, for the kernel factories: a block
    whose scale the fast rule gave holds no NaN or Inf and, under the floor
    rule, no product past float32's range, so its per-element check is dead
    code there (tests/test_fast_paths.py checks this claim on every input)."""
    profile_nan = ovf == IEEE and not P[P_HAS_INF] and P[P_HAS_NAN] and not P[P_NANZ]
    return ovf != WRAP and ovf != ZERO and not profile_nan


# The element passes a kernel can run (SPEC.md 2.9).  A kernel is built for one
# pass (its number a compile-time constant, so that Numba compiles only that
# pass); whatever a pass declines goes to the full path in a second kernel,
# which is compiled only when something is declined.
PASS_RNE32, PASS_FAST32, PASS_FAST64 = range(3)


def pass_kind(dtype, P, mode, irange) -> int:
    """The fast pass for input of ``dtype`` under ``mode``: :func:`encode_rne32`
    for float32 and rne where it applies to the format at all (a block's shift
    is checked in the kernel), :func:`encode_fast32` for float32 otherwise,
    :func:`encode_fast` (int64 lanes, every dtype and stochastic) else."""
    f32 = np.dtype(dtype) == np.float32
    if f32 and mode == RNE and interpreted(rne32_applies)(P, 0, irange):
        return PASS_RNE32
    if f32 and mode != STOCHASTIC:
        return PASS_FAST32
    return PASS_FAST64


@jit
def rne32_pass(x, lo, hi, shift, R, codes, coff):
    """``x[lo:hi] * 2**-shift`` (float32, ``rne32_applies``) into
    ``codes[lo-coff:hi-coff]`` by :func:`encode_rne32`; the number declined.
    ``R``: the policy record (``policies.record``: params, policy ids), as every
    span pass below takes it."""
    P, Q = R
    ovf = Q[R_OVF]
    m = pow2_f32(-shift)  # exact
    nslow = 0
    for i in range(lo, hi):
        c, ok = encode_rne32(x[i] * m, P, ovf)
        codes[i - coff] = c
        nslow += not ok
    return nslow


@jit
def fast32_pass(x, lo, hi, shift, R, codes, coff):
    """The same by :func:`encode_fast32` (float32, any mode but stochastic)."""
    P, Q = R
    mode, ovf, irange = Q[R_MODE], Q[R_OVF], Q[R_IRANGE]
    nslow = 0
    for i in range(lo, hi):
        c, ok = encode_fast32(_bitcast(x[i], np.int32(0)), shift, P, mode, ovf, irange)
        codes[i - coff] = c
        nslow += not ok
    return nslow


@jit
def fast64_pass(x, lo, hi, shift, R, rbits, codes, coff):
    """The same by :func:`encode_fast` (float32 or float64, any mode;
    ``rbits`` is empty unless the mode is stochastic)."""
    P, Q = R
    mode, ovf, irange = Q[R_MODE], Q[R_OVF], Q[R_IRANGE]
    use_r = rbits.size > 0
    nslow = 0
    for i in range(lo, hi):
        r = rbits[i] if use_r else numba.uint32(0)
        c, ok = encode_fast(np.float64(x[i]), shift, P, mode, ovf, irange, r)
        codes[i - coff] = c
        nslow += not ok
    return nslow


@jit
def encode_full_span(x, lo, hi, shift, R, rbits, codes, coff):
    """``x[lo:hi] * 2**-shift`` into ``codes[lo-coff:hi-coff]``, every element
    decided: :func:`encode_fast` where it decides, the full path
    (:func:`encode_scaled`) elsewhere."""
    P, Q = R
    mode, ovf, nanp, irange = Q[R_MODE], Q[R_OVF], Q[R_NAN], Q[R_IRANGE]
    use_r = rbits.size > 0
    for i in range(lo, hi):
        r = rbits[i] if use_r else numba.uint32(0)
        c, ok = encode_fast(np.float64(x[i]), shift, P, mode, ovf, irange, r)
        if not ok:
            c, f = encode_scaled(np.float64(x[i]), shift, P, mode, ovf, nanp, irange, r)
        codes[i - coff] = c


@jit
def encode_flags_span(x, lo, hi, shift, R, rbits, codes, coff, flags):
    """The full path on every element, with its exception flags."""
    P, Q = R
    mode, ovf, nanp, irange = Q[R_MODE], Q[R_OVF], Q[R_NAN], Q[R_IRANGE]
    use_r = rbits.size > 0
    for i in range(lo, hi):
        r = rbits[i] if use_r else numba.uint32(0)
        c, f = encode_scaled(np.float64(x[i]), shift, P, mode, ovf, nanp, irange, r)
        codes[i - coff] = c
        flags[i - coff] = f
