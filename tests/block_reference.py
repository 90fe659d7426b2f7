"""An independent MX block reference, in float64, written from SPEC.md section 4.

Scale rules are computed with math.frexp and plain loops (not the codec's bit
arithmetic); elements go through tests/spec_reference.py's element reference."""
from __future__ import annotations

import math

import numpy as np

from spec_reference import ref_encode, ref_format


def ref_scale(block: np.ndarray, el, rule="floor", zero_scale="min", inf="nan_scale"):
    """E8M0 code of one block (a float64 vector)."""
    if np.isnan(block).any() or (inf == "nan_scale" and np.isinf(block).any()):
        return 255
    fin = block[np.isfinite(block)]
    amax = float(np.abs(fin).max()) if fin.size else 0.0
    if amax == 0.0:
        return 0 if zero_scale == "min" else 127
    R = ref_format(el)
    emax = math.floor(math.log2(R.max))
    m, e = math.frexp(amax)          # amax = m * 2^e, 0.5 <= m < 1
    E = e - 1                        # floor(log2(amax))
    if rule == "floor":
        s = E - emax
    elif rule == "ceil":
        s = E - emax - 1
        while amax > R.max * 2.0 ** s:
            s += 1
    elif rule == "even":
        # fraction bits below the top bit of the largest value (uint: no sign bit)
        prec = {"int": el.bits - 2, "uint": el.bits - 1}.get(el.kind, el.mbits)
        frac = amax / 2.0 ** E * 2 ** prec      # in [2^prec, 2^(prec+1))
        r = round(frac)                         # Python round: ties to even
        s = E - emax + (1 if r == 2 ** (prec + 1) else 0)
    elif rule == "torchao_ceil":
        s = E - emax + (0 if amax == 2.0 ** E else 1)   # exact: ceil(log2 amax) - emax
    else:
        raise ValueError(rule)
    return min(max(s, -127), 127) + 127


def ref_block_encode(x, el, bs=32, rule="floor", rounding="rne", overflow="saturate",
                     zero_scale="min", inf="nan_scale", int_range="symmetric"):
    """(codes, scales) of a 1-D float array in blocks of ``bs``."""
    x = np.asarray(x, np.float64)
    codes, scales = [], []
    for start in range(0, x.size, bs):
        blk = x[start:start + bs]
        sc = ref_scale(blk, el, rule, zero_scale, inf)
        scales.append(sc)
        if sc == 255:
            codes.append(np.zeros(blk.size, np.uint8))
            continue
        c, _ = ref_encode(blk / 2.0 ** (sc - 127), el, rounding, overflow,
                          int_range=int_range)
        codes.append(c)
    return (np.concatenate(codes) if codes else np.zeros(0, np.uint8),
            np.array(scales, np.uint8))


def ref_block_decode(codes, scales, el, bs=32):
    vals = ref_format(el).vals
    out = np.empty(len(codes))
    for j, sc in enumerate(scales):
        sl = slice(j * bs, (j + 1) * bs)
        out[sl] = np.nan if sc == 255 else vals[codes[sl]] * 2.0 ** (int(sc) - 127)
    return out
