"""MX blocks: ``encode`` a float array into element codes and E8M0 scales,
``decode`` it back (SPEC.md section 4).

>>> import numpy as np, mxspec
>>> mx = mxspec.encode(np.array([0.1, -2.0, 3.3, 7.9]), "mxfp4_e2m1", block_size=4)
>>> mx.scales.tolist(), mx.codes.tolist()
([127], [0, 12, 5, 7])
>>> mxspec.decode(mx).tolist()
[0.0, -2.0, 3.0, 6.0]
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from . import policies
from .bitstream import code_at, group_code, load_group, load_word, pack_span, spread_group
from .core import (abs_bits_value, decode_value32, encode_span, float_abs_bits, is_float32,
                   jit, jit_inline)
from .elements import as_float_input, check_codes, decode_table, random_bits, value32_exact
from .formats import P_EMAX, MXFormat, mx_format
from .scales import E8M0_NAN, FLOOR, SCALE_MAX, SCALE_MIN, scale_code

__all__ = ["MXArray", "encode", "decode"]


@dataclass(frozen=True, eq=False)
class MXArray:
    """An MX-encoded array: one uint8 element code per value (unpacked, in the
    original shape) and one uint8 E8M0 scale code per block (the original shape
    with the blocked axis replaced by the number of blocks)."""

    codes: np.ndarray
    scales: np.ndarray
    format: MXFormat
    block_size: int
    axis: int

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    @property
    def n_blocks(self) -> int:
        return self.scales.shape[self.axis] if self.scales.ndim else 0

    def decode(self, dtype=None, out=None) -> np.ndarray:
        return decode(self, dtype, out)

    def pack(self):
        """(packed element bytes, scale bytes); see :func:`mxspec.pack`."""
        from .packing import pack
        return pack(self)

    def equals(self, other) -> bool:
        """Same format, block size, axis, codes and scales."""
        return (isinstance(other, MXArray) and self.format == other.format
                and self.block_size == other.block_size and self.axis == other.axis
                and np.array_equal(self.codes, other.codes)
                and np.array_equal(self.scales, other.scales))

    def __repr__(self) -> str:
        return (f"MXArray({self.format.name}, shape={self.shape}, axis={self.axis}, "
                f"block_size={self.block_size})")


@jit_inline
def encode_block(x, start, end, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, codes,
                 coff):
    """Encode x[start:end] as one block into codes[start-coff:end-coff]; returns
    its scale code."""
    # The largest |x| from an integer max over the abs bits: a branch-free
    # reduction that vectorizes; NaN and Inf are read off the same maximum.
    mbits = float_abs_bits(x[start])
    for i in range(start, end):
        mbits = max(mbits, float_abs_bits(x[i]))
    ex = mbits >> 23
    if is_float32(x) and rule == FLOOR and ex > 0 and ex < 255:
        # the common case in integers: floor(log2 amax) is a normal float32
        # amax's exponent field (scale_code gives the same, from float64)
        sc = min(max(ex - 127 - P[P_EMAX], SCALE_MIN), SCALE_MAX) + 127
    else:
        sc = _block_scale(x, start, end, mbits, P, rule, zscale, infp)
    if sc == E8M0_NAN:
        for i in range(start, end):
            codes[i - coff] = 0
    else:
        encode_span(x, start, end, sc - 127, P, mode, ovf, nanp, irange, rbits, codes, coff,
                    codes, False)
    return sc


@jit
def _block_scale(x, start, end, mbits, P, rule, zscale, infp):
    """The scale code of block x[start:end] whose largest abs bits are mbits."""
    amax = abs_bits_value(x[start], mbits)
    any_nan = amax != amax
    any_inf = amax == math.inf
    if any_inf and not any_nan:  # rare: the largest *finite* magnitude is needed
        amax = 0.0
        for i in range(start, end):
            v = abs(np.float64(x[i]))
            if v != math.inf and v > amax:
                amax = v
    return scale_code(amax, any_nan, any_inf, P, rule, zscale, infp)


# A parallel task is a run of whole blocks of one row, about this many elements;
# its number of blocks is a multiple of 8, so that every task starts on a byte
# of the packed stream whatever the code width (8 codes of b bits = b bytes).
TASK_ELEMENTS = 4096


def blocks_per_task(bs: int) -> int:
    return max(8, TASK_ELEMENTS // bs // 8 * 8)


@jit_inline
def _task(t, nb, G):
    """Task t of rows x runs of G blocks: (row, first block, end block)."""
    tpr = (nb + G - 1) // G
    r = numba.int64(t) // tpr
    j0 = (numba.int64(t) - r * tpr) * G
    return r, j0, min(j0 + G, nb)


@jit_inline
def encode_task(t, x, L, bs, G, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, bits,
                out, nbytes, scales, scratch):
    """Encode task t of the (rows, L) array x: its scales, and its codes packed
    at ``bits`` bits into the rows of ``nbytes`` bytes of ``out`` (8: one code
    per byte, written in place; fewer: into this thread's row of ``scratch``,
    then packed)."""
    one_row = scales.shape[0] == 1
    if one_row:
        # encode_rows folds rows whose blocks never straddle two into one: then
        # a block starts at a plain multiple of bs, from t * G, which LLVM
        # vectorizes far better than from r * L + j * bs
        r, j0 = 0, numba.int64(t) * G
        j1 = min(j0 + G, scales.shape[1])
    else:
        r, j0, j1 = _task(t, scales.shape[1], G)
    base = r * L
    e0 = j0 * bs
    e1 = min(j1 * bs, L)
    direct = bits == 8
    run = scratch[numba.get_thread_id()]
    dst = out if direct else run
    coff = 0 if direct else base + e0
    if one_row:
        for j in range(j0, j1):
            s = j * bs
            scales[0, j] = encode_block(x, s, s + bs if s + bs <= L else L, P, rule, zscale,
                                        infp, mode, ovf, nanp, irange, rbits, dst, coff)
    else:
        for j in range(j0, j1):
            s = base + j * bs
            scales[r, j] = encode_block(x, s, min(s + bs, base + L), P, rule, zscale, infp,
                                        mode, ovf, nanp, irange, rbits, dst, coff)
    if not direct:
        pack_span(run, 0, e1 - e0, bits, out, r * nbytes + ((e0 * bits) >> 3))


_pjit = numba.njit(cache=True, nogil=True, parallel=True)


def _scratch(bs, bits):
    """One run of a task's blocks of unpacked codes per thread (none for 8 bits)."""
    return np.empty((numba.get_num_threads(), 0 if bits == 8 else blocks_per_task(bs) * bs),
                    np.uint8)


