"""The affine engine: integer groups, a float scale and (asymmetric rows) an
integer zero point per group along the blocked axis, as GPTQ, AWQ and
compressed-tensors store them (SPEC.md 12).  Reached through the one dispatch,
:mod:`mxspec.block.api`.

>>> import numpy as np, mxspec
>>> a = mxspec.encode(np.float32([-1.0, 0.0, 0.5, 2.0]), "bf(int4,float32,4,zero_point)")
>>> a.scales.tolist(), a.zero_points.tolist(), a.codes.tolist()  # s = 3 / 15, zp = -8 + 5
([0.20000000298023224], [-3], [8, 3, 6, 7])
>>> mxspec.decode(a).tolist()
[-1.0, 0.0, 0.6000000238418579, 2.0]
"""
from __future__ import annotations

import numpy as np

from .._kernel import parallel as _parallel
from .._kernel.jit import jit
from ..codec.elements import as_float_input, check_codes
from ..codec.ieee import K_MAX, eps_of, kind_record, nearest_from, round64, round_quotient, two_sum
from ..tables.block import BlockFormat
from .array import BlockArray, _check_block_size, _norm_axis, check_g_idx, scale_dtype

__all__ = ["encode", "decode", "POLICIES"]

POLICIES: dict = {}  # the row and its recipe fix every choice
GROUPS_PER_TASK = 256
# The record the kernels read: ints and floats (one array each).
I_QMIN, I_QMAX, I_ASYM, I_CT = range(4)


def _record(f: BlockFormat):
    b = f.element.bits
    qmin, qmax = -(1 << (b - 1)), (1 << (b - 1)) - 1
    asym = f.zero_point
    RI = np.array([qmin, qmax, int(asym), int(f.recipe.arithmetic == "scale dtype")], np.int64)
    # the divisor: the integer range (2^b - 1), or half of it for a symmetric row
    D = float((1 << b) - 1) if asym else (1 << b) / 2 - 0.5
    return RI, kind_record(f.scale_kind), D, eps_of(f.scale_kind)


@jit
def _params(lo, hi, RI, K, D, eps):
    """A group's (scale, zero point) from its min and max (SPEC.md 12.2)."""
    qmin, qmax = np.float64(RI[I_QMIN]), np.float64(RI[I_QMAX])
    lo = min(lo, 0.0)
    hi = max(hi, 0.0)
    if RI[I_CT] == 1:  # every torch operation rounded to the scale's dtype
        if RI[I_ASYM] == 1:
            s = round64(round64(hi - lo, K) / D, K)
            z = round64(qmin - round64(lo / s, K), K)  # s = 0: NaN or -Inf, as torch has it
            z = 0.0 if z != z else np.rint(min(max(z, qmin), qmax))  # torch: NaN -> int8 0
        else:
            s = round64(max(-lo, hi) / D, K)
            z = 0.0
        return (eps if s == 0.0 else s), z
    if RI[I_ASYM] == 1:
        span, err = two_sum(hi, -lo)
        s = round_quotient(span, err, D, K)
        s = eps if s == 0.0 else s
        z = nearest_from(-lo, s, qmin, -lo / s + qmin)
        return s, min(max(z, qmin), qmax)
    s = round_quotient(max(-lo, hi), 0.0, D, K)
    return (eps if s == 0.0 else s), 0.0


@jit
def _code(xv, s, inv, z, RI, K):
    """One value's code (an integer in qmin..qmax) under scale s and zero point z."""
    qmin, qmax = np.float64(RI[I_QMIN]), np.float64(RI[I_QMAX])
    if RI[I_CT] == 1:
        t = round64(round64(round64(xv, K) / s, K) + z, K)
        n = np.rint(min(max(t, qmin), qmax))
    else:
        n = nearest_from(xv, s, z, xv * inv + z)
    return min(max(n, qmin), qmax)


@jit
def _minmax(x, lo_i, hi_i, RI, K):
    """(min, max) of x[lo_i:hi_i] (NaN if any is NaN), in the scale's dtype under
    the scale-dtype arithmetic (rounding is monotonic: the rounded min is the
    min of the rounded values)."""
    lo, hi, nan = np.inf, -np.inf, False
    for k in range(lo_i, hi_i):
        v = np.float64(x[k])
        lo = min(lo, v)
        hi = max(hi, v)
        nan |= v != v
    if nan:
        return np.nan, np.nan
    if RI[I_CT] == 1:
        lo, hi = round64(lo, K), round64(hi, K)
    return lo, hi


