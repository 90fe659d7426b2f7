"""An independent reference of SPEC.md 9.8 (block formats beyond NVFP4, exact
recipe): any element format, unsigned-E4M3 or float32 block scales, any block
size, an optional tensor scale.  Element values come from the SPEC.md section 1
bit-field formulas (tests/spec_reference.py); every quantity is a fraction,
rounded once.  Nothing from mxspec's codecs is used."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from nvfp4_reference import E4M3, f32, rne
from spec_reference import ref_values


def _magnitudes(f):
    """(positive values by magnitude code, the code of magnitude k with a sign)."""
    v = ref_values(f)
    if f.kind == "int":
        mags = [Fraction(float(v[k])) for k in range(1 << (f.bits - 1))]

        def signed(k, neg):
            return ((-k) & ((1 << f.bits) - 1)) if (neg and k) else k
    else:
        top = 1 << (f.bits - 1)
        mags = [Fraction(float(v[k])) for k in range(top) if math.isfinite(v[k])]

        def signed(k, neg):
            return k | (top if neg else 0)
    return mags, signed


def quantize(x, f, scale="ue4m3", block=16, tensor=True):
    """x: 2-D float32 data, blocks along the last axis; f: the element format
    (an mxspec ElementFormat, read for its fields only).  Returns (codes,
    scales: E4M3 codes or float32 values, ts)."""
    mags, signed = _magnitudes(f)
    emax = mags[-1]
    x = np.asarray(x, np.float32)
    R, L = x.shape
    fin = np.isfinite(x)
    amax = Fraction(float(np.abs(np.where(fin, x, 0)).max()))
    if not tensor or amax == 0:
        ts = Fraction(1)
    else:
        ts = f32(amax / (emax * 448)) or Fraction(2) ** -149
    codes = np.zeros((R, L), np.uint8)
    nb = -(-L // block)
    scales = np.zeros((R, nb), np.uint8 if scale == "ue4m3" else np.float32)
    for r in range(R):
        for b in range(nb):
            xs = x[r, b * block:(b + 1) * block]
            if not np.isfinite(xs).all():
                scales[r, b] = 0x7F if scale == "ue4m3" else np.nan
                continue
            q = max(Fraction(abs(float(v))) for v in xs) / (emax * ts)
            if scale == "ue4m3":
                sc = rne(q, E4M3)
                s = E4M3[sc]
                scales[r, b] = sc
            else:
                s = f32(q)
                scales[r, b] = float(s)
            for i, v in enumerate(xs):
                neg = math.copysign(1.0, float(v)) < 0
                k = 0 if s == 0 else rne(Fraction(float(v)) / (s * ts), mags)
                codes[r, b * block + i] = signed(k, neg)
    return codes, scales, float(ts)


def dequantize(codes, scales, ts, f, scale="ue4m3", block=16):
    v = ref_values(f)
    R, L = codes.shape
    out = np.zeros((R, L), np.float32)
    for r in range(R):
        for k in range(L):
            sc = scales[r, k // block]
            s = (E4M3[int(sc)] if int(sc) != 0x7F else None) if scale == "ue4m3" else (
                None if np.isnan(sc) else Fraction(float(sc)))
            if s is None:
                out[r, k] = np.nan
                continue
            e = float(v[int(codes[r, k])])
            val = float(f32(Fraction(e) * s * Fraction(ts)))
            out[r, k] = math.copysign(val, e) if val == 0 else val
    return out
