"""Block formats with one-bit micro-exponents under a shared base scale: the
shared-microexponent MX4 / MX6 / MX9 (Rouhani et al., ISCA 2023) and HiFloat4
(HiF4), SPEC.md section 11.

A row is data: the element format (a sign-magnitude fixed point, written as an
E1Mn float with bias 1: S1P2 is ``fp4_e1m2_b1_none``), the unit size, the base
scale's rule and format, and the micro-exponent levels as (group size,
threshold) pairs.  One engine runs every row:

1. base: ``pow2``: 2^E with E = floor(log2(unit max)) - offset (MXn's shared
   exponent, kept in -127..127); ``e6m2``: HiF4's recipe with its BF16 steps;
   REC is the reciprocal the later steps multiply by.
2. each level, in order: a group's bit is 1 when (group max) x REC x 2^-(bits
   of the earlier levels) >= threshold;
3. element: x x REC x 2^-(all bits), rounded by the element codec to nearest
   with ties away from zero (the recipes' floor(v x 2^n + 1/2) / 2^n on the
   element's uniform grid), saturating at its largest value.

>>> import mxspec
>>> mx = mxspec.encode(np.float32([1.0, -0.3, 2.5, 0.01] + [0.0] * 12), "mx6")
>>> mxspec.decode(mx).tolist()[:4]
[1.0, -0.25, 2.5, 0.0]
"""
from __future__ import annotations


import numba
import numpy as np

from .._kernel import cache as _cache
from .._kernel import parallel as _parallel
from ..tables.block import BlockFormat
from .array import BlockArray, _norm_axis, check_shape
from .bits import pack_codes, unpack_codes
from .._kernel.jit import kernel_factory
from ..codec.core import (_bitcast, encode_fast, encode_one,
                          f64_bits, jit, round_core)
from ..codec.elements import as_float_input, check_codes, decode_table
from ..tables.element import element_format
from ..tables.policies import INT_SYMMETRIC, NAN_KEEP_SIGN, RNA, RNE, SATURATE

__all__ = ["encode", "decode", "pack", "unpack", "unit_bytes", "POLICIES"]

# The rows fix every choice (ties away, saturation); an encode takes no policy keywords.
POLICIES: dict = {}


_inline = numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
E6M2 = element_format("e6m2")   # HiF4's base scale: a row of the element table
E6M2_MIN, E6M2_MAX = E6M2.min_subnormal, E6M2.max_normal
UNITS_WORK = 8192  # elements per task of the encode kernel
# The unit record the encode kernel reads: (unit, units per task, base kind (0 pow2,
# 1 e6m2), pow2 offset, log2 of the finest group, BF16(1/top)).
U_UNIT, U_UPT, U_BASE, U_OFFSET, U_SQ, U_TOP_INV = range(6)


@jit
def _f64(b):
    return _bitcast(np.int64(b), 0.0)


@jit
def _bf16(v):
    """v >= 0 rounded to BFloat16 (nearest, ties to even), the HiF4 recipe's
    BF16 step, through the one rounding rule (core.round_core on the
    significand, in both ranges): 8 significant bits,
    none finer than bf16's subnormal step 2^-133.  (Values past bf16's largest
    are not rounded to Inf: every caller clamps them to E6M2's largest first.)"""
    if v >= 2.0 ** -126:  # a bf16 normal: cut a float64 normal's 53 bits to 8
        b = f64_bits(v)
        k, _ = round_core((b & 0xFFFFFFFFFFFFF) | (np.int64(1) << 52), 45, False, RNE,
                          np.int64(0), numba.uint32(0), 0)
        # k (2^7 .. 2^8, a carry included) back in place of the 8 kept bits
        return _f64((b & ~((np.int64(1) << 52) - 1)) + ((k - 128) << 45))
    # below: steps of 2^-133, so v x 2^133 (exact, a float64 normal) rounded to an integer
    w = f64_bits(v * 2.0 ** 133)
    sh = 1075 - ((w >> 52) & 0x7FF)   # the bits below w's units place
    k, _ = round_core((w & 0xFFFFFFFFFFFFF) | (np.int64(1) << 52), min(sh, 62), False, RNE,
                      np.int64(0), numba.uint32(0), 0)
    return np.float64(k) * 2.0 ** -133   # exact: k < 2^8


