"""The packed layout of element codes (SPEC.md section 5) as Numba functions,
shared by :mod:`mxspec.packing` and the fused block kernels.

A row of b-bit codes is a little-endian bit stream: code i occupies stream
bits [b*i, b*i + b), and stream bit k lies in byte k // 8 at bit k % 8.  Eight
codes fill exactly b bytes, so the kernels move codes eight at a time, as one
little-endian word: a whole unaligned word where the array has the bytes
(:func:`load_word`, :func:`store_word`), byte by byte at the ends
(:func:`load_group`, :func:`store_group`).

>>> import numpy as np
>>> from mxspec._kernel import bitstream
>>> out = np.zeros(3, np.uint8)
>>> bitstream.pack_span(np.array([1, 2, 3, 4, 5], np.uint8), 0, 5, 4, out, 0)
>>> [hex(b) for b in out]
['0x21', '0x43', '0x5']
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import cache as _cache
from .jit import jit

_U = numba.uint64


@jit
def load_group(src, off, bits):
    """The ``bits`` bytes at ``src[off:]`` as a little-endian word: eight codes."""
    w = _U(0)
    for j in range(bits):
        w |= _U(src[off + j]) << _U(8 * j)
    return w


@jit
def store_group(dst, off, nbytes, w):
    """The low ``nbytes`` bytes of word ``w`` into ``dst[off:]``."""
    for j in range(nbytes):
        dst[off + j] = numba.uint8((w >> _U(8 * j)) & _U(0xFF))


@jit
def group_code(w, j, bits):
    """Code ``j`` (0..7) of a group word."""
    return (w >> _U(bits * j)) & _U((1 << bits) - 1)


@jit
def code_at(src, row_off, i, bits):
    """Code ``i`` of the stream that starts at byte ``row_off`` (any i; reads
    the byte after the code's first only when the code spans two)."""
    pos = i * bits
    b = row_off + (pos >> 3)
    off = pos & 7
    v = _U(src[b]) >> _U(off)
    if off + bits > 8:
        v |= _U(src[b + 1]) << _U(8 - off)
    return v & _U((1 << bits) - 1)


@intrinsic
def load_word(typingctx, arr, off, like):
    """The 4 or 8 bytes (the width of ``like``) at byte ``off`` of a uint8
    array, read as one little-endian word at any alignment."""
    sig = like(arr, off, like)

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        wt = context.get_value_type(signature.return_type)
        ptr = builder.bitcast(builder.gep(a.data, [args[1]]), wt.as_pointer())
        return builder.load(ptr, align=1)
    return sig, codegen


@intrinsic
def store_word(typingctx, arr, off, w):
    """Store the word ``w`` (4 or 8 bytes, little-endian) at byte ``off`` of a
    uint8 array, at any alignment."""
    sig = types.void(arr, off, w)

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(a.data, [args[1]]), args[2].type.as_pointer())
        builder.store(args[2], ptr, align=1)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic(prefer_literal=True)
def spread_group(typingctx, w, bits, dst, off):
    """The eight codes of the group word ``w`` (uint64) as int32 into
    ``dst[off:off+8]`` (an int32 array): the inverse of :func:`squeeze8`.

    Where ``bits`` is a compile-time constant this is one byte shuffle, one
    variable shift and one mask on an eight-lane vector (code j is the 16 bits
    from byte ``bits*j // 8`` shifted right by ``bits*j % 8``; ``bits`` <= 8
    keeps every code inside those 16 bits), so that the decode kernels read
    codes eight at a time with no per-code work; otherwise eight shifts."""
    if not (isinstance(w, types.Integer) and isinstance(bits, types.Integer)
            and isinstance(dst, types.Array) and dst.dtype == types.int32):
        return None
    b = bits.literal_value if isinstance(bits, types.IntegerLiteral) else None
    if b is not None and not 1 <= b <= 8:
        return None
    sig = types.void(w, bits, dst, off)

    def codegen(context, builder, signature, args):
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v8 = ir.VectorType(i32, 8)
        a = context.make_array(signature.args[2])(context, builder, args[2])
        word = builder.zext(args[0], i64) if args[0].type.width < 64 else args[0]
        if b is not None:
            src = builder.bitcast(word, ir.VectorType(i8, 8))
            zero = ir.Constant(ir.VectorType(i8, 8), [0] * 8)
            pick = []
            for j in range(8):
                o = (b * j) >> 3
                pick += [o, o + 1 if o + 1 < 8 else 8, 8, 8]  # 8: a zero byte
            lanes = builder.bitcast(
                builder.shuffle_vector(src, zero, ir.Constant(ir.VectorType(i32, 32), pick)), v8)
            lanes = builder.lshr(lanes, ir.Constant(v8, [(b * j) & 7 for j in range(8)]))
            lanes = builder.and_(lanes, ir.Constant(v8, [(1 << b) - 1] * 8))
        else:
            nb = builder.zext(args[1], i64) if args[1].type.width < 64 else args[1]
            mask = builder.sub(builder.shl(ir.Constant(i64, 1), nb), ir.Constant(i64, 1))
            lanes = ir.Constant(v8, ir.Undefined)
            for j in range(8):
                c = builder.and_(builder.lshr(word, builder.mul(nb, ir.Constant(i64, j))), mask)
                lanes = builder.insert_element(lanes, builder.trunc(c, i32), ir.Constant(i32, j))
        ptr = builder.bitcast(builder.gep(a.data, [args[3]]), v8.as_pointer())
        builder.store(lanes, ptr, align=4)
        return context.get_dummy_value()
    return sig, codegen


