"""Shared-scale rules: the E8M0 exponent of a block, from the block's largest
magnitude (SPEC.md section 4).

>>> from mxspec import element_format
>>> from mxspec.codec import e8m0
>>> P = element_format("fp4_e2m1").params
>>> [e8m0.shared_exponent(7.9, P, r) for r in (e8m0.FLOOR, e8m0.CEIL, e8m0.EVEN)]
[0, 1, 1]
"""
from __future__ import annotations

import numpy as np

from .core import F64_SUBNORMAL_TOP, float_parts, jit
from ..tables.element import P_EMAX, P_IS_INT, P_MAX_MAG, P_MBITS, P_PREC

FLOOR, CEIL, EVEN, TORCHAO_CEIL, GGUF = range(5)   # policies.SCALE_RULE
ZERO_MIN, ZERO_ONE = range(2)       # policies.ZERO_SCALE
INF_NAN_SCALE, INF_ELEMENT = range(2)  # policies.INF

E8M0_NAN = 255
SCALE_MIN, SCALE_MAX = -127, 127


def _log2f_thresholds():
    """For every n in -149 .. 128 (index n + 149): the least real t with
    log2(t) >= n - h, where h is half the float32 spacing just below n, so that
    log2(x) rounded to nearest float32 is >= n exactly when x >= t (SPEC.md
    4.5); as float64 values and, for the kernels' float32 inputs, as the bits of
    the least float32 >= t (0x7F800000 where none lies below 2^n).  log2 is
    irrational at every x that is not a power of two, so no x meets its
    threshold exactly; tests/test_gguf.py holds the set of float32 inputs this
    moves against numpy's float32 log2 on all 2^31 positive floats' neighbours
    of powers of two."""
    n = np.arange(-149, 129)
    below = np.nextafter(n.astype(np.float32), np.float32(-np.inf)).astype(np.float64)
    h = (n - below) / 2
    t = np.exp2(n - h)
    t32 = t.astype(np.float32)
    t32 = np.where(t32.astype(np.float64) < t, np.nextafter(t32, np.float32(np.inf)), t32)
    bits = t32.view(np.uint32).astype(np.int64)
    # n = 0: no float32 below 1 rounds up to log2 = 0 (log2 near 0 is finely spaced)
    bits = np.where(t.astype(np.float64) >= np.exp2(n) * (1 - 2.0 ** -30), 0x7F800000, bits)
    return t, bits


LOG2F_T64, LOG2F_T32 = _log2f_thresholds()
LOG2F_LO = -149


@jit
def max_significand(P):
    """The largest finite value as an integer significand of P_PREC + 1 bits
    (max normal = max_significand * 2**(emax - prec))."""
    if P[P_IS_INT]:
        return P[P_MAX_MAG]
    M = P[P_MBITS]
    return (P[P_MAX_MAG] & ((1 << M) - 1)) | (1 << M)


@jit
def shared_exponent(amax, P, rule):
    """The unclamped shared exponent for a block whose largest magnitude is
    ``amax`` (finite, > 0), under ``rule``."""
    cls, neg, sig, e_top, e_lsb = float_parts(amax)
    s = e_top - P[P_EMAX]
    if rule == GGUF:
        # floor(log2 amax rounded to float32): one more than the exact floor for
        # the amax just below a power of two that the rounding lifts onto it
        n = min(max(e_top + 1, LOG2F_LO), 128) - LOG2F_LO
        return s + (1 if e_top + 1 <= 128 and amax >= LOG2F_T64[n] else 0)
    if e_top == F64_SUBNORMAL_TOP or rule == FLOOR:
        return s
    prec = P[P_PREC]
    sig53 = sig  # normalized: bit 52 is the leading one
    if rule == CEIL:
        # smallest s with amax / 2^s <= max normal: compare the significands
        return s + (1 if sig53 > (max_significand(P) << (52 - prec)) else 0)
    if rule == TORCHAO_CEIL:
        # ceil(log2 amax) - emax: up whenever amax is not a power of two
        return s + (1 if sig53 != (1 << 52) else 0)
    # EVEN: amax rounded to the element's precision (ties away, which equals
    # ties-to-even here: a carry needs all kept bits set), then floor
    return s + ((sig53 + (1 << (52 - prec - 1))) >> 53)


@jit
def scale_code(amax, any_nan, any_inf, P, rule, zero_scale, inf_policy):
    """The E8M0 scale code of a block from its summary: the largest finite
    magnitude, whether a NaN is present, whether an Inf is present."""
    if rule == GGUF:
        # gguf-py: np.where(amax > 0, ...) gives 0 for a NaN amax, and the cast
        # of an infinite one to uint8 gives 0 on x86-64; below 2^-125 the byte
        # wraps modulo 256, as the uint8 cast of a negative value does
        if any_nan or any_inf or amax == 0.0:
            return 0
        return (shared_exponent(amax, P, rule) + 127) & 0xFF
    if any_nan or (any_inf and inf_policy == INF_NAN_SCALE):
        return E8M0_NAN
    if amax == 0.0:
        return 0 if zero_scale == ZERO_MIN else 127
    s = shared_exponent(amax, P, rule)
    s = min(max(s, SCALE_MIN), SCALE_MAX)
    return s + 127