@jit
def _e6m2_code(v):
    """The E6M2 code of v in [2^-48, 1.5 x 2^15] (a float64 normal), nearest with
    ties to even: the one rounding rule (core.round_core) on v's significand, 53
    bits cut to 3, the code read off the result.  It equals the element codec's
    encode in the e6m2 row on every input of that range (tests/test_micro.py::
    test_e6m2_step_is_the_codec_s_encode); the codec's general encode per unit
    cost HiF4 encode 15%."""
    b = f64_bits(v)
    k, _ = round_core((b & 0xFFFFFFFFFFFFF) | (np.int64(1) << 52), 50, False, RNE,
                      np.int64(0), numba.uint32(0), 0)
    return ((((b >> 52) & 0x7FF) - 1023 + 48) << 2) + (k - 4)   # a carry (k = 8) moves e up


@jit
def _e6m2_value(code):
    """The value of an E6M2 code below 0xFF, (1 + m/4) x 2^(e-48), built as float64
    bits (equal to the e6m2 row's values: tests/test_micro.py)."""
    return _f64((((code >> 2) - 48 + 1023) << 52) | ((code & 3) << 50))


@jit
def _e6m2_base(umax, top_inv):
    """HiF4's base: SF = BF16(max x BF16(1/top)) clamped to [2^-48, 1.5 x 2^15],
    rounded to E6M2 (:func:`_e6m2_code`), and REC = BF16(1 / E6M2)."""
    code = _e6m2_code(min(max(_bf16(umax * top_inv), E6M2_MIN), E6M2_MAX))
    return code, _bf16(1.0 / _e6m2_value(code))


@jit
def _base(umax, base_kind, offset, top_inv):
    """(base code, REC) of a unit from its largest magnitude (SPEC.md 11):
    pow2: E = floor(log2 max) - offset in -127..127, REC = 2^-E; e6m2:
    :func:`_e6m2_base`.  floor(log2) is read off the bits (float64 subnormals
    lie far below -127 - offset).  Scalars only, and the E6M2 steps in a
    function of their own: a _base that took the records, or held those steps
    inline, cost the micro encode 7-15% (LLVM no longer folded it into the
    unit loop)."""
    if base_kind == 0:
        E = min(max(((f64_bits(umax) >> 52) - 1023) - offset, -127), 127)
        return E + 127, _f64((1023 - E) << 52)
    return _e6m2_base(umax, top_inv)


@jit
def _elements(x, fmul, codes, Pe, gq):
    """Codes of x, each finest group of gq times its multiplier, by the codec's
    branch-free fast path (round to nearest, ties away, saturating), in a loop
    of its own so that it vectorizes; returns how many values it declined."""
    slow = 0
    for j in range(fmul.shape[0]):
        m = fmul[j]
        for i in range(gq):
            c, ok = encode_fast(np.float64(x[j * gq + i]) * m, 0, Pe, RNA, SATURATE, INT_SYMMETRIC,
                                numba.uint32(0))
            codes[j * gq + i] = c
            slow += not ok
    return slow