@jit
def _encode_groups(t0, t1, x, L, G, RI, K, D, eps, codes, scales, zps):
    """Tasks of GROUPS_PER_TASK contiguous groups of the rows of x (rows of L):
    each group's min and max, its scale and zero point, then its codes.
    Returns the number of groups holding a NaN or an Inf (under the
    scale-dtype arithmetic: a value that is Inf in that dtype)."""
    ng = (L + G - 1) // G
    total = scales.size
    bad = 0
    qneg = RI[I_QMIN]
    for task in range(t0, t1):
        j0 = task * GROUPS_PER_TASK
        j1 = min(j0 + GROUPS_PER_TASK, total)
        r = j0 // ng
        c = j0 - r * ng
        for j in range(j0, j1):
            a = r * L + c * G
            n = min(G, r * L + L - a)
            lo, hi = _minmax(x, a, a + n, RI, K)
            if not (abs(lo) < np.inf and abs(hi) < np.inf):
                bad += 1
                s, z = 1.0, 0.0
            else:
                s, z = _params(lo, hi, RI, K, D, eps)
                if not s < np.inf:  # the scale past its dtype's largest value
                    bad += 1
                    s = 1.0
            scales[j] = s
            zps[j] = z
            inv = 1.0 / s
            for k in range(a, a + n):
                codes[k] = np.uint8(np.int64(_code(np.float64(x[k]), s, inv, z, RI, K)) - qneg
                                    ^ (-qneg))
            c += 1
            if c == ng:
                r, c = r + 1, 0
    return bad


@jit
def _encode_rows_gidx(t0, t1, x, L, ng, gidx, RI, K, D, eps, codes, scales, zps):
    """Rows t0..t1-1 of x with the group of element k given by gidx[k] (GPTQ's
    act-order): each group's min and max over its members, then the codes."""
    bad = 0
    qneg = RI[I_QMIN]
    los = np.empty(ng, np.float64)
    his = np.empty(ng, np.float64)
    sv = np.empty(ng, np.float64)
    zv = np.empty(ng, np.float64)
    for r in range(t0, t1):
        los[:] = np.inf
        his[:] = -np.inf
        for k in range(L):
            v = np.float64(x[r * L + k])
            g = gidx[k]
            if v != v:
                los[g] = np.nan
            elif los[g] == los[g]:
                los[g] = min(los[g], v)
                his[g] = max(his[g], v)
        for g in range(ng):
            lo, hi = los[g], his[g]
            if lo == np.inf:  # a group with no members: an all-zero one
                lo, hi = 0.0, 0.0
            if RI[I_CT] == 1:
                lo, hi = round64(lo, K), round64(hi, K)
            if not (abs(lo) < np.inf and abs(hi) < np.inf):
                bad += 1
                s, z = 1.0, 0.0
            else:
                s, z = _params(lo, hi, RI, K, D, eps)
                if not s < np.inf:  # the scale past its dtype's largest value
                    bad += 1
                    s = 1.0
            sv[g], zv[g] = s, z
            scales[r * ng + g] = s
            zps[r * ng + g] = z
        for k in range(L):
            g = gidx[k]
            s = sv[g]
            codes[r * L + k] = np.uint8(np.int64(_code(np.float64(x[r * L + k]), s, 1.0 / s,
                                                       zv[g], RI, K)) - qneg ^ (-qneg))
    return bad


def _refuse(moved, f, D):
    """The ValueError for a NaN or Inf (an integer group has no code for one), or
    for a group whose scale would be past its dtype's largest value."""
    flat = moved.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        vals = flat.astype(scale_dtype(f.scale_kind)).astype(np.float64) \
            if f.recipe.arithmetic == "scale dtype" else flat
    bad = np.flatnonzero(~np.isfinite(vals))
    if not bad.size:
        top = float(kind_record(f.scale_kind)[K_MAX])
        i = int(np.argmax(np.abs(flat)))
        raise ValueError(f"x holds {float(flat[i])!r}: its group's scale (about |x| / {D:g}) is "
                         f"past {f.scale_kind}'s largest value {top:g}; use a wider scale dtype "
                         f"(bf(int{f.element.bits},bfloat16,...) or float32) or scale x down")
    i = int(bad[0])
    where = np.unravel_index(i, moved.shape)
    extra = (f" (it is {float(flat[i])!r}, past {f.scale_kind}'s largest value)"
             if np.isfinite(flat[i]) else "")
    raise ValueError(f"x holds {float(vals[i])!r} at moved index {tuple(int(w) for w in where)}"
                     f"{extra}: integer groups ({f.name}) have no code for a NaN or an Inf")