@jit
def squeeze8(w, bits):
    """Eight codes held one per byte of the uint64 ``w`` moved to bits
    [bits*j, bits*j + bits): keep each 16-bit lane's low byte and move its high
    byte down to sit right after it, then the same for 32-bit lanes of two
    codes, then for the two halves of four."""
    b = numba.int64(bits)
    w = (w & _U(0x00FF00FF00FF00FF)) | \
        ((w >> _U(8 - b)) & (_U(((1 << b) - 1) << b) * _U(0x0001000100010001)))
    w = (w & _U(0x0000FFFF0000FFFF)) | \
        ((w >> _U(16 - 2 * b)) & (_U(((1 << (2 * b)) - 1) << (2 * b)) * _U(0x0000000100000001)))
    return (w & _U(0xFFFFFFFF)) | ((w >> _U(32 - 4 * b)) & _U(((1 << (4 * b)) - 1) << (4 * b)))


@jit
def pack_span(codes, coff, n, bits, dst, doff):
    """Pack ``codes[coff:coff+n]`` (each below 2**bits) into ``dst`` from byte
    ``doff`` on (a code boundary on a byte), zero-padding a last partial byte.

    Eight codes (``bits`` bytes) at a time: read as one word, squeezed
    (:func:`squeeze8`) and stored as one word.  Where ``bits`` bytes are not a
    word (3, 5, 6, 7 bits) the store is 8 bytes wide and its spare top bytes
    are overwritten by the next group's; groups near the end, where a spill
    would leave the span, are stored byte by byte."""
    ng = n >> 3
    done = 0  # groups written as words
    if bits == 8:
        for i in range(n):
            dst[doff + i] = codes[coff + i]
        done = ng
    elif bits == 4 or bits == 2 or bits == 1:
        done = ng
        for g in range(ng):
            w = squeeze8(load_word(codes, coff + 8 * g, _U(0)), bits)
            if bits == 4:
                store_word(dst, doff + 4 * g, numba.uint32(w))
            elif bits == 2:
                store_word(dst, doff + 2 * g, numba.uint16(w))
            else:
                dst[doff + g] = numba.uint8(w)
    elif bits == 6:  # four groups (24 bytes) as three whole words: no overlapping stores
        done = ng & ~3
        for q in range(ng >> 2):
            c = coff + 32 * q
            s0 = squeeze8(load_word(codes, c, _U(0)), 6)
            s1 = squeeze8(load_word(codes, c + 8, _U(0)), 6)
            s2 = squeeze8(load_word(codes, c + 16, _U(0)), 6)
            s3 = squeeze8(load_word(codes, c + 24, _U(0)), 6)
            d = doff + 24 * q
            store_word(dst, d, s0 | (s1 << _U(48)))
            store_word(dst, d + 8, (s1 >> _U(16)) | (s2 << _U(32)))
            store_word(dst, d + 16, (s2 >> _U(32)) | (s3 << _U(16)))
    else:
        done = max(ng - 7 // bits, 0)
        for g in range(done):
            store_word(dst, doff + bits * g, squeeze8(load_word(codes, coff + 8 * g, _U(0)), bits))
    for i in range(8 * done, n, 8):
        m = min(8, n - i)
        w = _U(0)
        for j in range(m):
            w |= _U(codes[coff + i + j]) << _U(bits * j)
        store_group(dst, doff + (i * bits >> 3), (m * bits + 7) >> 3, w)


@jit
def unpack_span(src, soff, n, bits, out, ooff):
    """Inverse of :func:`pack_span`: ``n`` codes from byte ``soff`` of ``src``
    into ``out[ooff:ooff+n]``."""
    ng = n >> 3
    for g in range(ng):
        w = load_group(src, soff + g * bits, bits)
        for j in range(8):
            out[ooff + 8 * g + j] = group_code(w, j, bits)
    for i in range(8 * ng, n):
        out[ooff + i] = code_at(src, soff, i, bits)


# The same packer inlined into its caller, where the code width is a constant
# (the large-array encode kernels): its branches and loops fold with it.
pack_span_inline = numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy",
                              inline="always")(pack_span.py_func)
