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

__all__ = ["pack_codes", "unpack_codes", "packed_row_bytes", "padding_is_zero", "gguf_pack",
           "gguf_unpack"]

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




# ---- ggml's block_mxfp4 (SPEC.md 4.5): 17 bytes a block of 32 -------------------------------

GGUF_BLOCK, GGUF_BLOCK_BYTES = 32, 17


GGUF_TASK = 128  # blocks per parallel task


@jit
def _gguf_pack_kernel(t0, t1, codes, scales, nb, out):
    for t in range(t0, t1):
        for j in range(t * GGUF_TASK, min((t + 1) * GGUF_TASK, nb)):
            c, o = codes[j * 32:j * 32 + 32], out[j * 17:j * 17 + 17]
            o[0] = scales[j]
            for i in range(16):  # slices with constant trip counts: it vectorizes
                o[1 + i] = c[i] | (c[16 + i] << 4)
    return 0


@jit
def _gguf_unpack_kernel(t0, t1, data, nb, codes, scales):
    for t in range(t0, t1):
        for j in range(t * GGUF_TASK, min((t + 1) * GGUF_TASK, nb)):
            d, c = data[j * 17:j * 17 + 17], codes[j * 32:j * 32 + 32]
            scales[j] = d[0]
            for i in range(16):
                c[i] = d[1 + i] & 15
                c[16 + i] = d[1 + i] >> 4
    return 0


def gguf_pack(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """ggml's ``block_mxfp4`` bytes of 4-bit codes in blocks of 32 along the last
    axis: per block the E8M0 byte, then 16 bytes whose byte i holds code i in its
    low nibble and code i + 16 in its high nibble.  (..., L), (..., L/32) ->
    (..., L/32 * 17).

    >>> gguf_pack(np.arange(32, dtype=np.uint8) % 16, np.uint8([127])).tolist()[:3]
    [127, 0, 17]
    """
    c = np.ascontiguousarray(codes, np.uint8)
    s = np.ascontiguousarray(scales, np.uint8)
    nb = c.size // GGUF_BLOCK
    out = np.empty(c.shape[:-1] + (c.shape[-1] // GGUF_BLOCK * GGUF_BLOCK_BYTES,), np.uint8)
    _parallel.run(_gguf_pack_kernel, -(-nb // GGUF_TASK), c.reshape(-1), s.reshape(-1), nb,
                  out.reshape(-1), work=c.size)
    return out


def gguf_unpack(data: np.ndarray) -> tuple:
    """(codes, scale bytes) of ``block_mxfp4`` rows: (..., n * 17) -> (..., n * 32), (..., n)."""
    d = np.ascontiguousarray(data, np.uint8)
    n = d.shape[-1] // GGUF_BLOCK_BYTES
    nb = d.size // GGUF_BLOCK_BYTES
    codes = np.empty(d.shape[:-1] + (n * GGUF_BLOCK,), np.uint8)
    scales = np.empty(d.shape[:-1] + (n,), np.uint8)
    _parallel.run(_gguf_unpack_kernel, -(-nb // GGUF_TASK), d.reshape(-1), nb, codes.reshape(-1),
                  scales.reshape(-1), work=codes.size)
    return codes, scales
