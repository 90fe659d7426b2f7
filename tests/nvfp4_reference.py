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
    "fouroversix": ("float32", "amax", "gs_times_amax6", 0, None, None,
                    "times_recip_of_product", "amax", "positive", "signed"),
}
# the recipes of SPEC.md 9.10 past those fields: (the scale's cap in the top,
# the choice's error rule or None, whether a zero-scale block's codes are +0)
CHOICE = {"fouroversix": (448, None, True)}
for _name, _sel in (("4over6", "mse"), ("4over6_mse", "mse"), ("4over6_mae", "mae"),
                    ("4over6_abs_max", "abs_max")):
    RECIPES[_name] = RECIPES["fouroversix"]
    CHOICE[_name] = (256, _sel, True)
# IF4 (SPEC.md 9.11): fouroversix's order under 2688, each block's elements E2M1 or the
# integers -7..7 worth 6/7, the integers flagged by the scale byte's sign bit
IF4 = {"if4": "mse", "if4_mae": "mae", "if4_abs_max": "abs_max"}
for _name, _sel in IF4.items():
    RECIPES[_name] = RECIPES["fouroversix"]
    CHOICE[_name] = (448, _sel, True)
UP, DOWN = Fraction(float(np.float32(7 / 6))), Fraction(float(np.float32(6 / 7)))


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


