"""An independent reference of SPEC.md section 9 (NVFP4 and its recipes),
written from the text with Python fractions: every float32 operation of a
recipe is an exact rational rounded once to float32, and the roundings to E4M3
and E2M1 enumerate the formats' values from their bit fields.  Nothing from
mxspec is imported."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from dot_reference import F32, round_fraction

E2M1 = [Fraction(v) for v in ("0", "1/2", "1", "3/2", "2", "3", "4", "6")]  # codes 0..7
E4M3 = [Fraction(m, 8) * Fraction(2) ** -6 if e == 0 else (1 + Fraction(m, 8)) * Fraction(2) ** (e - 7)
        for e in range(16) for m in range(8)][:127]  # codes 0..126 (127 is NaN)
TOP = Fraction(6 * 448)

RECIPES = {
    # name: (arithmetic, tensor, block, scale_min, zero_to, zero_after, elements, decode,
    #        zero_in, zero_out)
    "exact": ("exact", "divisor", "exact", 0, None, None, "exact", "exact", "signed", "signed"),
    "modelopt": ("float32", "divisor", "amax_over_6ts", Fraction(2) ** -9, Fraction(1), None,
                 "divide_product", "product", "positive", "positive"),
    "torchao": ("float32", "divisor", "amax6_over_ts", Fraction(2) ** -6, None, None,
                "multiply_reciprocal", "product", "signed", "signed"),
    "compressed_tensors": ("float32", "multiplier", "gs_times_amax6", 0, None, Fraction(1, 8),
                           "divide_ratio", "ratio", "positive", "signed"),
}


F32_MAX = Fraction(float(np.finfo(np.float32).max))


def f32(q: Fraction):
    """q rounded to float32, nearest even (a zero's sign is the caller's);
    math.inf where it overflows."""
    if q == 0:
        return Fraction(0)
    r = round_fraction(q, "rne", *F32)
    return Fraction(r) if math.isfinite(r) else math.copysign(math.inf, r)


def div32(a, b):
    """a / b in float32 with IEEE's special cases: a divisor that underflowed to
    0 gives Inf (the caller keeps signs), 0 / 0 NaN; Inf / finite Inf."""
    if isinstance(a, float) or isinstance(b, float):  # an Inf operand
        return math.inf if isinstance(a, float) and not isinstance(b, float) else math.nan
    if b == 0:
        return math.nan if a == 0 else math.inf
    return f32(a / b)


def mul32(a, b):
    """a * b in float32; 0 x Inf is NaN, finite x Inf is Inf."""
    if isinstance(a, float) or isinstance(b, float):
        return math.nan if 0 in (a, b) else math.inf
    return f32(a * b)


def rne(q: Fraction, table) -> int:
    """The code of |q| rounded to nearest (ties to the even code) among the
    table's values, saturating at the largest."""
    a = abs(q)
    if a >= table[-1]:
        return len(table) - 1
    hi = next(i for i, v in enumerate(table) if v >= a)
    if table[hi] == a or hi == 0:
        return hi
    lo = hi - 1
    d_lo, d_hi = a - table[lo], table[hi] - a
    if d_lo != d_hi:
        return lo if d_lo < d_hi else hi
    return lo if lo % 2 == 0 else hi


def quantize(x, recipe="exact", block=16, tensor=True):
    """x: a 2-D float array, blocks along the last axis (a multiple of block).
    Returns (element codes, scale codes, tensor scale as a float)."""
    ar, trule, brule, smin, zto, zafter, erule, _, zin, _ = RECIPES[recipe]
    x = np.asarray(x).astype(np.float32)
    R, L = x.shape
    fin = np.isfinite(x)
    amax = Fraction(float(np.abs(np.where(fin, x, 0)).max())) if x.size else Fraction(0)
    if not tensor:
        ts = Fraction(1)
    elif trule == "multiplier":
        tiny = Fraction(2) ** -126
        ts = mul32(div32(Fraction(1), max(amax, tiny)), TOP)  # torch: 1 / amax, then x 2688
        if ts == math.inf:  # the float32 quotient overflows: gs = 1
            ts = Fraction(1)
    elif amax == 0:
        ts = Fraction(1)
    else:
        ts = f32(amax / TOP)
        if ts == 0:
            ts = Fraction(2) ** -149
    codes = np.zeros((R, L), np.uint8)
    scodes = np.zeros((R, L // block), np.uint8)
    for r in range(R):
        for b in range(L // block):
            xs = x[r, b * block:(b + 1) * block]
            if not np.isfinite(xs).all():
                scodes[r, b] = 0x7F
                continue
            bamax = max(Fraction(abs(float(v))) for v in xs)
            if brule == "exact":
                q = bamax / (6 * ts)
            elif brule == "amax_over_6ts":
                q = f32(bamax / f32(6 * ts))
            elif brule == "amax6_over_ts":
                q = f32(f32(bamax / 6) / ts)
            else:
                q = f32(ts * f32(bamax / 6))
            if zto is not None and q == 0:
                q = zto
            if smin:
                q = max(q, smin)
            sc = rne(q, E4M3)
            s = E4M3[sc]
            if zafter is not None and s == 0:
                sc, s = E4M3.index(zafter), zafter
            scodes[r, b] = sc
            for i, v in enumerate(xs):
                fv = Fraction(float(v))
                neg = math.copysign(1.0, float(v)) < 0
                if s == 0:
                    codes[r, b * block + i] = 8 if neg else 0
                    continue
                if erule == "exact":
                    y = fv / (s * ts)
                elif erule == "divide_product":
                    y = div32(fv, f32(s * ts))
                elif erule == "multiply_reciprocal":
                    y = mul32(fv, div32(div32(Fraction(1), ts), s))
                else:
                    y = div32(fv, f32(s / ts))
                if isinstance(y, float) and math.isnan(y):  # 0 / 0: a signed zero
                    codes[r, b * block + i] = 8 if (neg and zin == "signed") else 0
                    continue
                c = rne(Fraction(6) if isinstance(y, float) else y, E2M1)  # +-Inf saturates
                sign = neg and not (y == 0 and zin == "positive")
                codes[r, b * block + i] = c | (8 if sign else 0)
    return codes, scodes, float(ts)


def dequantize(codes, scodes, ts, recipe="exact", block=16, dtype=np.float32):
    """Values (float32, or float64 with ``dtype``): element x block scale x ts as
    the recipe's decode rule says; ``exact`` rounds the exact product once to
    ``dtype``, the float32 rules round in float32 (a float64 output widens it)."""
    *_, drule, _, zout = RECIPES[recipe]
    R, L = codes.shape
    out = np.zeros((R, L), dtype)
    ts = Fraction(ts)
    for r in range(R):
        for k in range(L):
            sc = int(scodes[r, k // block])
            if sc == 0x7F:
                out[r, k] = np.nan
                continue
            c = int(codes[r, k])
            e, s = E2M1[c & 7], E4M3[sc]
            neg = bool(c & 8) and not (e == 0 and zout == "positive")
            if drule == "exact":
                v = f32(e * s * ts) if dtype == np.float32 else float(e * s * ts)
            elif drule == "product":
                v = f32(e * f32(s * ts))
            else:
                v = f32(e * f32(s / ts))
            out[r, k] = -float(v) if neg else float(v)
    return out
