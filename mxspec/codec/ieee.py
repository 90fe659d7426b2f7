"""IEEE rounding for integer groups (SPEC.md 12.2): a float64 rounded to
binary32, binary16 or bfloat16 (nearest even, Inf past the largest value), and
the exact nearest integer of a quotient.  One rounding routine per precision,
as Berkeley SoftFloat has it; the precision is a record (:func:`kind_record`),
so every dtype runs the same compiled code.

>>> import numpy as np
>>> R = kind_record("bfloat16")
>>> float(round64(1.0 + 2.0 ** -8, R)), float(round64(1.0 + 3 * 2.0 ** -8, R))  # ties to even
(1.0, 1.015625)
>>> int(nearest_int(2.5, 1.0, 0.0)), int(nearest_int(7.0, 2.0, -8.0)), float(round_quotient(1.0, 0.0, 7.5, R))
(2, -4, 0.1337890625)
"""
from __future__ import annotations

import numpy as np

from .core import _bitcast, jit

__all__ = ["KINDS", "kind_record", "round64", "round64_array", "nearest_int", "nearest_from", "round_quotient",
           "two_sum", "eps_of"]

# dtype -> (significand bits after the point, smallest normal exponent, largest exponent)
KINDS = {"float32": (23, -126, 127), "float16": (10, -14, 15), "bfloat16": (7, -126, 127)}
# The record's fields: the float64 bits to drop, the smallest normal, the subnormal
# quantum and its reciprocal, the largest finite value, whether it is binary32.
K_SHIFT, K_TINY, K_Q, K_INVQ, K_MAX, K_F32 = range(6)


def kind_record(dtype: str) -> np.ndarray:
    """The rounding record of ``dtype`` (float32, float16 or bfloat16)."""
    if dtype not in KINDS:
        raise ValueError(f"dtype={dtype!r} is not valid; allowed values: {', '.join(KINDS)}")
    m, emin, emax = KINDS[dtype]
    return np.array([52 - m, 2.0 ** emin, 2.0 ** (emin - m), 2.0 ** (m - emin),
                     (2.0 - 2.0 ** -m) * 2.0 ** emax, float(dtype == "float32")], np.float64)


def eps_of(dtype: str) -> float:
    """torch.finfo(dtype).eps: the gap between 1 and the next value."""
    return 2.0 ** -KINDS[dtype][0]


@jit
def round64(v, R):
    """``v`` rounded to nearest even in R's precision, as a float64; Inf past the
    largest finite value (IEEE: a value at or past max + half an ulp); NaN and
    Inf stay.  Normal results round the float64's significand bits (adding
    half less one, plus the kept lowest bit, carries into the exponent where
    it should); results below the smallest normal are multiples of the
    subnormal quantum, rounded by ``np.rint``.  Every branch is a select."""
    if R[K_F32] == 1.0:
        return np.float64(np.float32(v))
    sh = np.int64(R[K_SHIFT])
    b = _bitcast(np.float64(v), np.int64(0))
    half = (np.int64(1) << (sh - 1)) - 1
    rb = (b + half + ((b >> sh) & 1)) & ~((np.int64(1) << sh) - 1)
    normal = _bitcast(np.int64(rb), np.float64(0))
    sub = np.rint(v * R[K_INVQ]) * R[K_Q]
    r = sub if abs(v) < R[K_TINY] else normal
    big = abs(r) > R[K_MAX]
    r = np.copysign(np.inf, v) if big else r
    return v if v != v else r


@jit
def _round64_loop(v, R, out):
    for i in range(v.size):
        out[i] = round64(v[i], R)
    return out


def round64_array(v, dtype: str) -> np.ndarray:
    """:func:`round64` over a float64 array, as ``dtype`` (each value then exact in it).

    >>> round64_array(np.array([1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8]), "float16").tolist()
    [1.00390625, 1.01171875]
    """
    a = np.ascontiguousarray(v, np.float64)
    out = _round64_loop(a.reshape(-1), kind_record(dtype), np.empty(a.size, np.float64))
    if dtype == "bfloat16":
        import ml_dtypes  # only here: importing mxspec does not load it
        dt = ml_dtypes.bfloat16
    else:
        dt = np.dtype(dtype)
    with np.errstate(over="ignore"):
        return out.reshape(a.shape).astype(dt)


@jit
def nearest_from(a, s, off, t):
    """The integer nearest to a / s + off, ties to even, exactly, from an estimate
    ``t`` of a / s + off good to well under 1/2 (s > 0; off an integer; a / s + off
    within +-2^50): one correction against the two midpoints (n - off -+ 1/2) s,
    products that float64 holds exactly where s has at most 40 significant bits.
    Every branch is a select, so a loop of it vectorizes."""
    n = np.rint(t)
    lo = (n - off - 0.5) * s
    hi = lo + s  # exact: both are products float64 holds, and so is their difference s
    h = n * 0.5
    odd = h != np.floor(h)
    n = n - 1.0 if (a < lo) | ((a == lo) & odd) else n
    n = n + 1.0 if (a > hi) | ((a == hi) & odd) else n
    return n


@jit
def nearest_int(a, s, off):
    """The integer nearest to a / s + off, ties to even, exactly (see :func:`nearest_from`)."""
    return nearest_from(a, s, off, a / s + off)


@jit
def two_sum(a, b):
    """(a + b rounded, its error): a + b == sum + err exactly (Knuth's TwoSum)."""
    t = a + b
    bb = t - a
    return t, (a - (t - bb)) + (b - bb)


@jit
def _ulps(c, R):
    """(gap below c, gap above c) in R's grid, c >= 0 a value of it: c's power
    of two from its exponent bits (no log or pow), times 2^-m."""
    if c < R[K_TINY]:
        return R[K_Q], R[K_Q]  # subnormals (and 0): the quantum
    p = _bitcast(_bitcast(np.float64(c), np.int64(0)) & np.int64(0x7FF0000000000000),
                 np.float64(0))
    up = p / (R[K_TINY] * R[K_INVQ])  # TINY x INVQ = 2^m: an exact division
    dn = up * 0.5 if (c == p) & (c > R[K_TINY]) else up
    return dn, up


@jit
def round_quotient(a, a_err, d, R):
    """(a + a_err) / d rounded to nearest even in R's precision, exactly, for a >=
    0, |a_err| at most half an ulp of a (TwoSum's error term, or 0) and d > 0
    with midpoint x d exact in float64 (d an integer or half-integer below 2^10
    and a of at most 53 bits do).  The float64 quotient rounded, then at most
    one step of correction against the exact midpoints (a tie of a with a
    midpoint product is broken by the sign of a_err)."""
    c = round64(a / d, R)
    if not (c < np.inf) or (a == 0.0) & (a_err == 0.0):
        return c
    dn, up = _ulps(c, R)
    mlo = (c - 0.5 * dn) * d
    mhi = (c + 0.5 * up) * d
    even_c = np.fmod(c / up, 2.0) == 0.0  # c / up: c's significand as an integer
    above = (a > mhi) | ((a == mhi) & ((a_err > 0) | ((a_err == 0) & ~even_c)))
    below = (a < mlo) | ((a == mlo) & ((a_err < 0) | ((a_err == 0) & ~even_c)))
    if above:
        return round64(c + up, R)
    if below:
        return c - dn
    return c
