"""An independent reference of SPEC.md section 10 (HiFloat8): every code's value
written out from the bit fields, and rounding as a search among the sorted values.
Nothing from mxspec is imported."""
from __future__ import annotations

import math

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


def ref_encode(x, mode="rna", overflow="ieee", nan="keep"):
    """Nearest-value rounding among the sorted values (ties away), or directed."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros(x.size, np.uint8)
    top = POS[-1]
    for i, v in enumerate(x):
        if math.isnan(v):
            out[i] = 0 if nan == "zero" else 0x80
            continue
        a, neg = abs(v), v < 0
        toward_inf = (mode == "up" and not neg) or (mode == "down" and neg)
        if a >= top:
            over = math.isinf(a) or (mode == "rna" and a >= 1.25 * top) or (toward_inf and a > top)
            c = 0x6F if over and overflow == "ieee" else CODE_OF[top]
        else:
            j = np.searchsorted(POS, a, side="right") - 1
            lo, hi = POS[j], POS[j + 1]
            if a == lo:
                w = lo
            elif mode == "rna":
                w = hi if a - lo >= hi - a else lo
            elif mode == "rtz":
                w = lo
            else:
                w = hi if toward_inf else lo
            c = CODE_OF[w]
        out[i] = c | 0x80 if (neg and c != 0) else c
    return out


def ref_flags(x, codes, mode="rna", overflow="ieee", nan="keep"):
    """SPEC.md 2.6's bits for HiF8 (SPEC.md 10.3): inexact 1, underflow 2,
    overflow 4 (with inexact), invalid 16 (a NaN made zero)."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros(x.size, np.uint8)
    ieee = ref_encode(x, mode, "ieee", nan)
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
