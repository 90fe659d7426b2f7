"""Integer groups in int32 words, as checkpoints store them (SPEC.md 12.4):

- ``compressed-tensors`` (``pack_to_int32``): the codes plus 2^(b-1) (so 0 ..
  2^b - 1) as a little-endian bit stream along each row, element i at stream
  bit b*i, in int32 words (ceil(n b / 32) a row, the last padded with zero
  bits); zero points plus 2^(b-1) the same way along the output axis (the
  one before the grouped axis).
- ``gptq`` (AutoGPTQ's ``qweight``, ``qzeros``, ``scales``, ``g_idx``): the
  weight transposed, (in, out), the unsigned codes packed along ``in``, eight
  4-bit ones (or sixteen 2-bit, four 8-bit) a word, element j of a word at
  bits b*j; zero points along ``out``, stored less one (the v1 checkpoint
  format; a symmetric row's zero point is 2^(b-1)).
- ``awq`` (AutoAWQ's GEMM ``qweight``, ``qzeros``, ``scales``): the weight
  transposed, the unsigned 4-bit codes and zero points packed along ``out``,
  a word holding elements 0, 2, 4, 6, 1, 3, 5, 7 of its eight in nibbles 0..7.

>>> import numpy as np
>>> w = pack_words(np.arange(8, dtype=np.uint8)[None], 4)
>>> hex(int(w[0, 0])), hex(int(pack_words(np.arange(8, dtype=np.uint8)[None, AWQ_ORDER], 4)[0, 0]))
('0x76543210', '0x75316420')
"""
from __future__ import annotations

import numpy as np

from .array import BlockArray, check_g_idx, check_shape, scale_dtype
from .bits import pack_codes, padding_is_zero, unpack_codes

__all__ = ["pack_words", "unpack_words", "AWQ_ORDER", "WORD_LAYOUTS", "pack", "unpack"]

WORD_LAYOUTS = ("compressed-tensors", "gptq", "awq")
AWQ_ORDER = np.array([0, 2, 4, 6, 1, 3, 5, 7])  # AutoAWQ's order_map for 4 bits


