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
from ..codec.core import jit
from .mx import (MXArray, _check_block_size, _norm_axis, check_shape, decode_rows,
                     encode_rows, out_dtype)
from ..tables.block import BlockFormat, any_format
from ..codec.elements import check_codes
from ..tables.element import mx_format

__all__ = ["pack", "unpack", "encode_packed", "decode_packed", "pack_codes", "unpack_codes",
           "packed_row_bytes"]

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


def _padding_is_zero(p: np.ndarray, L: int, bits: int) -> bool:
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
    if not _padding_is_zero(p, L, bits):
        raise ValueError("packed rows have nonzero padding bits after their last code: "
                         "the data is not a packing of this shape and format")
    out = np.empty(p.shape[:-1] + (L,), np.uint8)
    if out.size:
        _parallel.run(_unpack_kernel, _tasks(out.size, L), p.reshape(-1), L, bits, nbytes,
                      out.reshape(-1), work=out.size)
    return out


def pack(mx: MXArray):
    """What :func:`encode_packed` returns for the same values: (packed element
    bytes, scale bytes), both with the blocked axis moved last (packed of shape
    (..., ceil(L*bits/8)), scales (..., n_blocks)); a format with a tensor scale
    (nvfp4) adds it as a third item; a micro-exponent format gives (units, None),
    every byte of a unit in one array (SPEC.md 11.2)."""
    if not isinstance(mx, MXArray):
        raise TypeError(f"mx must be an MXArray, got {type(mx).__name__}")
    if hasattr(mx.format, "levels"):  # micro-exponent units
        from .micro import pack_units
        return pack_units(mx), None
    packed, scales = _pack_codes_and_scales(mx)
    return (packed, scales) if mx.tensor_scale is None else (packed, scales, mx.tensor_scale)


def _pack_codes_and_scales(mx: MXArray):
    bits = mx.format.element.bits
    codes = np.moveaxis(mx.codes, mx.axis, -1)
    return pack_codes(codes, bits), np.ascontiguousarray(np.moveaxis(mx.scales, mx.axis, -1))


