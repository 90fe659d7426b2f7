"""Tapered element formats: HiFloat8 (HiF8), whose exponent and mantissa widths
vary with magnitude (SPEC.md section 10).

A tapered format is a row of data: the prefix-coded "dot" field's table (each
prefix's exponent width D and mantissa width), the denormal rule and the special
codes.  Every code's value is derived from that row; encoding picks the nearest
representable value (the format's ties-away rule, or a directed mode) by a search
in the sorted values, so no per-format loop exists.

>>> encode_tapered([1.0, 2.5, -3.1, 40960.0, 1e-9], "hifloat8").tolist()
[8, 18, 148, 111, 0]
>>> decode_tapered([8, 18, 148, 0x6E, 0x80], "hifloat8").tolist()
[1.0, 2.5, -3.0, 32768.0, nan]
"""
from __future__ import annotations


import numpy as np

from .._kernel import parallel as _parallel
from ..tables.policies import INEXACT, INVALID, OVERFLOW_FLAG, UNDERFLOW
from ..tables.tapered import (HYBRID_TA_BELOW, TAPERED_NAN, TAPERED_OVERFLOW,  # noqa: F401
                              TAPERED_RANDOM, TAPERED_ROUNDING, TaperedFormat, is_tapered_name,
                              tapered_format, tapered_formats)
from .core import _bitcast, f64_bits, jit
from .inputs import as_float_input, check_codes, random_bits

__all__ = ["TaperedFormat", "tapered_format", "tapered_formats", "encode_tapered",
           "decode_tapered", "is_tapered_name", "TAPERED_ROUNDING", "TAPERED_RANDOM",
           "TAPERED_OVERFLOW", "TAPERED_NAN"]

@jit
def _encode_kernel(t0, t1, x, table, T, r, out):
    """Each value's code: the neighbours lo <= |x| < hi among the sorted finite
    values, then the mode's choice (rna: the nearer, ties away from zero;
    hybrid: rna where |E| < 4, else hi iff the fraction's 32 bits plus r[k]
    reach 2^32).  ``table``: the format's search table (values, codes); ``T``
    the policy record (T_* below)."""
    vals, codes_t = table
    mode, sat, nan_zero = T[T_MODE], T[T_SAT], T[T_NAN_ZERO]
    inf_code, nan_code = T[T_INF_CODE], T[T_NAN_CODE]
    n = vals.shape[0]
    top = vals[n - 1]
    # the value a next code would have: past the largest, rna overflows at its midpoint
    virtual = top * 1.5
    for k in range(t0 * 4096, min(t1 * 4096, x.shape[0])):
        v = np.float64(x[k])
        neg = v < 0
        a = abs(v)
        if v != v:
            out[k] = 0 if nan_zero else nan_code
            continue
        m = mode
        if mode == 4:  # hybrid: which rule, from the input's own exponent
            E = ((f64_bits(a) >> 52) & 0x7FF) - 1023
            m = 0 if (-HYBRID_TA_BELOW < E < HYBRID_TA_BELOW) or a >= (top + virtual) * 0.5 else 4
        if a == np.inf:
            c = inf_code if not sat else codes_t[n - 1]
        elif a >= top:
            # past the largest finite value: rna overflows at the midpoint to the next;
            # rtz and the mode toward zero keep the largest; saturate always does;
            # hybrid below that midpoint goes up to the next (Inf) at random
            away = (m == 2 and not neg) or (m == 3 and neg) or \
                (m == 4 and _random_up(a - top, virtual - top, r[k]))
            over = (m == 0 and a >= (top + virtual) * 0.5) or (away and a > top)
            c = inf_code if (over and not sat) else codes_t[n - 1]
        else:
            lo = 0
            hi = n - 1
            while hi - lo > 1:  # vals[lo] <= a < vals[hi]
                mid = (lo + hi) >> 1
                if vals[mid] <= a:
                    lo = mid
                else:
                    hi = mid
            if vals[lo] == a:
                j = lo
            elif m == 0:
                j = hi if (a - vals[lo]) >= (vals[hi] - a) else lo
            elif m == 1:
                j = lo
            elif m == 2:
                j = lo if neg else hi
            elif m == 3:
                j = hi if neg else lo
            else:
                j = hi if _random_up(a - vals[lo], vals[hi] - vals[lo], r[k]) else lo
            c = codes_t[j]
        if neg and c != 0:
            c = c | 0x80
        out[k] = c
    return 0