@_inline
def _fine(x, lo, n, buf, fq, gq):
    """The finest groups' largest magnitudes into buf[fq:]; how many NaN or Inf.
    (Groups of 2 or 4 are not blocks: a float max over the group, with its NaN
    count, vectorizes where abs_max_bits over so short a run does not, and cost
    the micro encode a third of its speed.)"""
    bad = 0
    for j in range(n // gq):
        m = 0.0
        for k in range(gq):
            a = abs(np.float64(x[lo + j * gq + k]))
            bad += not (a < np.inf)
            m = max(m, a)
        buf[fq + j] = m
    return bad


@_inline
def _level(buf, fq, fm, bits, o, ngroups, r, T):
    """One level's bits (a group is r finest groups): 1 where the group's
    largest magnitude times its multiplier reaches T; a 1 halves the
    multipliers of the group's finest groups."""
    for j in range(ngroups):
        gm = buf[fq + j * r]
        for i in range(1, r):
            gm = max(gm, buf[fq + j * r + i])
        b = gm * buf[fm + j * r] >= T
        bits[o + j] = b
        h = 0.5 if b else 1.0
        for i in range(r):
            buf[fm + j * r + i] *= h


@kernel_factory
def _encode_kernel(full: bool):
    """The encode loop; ``full``: whether a value the codec's fast path declines
    (a float64 subnormal product) goes its full path.  The kernel without it
    compiles in a fraction of the time; it returns (NaN/Inf count) x 2^32 +
    (declined count), and where values were declined the caller runs the full
    kernel."""
    @jit
    def kernel(t0, t1, buf, x, U, levels, Pe, out):
        return _encode_body(t0, t1, buf, x, U, levels, Pe, out, full)
    return kernel


@_inline
def _encode_body(t0, t1, buf, x, U, levels, Pe, out, full):
    """Units t0*upt .. of x (whole units, one after another): returns how many
    NaN or Inf it met.  ``U`` is the unit record (U_*), ``levels`` the groups and
    thresholds of the micro levels, ``out`` the (codes, base codes, level bits,
    each level's offset into them) arrays.  In passes over the task's span, so
    that the long loops vectorize: the maxima of the finest groups (2^sq
    elements); each unit's base and REC; each level's bits, which halve the
    finest groups' multipliers REC x 2^-(bits so far); the elements.  A
    multiplier is a power of two times REC, so x times it is (x x REC) x
    2^-bits, rounded once, as the recipes compute it.  ``buf``: the finest
    groups' maxima, then their multipliers."""
    lg, lt = levels
    codes, base, bits, boff = out
    unit, upt, sq = U[U_UNIT], U[U_UPT], U[U_SQ]
    nlev = lg.shape[0]
    gq = 1 << sq
    nq = unit // gq
    total = x.shape[0] // unit
    span = upt * unit
    fq, fm = 0, span // gq
    bad = 0
    declined = 0
    for t in range(t0, t1):
        u0 = t * upt
        u1 = min(u0 + upt, total)
        lo = u0 * unit
        n = (u1 - u0) * unit
        # a constant group size lets the compiler unroll and vectorize the loops
        if sq == 1:
            bad += _fine(x, lo, n, buf, fq, 2)
        elif sq == 2:
            bad += _fine(x, lo, n, buf, fq, 4)
        else:
            bad += _fine(x, lo, n, buf, fq, gq)
        for u in range(u1 - u0):
            umax = 0.0
            for j in range(u * nq, u * nq + nq):
                umax = max(umax, buf[fq + j])
            bc, rec = _base(umax, U[U_BASE], U[U_OFFSET], U[U_TOP_INV])
            base[u0 + u] = bc
            for j in range(u * nq, u * nq + nq):
                buf[fm + j] = rec
        for l in range(nlev):
            r = lg[l] >> sq
            o = boff[l] + u0 * (unit // lg[l])
            if r == 1:
                _level(buf, fq, fm, bits, o, n // lg[l], 1, lt[l])
            elif r == 2:
                _level(buf, fq, fm, bits, o, n // lg[l], 2, lt[l])
            else:
                _level(buf, fq, fm, bits, o, n // lg[l], r, lt[l])
        # the codec's fast path; the rare value it declines goes the full path
        if sq == 1:
            slow = _elements(x[lo:lo + n], buf[fm:fm + n // 2], codes[lo:lo + n], Pe, 2)
        elif sq == 2:
            slow = _elements(x[lo:lo + n], buf[fm:fm + n // 4], codes[lo:lo + n], Pe, 4)
        else:
            slow = _elements(x[lo:lo + n], buf[fm:fm + n // gq], codes[lo:lo + n], Pe, gq)
        if slow and full:
            for k in range(n):
                codes[lo + k] = encode_one(np.float64(x[lo + k]) * buf[fm + (k >> sq)], Pe, RNA,
                                           SATURATE, NAN_KEEP_SIGN, INT_SYMMETRIC,
                                           numba.uint32(0))[0]
        declined += slow
    # NaN/Inf in the high part (the caller refuses those), declined values in the low
    return (bad << 32) + (0 if full else declined)


def encode(x, f: BlockFormat, axis, block_size=None, pol=None) -> BlockArray:
    """Encode ``x`` (float32, float16, bfloat16 or float64) in a micro-exponent
    format along ``axis``.  The BlockArray's ``scales`` are the base codes (E8 + 127,
    or the E6M2 code) and ``micro`` the bits of each level, one uint8 per group."""
    if block_size not in (None, f.unit):
        raise ValueError(f"block_size={block_size!r}: {f.name}'s block_size is fixed by the format "
                         f"(its unit, {f.unit})")
    a = as_float_input(x)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (a unit runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    moved = np.ascontiguousarray(np.moveaxis(a, ax, -1))
    L = moved.shape[-1]
    lead = moved.shape[:-1]
    nu = -(-L // f.unit)
    if L % f.unit:  # a short last unit is padded with zeros, as the recipes pad
        padded = np.zeros(lead + (nu * f.unit,), moved.dtype)
        padded[..., :L] = moved
        moved = padded
    flat = moved.reshape(-1)
    lg = np.array([g for g, _ in f.micro_levels], np.int64)
    lt = np.array([t for _, t in f.micro_levels], np.float64)
    gq = int(lg.min())
    sq = gq.bit_length() - 1
    if gq != 1 << sq or f.unit % int(lg.max()):
        raise ValueError(f"{f.name}: group sizes must be powers of two dividing the unit")
    nunits = flat.size // f.unit
    codes = np.empty(flat.size, np.uint8)
    base = np.empty(nunits, np.uint8)
    ng = [f.unit // g for g, _ in f.micro_levels]
    boff = np.cumsum([0] + [nunits * k for k in ng]).astype(np.int64)
    bits = np.empty(int(boff[-1]), np.uint8)  # each level's bits, one level after another
    # e6m2: BF16(1/top), top = 2^levels x the element's largest (7 for HiF4)
    top_inv = float(_bf16(1.0 / (2.0 ** len(f.micro_levels) * f.element.max_normal)))
    upt = max(1, UNITS_WORK // f.unit)
    bad = 0
    if nunits:
        span = upt * f.unit
        U = (f.unit, upt, int(f.base_scale == "e6m2"), f.offset, sq, top_inv)
        args = (flat, U, (lg, lt), f.element.params, (codes, base, bits, boff))
        for full in (False, True):
            got = _parallel.run(_encode_kernel(full), -(-nunits // upt), *args, work=flat.size,
                                scratch=(2 * (span // gq), np.float64))
            bad = got >> 32
            if bad or not got & 0xFFFFFFFF:
                break
    if bad:
        raise ValueError(f"x holds NaN or Inf ({bad} values); {f.name} has no code for them")
    mv = lambda arr: np.ascontiguousarray(np.moveaxis(arr, -1, ax))  # noqa: E731
    micro = tuple(np.ascontiguousarray(np.moveaxis(
        bits[boff[i]:boff[i + 1]].reshape(lead + (nu, ng[i])), -2, ax))
        for i in range(len(ng)))
    return BlockArray._unchecked(mv(codes.reshape(lead + (nu * f.unit,))[..., :L]), mv(base.reshape(lead + (nu,))),
                   f, f.unit, ax, None, micro)


NAN_BASE = 0xFF  # the base code no unit gets: E6M2's 1.75 x 2^15 (NaN), E8's 255 (as E8M0)


def decode(mx: BlockArray, dtype=np.float32, out=None) -> np.ndarray:
    """Values: sign x base x 2^(sum of the element's level bits) x element; a
    unit whose base code is 0xFF (NaN) decodes to NaN (SPEC.md 11)."""
    f = mx.format
    codes = check_codes(np.moveaxis(np.asarray(mx.codes), mx.axis, -1), f.element, "mx.codes")
    L = codes.shape[-1]
    nu = -(-L // f.unit)
    bcode = np.moveaxis(np.asarray(mx.scales), mx.axis, -1)
    lead = codes.shape[:-1]
    want = np.moveaxis(np.empty(lead + (nu,)), -1, mx.axis).shape
    ok = np.issubdtype(bcode.dtype, np.integer) and (
        bcode.size == 0 or (bcode.min() >= 0 and bcode.max() <= 255))
    if bcode.shape != lead + (nu,) or not ok or len(mx.micro) != len(f.micro_levels):
        raise ValueError(f"mx.scales has shape {np.shape(mx.scales)} ({bcode.dtype}) and "
                         f"{len(mx.micro)} micro levels; {f.name} of shape "
                         f"{np.shape(mx.codes)} along axis {mx.axis} needs base codes 0..255 "
                         f"of shape {want} and {len(f.micro_levels)} levels")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    bval = 2.0 ** (bcode.astype(np.int64) - 127) if f.base_scale == "pow2" else \
        decode_table(E6M2, np.float64)[bcode.astype(np.intp)]
    bval = np.ascontiguousarray(np.where(bcode == NAN_BASE, np.nan, bval)).reshape(-1)
    levels = []
    for i, ((g, _), b) in enumerate(zip(f.micro_levels, mx.micro)):
        bm = np.moveaxis(np.asarray(b), mx.axis, -2)
        if bm.shape != lead + (nu, f.unit // g) or not np.isin(bm, (0, 1)).all():
            wb = np.moveaxis(np.empty(lead + (nu, f.unit // g)), -2, mx.axis).shape
            raise ValueError(f"mx.micro[{i}] must hold 0 or 1, one per group of {g}, shape "
                             f"{wb}; got {np.asarray(b).dtype} of shape {np.shape(b)}")
        levels.append(bm.astype(np.uint8).reshape(-1))
    bits = np.concatenate(levels) if levels else np.zeros(0, np.uint8)
    boff = np.cumsum([0] + [v.size for v in levels]).astype(np.int64)
    sg = np.array([int(g).bit_length() - 1 for g, _ in f.micro_levels], np.int64)
    flat = np.ascontiguousarray(codes).reshape(-1)
    res = np.empty(flat.size, dtype)
    if flat.size:
        _parallel.run(_decode_kernel, -(-(flat.size // L * nu) // DECODE_UNITS), flat, L,
                      f.unit, nu, bval, sg, bits, boff, decode_table(f.element, np.float64),
                      res, work=flat.size)
    res = np.ascontiguousarray(np.moveaxis(res.reshape(codes.shape), -1, mx.axis))
    if out is not None:
        out[...] = res
        return out
    return res


DECODE_UNITS = 128  # units per task of the decode kernel


@jit
def _decode_kernel(t0, t1, codes, L, unit, nu, bval, sg, bits, boff, table, out):
    """Units t0 x DECODE_UNITS ..: each value is table[code] x (base x 2^(its
    level bits)), exact in float64 (an element of at most 8 significant bits
    times a base of 3, times a power of two), then rounded once to out's
    dtype; a NaN base makes its unit NaN."""
    nlev = sg.shape[0]
    total = codes.shape[0] // L * nu
    for u in range(t0 * DECODE_UNITS, min(t1 * DECODE_UNITS, total)):
        row = u // nu
        k0 = (u - row * nu) * unit
        lo = row * L + k0
        n = min(unit, L - k0)
        b = bval[u]
        for k in range(n):
            sh = 0
            for l in range(nlev):
                sh += bits[boff[l] + ((u * unit + k) >> sg[l])]
            out[lo + k] = table[codes[lo + k]] * (b * (1 << sh))
    return 0


def unit_bytes(f: BlockFormat) -> int:
    """Bytes of one packed unit (:attr:`BlockFormat.unit_bytes`)."""
    return f.unit_bytes


def pack(mx: BlockArray):
    """The units of a micro-exponent BlockArray as bytes, shape (..., units,
    unit_bytes) with the blocked axis moved last (SPEC.md 11.2):
    [base code][level 1 bits][level 2 bits]...[elements, two 4-bit codes per byte
    low nibble first (or the general little-endian bit stream of section 5)]."""
    f = mx.format
    codes = np.moveaxis(np.asarray(mx.codes), mx.axis, -1)
    L = codes.shape[-1]
    nu = -(-L // f.unit)
    full = np.zeros(codes.shape[:-1] + (nu * f.unit,), np.uint8)
    full[..., :L] = codes
    parts = [np.moveaxis(np.asarray(mx.scales), mx.axis, -1)[..., None].astype(np.uint8)]
    for (g, _), b in zip(f.micro_levels, mx.micro):
        bits = np.moveaxis(np.asarray(b), mx.axis, -2)
        parts.append(np.packbits(bits, axis=-1, bitorder="little"))
    parts.append(pack_codes(full.reshape(full.shape[:-1] + (nu, f.unit)), f.element.bits))
    return np.ascontiguousarray(np.concatenate(parts, axis=-1))


def unpack(units, f: BlockFormat, shape, axis: int = -1) -> BlockArray:
    """Inverse of :func:`pack_units` for values of ``shape`` blocked along ``axis``."""
    shape = check_shape(shape)
    ax = _norm_axis(axis, len(shape))
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    nu = -(-moved[-1] // f.unit)
    u = np.asarray(units)
    want = moved[:-1] + (nu, unit_bytes(f))
    if u.dtype != np.uint8 or u.shape != want:
        raise ValueError(f"units must be uint8 of shape {want} ({f.name}, shape {shape} along "
                         f"axis {ax}: {nu} units of {unit_bytes(f)} bytes), got {u.dtype} "
                         f"{u.shape}")
    base = u[..., 0]
    micro, o = [], 1
    for g, _ in f.micro_levels:
        n = f.unit // g
        nb = -(-n // 8)
        micro.append(np.unpackbits(u[..., o:o + nb], axis=-1, count=n, bitorder="little"))
        o += nb
    codes = unpack_codes(np.ascontiguousarray(u[..., o:]), f.element.bits, f.unit)
    codes = check_codes(codes.reshape(moved[:-1] + (nu * f.unit,))[..., :moved[-1]], f.element)
    mv = lambda a: np.ascontiguousarray(np.moveaxis(a, -1, ax))  # noqa: E731
    return BlockArray(mv(codes), mv(base), f, f.unit, ax, None,
                   tuple(np.ascontiguousarray(np.moveaxis(m, -2, ax)) for m in micro))
