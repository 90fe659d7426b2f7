"""The affine engine: integer groups, a float scale and (asymmetric rows) an
integer zero point per group along the blocked axis, as GPTQ, AWQ and
compressed-tensors store them (SPEC.md 12).  Reached through the one dispatch,
:mod:`mxspec.block.api`.

>>> import numpy as np, mxspec
>>> a = mxspec.encode(np.float32([-1.0, 0.0, 0.5, 2.0]), "bf(int4,float32,4,zero_point)")
>>> a.scales.tolist(), a.zero_points.tolist(), a.codes.tolist()  # s = 3 / 15, zp = -8 + 5
([0.20000000298023224], [-3], [8, 13, 15, 7])
>>> mxspec.decode(a).tolist()  # codes -8, -3, -1, 7: 0.5 / s - 3 = -0.50000004 -> -1
[-1.0, 0.0, 0.4000000059604645, 2.0]
"""
from __future__ import annotations

import numpy as np

from .._kernel import parallel as _parallel
from .._kernel.jit import borrowed, is_float32, jit, order_key, order_key_value
from ..codec.elements import as_float_input, check_codes
from ..codec.ieee import K_F32, K_MAX, eps_of, kind_record, nearest_from, round64, round_quotient, two_sum
from ..tables.block import BlockFormat
from .array import BlockArray, _check_block_size, _norm_axis, check_g_idx, scale_dtype

__all__ = ["encode", "decode", "POLICIES"]

POLICIES: dict = {}  # the row and its recipe fix every choice
GROUPS_PER_TASK = 256
F32_INV_MIN = 2.0 ** -127  # the float32 path needs 1 / s to be a finite float32
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
def _code_exact(xv, s, inv, z, qmin, qmax):
    """One value's integer under the exact recipe: round(x / s + z), ties to even,
    exactly (``ieee.nearest_from``), clamped to qmin..qmax."""
    return min(max(nearest_from(xv, s, z, xv * inv + z), qmin), qmax)


@jit
def _code_ct(xv, s, z, qmin, qmax, K):
    """One value's integer under the scale-dtype arithmetic: x rounded to the
    dtype, x / s and + z each rounded to it, clamped, then rounded to an integer."""
    t = round64(round64(round64(xv, K) / s, K) + z, K)
    return np.rint(min(max(t, qmin), qmax))


@jit
def _to_code(m, qneg):
    """The two's complement b-bit code of the integer m (qneg = -2^(b-1))."""
    return np.uint8((np.int32(m) - qneg) ^ (-qneg))


@jit
def _from_code(c, qneg):
    """The integer of a two's complement b-bit code."""
    return np.float64(np.int32(np.int32(c) ^ (-qneg)) + qneg)


@jit
def _value(q, s, z, ct, K):
    """(q - z) s, exact in float64 (a 9-bit integer times a scale of at most 24
    bits); under the scale-dtype arithmetic rounded to that dtype (torch's product)."""
    v = (q - z) * s
    return round64(v, K) if ct else v


@jit
def _codes_exact(xb, n, s, inv, z, qmin, qmax, qneg, cb):
    """Codes of the group xb (n values) into cb under the exact recipe: one
    branch-free loop over slices from 0 (it vectorizes; an index from a run-time
    start did not: 0.5 G values/s against 3.6)."""
    for k in range(n):
        cb[k] = _to_code(_code_exact(np.float64(xb[k]), s, inv, z, qmin, qmax), qneg)


@jit
def _codes_exact32(xb, n, s, inv, z, qmin, qmax, qneg, cb):
    """The same for float32 x and a scale of at most 11 significant bits (float16,
    bfloat16): the midpoints (m - z -+ 1/2) s then hold at most 21 bits, so
    float32 arithmetic is exact where it must be (the comparisons), and a float32
    estimate is good to far under 1/2 for the |x / s| a group's own scale gives;
    eight lanes to float64's four."""
    f32 = np.float32
    s32, inv32, z32 = f32(s), f32(inv), f32(z)
    lo_q, hi_q = f32(qmin), f32(qmax)
    for k in range(n):
        xv = xb[k]
        m = np.rint(xv * inv32 + z32)
        lo = (m - z32 - f32(0.5)) * s32
        hi = lo + s32
        h = m * f32(0.5)
        odd = h != np.floor(h)
        m = m - f32(1.0) if (xv < lo) | ((xv == lo) & odd) else m
        m = m + f32(1.0) if (xv > hi) | ((xv == hi) & odd) else m
        cb[k] = _to_code(min(max(m, lo_q), hi_q), qneg)


