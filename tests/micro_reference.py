"""An independent reference of SPEC.md section 11, written from the published
recipes' rules (the HiF4 release's To_MXN and To_HiFX as hifloat.md states
them), one unit at a time in float64 with plain Python loops.  Returns the
dequantized values; nothing from mxspec is imported."""
from __future__ import annotations

import math

import numpy as np


def _floor_log2(v: float) -> int:
    """floor(log2 v) exactly, from the float's exponent (math.log2 can round up
    for v just below a power of two)."""
    return math.frexp(v)[1] - 1


def _half_away(v: float, n: int) -> float:
    """v rounded to a multiple of 2^-n, ties away from zero, exactly (the recipes
    write floor(v x 2^n + 1/2), whose float64 addition rounds up values within
    2^-53 below a midpoint; SPEC.md 11 takes the exact rule)."""
    w = v * 2.0 ** n          # exact: a power-of-two scaling
    q = math.floor(w)
    return (q + (1 if w - q >= 0.5 else 0)) * 2.0 ** -n  # w - q is exact


def _bf16(v: float) -> float:
    """Nearest BFloat16 (ties to even), exponent floored at -126."""
    if v == 0:
        return 0.0
    e = max(_floor_log2(abs(v)), -126)
    q = v * 2.0 ** (7 - e)
    r = round(q)  # Python's round: ties to even
    return r * 2.0 ** (e - 7)


def mxn(x, n_frac, unit=16, pair=2):
    """MXn (n_frac = N - 3 fraction bits): E8 = floor(log2 max) - 1; a pair's bit
    is max(0, floor(log2 pair max) - E8); magnitudes rounded half away at
    n_frac bits (exactly), saturated at 2 - 2^-n_frac."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros_like(x)
    for u0 in range(0, x.size, unit):
        blk = x[u0:u0 + unit]
        mags = [abs(v) for v in blk]
        if max(mags) == 0:
            continue
        e8 = _floor_log2(max(mags)) - 1
        e8 = min(max(e8, -127), 127)
        for p0 in range(0, len(blk), pair):
            pm = max(mags[p0:p0 + pair])
            mu = 0 if pm == 0 else min(max(_floor_log2(pm) - e8, 0), 1)
            for i in range(p0, min(p0 + pair, len(blk))):
                q = _half_away(mags[i] * 2.0 ** -(e8 + mu), n_frac)
                q = min(q, 2 - 2.0 ** -n_frac)
                out[u0 + i] = math.copysign(q * 2.0 ** (e8 + mu), blk[i]) if q else 0.0
    return out


def hif4(x):
    """HiF4: SF = BF16(Vmax x BF16(1/7)), clamped to [2^-48, 1.5 x 2^15] and
    rounded to E6M2 (ties to even); REC = BF16(1 / E6M2); E1_8 = (V8 x REC >= 4);
    E1_16 = (V16 x REC x 2^-E1_8 >= 2); elements |x| x REC x 2^-(E1_8 + E1_16)
    rounded to quarters, ties away (exactly), saturated at 1.75."""
    x = np.asarray(x, np.float64).reshape(-1)
    out = np.zeros_like(x)
    for u0 in range(0, x.size, 64):
        blk = list(x[u0:u0 + 64]) + [0.0] * (64 - len(x[u0:u0 + 64]))
        mags = [abs(v) for v in blk]
        v16 = [max(mags[4 * k:4 * k + 4]) for k in range(16)]
        v8 = [max(v16[2 * k:2 * k + 2]) for k in range(8)]
        sf = _bf16(max(v8) * _bf16(1 / 7))
        sf = min(max(sf, 2.0 ** -48), 1.5 * 2.0 ** 15)
        e = _floor_log2(sf)
        e6m2 = round(sf * 2.0 ** (2 - e)) * 2.0 ** (e - 2)
        rec = _bf16(1 / e6m2)
        e1_8 = [1 if v * rec >= 4 else 0 for v in v8]
        e1_16 = [1 if v16[k] * rec * 2.0 ** -e1_8[k // 2] >= 2 else 0 for k in range(16)]
        for i in range(min(64, x.size - u0)):
            d = e1_8[i // 8] + e1_16[i // 4]
            q = _half_away(mags[i] * rec * 2.0 ** -d, 2)
            q = min(q, 1.75)
            out[u0 + i] = math.copysign(e6m2 * 2.0 ** d * q, blk[i]) if q else 0.0
    return out