def encode(x, f: BlockFormat, axis, block_size, pol=None, g_idx=None) -> BlockArray:
    """Codes, scales and zero points of ``x`` in groups along ``axis``
    (SPEC.md 12.2); ``g_idx`` (GPTQ act-order) gives each element's group."""
    a = as_float_input(x)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (a group runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    G = f.block_size if block_size is None else _check_block_size(block_size)
    moved = np.ascontiguousarray(np.moveaxis(a, ax, -1))
    L = moved.shape[-1]
    ng = -(-L // G)
    gi = check_g_idx(g_idx, L, ng)
    RI, K, D, eps = _record(f)
    flat = moved.reshape(-1)
    codes = np.empty(moved.shape, np.uint8)
    scales = np.empty(moved.shape[:-1] + (ng,), np.float64)
    zps = np.empty(scales.shape, np.float64)
    rows = flat.size // L if L else 0
    bad = 0
    if flat.size and gi is None:
        bad = _parallel.run(_encode_groups, -(-scales.size // GROUPS_PER_TASK), flat, L, G, RI,
                            K, D, eps, codes.reshape(-1), scales.reshape(-1), zps.reshape(-1),
                            work=flat.size * 4)
    elif flat.size:
        bad = _parallel.run(_encode_rows_gidx, rows, flat, L, ng, gi, RI, K, D, eps,
                            codes.reshape(-1), scales.reshape(-1), zps.reshape(-1),
                            work=flat.size * 4)
    if bad:
        _refuse(moved, f, D)
    sc = scales.astype(scale_dtype(f.scale_kind))  # exact: each is a value of that dtype
    zp = zps.astype(np.int8) if f.zero_point else None
    back = (lambda t: None if t is None else np.ascontiguousarray(np.moveaxis(t, -1, ax)))
    return BlockArray._unchecked(back(codes), back(sc), f, G, ax, zero_points=back(zp),
                                 g_idx=gi)


@jit
def _decode_kernel(t0, t1, codes, L, G, ng, gidx, svals, zvals, RI, K, out):
    """Rows t0..t1-1: (q - zp) x s, exact in float64 (a 9-bit integer times a
    scale of at most 24 bits), rounded to the scale's dtype under the
    scale-dtype arithmetic (torch's product in that dtype)."""
    qneg = RI[I_QMIN]
    half = -qneg
    for r in range(t0, t1):
        for k in range(L):
            g = gidx[k] if gidx.size else k // G
            c = np.int64(codes[r * L + k])
            q = np.float64((c ^ half) + qneg)  # two's complement code -> integer
            v = (q - zvals[r * ng + g]) * svals[r * ng + g]
            out[r * L + k] = round64(v, K) if RI[I_CT] == 1 else v
    return 0


def decode(mx: BlockArray, dtype, out=None) -> np.ndarray:
    """:func:`mxspec.decode` for integer groups: (q - zp) x s (SPEC.md 12.2)."""
    f = mx.format
    codes = check_codes(np.asarray(mx.codes), f.element, "mx.codes")
    moved = np.ascontiguousarray(np.moveaxis(codes, mx.axis, -1))
    L = moved.shape[-1]
    ng = -(-L // mx.block_size) if L else 0
    sv = np.ascontiguousarray(np.moveaxis(np.asarray(mx.scales), mx.axis, -1), np.float64)
    zv = (np.ascontiguousarray(np.moveaxis(mx.zero_points, mx.axis, -1), np.float64)
          if mx.zero_points is not None else np.zeros(sv.shape))
    RI, K, _, _ = _record(f)
    gi = mx.g_idx if mx.g_idx is not None else np.empty(0, np.int32)
    res = np.empty(moved.shape, np.float64)
    if moved.size:
        _parallel.run(_decode_kernel, moved.size // L, moved.reshape(-1), L, mx.block_size, ng,
                      gi, sv.reshape(-1), zv.reshape(-1), RI, K, res.reshape(-1),
                      work=moved.size)
    res = np.moveaxis(res.astype(dtype, copy=False), -1, mx.axis)
    if out is not None:
        out[...] = res
        return out
    return np.ascontiguousarray(res)
