"""An independent reference of SPEC.md section 10 (HiFloat8): every code's value
written out from the bit fields, and rounding as a search among the sorted values.
Nothing from mxspec is imported."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def spec_value(c: int) -> float:
    """SPEC.md 10.1, written out: sign, then the dot prefix (11, 10, 01, 001,
    0001, 0000), exponent sign and magnitude with its implicit top bit, mantissa."""
    if c == 0x80:
        return math.nan
    s = -1.0 if c & 0x80 else 1.0
    b = format(c & 0x7F, "07b")
    if b == "1101111":
        return s * math.inf
    if b.startswith("0000"):
        m = int(b[4:], 2)
        return 0.0 if m == 0 else s * 2.0 ** (m - 23)
    for prefix, D, M in (("11", 4, 1), ("10", 3, 2), ("01", 2, 3), ("001", 1, 3), ("0001", 0, 3)):
        if b.startswith(prefix):
            rest = b[len(prefix):]
            e_bits, m_bits = rest[:D], rest[D:]
            assert len(m_bits) == M
            E = 0 if D == 0 else (-1 if e_bits[0] == "1" else 1) * int("1" + e_bits[1:], 2)
            return s * (1 + int(m_bits, 2) / 2 ** M) * 2.0 ** E
    raise AssertionError(b)


SPEC = np.array([spec_value(c) for c in range(256)])
POS = np.array(sorted({v for v in SPEC[:128] if math.isfinite(v)}))
CODE_OF = {v: c for c, v in enumerate(SPEC[:128]) if math.isfinite(v)}


def _random_up(a, lo, hi, r):
    """Stochastic rounding with 32 random bits, in fractions: up iff
    floor((a - lo) / (hi - lo) x 2^32) + r >= 2^32."""
    f = Fraction(a) - Fraction(lo)
    return math.floor(f / (Fraction(hi) - Fraction(lo)) * 2 ** 32) + int(r) >= 2 ** 32


def ref_encode(x, mode="rna", overflow="ieee", nan="keep", r=None):
    """Nearest-value rounding among the sorted values (ties away), or directed;
    hybrid (r: one uint32 per value): ties away where floor(log2 |x|) is within
    -3..3 or |x| >= 1.25 x 2^15, else stochastic between the neighbours (past
    2^15 the next is Inf)."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros(x.size, np.uint8)
    top = POS[-1]
    for i, v in enumerate(x):
        if math.isnan(v):
            out[i] = 0 if nan == "zero" else 0x80
            continue
        a, neg = abs(v), v < 0
        m = mode
        if mode == "hybrid":
            E = math.frexp(a)[1] - 1 if 0 < a < math.inf else 0
            m = "rna" if (abs(E) < 4 or a >= 1.25 * top) else "sr"
        toward_inf = (m == "up" and not neg) or (m == "down" and neg)
        if a >= top:
            up = m == "sr" and a > top and _random_up(a, top, 1.5 * top, r[i])
            over = math.isinf(a) or (m == "rna" and a >= 1.25 * top) or \
                (toward_inf and a > top) or up
            c = 0x6F if over and overflow == "ieee" else CODE_OF[top]
        else:
            j = np.searchsorted(POS, a, side="right") - 1
            lo, hi = POS[j], POS[j + 1]
            if a == lo:
                w = lo
            elif m == "rna":
                w = hi if a - lo >= hi - a else lo
            elif m == "rtz":
                w = lo
            elif m == "sr":
                w = hi if _random_up(a, lo, hi, r[i]) else lo
            else:
                w = hi if toward_inf else lo
            c = CODE_OF[w]
        out[i] = c | 0x80 if (neg and c != 0) else c
    return out


def ref_flags(x, codes, mode="rna", overflow="ieee", nan="keep", r=None):
    """SPEC.md 2.6's bits for HiF8 (SPEC.md 10.3): inexact 1, underflow 2,
    overflow 4 (with inexact), invalid 16 (a NaN made zero)."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros(x.size, np.uint8)
    ieee = ref_encode(x, mode, "ieee", nan, r)
    for i, (v, c) in enumerate(zip(x, np.asarray(codes).reshape(-1))):
        if math.isnan(v):
            out[i] = 16 if nan == "zero" else 0
            continue
        r = SPEC[int(c)]
        fl = 0
        if r != v:
            fl |= 1
            if math.isfinite(v) and abs(v) < 2.0 ** -15:
                fl |= 2
        if math.isfinite(v) and math.isinf(SPEC[int(ieee[i])]):
            fl |= 5
        out[i] = fl
    return out
