"""Shared-scale rules: the E8M0 exponent of a block, from the block's largest
magnitude (SPEC.md section 4).

>>> from mxspec import element_format
>>> from mxspec.codec import e8m0
>>> P = element_format("fp4_e2m1").params
>>> [e8m0.shared_exponent(7.9, P, r) for r in (e8m0.FLOOR, e8m0.CEIL, e8m0.EVEN)]
[0, 1, 1]
"""
from __future__ import annotations

from .core import F64_SUBNORMAL_TOP, float_parts, jit
from ..tables.element import P_EMAX, P_IS_INT, P_MAX_MAG, P_MBITS, P_PREC

FLOOR, CEIL, EVEN, TORCHAO_CEIL = range(4)   # policies.SCALE_RULE
ZERO_MIN, ZERO_ONE = range(2)       # policies.ZERO_SCALE
INF_NAN_SCALE, INF_ELEMENT = range(2)  # policies.INF

E8M0_NAN = 255
SCALE_MIN, SCALE_MAX = -127, 127


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
    if any_nan or (any_inf and inf_policy == INF_NAN_SCALE):
        return E8M0_NAN
    if amax == 0.0:
        return 0 if zero_scale == ZERO_MIN else 127
    s = shared_exponent(amax, P, rule)
    s = min(max(s, SCALE_MIN), SCALE_MAX)
    return s + 127
