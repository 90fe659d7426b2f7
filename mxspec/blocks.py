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
from .core import abs_bits_value, encode_span, float_abs_bits, jit
from .elements import as_float_input, check_codes, decode_table, random_bits
from .formats import MXFormat, mx_format
from .scales import E8M0_NAN, scale_code

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

    def decode(self, dtype=np.float32) -> np.ndarray:
        return decode(self, dtype)

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


@jit
def encode_block(x, start, end, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, codes):
    """Encode x[start:end] as one block into codes[start:end]; returns its scale code."""
    # The largest |x| from an integer max over the abs bits: a branch-free
    # reduction that vectorizes; NaN and Inf are read off the same maximum.
    mbits = float_abs_bits(x[start])
    for i in range(start, end):
        mbits = max(mbits, float_abs_bits(x[i]))
    amax = abs_bits_value(x[start], mbits)
    any_nan = amax != amax
    any_inf = amax == math.inf
    if any_inf and not any_nan:  # rare: the largest *finite* magnitude is needed
        amax = 0.0
        for i in range(start, end):
            v = abs(np.float64(x[i]))
            if v != math.inf and v > amax:
                amax = v
    sc = scale_code(amax, any_nan, any_inf, P, rule, zscale, infp)
    if sc == E8M0_NAN:
        for i in range(start, end):
            codes[i] = 0
        return sc
    encode_span(x, start, end, sc - 127, P, mode, ovf, nanp, irange, rbits, codes, codes, False)
    return sc


_pjit = numba.njit(cache=True, nogil=True, parallel=True)


@jit
def encode_block_k(k, x, L, bs, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, codes,
                   scales):
    """Encode block k (row-major over rows x blocks) of the (rows, L) array x."""
    nb = scales.shape[1]
    r = numba.int64(k) // nb
    j = numba.int64(k) - r * nb
    start = r * L + j * bs
    scales[r, j] = encode_block(x, start, min(start + bs, (r + 1) * L), P, rule, zscale, infp,
                                mode, ovf, nanp, irange, rbits, codes)


@_pjit
def _encode_blocks_generic(x, L, bs, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits,
                           codes, scales):
    for k in prange(scales.size):
        encode_block_k(k, x, L, bs, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits, codes,
                       scales)


@functools.lru_cache(maxsize=None)
def _encode_blocks_kernel(P, rule, zscale, infp, mode, ovf, nanp, irange, bs):
    """The same loop with the format, policies and block size as constants."""
    @_pjit
    def kernel(x, L, rbits, codes, scales):
        for k in prange(scales.size):
            encode_block_k(k, x, L, bs, P, rule, zscale, infp, mode, ovf, nanp, irange, rbits,
                           codes, scales)
    return kernel


@_pjit
def _decode_blocks(codes, scales, L, bs, table, scale_table, limit, out):
    nb = scales.shape[1]
    bad = 0
    for k in prange(scales.size):
        r = numba.int64(k) // nb
        j = numba.int64(k) - r * nb
        start = r * L + j * bs
        end = min(start + bs, (r + 1) * L)
        # exact operands, one IEEE multiply: the exact product rounded once;
        # scale_table[255] is NaN, so a NaN scale makes the whole block NaN
        mul = scale_table[scales[r, j]]
        nbad = 0
        for i in range(start, end):
            c = codes[i]
            nbad += c >= limit
            out[i] = table[c & (limit - 1)] * mul
        bad += nbad
    return bad


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
    codes = np.empty(moved.size, np.uint8)
    scales = np.empty((rows, nb), np.uint8)
    flat = moved.reshape(-1)
    P = f.element.params
    if flat.size >= (1 << 20):
        _encode_blocks_kernel(P, *ids, bs)(flat, L, r, codes, scales)
    else:
        _encode_blocks_generic(flat, L, bs, P, *ids, r, codes, scales)
    codes = np.moveaxis(codes.reshape(moved.shape), -1, ax)
    scales = np.moveaxis(scales.reshape(moved.shape[:-1] + (nb,)), -1, ax)
    return MXArray(np.ascontiguousarray(codes), np.ascontiguousarray(scales), f, bs, ax)


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


def decode(mx: MXArray, dtype=np.float32) -> np.ndarray:
    """The values of an :class:`MXArray`: element value times 2^(scale-127),
    NaN for every element of a block whose scale is 0xFF.  float64 is exact;
    float32 is the exact value rounded once to nearest-even (it differs only
    where the product leaves float32's range)."""
    if not isinstance(mx, MXArray):
        raise TypeError(f"mx must be an MXArray, got {type(mx).__name__}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    el = mx.format.element
    codes = np.asarray(mx.codes)
    if codes.dtype != np.uint8:
        codes = check_codes(codes, el)
    moved, L, nb, sc = blocked_layout(mx, codes)
    out = np.empty(moved.size, dtype)
    if _decode_blocks(moved.reshape(-1), sc, L, mx.block_size, decode_table(el, dtype),
                      _SCALE_TABLES[dtype], el.n_codes, out):
        check_codes(codes, el, "mx.codes")  # raises, naming the bad code
    return np.moveaxis(out.reshape(moved.shape), -1, mx.axis)