@jit
def _random_up(d, step, r):
    """Stochastic rounding's choice, as mxspec's stochastic mode makes it
    (SPEC.md 2.3): up iff floor(d / step x 2^32) + r >= 2^32.  d / step is
    exact: step is a power of two and d = |x| - lo is exact (Sterbenz: lo <=
    |x| < 2 lo, or lo = 0)."""
    f32 = np.int64(d / step * 4294967296.0)
    return f32 + np.int64(r) >= np.int64(4294967296)


@jit
def _table_kernel(t0, t1, b, table, out):
    """Codes of float32 inputs by their bits: table[bits >> 19] where the low
    19 bits are zero, table[8192 + (bits >> 19)] where they are not."""
    for k in range(t0 * 4096, min(t1 * 4096, b.shape[0])):
        w = b[k]
        out[k] = table[(w >> 19) + (8192 if (w & 0x7FFFF) != 0 else 0)]
    return 0


@jit
def _hybrid32_kernel(t0, t1, b, tables, T, r, out):
    """Hybrid rounding of float32 inputs by their bits: the rna table where
    |E| < 4, at or past 40960 and for Inf / NaN; elsewhere the rtz table's code
    lo, its successor hi, and stochastic rounding's choice between them (the
    search kernel's rule, _random_up).  ``tables``: (rna table, rtz table, and
    the format's successors: value, next value, next code)."""
    t_rna, t_rtz, val, nxt_val, nxt_code = tables
    sat, inf_code, top_code = T[T_SAT], T[T_INF_CODE], T[T_TOP_CODE]
    for k in range(t0 * 4096, min(t1 * 4096, b.shape[0])):
        w = b[k]
        idx = (w >> 19) + (8192 if (w & 0x7FFFF) != 0 else 0)
        ex = np.int64((w >> 23) & 0xFF) - 127
        a = abs(np.float64(_bitcast(np.uint32(w), np.float32(0))))
        if (-HYBRID_TA_BELOW < ex < HYBRID_TA_BELOW) or ex == 128 or a >= 40960.0:
            out[k] = t_rna[idx]
            continue
        c = np.int64(t_rtz[idx] & 0x7F)
        if _random_up(a - val[c], nxt_val[c] - val[c], r[k]):
            c = nxt_code[c]
            if c == inf_code and sat:
                c = top_code
        out[k] = c | 0x80 if (w >> 31) and c != 0 else c
    return 0


_TABLES: dict = {}


def _table32(f, rounding, overflow, nan):
    """The 16,384 codes that decide every float32 input under a deterministic
    mode (SPEC.md 10.4): made by the search itself from the inputs whose low 19
    bits are 0, and from those whose low bits are 1.  Every breakpoint (a
    value, a midpoint, the overflow threshold, 2^-23) has at most 4 significant
    bits, so the low 19 bits of a float32 are zero there: between two such
    inputs the search's answer cannot change."""
    key = (f.name, rounding, overflow, nan)
    if key not in _TABLES:
        top = np.arange(8192, dtype=np.uint32) << np.uint32(19)
        x = np.concatenate([top, top | np.uint32(1)]).view(np.float32)
        _TABLES[key] = _search(x, f, TAPERED_ROUNDING.index(rounding), overflow, nan,
                               np.zeros(0, np.uint32))
    return _TABLES[key]


# The tapered policy record the kernels read: (mode: a TAPERED_ROUNDING index or 4 for
# hybrid, saturate, NaN to zero, +Inf's code, NaN's code, the largest finite code).
T_MODE, T_SAT, T_NAN_ZERO, T_INF_CODE, T_NAN_CODE, T_TOP_CODE = range(6)


def _record(f, mode, overflow, nan) -> tuple:
    return (int(mode), int(overflow == "saturate"), int(nan == "zero"), int(f.inf_code),
            int(f.nan_code), int(f.table[1][-1]))