def pack_words(u, bits: int) -> np.ndarray:
    """Unsigned values (..., n) below 2^bits as int32 words (..., ceil(n bits / 32)):
    a little-endian bit stream, element i at bit bits*i (compressed-tensors'
    pack_to_int32 and GPTQ's order)."""
    u = np.ascontiguousarray(u, np.uint8)
    n = u.shape[-1]
    nw = -(-n * bits // 32)
    b = pack_codes(u, bits)
    out = np.zeros(u.shape[:-1] + (nw * 4,), np.uint8)
    out[..., :b.shape[-1]] = b
    return out.view("<i4").astype(np.int32, copy=False)


def unpack_words(w, bits: int, n: int, what: str = "words") -> np.ndarray:
    """The inverse of :func:`pack_words`: (..., n) uint8 values; words whose bits
    past the n-th value are not zero are refused (they are not such a packing)."""
    w = np.ascontiguousarray(w, "<i4")
    b = w.view(np.uint8)
    nb = -(-n * bits // 8)
    tail = b[..., nb:]
    if tail.size and tail.any() or (nb and not padding_is_zero(np.ascontiguousarray(b[..., :nb]),
                                                               n, bits)):
        raise ValueError(f"{what} have nonzero bits past their last {bits}-bit value: they are "
                         f"not a packing of {n} values a row")
    return unpack_codes(np.ascontiguousarray(b[..., :nb]), bits, n)


def _awq_perm(n):
    return (np.arange(n).reshape(-1, 8)[:, AWQ_ORDER]).reshape(-1)


def _shape2(f, mx_shape, axis, layout):
    if len(mx_shape) != 2 or axis != 1:
        raise ValueError(f"layout={layout!r} stores a 2-D weight (out, in) grouped along its "
                         f"last axis (in); got shape {tuple(mx_shape)} grouped along axis {axis}")
    if layout == "awq" and (f.element.bits != 4 or not f.zero_point):
        raise ValueError(f"layout='awq' stores 4-bit codes with zero points (AutoAWQ's GEMM "
                         f"format), not {f.name}")
    if layout == "gptq" and 32 % f.element.bits:
        raise ValueError(f"layout='gptq' packs whole codes in a word: bits 2, 4 or 8, not "
                         f"{f.element.bits}")


def pack(mx: BlockArray, layout: str):
    """(data, scales) of an integer-group BlockArray in a word layout (see the
    module's text): compressed-tensors: (weight_packed, (weight_scale,
    weight_zero_point or None)); gptq: (qweight, (scales, qzeros, g_idx));
    awq: (qweight, (scales, qzeros))."""
    f = mx.format
    b = f.element.bits
    half = 1 << (b - 1)
    codes = np.moveaxis(mx.codes, mx.axis, -1)
    u = codes ^ np.uint8(half)  # two's complement -> code + 2^(b-1)
    sc = np.ascontiguousarray(np.moveaxis(mx.scales, mx.axis, -1))
    zu = None if mx.zero_points is None else \
        (np.moveaxis(mx.zero_points, mx.axis, -1).astype(np.int16) + half).astype(np.uint8)
    if layout == "compressed-tensors":
        if mx.g_idx is not None:
            raise ValueError("layout='compressed-tensors' has no g_idx (compressed-tensors 0.20 "
                             "removed act-order groups); use layout='gptq'")
        if zu is not None and codes.ndim < 2:
            raise ValueError("layout='compressed-tensors' packs zero points along the output "
                             "axis: the weight needs at least two axes")
        zp = None if zu is None else np.moveaxis(pack_words(np.moveaxis(zu, -2, -1), b), -1, -2)
        return pack_words(u, b), (sc, None if zp is None else np.ascontiguousarray(zp))
    _shape2(f, mx.shape, mx.axis, layout)
    out_n = u.shape[0]
    z = zu if zu is not None else np.full(sc.shape, half, np.uint8)
    if layout == "gptq":
        if out_n % (32 // b):
            raise ValueError(f"layout='gptq' packs zero points along the output axis in words "
                             f"of {32 // b}: {out_n} rows is not a multiple")
        if u.shape[1] % (32 // b):
            raise ValueError(f"layout='gptq' packs the input axis in words of {32 // b}: "
                             f"{u.shape[1]} is not a multiple")
        qweight = np.ascontiguousarray(pack_words(u, b).T)  # (in * b / 32, out)
        qzeros = pack_words(((z.astype(np.int16) - 1) & ((1 << b) - 1)).astype(np.uint8).T, b)
        gi = mx.g_idx if mx.g_idx is not None else \
            (np.arange(u.shape[1]) // mx.block_size).astype(np.int32)
        return qweight, (np.ascontiguousarray(sc.T), qzeros, gi)
    if out_n % 8:
        raise ValueError(f"layout='awq' packs the output axis in words of 8: {out_n} rows is "
                         f"not a multiple")
    if mx.g_idx is not None:
        raise ValueError("layout='awq' has no g_idx (AWQ groups are contiguous)")
    perm = _awq_perm(out_n)
    qweight = pack_words(np.ascontiguousarray(u.T[:, perm]), 4)  # (in, out / 8)
    qzeros = pack_words(np.ascontiguousarray(z.T[:, perm]), 4)   # (groups, out / 8)
    return qweight, (np.ascontiguousarray(sc.T), qzeros)


def _arr(a, name, dtype=None, shape=None):
    a = np.asarray(a)
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype)}, got {a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}; it must be {tuple(shape)}")
    return a


def _scales_dtype(f):
    return scale_dtype(f.scale_kind)


def unpack(data, scales, f, shape, axis, block_size, layout, g_idx=None) -> BlockArray:
    """Rebuild the BlockArray of ``shape`` from :func:`pack`'s output, every size
    and dtype checked against the format and layout."""
    shape = check_shape(shape)
    b = f.element.bits
    half = 1 << (b - 1)
    G = f.block_size if block_size is None else block_size
    if not isinstance(scales, (tuple, list)):
        raise ValueError(f"scales must be the layout's tuple for {f.name} ({layout}: "
                         + {"compressed-tensors": "(weight_scale, weight_zero_point or None)",
                            "gptq": "(scales, qzeros, g_idx)", "awq": "(scales, qzeros)"}[layout]
                         + f"), got {type(scales).__name__}")
    if layout == "compressed-tensors":
        if len(scales) != 2:
            raise ValueError("scales must be (weight_scale, weight_zero_point or None)")
        if not shape:
            raise ValueError("shape must have at least one dimension")
        ax = axis % len(shape)
        moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
        L = moved[-1]
        ng = -(-L // G)
        w = _arr(data, "weight_packed", np.int32, moved[:-1] + (-(-L * b // 32),))
        sc = _arr(scales[0], "weight_scale", _scales_dtype(f), moved[:-1] + (ng,))
        u = unpack_words(w, b, L, "weight_packed words")
        zp = None
        if f.zero_point:
            if scales[1] is None:
                raise ValueError(f"{f.name} has zero points: weight_zero_point is missing")
            if len(moved) < 2:
                raise ValueError("layout='compressed-tensors' packs zero points along the "
                                 "output axis: the weight needs at least two axes")
            zshape = moved[:-2] + (-(-moved[-2] * b // 32), ng)
            zw = _arr(scales[1], "weight_zero_point", np.int32, zshape)
            zu = np.moveaxis(unpack_words(np.moveaxis(zw, -2, -1), b, moved[-2]), -1, -2)
            zp = zu.astype(np.int16) - half
        elif scales[1] is not None:
            raise ValueError(f"{f.name} is symmetric: weight_zero_point must be None")
        codes = u ^ np.uint8(half)
        back = (lambda t: None if t is None else np.ascontiguousarray(np.moveaxis(t, -1, ax)))
        return BlockArray(back(codes), back(sc), f, G, ax, zero_points=back(zp), g_idx=g_idx)
    if len(shape) != 2 or axis % 2 != 1:
        raise ValueError(f"layout={layout!r} stores a 2-D weight (out, in) grouped along its "
                         f"last axis; got shape {shape} grouped along axis {axis}")
    out_n, in_n = shape
    ng = -(-in_n // G)
    if layout == "gptq":
        if len(scales) != 3:
            raise ValueError("scales must be (scales, qzeros, g_idx) for layout='gptq'")
        qw = _arr(data, "qweight", np.int32, (in_n * b // 32, out_n))
        sc = _arr(scales[0], "scales", _scales_dtype(f), (ng, out_n))
        qz = _arr(scales[1], "qzeros", np.int32, (ng, out_n * b // 32))
        gi = check_g_idx(scales[2], in_n, ng)
        u = unpack_words(np.ascontiguousarray(qw.T), b, in_n)
        z = (unpack_words(qz, b, out_n).astype(np.int16) + 1) & ((1 << b) - 1)
        zp = z.T - half
        if not f.zero_point:
            if (zp != 0).any():
                raise ValueError(f"{f.name} is symmetric, but qzeros hold zero points other "
                                 f"than {half}: read it as a format with zero points")
            zp = None
        if gi is not None and np.array_equal(gi, np.arange(in_n) // G):
            gi = None  # GPTQ writes g_idx for every checkpoint; contiguous groups need none
        return BlockArray(u ^ np.uint8(half), np.ascontiguousarray(sc.T), f, G, 1,
                          zero_points=None if zp is None else np.ascontiguousarray(zp), g_idx=gi)
    if len(scales) != 2:
        raise ValueError("scales must be (scales, qzeros) for layout='awq'")
    if f.element.bits != 4 or not f.zero_point:
        raise ValueError(f"layout='awq' stores 4-bit codes with zero points, not {f.name}")
    qw = _arr(data, "qweight", np.int32, (in_n, out_n // 8))
    sc = _arr(scales[0], "scales", _scales_dtype(f), (ng, out_n))
    qz = _arr(scales[1], "qzeros", np.int32, (ng, out_n // 8))
    inv = np.argsort(_awq_perm(out_n))
    u = unpack_words(qw, 4, out_n)[:, inv].T
    z = unpack_words(qz, 4, out_n)[:, inv].T
    return BlockArray(np.ascontiguousarray(u ^ np.uint8(8)), np.ascontiguousarray(sc.T), f, G, 1,
                      zero_points=np.ascontiguousarray(z.astype(np.int16) - 8), g_idx=g_idx)