@jit
def _codes_ct(xb, n, s, z, qmin, qmax, qneg, K, cb):
    """Codes of the group xb under the scale-dtype arithmetic."""
    for k in range(n):
        cb[k] = _to_code(_code_ct(np.float64(xb[k]), s, z, qmin, qmax, K), qneg)


@jit
def _minmax(xb, n, RI, K):
    """(min, max) of x[lo_i:hi_i], or NaN where one is NaN or Inf: an integer
    min and max of order keys, which vectorize; in the scale's dtype under the
    scale-dtype arithmetic (rounding is monotonic: the rounded min is the min of
    the rounded values, and a value past that dtype's range rounds to Inf)."""
    kmin = order_key(xb[0])
    kmax = kmin
    for k in range(n):
        kk = order_key(xb[k])
        kmin = min(kmin, kk)
        kmax = max(kmax, kk)
    lo = order_key_value(xb[0], kmin)
    hi = order_key_value(xb[0], kmax)
    if RI[I_CT] == 1:
        lo, hi = round64(lo, K), round64(hi, K)
    if not (abs(lo) < np.inf and abs(hi) < np.inf):
        return np.nan, np.nan
    return lo, hi


@jit
def _span(j, L, G, ng):
    """Group j of rows of L in groups of G (ng a row): (its first index, its length)."""
    r = j // ng
    a = r * L + (j - r * ng) * G
    return a, min(G, r * L + L - a)


@jit
def _checked_params(lo, hi, RI, K, D, eps):
    """(scale, zero point, 1 if the group cannot be encoded: a NaN or an Inf in it,
    or a scale past its dtype's largest value; else 0)."""
    if not (abs(lo) < np.inf and abs(hi) < np.inf):
        return 1.0, 0.0, 1
    s, z = _params(lo, hi, RI, K, D, eps)
    if not s < np.inf:
        return 1.0, z, 1
    return s, z, 0


@jit
def _encode_groups(t0, t1, x, L, G, RI, K, D, eps, codes, scales, zps):
    """Tasks of GROUPS_PER_TASK contiguous groups of the rows of x (rows of L):
    each group's min and max, its scale and zero point, then its codes.
    Returns the number of groups holding a NaN or an Inf (under the
    scale-dtype arithmetic: a value that is Inf in that dtype)."""
    ng = (L + G - 1) // G
    total = scales.size
    bad = 0
    qneg = np.int32(RI[I_QMIN])
    qmin, qmax = np.float64(RI[I_QMIN]), np.float64(RI[I_QMAX])
    for task in range(t0, t1):
        for j in range(task * GROUPS_PER_TASK, min((task + 1) * GROUPS_PER_TASK, total)):
            a, n = _span(j, L, G, ng)
            xb, cb = borrowed(x, a, n), borrowed(codes, a, n)  # no reference count per group
            lo, hi = _minmax(xb, n, RI, K)
            s, z, b = _checked_params(lo, hi, RI, K, D, eps)
            bad += b
            scales[j] = s
            zps[j] = z
            if RI[I_CT] == 1:
                _codes_ct(xb, n, s, z, qmin, qmax, qneg, K, cb)
            elif is_float32(x) and K[K_F32] == 0.0 and s > F32_INV_MIN:
                # a subnormal bfloat16 scale below 2^-128 has no float32
                # reciprocal (0 x Inf would be NaN): float64 then
                _codes_exact32(xb, n, s, 1.0 / s, z, qmin, qmax, qneg, cb)
            else:
                _codes_exact(xb, n, s, 1.0 / s, z, qmin, qmax, qneg, cb)
    return bad