def _packed_layout(packed, scales, fmt, shape, axis, block_size):
    """Check :func:`pack`-layout arrays against a format, shape, axis and block
    size: (format, packed, scales, moved shape, axis, block size)."""
    f = any_format(fmt)
    shape = check_shape(shape)
    if not shape:
        raise ValueError("shape must have at least one dimension")
    ax = _norm_axis(axis, len(shape))
    bs = _check_block_size(_default_block(f, block_size))
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    L = moved[-1]
    nb = -(-L // bs)
    p = np.asarray(packed)
    s = np.asarray(scales)
    s_dtype = np.float32 if isinstance(f, BlockFormat) and f.scale is None else np.uint8
    for name, arr, want in (("packed", p, np.uint8), ("scales", s, s_dtype)):
        if arr.dtype != want:
            raise TypeError(f"{name} must be {np.dtype(want)}, got {arr.dtype}")
    want_p = moved[:-1] + (packed_row_bytes(L, f.element.bits),)
    if p.shape != want_p:
        raise ValueError(f"packed has shape {p.shape}; {f.name} codes of shape {shape} along "
                         f"axis {ax} pack to {want_p}")
    want_s = moved[:-1] + (nb,)
    if s.shape != want_s:
        raise ValueError(f"scales have shape {s.shape}; {shape} in blocks of {bs} along axis "
                         f"{ax} needs {want_s}")
    return f, p, s, moved, ax, bs


def _default_block(f, block_size):
    if block_size is not None:
        return block_size
    return f.block_size if isinstance(f, BlockFormat) else 32


def _tensor_scale(f, tensor_scale):
    """The tensor scale a block format needs (None for MX formats), checked."""
    if not isinstance(f, BlockFormat) or not f.tensor_scale:
        if tensor_scale is not None:
            raise ValueError(f"tensor_scale is for block formats with a tensor scale (nvfp4); "
                             f"{f.name} has none")
        return None
    if tensor_scale is None:
        raise ValueError(f"{f.name} needs tensor_scale= (the float32 per-tensor scale)")
    ts = np.asarray(tensor_scale)
    if ts.size != 1 or not np.issubdtype(ts.dtype, np.floating):
        raise ValueError(f"tensor_scale must be one float32 value, got {tensor_scale!r}")
    v = np.float32(ts.reshape(()))
    if ts.dtype != np.float32 and float(v) != float(ts.reshape(())):
        raise ValueError(f"tensor_scale={float(ts.reshape(()))!r} is not a float32 value")
    return v


def unpack(packed, scales, fmt, shape, axis: int = -1, block_size: int | None = None,
           tensor_scale=None) -> MXArray:
    """Rebuild an :class:`MXArray` of ``shape`` from :func:`pack`'s output,
    checking every size against the format, shape and block size (32 for MX
    formats unless given, the format's own for block formats, which also take
    their ``tensor_scale``)."""
    f, p, s, moved, ax, bs = _packed_layout(packed, scales, fmt, shape, axis, block_size)
    ts = _tensor_scale(f, tensor_scale)
    codes = unpack_codes(p, f.element.bits, moved[-1])
    check_codes(codes, f.element, "packed codes")
    if isinstance(f, BlockFormat) and f.scale is not None:
        check_codes(s, f.scale, "scales")
    return MXArray(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                   np.ascontiguousarray(np.moveaxis(s, -1, ax)), f, bs, ax, ts)


def encode_packed(x, fmt, axis: int = -1, block_size: int | None = None, rounding: str = "rne",
                  scale_rule: str = "floor", overflow: str = "saturate", nan: str = "keep_sign",
                  int_range: str = "symmetric", zero_scale: str = "min", inf: str = "nan_scale",
                  *, seed=None, rbits=None, recipe: str | None = None):
    """``encode(x, ...).pack()`` in one pass, without the unpacked codes: the
    (packed element bytes, scale bytes) that hardware and checkpoints use, with
    the blocked axis moved last.  Arguments as :func:`mxspec.encode`.  A block
    format with a tensor scale (nvfp4) returns (packed, scales, tensor_scale).

    >>> packed, scales = encode_packed(np.array([1.0, 2.0, 3.0]), "mxfp4_e2m1")
    >>> [hex(b) for b in packed], scales.tolist()
    (['0x64', '0x7'], [126])
    """
    from .micro import encode_micro, is_micro_name, pack_units
    if is_micro_name(fmt):  # every byte of a unit in one array (SPEC.md 11.2)
        return pack_units(encode_micro(x, fmt, axis)), None
    from ..tables.block import is_block_format_name
    if is_block_format_name(fmt) or recipe is not None:
        from .scaled import encode_scaled
        return pack(encode_scaled(x, fmt, axis, block_size, recipe))
    block_size = 32 if block_size is None else block_size
    f = mx_format(fmt)
    packed, scales, _, _ = encode_rows(x, f, axis, block_size, f.element.bits, rounding,
                                       scale_rule, overflow, nan, int_range, zero_scale, inf,
                                       seed, rbits)
    return packed, scales


def decode_packed(packed, scales, fmt, shape, axis: int = -1, block_size: int | None = None,
                  dtype=None, out=None, tensor_scale=None) -> np.ndarray:
    """``decode(unpack(packed, scales, ...))`` in one pass: the values of
    :func:`pack`-layout data, of ``shape``, with every size checked as
    :func:`unpack` checks it.  ``dtype`` and ``out`` as :func:`mxspec.decode`;
    ``tensor_scale`` for block formats that have one (nvfp4).

    >>> decode_packed(np.uint8([0x64, 0x07]), np.uint8([126]), "mxfp4_e2m1", (3,)).tolist()
    [1.0, 2.0, 3.0]
    """
    from .micro import is_micro_name, unpack_units
    if is_micro_name(fmt):
        if scales is not None:
            raise ValueError(f"{fmt}: the scales are inside the packed units; pass scales=None")
        from .mx import decode
        return decode(unpack_units(packed, fmt, shape, axis), dtype, out)
    if isinstance(any_format(fmt), BlockFormat):
        from .mx import decode
        return decode(unpack(packed, scales, fmt, shape, axis, block_size, tensor_scale),
                      dtype, out)
    _tensor_scale(any_format(fmt), tensor_scale)
    f, p, s, moved, ax, bs = _packed_layout(packed, scales, fmt, shape, axis, block_size)
    dtype = out_dtype(dtype, out, shape, (("packed", packed), ("scales", scales)))
    bits, L = f.element.bits, moved[-1]
    if not _padding_is_zero(p, L, bits):
        raise ValueError("packed rows have nonzero padding bits after their last code: "
                         "the data is not a packing of this shape and format")
    nb = s.shape[-1]
    sc = np.ascontiguousarray(s).reshape(-1, nb) if nb else s.reshape(0, 0)
    return decode_rows(p, L, bits, sc, bs, f.element, dtype, out, ax)