def _search(flat, f, mode, overflow, nan, r):
    out = np.empty(flat.size, np.uint8)
    vals, codes_t = f.table
    if flat.size:
        _parallel.run(_encode_kernel, -(-flat.size // 4096), flat, (vals, codes_t),
                      _record(f, mode, overflow, nan), r, out, work=flat.size * 4)
    return out


def encode_tapered(x, fmt="hifloat8", rounding: str = "rna", overflow: str = "ieee",
                   nan: str = "keep", return_flags: bool = False, seed=None, rbits=None):
    """Codes of ``x`` in a tapered format: ``rounding`` rna (ties away from zero,
    the format's rule), rtz, up, down, or hybrid (the paper's: ties away where
    the exponent |E| < 4, stochastic rounding elsewhere; needs ``seed`` or
    ``rbits``, uint32 per value in C order); ``overflow`` ieee (past the
    largest value: Inf, HiF8's default) or saturate; ``nan`` keep (the NaN
    code) or zero.  With ``return_flags`` also the SoftFloat exception bits
    (SPEC.md 10.3)."""
    f = tapered_format(fmt)
    for arg, v, allowed in (("rounding", rounding, TAPERED_ROUNDING + TAPERED_RANDOM),
                            ("overflow", overflow, TAPERED_OVERFLOW), ("nan", nan, TAPERED_NAN)):
        if v not in allowed:
            raise ValueError(f"{arg}={v!r} is not valid for {f.name}; allowed values: "
                             f"{', '.join(allowed)}")
    scalar = np.ndim(x) == 0 and not isinstance(x, np.ndarray)
    a = as_float_input(np.asarray(x, np.float64) if isinstance(x, (list, tuple)) else x)
    flat = np.ascontiguousarray(a).reshape(-1)
    if rounding in TAPERED_RANDOM:
        if seed is None and rbits is None:
            raise ValueError(f"rounding={rounding!r} needs seed= or rbits= (the codes must "
                             f"be reproducible)")
        r = random_bits(flat.size, seed, rbits)
        if flat.dtype == np.float32:
            out = np.empty(flat.size, np.uint8)
            if flat.size:
                tables = (_table32(f, "rna", overflow, nan), _table32(f, "rtz", overflow, nan),
                          *f.successors)
                _parallel.run(_hybrid32_kernel, -(-flat.size // 4096), flat.view(np.uint32),
                              tables, _record(f, 4, overflow, nan), r, out, work=flat.size)
        else:
            out = _search(flat, f, 4, overflow, nan, r)
    else:
        if seed is not None or rbits is not None:
            raise ValueError(f"seed= and rbits= are for rounding='hybrid', not {rounding!r}")
        r = np.zeros(0, np.uint32)
        if flat.dtype == np.float32:
            out = np.empty(flat.size, np.uint8)
            if flat.size:
                _parallel.run(_table_kernel, -(-flat.size // 4096), flat.view(np.uint32),
                              _table32(f, rounding, overflow, nan), out, work=flat.size)
        else:
            out = _search(flat, f, TAPERED_ROUNDING.index(rounding), overflow, nan, r)
    out = out.reshape(a.shape)
    if not return_flags:
        return out[()] if scalar else out
    flags = _flags(flat, out.reshape(-1), f, rounding, overflow, nan, r).reshape(a.shape)
    return (out[()], flags[()]) if scalar else (out, flags)


def _flags(x, codes, f, rounding, overflow, nan, r):
    """SPEC.md 2.6's bits, read off the values: inexact (the value differs from
    a non-NaN input), underflow (inexact below the smallest normal), overflow
    (a finite input that the mode rounds past the largest value: Inf, or the
    largest under saturate), invalid (a NaN turned into zero)."""
    x = np.asarray(x, np.float64)
    v = f.values[codes]
    isnan = np.isnan(x)
    fin = np.isfinite(x)
    with np.errstate(invalid="ignore"):
        inexact = ~isnan & (v != x)
    if overflow == "saturate" and fin.any():  # would the mode have gone to Inf?
        ieee = encode_tapered(x, f, rounding, "ieee", nan,
                              rbits=r if rounding in TAPERED_RANDOM else None)
        over = fin & np.isinf(f.values[ieee])
    else:
        over = fin & np.isinf(v)
    under = inexact & fin & (np.abs(x) < f.min_normal)
    out = (np.where(inexact, INEXACT, 0) | np.where(under, UNDERFLOW, 0)
           | np.where(over, OVERFLOW_FLAG | INEXACT, 0)
           | np.where(isnan & (nan == "zero"), INVALID, 0))
    return out.astype(np.uint8)


def decode_tapered(codes, fmt="hifloat8", dtype=np.float32):
    """Exact values of a tapered format's codes (float32 or float64)."""
    f = tapered_format(fmt)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    scalar = np.ndim(codes) == 0 and not isinstance(codes, np.ndarray)
    c = check_codes(np.asarray(codes), f)
    res = f.values.astype(dtype)[c]
    return res[()] if scalar else res

