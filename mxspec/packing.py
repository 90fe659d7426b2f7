"""Packing element codes into bytes (SPEC.md section 5).

One layout for every width b = 2..8: the codes of a row form a little-endian bit
stream, element i occupying bits [b*i, b*i + b) and stream bit k lying in byte
k // 8 at bit k % 8.  For b = 4 this puts the first element of a pair in the low
nibble (PyTorch float4_e2m1fn_x2, published MXFP4 checkpoints); for b = 6 four
elements fill three bytes; for b = 8 the bytes are the codes.  Rows run along the
blocked axis, which :func:`pack` moves last; a row's last byte is padded with
zero bits.

>>> import numpy as np, mxspec
>>> mx = mxspec.encode(np.array([1.0, 2.0, 3.0]), "mxfp4_e2m1")  # scale 2^-1: 2, 4, 6
>>> packed, scales = mxspec.pack(mx)
>>> mx.codes.tolist(), [hex(b) for b in packed], scales.tolist()
([4, 6, 7], ['0x64', '0x7'], [126])
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .blocks import MXArray, _check_block_size, _norm_axis
from .elements import check_codes
from .formats import mx_format

__all__ = ["pack", "unpack", "pack_codes", "unpack_codes", "packed_row_bytes"]

CHUNK = 4096  # elements per parallel task: a multiple of 8, so chunks start on a byte


def packed_row_bytes(n: int, bits: int) -> int:
    """Bytes that ``n`` codes of ``bits`` bits take: ceil(n * bits / 8)."""
    return (n * bits + 7) // 8


@numba.njit(cache=True, nogil=True)
def _chunk(k, nch, L):
    """Task k of rows x chunks: (row, first element, end element)."""
    r = numba.int64(k) // nch
    lo = (numba.int64(k) - r * nch) * CHUNK
    return r, lo, min(lo + CHUNK, L)


@numba.njit(cache=True, nogil=True, parallel=True)
def _pack_kernel(codes, L, bits, nbytes, out):
    rows = codes.size // L if L else 0
    nch = (L + CHUNK - 1) // CHUNK
    for k in prange(rows * nch):
        r, lo, hi = _chunk(k, nch, L)
        src = r * L
        dst = r * nbytes
        b0 = (lo * bits) >> 3
        b1 = min(((hi * bits) + 7) >> 3, nbytes)
        for b in range(b0, b1):
            out[dst + b] = 0
        for i in range(lo, hi):
            c = numba.uint32(codes[src + i])
            pos = i * bits
            byte = dst + (pos >> 3)
            off = pos & 7
            out[byte] |= numba.uint8((c << off) & 0xFF)
            if off + bits > 8:
                out[byte + 1] |= numba.uint8(c >> (8 - off))


@numba.njit(cache=True, nogil=True, parallel=True)
def _unpack_kernel(packed, L, bits, nbytes, out):
    rows = out.size // L if L else 0
    nch = (L + CHUNK - 1) // CHUNK
    mask = (1 << bits) - 1
    bad = 0
    for k in prange(rows * nch):
        r, lo, hi = _chunk(k, nch, L)
        src = r * nbytes
        for i in range(lo, hi):
            pos = i * bits
            byte = src + (pos >> 3)
            off = pos & 7
            v = numba.uint32(packed[byte]) >> off
            if off + bits > 8:
                v |= numba.uint32(packed[byte + 1]) << (8 - off)
            out[r * L + i] = v & mask
        if hi == L:  # the padding bits of the row's last byte must be zero
            used = (L * bits) & 7
            if used and (packed[src + nbytes - 1] >> used) != 0:
                bad += 1
    return bad


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack the last axis of ``codes`` (uint8) at ``bits`` bits per code:
    shape (..., L) -> (..., ceil(L * bits / 8))."""
    c = np.ascontiguousarray(codes, np.uint8)
    L = c.shape[-1] if c.ndim else 0
    nbytes = packed_row_bytes(L, bits)
    out = np.empty(c.shape[:-1] + (nbytes,), np.uint8)
    if c.size:
        _pack_kernel(c.reshape(-1), L, bits, nbytes, out.reshape(-1))
    return out


def unpack_codes(packed: np.ndarray, bits: int, L: int) -> np.ndarray:
    """Inverse of :func:`pack_codes` for rows of ``L`` codes."""
    p = np.ascontiguousarray(packed, np.uint8)
    nbytes = packed_row_bytes(L, bits)
    if p.shape[-1:] != (nbytes,):
        raise ValueError(f"packed rows must have {nbytes} bytes ({L} codes of {bits} bits), "
                         f"got shape {p.shape}")
    out = np.empty(p.shape[:-1] + (L,), np.uint8)
    if out.size and _unpack_kernel(p.reshape(-1), L, bits, nbytes, out.reshape(-1)):
        raise ValueError("packed rows have nonzero padding bits after their last code: "
                         "the data is not a packing of this shape and format")
    return out


def pack(mx: MXArray):
    """(packed element bytes, scale bytes) of an :class:`MXArray`, both with the
    blocked axis moved last: packed has shape (..., ceil(L*bits/8)) and scales
    (..., n_blocks)."""
    if not isinstance(mx, MXArray):
        raise TypeError(f"mx must be an MXArray, got {type(mx).__name__}")
    bits = mx.format.element.bits
    codes = np.moveaxis(mx.codes, mx.axis, -1)
    return pack_codes(codes, bits), np.ascontiguousarray(np.moveaxis(mx.scales, mx.axis, -1))


def unpack(packed, scales, fmt, shape, axis: int = -1, block_size: int = 32) -> MXArray:
    """Rebuild an :class:`MXArray` of ``shape`` from :func:`pack`'s output,
    checking every size against the format, shape and block size."""
    f = mx_format(fmt)
    shape = tuple(int(s) for s in shape)
    if not shape:
        raise ValueError("shape must have at least one dimension")
    ax = _norm_axis(axis, len(shape))
    bs = _check_block_size(block_size)
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    L = moved[-1]
    nb = -(-L // bs)
    p = np.asarray(packed)
    s = np.asarray(scales)
    for name, arr in (("packed", p), ("scales", s)):
        if arr.dtype != np.uint8:
            raise TypeError(f"{name} must be uint8, got {arr.dtype}")
    want_p = moved[:-1] + (packed_row_bytes(L, f.element.bits),)
    if p.shape != want_p:
        raise ValueError(f"packed has shape {p.shape}; {f.name} codes of shape {shape} along "
                         f"axis {ax} pack to {want_p}")
    want_s = moved[:-1] + (nb,)
    if s.shape != want_s:
        raise ValueError(f"scales have shape {s.shape}; {shape} in blocks of {bs} along axis "
                         f"{ax} needs {want_s}")
    codes = unpack_codes(p, f.element.bits, L)
    check_codes(codes, f.element, "packed codes")
    return MXArray(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                   np.ascontiguousarray(np.moveaxis(s, -1, ax)), f, bs, ax)