@_pjit
def _encode_generic(x, L, bs, G, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, bits,
                    out, nbytes, scales, scratch):
    for t in prange(scales.shape[0] * ((scales.shape[1] + G - 1) // G)):
        encode_task(t, x, L, bs, G, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, bits,
                    out, nbytes, scales, scratch)


@functools.lru_cache(maxsize=None)
def _encode_kernel(P, rule, zscale, infp, mode, ovf, nanp, irange, bs, bits):
    """The same loop with the format, policies, block size and code width as
    constants, so that LLVM folds them away and vectorizes the block loops."""
    G = blocks_per_task(bs)

    @_pjit
    def kernel(x, L, rbits, out, nbytes, scales, scratch):
        for t in prange(scales.shape[0] * ((scales.shape[1] + G - 1) // G)):
            encode_task(t, x, L, bs, G, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits,
                        bits, out, nbytes, scales, scratch)
    return kernel


@jit_inline
def _group_word(src, b, bits):
    """The group of eight codes at byte ``b``: one 8-byte load where the array
    has 8 bytes left (the bytes past the group masked off), else byte by byte."""
    w = load_word(src, b, numba.uint64(0)) if b + 8 <= src.size else load_group(src, b, bits)
    if bits < 8:
        w &= numba.uint64((1 << (8 * bits)) - 1)
    return w


@jit_inline
def _unpack_groups(src, soff, lo, ng, bits, run, r0):
    """Codes lo .. lo + 8*ng (lo a multiple of 8) into ``run[r0:]`` as int32,
    eight at a time (:func:`spread_group`).  Returns the OR of the words read."""
    acc = numba.uint64(0)
    for g in range(ng):
        w = _group_word(src, soff + ((lo >> 3) + g) * bits, bits)
        acc |= w
        spread_group(w, bits, run, r0 + 8 * g)
    return acc


@jit_inline
def _unpack_block(src, soff, e, end, bits, run):
    """Codes e .. end of the stream at byte ``soff`` into ``run[0:end-e]`` as
    int32: those before the first group boundary one by one, whole groups a
    word at a time, the rest one by one.  Returns the OR of the words and codes
    read, for the caller's range check."""
    acc = numba.uint64(0)
    g0 = min(e + ((-e) & 7), end)
    ng = (end - g0) >> 3
    for i in range(e, g0):
        c = code_at(src, soff, i, bits)
        acc |= c
        run[i - e] = c
    acc |= _unpack_groups(src, soff, g0, ng, bits, run, g0 - e)
    for i in range(g0 + 8 * ng, end):
        c = code_at(src, soff, i, bits)
        acc |= c
        run[i - e] = c
    return acc


@jit_inline
def _block_values(run, n, P, mul, out, o):
    """``out[o:o+n]``: the values of the codes ``run[0:n]`` (decode_value32)
    times the scale ``mul``."""
    for k in range(n):
        out[o + k] = decode_value32(run[k], P) * mul


@jit_inline
def _lookup_codes(src, soff, o, lo, hi, bits, table, mul, out):
    """The table path: codes lo .. hi one at a time, looked up."""
    acc = numba.uint64(0)
    for i in range(lo, hi):
        c = code_at(src, soff, i, bits)
        acc |= c
        out[o + i] = table[c] * mul
    return acc


@jit_inline
def _lookup_groups(src, soff, o, lo, ng, bits, table, mul, out):
    """The table path: codes lo .. lo + 8*ng (lo a multiple of 8) a group word
    at a time, each code looked up (no scratch: with a run-time width the
    lanes of spread_group cost more than they save)."""
    acc = numba.uint64(0)
    for g in range(ng):
        i = lo + 8 * g
        w = _group_word(src, soff + (i >> 3) * bits, bits)
        acc |= w
        for k in range(8):
            out[o + i + k] = table[group_code(w, k, bits)] * mul
    return acc


@jit_inline
def _decode_span(src, soff, o, j0, j1, L, bs, bits, scale_codes, P, arith, table, scale_table,
                 run, out):
    acc = numba.uint64(0)
    for j in range(j0, j1):
        # exact operands, one IEEE multiply: the exact product rounded once;
        # scale_table[255] is NaN, so a NaN scale makes the whole block NaN
        mul = scale_table[scale_codes[j]]
        e = j * bs
        whole = (bs & 7) == 0 and e + bs <= L  # whole groups: constant trip counts
        end = e + bs if whole else min(e + bs, L)
        if arith:
            if whole:
                acc |= _unpack_groups(src, soff, e, bs >> 3, bits, run, 0)
                _block_values(run, bs, P, mul, out, o + e)
            else:
                acc |= _unpack_block(src, soff, e, end, bits, run)
                _block_values(run, end - e, P, mul, out, o + e)
        elif whole:
            acc |= _lookup_groups(src, soff, o, e, bs >> 3, bits, table, mul, out)
        else:
            # codes before the first group boundary, whole groups, the rest
            g0 = min(e + ((-e) & 7), end)
            ng = (end - g0) >> 3
            acc |= _lookup_codes(src, soff, o, e, g0, bits, table, mul, out)
            acc |= _lookup_groups(src, soff, o, g0, ng, bits, table, mul, out)
            acc |= _lookup_codes(src, soff, o, g0 + 8 * ng, end, bits, table, mul, out)
    return acc


@jit_inline
def decode_task(t, src, L, bs, G, bits, nbytes, scales, P, arith, table, scale_table, scratch,
                out, one_row):
    """Decode task t: codes of ``bits`` bits from the rows of ``nbytes`` bytes of
    ``src`` into the (rows, L) array ``out``.  Where ``arith``, each block's
    codes are unpacked into this thread's row of ``scratch`` first, then turned
    into values by :func:`decode_value32` (it vectorizes); otherwise each code
    is looked up in ``table`` as it is read.  Returns the OR of the group words
    and codes read, for the caller's range check.  ``one_row``: ``scales`` has
    one row (a constant in the specialized kernels, which then hold only the
    loop they run)."""
    run = scratch[numba.get_thread_id()]
    if one_row:  # one row, as in encode_task: offsets LLVM can see
        j0 = numba.int64(t) * G
        acc = _decode_span(src, 0, 0, j0, min(j0 + G, scales.shape[1]), L, bs, bits, scales[0],
                           P, arith, table, scale_table, run, out)
    else:
        r, j0, j1 = _task(t, scales.shape[1], G)
        acc = _decode_span(src, r * nbytes, r * L, j0, j1, L, bs, bits, scales[r], P, arith,
                           table, scale_table, run, out)
    return acc


# The generic kernel looks values up in the table: decode_value32 with the
# format as run-time data would compute its constants per element.
_NO_PARAMS = (0,) * 16


@_pjit
def _decode_generic(src, L, bs, G, bits, nbytes, scales, table, scale_table, bad_mask, scratch,
                    out):
    bad = 0
    for t in prange(scales.shape[0] * ((scales.shape[1] + G - 1) // G)):
        acc = decode_task(t, src, L, bs, G, bits, nbytes, scales, _NO_PARAMS, False, table,
                          scale_table, scratch, out, scales.shape[0] == 1)
        bad += (acc & bad_mask) != 0
    return bad


@functools.lru_cache(maxsize=None)
def _decode_kernel(bs, bits, bad_mask, P, one_row=True):
    """The decode loop with the block size, code width and range-check mask as
    constants (a zero mask, the usual case, drops the check altogether), values
    by decode_value32 of the format ``P`` (None: by table lookup), and for
    ``scales`` of one row or of several (``one_row``).

    One loop per kernel matters beyond size: the copy of a parallel kernel
    that Numba caches is the one linked with its loop body and optimized a
    second time, and the kernel that held both cases ran mxint4 at 2,070 M/s
    from the cache against 5,300 freshly compiled; split, both run at 5,300."""
    G = blocks_per_task(bs)
    mask = np.uint64(bad_mask)
    arith = P is not None
    PK = P if arith else _NO_PARAMS

    @_pjit
    def kernel(src, L, nbytes, scales, table, scale_table, scratch, out):
        bad = 0
        for t in prange(scales.shape[0] * ((scales.shape[1] + G - 1) // G)):
            acc = decode_task(t, src, L, bs, G, bits, nbytes, scales, PK, arith, table,
                              scale_table, scratch, out, one_row)
            bad += (acc & mask) != 0
        return bad
    return kernel


def _decode_scratch(bs):
    """One block of int32 codes per thread; rows 64 bytes further apart than a
    block, so that no two threads write the same cache line."""
    return np.empty((numba.get_num_threads(), bs + 16), np.int32)


def _scale_table(dtype):
    t = np.ldexp(np.ones(255), np.arange(255) - 127).astype(dtype)  # exact: 2^-127..2^127
    return np.append(t, dtype(np.nan))


_SCALE_TABLES = {np.dtype(d): _scale_table(d) for d in (np.float32, np.float64)}


def _norm_axis(axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for an array of {ndim} dimensions "
                         f"(allowed: {-ndim}..{ndim - 1})")
    return int(axis) % ndim


def _check_block_size(block_size):
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) \
            or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    return int(block_size)


def encode(x, fmt, axis: int = -1, block_size: int = 32, rounding: str = "rne",
           scale_rule: str = "floor", overflow: str = "saturate", nan: str = "keep_sign",
           int_range: str = "symmetric", zero_scale: str = "min", inf: str = "nan_scale", *,
           seed=None, rbits=None) -> MXArray:
    """Encode ``x`` into the MX format ``fmt`` in blocks of ``block_size`` along
    ``axis`` (a last, shorter block takes the remainder).

    ``scale_rule``: floor (OCP v1.0, default), ceil or even; ``zero_scale``: the
    scale of an all-zero block, min (2^-127, default) or one; ``inf``: an Inf in
    a block makes its scale NaN (nan_scale, default) or is encoded as an element
    (element).  Element rounding, overflow, nan and int_range are those of
    :func:`mxspec.encode_elements`; ``rbits`` are in C order of ``x``.

    >>> encode(np.float32([1e-40, 3e-40]), "mxint8").scales.tolist()  # subnormals, exact
    [0]
    """
    f = mx_format(fmt)
    codes, scales, ax, bs = encode_rows(x, f, axis, block_size, 8, rounding, scale_rule,
                                        overflow, nan, int_range, zero_scale, inf, seed, rbits)
    return MXArray(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                   np.ascontiguousarray(np.moveaxis(scales, -1, ax)), f, bs, ax)


# Arrays this long get kernels specialized to their format, policies and block
# size; shorter ones share generic kernels (compiled once), so that a test
# sweeping many formats and policies does not compile a variant for each.
SPECIALIZE_MIN = 1 << 20


def encode_rows(x, f: MXFormat, axis, block_size, bits, rounding, scale_rule, overflow, nan,
                int_range, zero_scale, inf, seed, rbits):
    """The work of :func:`encode`, with the blocked axis moved last and the
    codes packed at ``bits`` bits per code (8: one per byte): (codes of shape
    (..., ceil(L*bits/8)), scales of shape (..., n_blocks), axis, block size)."""
    a = as_float_input(x)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (an MX block runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    bs = _check_block_size(block_size)
    ids = (policies.check("scale_rule", scale_rule), policies.check("zero_scale", zero_scale),
           policies.check("inf", inf), policies.check("rounding", rounding),
           policies.check("overflow", overflow), policies.check("nan", nan),
           policies.check("int_range", int_range))
    moved = np.ascontiguousarray(np.moveaxis(a, ax, -1))
    L = moved.shape[-1]
    rows = moved.size // L if L else 0
    nb = -(-L // bs)
    if ids[3] == policies.STOCHASTIC:
        r = random_bits(a.size, seed, rbits)
        r = np.ascontiguousarray(np.moveaxis(r.reshape(a.shape), ax, -1)).reshape(-1)
    else:
        if seed is not None or rbits is not None:
            raise ValueError(f"seed= and rbits= are for rounding='stochastic', not {rounding!r}")
        r = np.empty(0, np.uint32)
    nbytes = (L * bits + 7) // 8
    out = np.empty(moved.shape[:-1] + (nbytes,), np.uint8)
    scales = np.empty(moved.shape[:-1] + (nb,), np.uint8)
    flat = moved.reshape(-1)
    # Rows that end on a block and on a byte concatenate into one row with the
    # same blocks and the same bytes: the kernels' fast one-row case.
    kr, kL, knb = (1, flat.size, rows * nb) if L % bs == 0 and (L * bits) % 8 == 0 \
        else (rows, L, nb)
    P = f.element.params
    o, kbytes, ksc = out.reshape(-1), (kL * bits + 7) // 8, scales.reshape(kr, knb)
    scratch = _scratch(bs, bits)
    if flat.size >= SPECIALIZE_MIN:
        _encode_kernel(P, *ids, bs, bits)(flat, kL, r, o, kbytes, ksc, scratch)
    elif flat.size:
        _encode_generic(flat, kL, bs, blocks_per_task(bs), P, *ids, r, bits, o, kbytes, ksc,
                        scratch)
    return out, scales, ax, bs


def blocked_layout(mx: MXArray, codes: np.ndarray):
    """(codes with the blocked axis last, contiguous; row length L; blocks per row;
    scales as (rows, blocks)), refusing scales whose shape does not match."""
    moved = np.ascontiguousarray(np.moveaxis(codes, mx.axis, -1))
    L = moved.shape[-1]
    nb = -(-L // mx.block_size) if L else 0
    sc = np.ascontiguousarray(np.moveaxis(np.asarray(mx.scales, np.uint8), mx.axis, -1))
    if sc.shape != moved.shape[:-1] + (nb,):
        raise ValueError(f"scales have shape {mx.scales.shape}, but codes of shape {mx.shape} in "
                         f"blocks of {mx.block_size} along axis {mx.axis} need "
                         f"{np.moveaxis(np.empty(moved.shape[:-1] + (nb,)), -1, mx.axis).shape}")
    return moved, L, nb, (sc.reshape(-1, nb) if nb else sc.reshape(0, 0))


def decode(mx: MXArray, dtype=None, out=None) -> np.ndarray:
    """The values of an :class:`MXArray`: element value times 2^(scale-127),
    NaN for every element of a block whose scale is 0xFF.  float64 is exact;
    float32 (the default) is the exact value rounded once to nearest-even (it
    differs only where the product leaves float32's range).  ``out``, an array
    of the MXArray's shape and dtype float32 or float64, receives the values
    and is returned (reusing it saves the zeroing of fresh memory).

    >>> mx = encode(np.float32([1.5, -40.0]), "mxint8", block_size=2)
    >>> decode(mx, out=np.empty(2, np.float64)).tolist()
    [1.5, -40.0]
    """
    if not isinstance(mx, MXArray):
        raise TypeError(f"mx must be an MXArray, got {type(mx).__name__}")
    dtype = out_dtype(dtype, out, mx.shape)
    el = mx.format.element
    codes = np.asarray(mx.codes)
    if codes.dtype != np.uint8:
        codes = check_codes(codes, el)
    moved, L, nb, sc = blocked_layout(mx, codes)
    res = decode_rows(moved, L, 8, sc, mx.block_size, el, dtype, out, mx.axis)
    if res is None:
        check_codes(codes, el, "mx.codes")  # raises, naming the bad code
    return res


def out_dtype(dtype, out, shape) -> np.dtype:
    """The output dtype of a decode, checking ``dtype`` and ``out`` agree."""
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != tuple(shape):
            raise ValueError(f"out has shape {out.shape}; the values have shape {tuple(shape)}")
        if dtype is not None and np.dtype(dtype) != out.dtype:
            raise ValueError(f"dtype={np.dtype(dtype)} but out has dtype {out.dtype}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        dtype = out.dtype
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    return dtype


def _padded_table(el, dtype):
    """decode_table(el) padded with NaN to 256 entries: any byte indexes it, and
    the range check runs after the lookups, not before each one."""
    key = (el, np.dtype(dtype).name)
    t = _PADDED.get(key)
    if t is None:
        t = np.full(256, np.nan, dtype)
        t[:el.n_codes] = decode_table(el, dtype)
        _PADDED[key] = t
    return t


_PADDED: dict = {}


def decode_rows(src, L, bits, scales, bs, el, dtype, out=None, axis=-1):
    """Decode rows of codes packed at ``bits`` bits (8: one per byte), the
    blocked axis last, into the values with that axis moved back to ``axis``
    (into ``out`` if given); None if a byte holds a code past the format's
    range (possible only for ``bits`` = 8 and a narrower format)."""
    src = np.ascontiguousarray(src)
    dtype = np.dtype(dtype)
    shape = src.shape[:-1] + (L,)
    dst = None if out is None else np.moveaxis(out, axis, -1)
    in_place = dst is not None and dst.flags.c_contiguous
    if not in_place:
        dst = np.empty(shape, dtype)  # the kernel writes rows; a strided out gets a copy
    if dst.size:
        table = _padded_table(el, dtype) if bits == 8 else decode_table(el, dtype)
        # a code past the range shows as a bit above the format's width in some byte
        bad_mask = np.uint64(0) if el.bits >= bits else \
            np.uint64(((0xFF >> el.bits) << el.bits) * 0x0101010101010101)
        nbytes = src.shape[-1]
        if L % bs == 0 and (L * bits) % 8 == 0:  # rows fold into one, as in encode_rows
            L, nbytes, scales = dst.size, src.size, scales.reshape(1, -1)
        st = _SCALE_TABLES[dtype]
        flat = dst.reshape(-1)
        scratch = _decode_scratch(bs)
        if dst.size >= SPECIALIZE_MIN:
            P = el.params if value32_exact(el) else None
            kernel = _decode_kernel(bs, bits, int(bad_mask), P, scales.shape[0] == 1)
            bad = kernel(src.reshape(-1), L, nbytes, scales, table, st, scratch, flat)
        else:
            bad = _decode_generic(src.reshape(-1), L, bs, blocks_per_task(bs), bits, nbytes,
                                  scales, table, st, bad_mask, scratch, flat)
        if bad:
            return None
    if out is None:
        return np.moveaxis(dst, -1, axis)
    if not in_place:
        np.copyto(np.moveaxis(out, axis, -1), dst)
    return out