@jit
def _encode_rows_gidx(t0, t1, x, L, ng, gidx, RI, K, D, eps, codes, scales, zps):
    """Rows t0..t1-1 of x with the group of element k given by gidx[k] (GPTQ's
    act-order): each group's min and max over its members, then the codes."""
    bad = 0
    qneg = np.int32(RI[I_QMIN])
    qmin, qmax = np.float64(RI[I_QMIN]), np.float64(RI[I_QMAX])
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
            s, z, b = _checked_params(lo, hi, RI, K, D, eps)
            bad += b
            sv[g], zv[g] = s, z
            scales[r * ng + g] = s
            zps[r * ng + g] = z
        for k in range(L):
            g = gidx[k]
            xv = np.float64(x[r * L + k])
            m = _code_ct(xv, sv[g], zv[g], qmin, qmax, K) if RI[I_CT] == 1 else \
                _code_exact(xv, sv[g], 1.0 / sv[g], zv[g], qmin, qmax)
            codes[r * L + k] = _to_code(m, qneg)
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
def _decode_groups(t0, t1, codes, L, G, svals, zvals, RI, K, out):
    """Tasks of GROUPS_PER_TASK contiguous groups: (q - zp) x s, exact in float64
    (a 9-bit integer times a scale of at most 24 bits) and rounded once by the
    store into ``out`` (float32 or float64); under the scale-dtype arithmetic
    rounded to the scale's dtype first (torch's product in that dtype)."""
    ng = (L + G - 1) // G
    total = svals.size
    qneg = np.int32(RI[I_QMIN])
    ct = RI[I_CT] == 1
    for task in range(t0, t1):
        for j in range(task * GROUPS_PER_TASK, min((task + 1) * GROUPS_PER_TASK, total)):
            a, n = _span(j, L, G, ng)
            s, z = svals[j], zvals[j]
            cb, ob = borrowed(codes, a, n), borrowed(out, a, n)  # from 0: the loops vectorize
            if ct:  # two loops: each is branch-free and vectorizes
                for k in range(n):
                    ob[k] = _value(_from_code(cb[k], qneg), s, z, True, K)
            else:
                for k in range(n):
                    ob[k] = _value(_from_code(cb[k], qneg), s, z, False, K)
    return 0


@jit
def _decode_rows_gidx(t0, t1, codes, L, ng, gidx, svals, zvals, RI, K, out):
    """Rows t0..t1-1 with element k in group gidx[k]."""
    qneg = np.int32(RI[I_QMIN])
    for r in range(t0, t1):
        for k in range(L):
            g = r * ng + gidx[k]
            out[r * L + k] = _value(_from_code(codes[r * L + k], qneg), svals[g], zvals[g],
                                    RI[I_CT] == 1, K)
    return 0


def decode(mx: BlockArray, dtype, out=None) -> np.ndarray:
    """:func:`mxspec.decode` for integer groups: (q - zp) x s (SPEC.md 12.2)."""
    f = mx.format
    codes = check_codes(np.asarray(mx.codes), f.element, "mx.codes")
    moved = np.ascontiguousarray(np.moveaxis(codes, mx.axis, -1))
    L = moved.shape[-1]
    sv = np.ascontiguousarray(np.moveaxis(np.asarray(mx.scales), mx.axis, -1), np.float64)
    zv = (np.ascontiguousarray(np.moveaxis(mx.zero_points, mx.axis, -1), np.float64)
          if mx.zero_points is not None else np.zeros(sv.shape))
    RI, K, _, _ = _record(f)
    res = np.empty(moved.shape, dtype)
    if moved.size and mx.g_idx is None:
        _parallel.run(_decode_groups, -(-sv.size // GROUPS_PER_TASK), moved.reshape(-1), L,
                      mx.block_size, sv.reshape(-1), zv.reshape(-1), RI, K, res.reshape(-1),
                      work=moved.size)
    elif moved.size:
        _parallel.run(_decode_rows_gidx, moved.size // L, moved.reshape(-1), L, sv.shape[-1],
                      mx.g_idx, sv.reshape(-1), zv.reshape(-1), RI, K, res.reshape(-1),
                      work=moved.size)
    res = np.moveaxis(res, -1, mx.axis)
    if out is not None:
        out[...] = res
        return out
    return np.ascontiguousarray(res)
