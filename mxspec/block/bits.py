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

from .._kernel import parallel as _parallel
from .._kernel.bitstream import pack_span, unpack_span
from .._kernel.jit import jit

__all__ = ["pack_codes", "unpack_codes", "packed_row_bytes", "padding_is_zero"]

CHUNK = 4096  # codes per parallel task: a multiple of 8, so chunks start on a byte


def packed_row_bytes(n: int, bits: int) -> int:
    """Bytes that ``n`` codes of ``bits`` bits take: ceil(n * bits / 8)."""
    return (n * bits + 7) // 8


@jit
def _chunk(k, nch, L):
    """Task k of rows x chunks: (row, first code, end code)."""
    r = numba.int64(k) // nch
    lo = (numba.int64(k) - r * nch) * CHUNK
    return r, lo, min(lo + CHUNK, L)


@jit
def _pack_kernel(t0, t1, codes, L, bits, nbytes, out):
    nch = (L + CHUNK - 1) // CHUNK
    for k in range(t0, t1):
        r, lo, hi = _chunk(k, nch, L)
        pack_span(codes, r * L + lo, hi - lo, bits, out, r * nbytes + ((lo * bits) >> 3))
    return 0


@jit
def _unpack_kernel(t0, t1, packed, L, bits, nbytes, out):
    nch = (L + CHUNK - 1) // CHUNK
    for k in range(t0, t1):
        r, lo, hi = _chunk(k, nch, L)
        unpack_span(packed, r * nbytes + ((lo * bits) >> 3), hi - lo, bits, out, r * L + lo)
    return 0


def _tasks(size, L):
    """Tasks of rows x chunks for ``size`` codes in rows of ``L``."""
    return (size // L) * ((L + CHUNK - 1) // CHUNK) if L else 0


def padding_is_zero(p: np.ndarray, L: int, bits: int) -> bool:
    """Whether the bits after each row's last code are zero, as pack writes them."""
    used = (L * bits) % 8
    return used == 0 or p.size == 0 or not np.any(p[..., -1] >> used)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack the last axis of ``codes`` (uint8, each below 2**bits) at ``bits``
    bits per code: shape (..., L) -> (..., ceil(L * bits / 8))."""
    c = np.ascontiguousarray(codes, np.uint8)
    if bits < 8 and c.size and int(c.max()) >> bits:
        bad = c.reshape(-1)[np.argmax(c.reshape(-1) >> bits)]
        raise ValueError(f"codes holds {int(bad)}, which does not fit {bits} bits "
                         f"(codes are 0..{(1 << bits) - 1})")
    L = c.shape[-1] if c.ndim else 0
    nbytes = packed_row_bytes(L, bits)
    out = np.empty(c.shape[:-1] + (nbytes,), np.uint8)
    if c.size:
        _parallel.run(_pack_kernel, _tasks(c.size, L), c.reshape(-1), L, bits, nbytes,
                      out.reshape(-1), work=c.size)
    return out


def unpack_codes(packed: np.ndarray, bits: int, L: int) -> np.ndarray:
    """Inverse of :func:`pack_codes` for rows of ``L`` codes."""
    p = np.ascontiguousarray(packed, np.uint8)
    nbytes = packed_row_bytes(L, bits)
    if p.shape[-1:] != (nbytes,):
        raise ValueError(f"packed rows must have {nbytes} bytes ({L} codes of {bits} bits), "
                         f"got shape {p.shape}")
    if not padding_is_zero(p, L, bits):
        raise ValueError("packed rows have nonzero padding bits after their last code: "
                         "the data is not a packing of this shape and format")
    out = np.empty(p.shape[:-1] + (L,), np.uint8)
    if out.size:
        _parallel.run(_unpack_kernel, _tasks(out.size, L), p.reshape(-1), L, bits, nbytes,
                      out.reshape(-1), work=out.size)
    return out