def quantize(x, recipe="exact", block=16, tensor=True, tile_rows=1):
    """x: a 2-D float array, blocks along the last axis (a multiple of block).
    ``tile_rows`` > 1: each block's amax (and NaN test) is its tile's, the tile
    ``tile_rows`` rows of the block's columns (SPEC.md 9.12); Four Over Six then
    chooses per tile, by the tile's 256 terms in PyTorch's AVX2 sum order.
    Returns (element codes, scale codes, tensor scale as a float)."""
    ar, trule, brule, smin, zto, zafter, erule, _, zin, _ = RECIPES[recipe]
    x = np.asarray(x).astype(np.float32)
    R, L = x.shape
    fin = np.isfinite(x)
    amax = Fraction(float(np.abs(np.where(fin, x, 0)).max())) if x.size else Fraction(0)
    cap, select, zblock = CHOICE.get(recipe, (448, None, False))
    top = Fraction(6 * cap)
    if trule == "amax":  # amax stored; the rules read gs = fl(top / amax), 0 for a zero tensor
        stored = amax
        ts = div32(top, amax) if amax != 0 else Fraction(0)
        if ts == math.inf:  # gs overflows float32: every block scale is NaN (SPEC.md 9.10)
            return (np.zeros((R, L), np.uint8), np.full((R, L // block), 0x7F, np.uint8),
                    float(stored))
    elif not tensor:
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
    if tile_rows > 1 and select is not None:  # Four Over Six or IF4 over tiles: per tile
        assert tile_rows == block == 16, "tiles: 16 x 16"
        for r0 in range(0, R, tile_rows):
            for b in range(L // block):
                cols = slice(b * block, (b + 1) * block)
                tile = x[r0:r0 + tile_rows, cols]
                if not np.isfinite(tile).all():
                    scodes[r0:r0 + tile_rows, b] = 0x7F
                    continue
                assert brule == "gs_times_amax6"  # fouroversix's order (SPEC.md 9.10)
                q = f32(ts * f32(max(Fraction(abs(float(v))) for v in tile.reshape(-1)) / 6))
                best = None
                cands = [(q, False), (q, True)] if recipe in IF4 else \
                    [(q, False), (f32(q * Fraction(3, 2)), False)]
                for qc, ints in cands:
                    blocks = [_block(x[r, cols], qc, ts, smin, zto, zafter, erule, zin, zblock)
                              for r in range(r0, r0 + tile_rows)]
                    if ints:  # the same scale, the elements as integers, flagged
                        blocks = [(sc | 0x80, _integers(x[r, cols], E4M3[sc], ts))
                                  for r, (sc, _) in zip(range(r0, r0 + tile_rows), blocks)]
                    terms = [t for r, (sc, cs) in zip(range(r0, r0 + tile_rows), blocks)
                             for t in _terms(x[r, cols], cs, E4M3[sc & 0x7F], amax, top, select,
                                             ints)]
                    err = _tile_error(terms, select)
                    if best is None or err < best[0]:
                        best = (err, blocks)
                for r, (sc, cs) in zip(range(r0, r0 + tile_rows), best[1]):
                    scodes[r, b] = sc
                    codes[r, cols] = cs
        return codes, scodes, float(stored)
    for r in range(R):
        for b in range(L // block):
            xs = x[r, b * block:(b + 1) * block]
            r0 = r - r % tile_rows
            tile = x[r0:r0 + tile_rows, b * block:(b + 1) * block]
            if not np.isfinite(tile).all():
                scodes[r, b] = 0x7F
                continue
            bamax = max(Fraction(abs(float(v))) for v in tile.reshape(-1))
            if brule == "exact":
                q = bamax / (6 * ts)
            elif brule == "amax_over_6ts":
                q = f32(bamax / f32(6 * ts))
            elif brule == "amax6_over_ts":
                q = f32(f32(bamax / 6) / ts)
            else:
                q = f32(ts * f32(bamax / 6))
            if recipe in IF4:
                cands = [(q, False), (q, True)]
            else:
                cands = [(q, False)] + ([] if select is None else [(f32(q * Fraction(3, 2)),
                                                                    False)])
            best = None
            for q, ints in cands:
                sc, cs = _block(xs, q, ts, smin, zto, zafter, erule, zin, zblock)
                if ints:
                    cs = _integers(xs, E4M3[sc], ts)
                if select is not None:
                    err = _error(xs, cs, E4M3[sc], amax, top, select, ints)
                    sc = sc | (0x80 if ints else 0)
                    if best is not None and not err < best[0]:
                        continue
                    best = (err, sc, cs)
                else:
                    best = (None, sc, cs)
            scodes[r, b] = best[1]
            codes[r, b * block:(b + 1) * block] = best[2]
    if trule == "amax":
        return codes, scodes, float(stored)
    return codes, scodes, float(ts)


def _block(xs, q, ts, smin, zto, zafter, erule, zin, zblock):
    """One block's (scale code, element codes) from its raw scale q."""
    if zto is not None and q == 0:
        q = zto
    if smin:
        q = max(q, smin)
    sc = rne(q, E4M3)
    s = E4M3[sc]
    if zafter is not None and s == 0:
        sc, s = E4M3.index(zafter), zafter
    out = []
    for v in xs:
        fv = Fraction(float(v))
        neg = math.copysign(1.0, float(v)) < 0
        if s == 0:
            out.append(8 if neg and not zblock else 0)
            continue
        if erule == "exact":
            y = fv / (s * ts)
        elif erule == "divide_product":
            y = div32(fv, f32(s * ts))
        elif erule == "multiply_reciprocal":
            y = mul32(fv, div32(div32(Fraction(1), ts), s))
        elif erule == "times_recip_of_product":
            y = mul32(fv, div32(Fraction(1), mul32(div32(Fraction(1), ts), s)))
        else:
            y = div32(fv, f32(s / ts))
        if isinstance(y, float) and math.isnan(y):  # 0 / 0: a signed zero
            out.append(8 if (neg and zin == "signed") else 0)
            continue
        c = rne(Fraction(6) if isinstance(y, float) else y, E2M1)  # +-Inf saturates
        sign = neg and not (y == 0 and zin == "positive")
        out.append(c | (8 if sign else 0))
    return sc, out


def _integers(xs, s, gs):
    """IF4's integer candidate: fl(fl(x m) x fl(7/6)), m = fl(1 / fl(fl(1 / gs) s)),
    clamped to -7..7 and rounded to the nearest integer (ties to even); the code
    is the integer's 4-bit two's complement."""
    out = []
    for v in xs:
        if s == 0:
            out.append(0)
            continue
        m = div32(Fraction(1), mul32(div32(Fraction(1), gs), s))
        y = mul32(mul32(Fraction(float(v)), m), UP)
        y = max(min(y, Fraction(7)), Fraction(-7))
        n = math.floor(y)
        q = n + 1 if (y - n > Fraction(1, 2) or (y - n == Fraction(1, 2) and n % 2)) else n
        out.append(q & 0xF)
    return out


def _g(q):
    """A float32 rounding that lets an overflow's Inf through."""
    return q if isinstance(q, float) else f32(q)


def _terms(xs, cs, s, amax, top, select, ints=False):
    """SPEC.md 9.10's per-element terms of a candidate, every step a float32
    rounding: value fl(fl(fl(e s) amax) / top), difference from x, its square
    ("mse") or magnitude."""
    out = []
    for v, c in zip(xs, cs):
        if ints:  # the integer, and its 6/7 as a float32 factor
            d = _g(_g(_g(_g(_g((c - 16 if c & 8 else c) * s) * amax) * DOWN) / top)
                   - Fraction(float(v)))
        else:
            e = E2M1[c & 7] * (-1 if c & 8 else 1)
            d = _g(_g(_g(_g(e * s) * amax) / top) - Fraction(float(v)))
        out.append(_g(d * d) if select == "mse" else abs(d))
    return out


def _error(xs, cs, s, amax, top, select, ints=False):
    """A block's error: its terms summed in eight lanes (k and k + 8) and then
    the lanes in order; abs_max the largest term."""
    terms = _terms(xs, cs, s, amax, top, select, ints)
    if select == "abs_max":
        return max(terms, default=Fraction(0))
    lanes = [Fraction(0)] * 8
    for k, t in enumerate(terms):
        lanes[k % 8] = _g(lanes[k % 8] + t)
    acc = lanes[0]
    for t in lanes[1:]:
        acc = _g(acc + t)
    return acc


def _tile_error(terms, select):
    """A 16 x 16 tile's error from its 256 terms (term 16 r + c), SPEC.md 9.12:
    accumulator k, lane l adds terms 32 i + 8 k + l in order of i; the four
    accumulators added in order, lane by lane; then the eight lanes in order.
    abs_max the largest."""
    if select == "abs_max":
        return max(terms)
    acc = [[None] * 8 for _ in range(4)]
    for i in range(8):
        for k in range(4):
            for lane in range(8):
                t = terms[32 * i + 8 * k + lane]
                acc[k][lane] = t if i == 0 else _g(acc[k][lane] + t)
    v = [_g(_g(_g(acc[0][lane] + acc[1][lane]) + acc[2][lane]) + acc[3][lane])
         for lane in range(8)]
    total = v[0]
    for t in v[1:]:
        total = _g(total + t)
    return total


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
            if recipe in IF4 and sc != 0xFF and sc & 0x80:  # an integer block: q x 6/7
                q = c - 16 if c & 8 else c
                p = Fraction(q) * 6 / 7 * E4M3[sc & 0x7F] * ts / 2688
                out[r, k] = float(f32(p)) if dtype == np.float32 else float(p)
                continue
            e, s = E2M1[c & 7], E4M3[sc & 0x7F if recipe in IF4 else sc]
            neg = bool(c & 8) and not (e == 0 and zout == "positive")
            if drule in ("exact", "amax"):  # amax: ts is the stored amax, over the top
                p = e * s * ts / (6 * CHOICE.get(recipe, (448,))[0] if drule == "amax" else 1)
                v = f32(p) if dtype == np.float32 else float(p)
            elif drule == "product":
                v = f32(e * f32(s * ts))
            else:
                v = f32(e * f32(s / ts))
            out[r, k] = -float(v) if neg else float(v)
    return out
