"""The one dispatch of the block layer: every public block function looks up
the format's row (:func:`mxspec.block_format`) and hands the work to that
row's engine (``mx``, ``scaled`` or ``micro``).  Nothing else dispatches on a
format's family; where storage or arithmetic differ (a checkpoint's units, a dot
product's operands), compute and I/O read what the row holds.

Packed data is (element data, scales) for every format: the element codes
packed along the blocked axis (moved last), and the scales of each level, one
array for a format with one level, a tuple outermost first where there are
more (NVFP4: ``(tensor_scale, block_scales)``), None where the scales live
inside the units (the micro-exponent formats, SPEC.md 11.2).  So
``decode_packed(*encode_packed(x, f), f, x.shape)`` is ``decode(encode(x, f))``.

>>> import numpy as np, mxspec
>>> x = np.float32([0.5, -1.0, 3.0, 6.0] * 4)
>>> data, (ts, bs) = mxspec.encode_packed(x, "nvfp4")
>>> data.shape, bs.tolist(), float(ts) == float(np.float32(6 / 2688))
((8,), [126], True)
>>> bool((mxspec.decode_packed(data, (ts, bs), "nvfp4", x.shape) == mxspec.decode(mxspec.encode(x, "nvfp4"))).all())
True
"""
from __future__ import annotations

import numpy as np

from ..tables.block import BlockFormat, block_format
from ..tables.transforms import rht_spec
from . import affine, micro, mx, scaled, words
from .rht import transform_for_encode
from .array import (_METHODS, BlockArray, _check_block_size, _norm_axis, check_shape,
                    check_tensor_scale, out_dtype)
from .bits import (GGUF_BLOCK, GGUF_BLOCK_BYTES, gguf_pack, gguf_unpack, pack_codes,
                   packed_row_bytes, padding_is_zero, unpack_codes)
from ..codec.inputs import check_codes

__all__ = ["encode", "decode", "encode_packed", "decode_packed", "pack", "unpack", "engine"]

ENGINES = {"mx": mx, "scaled": scaled, "micro": micro, "affine": affine}
_FIXED_BY = {"scaled": "its recipe fixes the element and scale rounding (SPEC.md 9.2)",
             "micro": "its row fixes the rounding: ties away, saturating (SPEC.md 11)",
             "affine": "its recipe fixes the scale, zero point and code rounding (SPEC.md 12.2)"}


def engine(fmt, recipe=None):
    """(the format's row, the engine module that runs it)."""
    f = block_format(fmt, recipe)
    return f, ENGINES[f.engine]


def _policies(f: BlockFormat, eng, given: dict) -> dict:
    """The engine's policies with the caller's given ones (None: the default);
    a policy the engine does not take is refused, by name."""
    pol = dict(eng.POLICIES)
    fixed = f.recipe.policies if f.engine == "mx" and f.recipe is not None else {}
    for key, value in given.items():
        if value is None:
            continue
        if key not in pol:
            raise ValueError(f"{key}={value!r}: {f.name} takes no {key}= ({_FIXED_BY[f.engine]})"
                             + (f"; the policies it takes: {', '.join(pol)}" if pol else ""))
        if key in fixed and value != fixed[key]:
            raise ValueError(f"{key}={value!r}: recipe {f.recipe.name!r} fixes {key}="
                             f"{fixed[key]!r} (SPEC.md 4.5); drop the recipe to choose "
                             f"{key}= yourself")
        pol[key] = value
    pol.update(fixed)
    return pol


def _block_size(f: BlockFormat, block_size):
    return f.block_size if block_size is None else _check_block_size(block_size)


def encode(x, fmt, axis: int = -1, block_size: int | None = None, *, rounding=None,
           scale_rule=None, overflow=None, nan=None, int_range=None, zero_scale=None, inf=None,
           seed=None, rbits=None, recipe: str | None = None, g_idx=None,
           rht=None, rbits_layout=None) -> BlockArray:
    """Encode ``x`` in the block format ``fmt`` (any family: :func:`mxspec.block_formats`)
    in blocks along ``axis`` (a last, shorter block takes the remainder).

    MX formats take blocks of ``block_size`` (32 unless given) and the policies
    (keywords; each default is the spec's reading): ``rounding`` rne, and
    rtz/rna/up/down/stochastic (with ``seed`` or ``rbits``, in C order of x, and
    ``rbits_layout`` as :func:`mxspec.encode_elements`: "cvt_rs" takes PTX's
    cvt.rs word per four values, SPEC.md 2.3.1);
    ``scale_rule`` floor (OCP v1.0), ceil, even or torchao_ceil (SPEC.md 4.2); ``overflow``, ``nan`` and
    ``int_range`` as :func:`mxspec.encode_elements`; ``zero_scale`` (the scale of
    an all-zero block) min (2^-127) or one; ``inf`` nan_scale (an Inf makes its
    block's scale NaN) or element.  The NVFP4 family (``nvfp4``,
    ``nvfp4:modelopt``; SPEC.md 9) takes a ``recipe`` and no policies; the
    micro-exponent formats (``mx6``, ``hif4``; SPEC.md 11) neither.  An MX
    ``recipe`` (``"gguf"``: gguf-py's and llama.cpp's MXFP4, SPEC.md 4.5; also
    spelled ``"mxfp4_e2m1:gguf"``) fixes the policies together.  Integer groups
    (``int4_g128``, ``bf(int4,bfloat16,128,zero_point)``; SPEC.md 12) take a
    recipe (``exact``, ``compressed_tensors``) and ``g_idx``: each element's
    group along the blocked axis (GPTQ's act-order; None: element k is in group
    k // block_size).  ``rht``: a random Hadamard transform applied along ``axis``
    before encoding (SPEC.md 13.2): ``"te"`` or True (Transformer Engine's and
    fouroversix's: 16 values, their signs, bfloat16), a dict of :func:`mxspec.rht`'s
    ``size``/``signs``/``dtype``, or None (none); the result's ``rht`` names it,
    and its values are the transformed ones.

    >>> encode(np.float32([1e-40, 3e-40]), "mxint8").scales.tolist()  # subnormals, exact
    [0]
    >>> a = encode(np.float32([0, 0, 0, 4.0] + [0] * 12), "nvfp4", rht="te")
    >>> a.rht.name, decode(a)[:4].tolist()  # 4 x row 3: TE's sign -1 times H's row 3 / 4
    ('te', [-1.0, 1.0, 1.0, -1.0])
    >>> encode(np.float32([1.0] * 16), "nvfp4", rounding="rtz")
    Traceback (most recent call last):
    ...
    ValueError: rounding='rtz': nvfp4 takes no rounding= (its recipe fixes the element and scale rounding (SPEC.md 9.2))
    """
    f, eng = engine(fmt, recipe)
    pol = _policies(f, eng, dict(rounding=rounding, scale_rule=scale_rule, overflow=overflow,
                                 nan=nan, int_range=int_range, zero_scale=zero_scale, inf=inf,
                                 seed=seed, rbits=rbits, rbits_layout=rbits_layout))
    if g_idx is not None and f.engine != "affine":
        raise ValueError(f"g_idx=: {f.name} is a {f.engine} format; only integer groups "
                         f"(SPEC.md 12) take a g_idx")
    spec = rht_spec(rht)
    if spec is not None:
        x = transform_for_encode(x, spec, axis)
    if f.engine == "micro":
        out = eng.encode(x, f, axis, block_size, pol)
    elif f.engine == "affine":
        out = eng.encode(x, f, axis, _block_size(f, block_size), pol, g_idx)
    else:
        out = eng.encode(x, f, axis, _block_size(f, block_size), pol)
    if spec is not None:
        object.__setattr__(out, "rht", spec)  # a fresh record: nothing else holds it yet
    return out


def decode(mx: BlockArray, dtype=None, out=None) -> np.ndarray:
    """The values of a :class:`BlockArray`, as its format's engine computes them
    (MX: element x 2^(scale-127), NaN for a block whose scale is 0xFF; SPEC.md
    4, 9, 11).  float64 is exact; float32 (the default) is the exact value
    rounded once to nearest-even.  ``out``, an array of the values' shape and
    dtype float32 or float64, receives them and is returned.

    >>> a = encode(np.float32([1.5, -40.0]), "mxint8", block_size=2)
    >>> decode(a, out=np.empty(2, np.float64)).tolist()
    [1.5, -40.0]
    """
    if not isinstance(mx, BlockArray):
        raise TypeError(f"mx must be a BlockArray (mxspec.encode's result), got "
                        f"{type(mx).__name__}")
    dtype = out_dtype(dtype, out, mx.shape, [("mx.codes", mx.codes), ("mx.scales", mx.scales)]
                      + [(f"mx.micro[{i}]", b) for i, b in enumerate(mx.micro)])
    return ENGINES[mx.format.engine].decode(mx, dtype, out)


LAYOUTS = ("mxspec", "gguf") + words.WORD_LAYOUTS


def _check_layout(layout, f: BlockFormat, bs=None, L=None):
    """Refuse a packing ``layout`` that is not one of LAYOUTS or does not fit the format."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not valid; allowed values: {', '.join(LAYOUTS)}")
    if (layout in words.WORD_LAYOUTS) != (f.engine == "affine") and layout != "mxspec":
        raise ValueError(f"layout={layout!r} holds integer groups (int4_g128, ...), not "
                         f"{f.name}")
    if layout == "gguf":
        if f.engine != "mx" or f.element.name != "fp4_e2m1":
            raise ValueError(f"layout='gguf' is ggml's block_mxfp4: it holds mxfp4_e2m1 "
                             f"(any recipe), not {f.name}")
        if bs is not None and bs != GGUF_BLOCK:
            raise ValueError(f"layout='gguf' holds blocks of {GGUF_BLOCK}, not {bs}")
        if L is not None and L % GGUF_BLOCK:
            raise ValueError(f"layout='gguf' holds whole blocks: the blocked axis has {L} "
                             f"elements, not a multiple of {GGUF_BLOCK}")


def pack(mx: BlockArray, layout: str = "mxspec"):
    """What :func:`encode_packed` returns for the same values: (element data,
    scales) with the blocked axis moved last; see the module's text.
    ``layout="gguf"`` (MXFP4 in blocks of 32): (ggml's ``block_mxfp4`` bytes,
    17 a block with the scale byte first, None; SPEC.md 4.5).  Integer groups
    give (codes, (scales, zero points or None, g_idx or None)), or int32 words
    in ``layout`` "compressed-tensors", "gptq" or "awq" (SPEC.md 12.4).

    >>> data, scales = pack(encode(np.array([1.0, 2.0, 3.0]), "mxfp4_e2m1"))
    >>> [hex(b) for b in data], scales.tolist()
    (['0x64', '0x7'], [126])
    """
    if not isinstance(mx, BlockArray):
        raise TypeError(f"mx must be a BlockArray, got {type(mx).__name__}")
    f = mx.format
    _check_layout(layout, f, mx.block_size, mx.shape[mx.axis] if mx.shape else 0)
    if layout == "gguf":
        return gguf_pack(np.moveaxis(mx.codes, mx.axis, -1),
                         np.moveaxis(mx.scales, mx.axis, -1)), None
    if layout in words.WORD_LAYOUTS:
        return words.pack(mx, layout)
    if f.engine == "affine":
        back = (lambda t: None if t is None else np.ascontiguousarray(np.moveaxis(t, mx.axis, -1)))
        return (pack_codes(np.moveaxis(mx.codes, mx.axis, -1), f.element.bits),
                (back(mx.scales), back(mx.zero_points), mx.g_idx))
    if f.engine == "micro":
        return micro.pack(mx), None
    codes = np.moveaxis(mx.codes, mx.axis, -1)
    scales = np.ascontiguousarray(np.moveaxis(mx.scales, mx.axis, -1))
    return pack_codes(codes, f.element.bits), _levels(f, mx.tensor_scale, scales)


def _levels(f, tensor_scale, scales):
    return (np.float32(tensor_scale), scales) if f.tensor_scale else scales


def encode_packed(x, fmt, axis: int = -1, block_size: int | None = None, *, rounding=None,
                  scale_rule=None, overflow=None, nan=None, int_range=None, zero_scale=None,
                  inf=None, seed=None, rbits=None, recipe: str | None = None,
                  layout: str = "mxspec", g_idx=None, rht=None, rbits_layout=None):
    """``pack(encode(x, fmt, ...), layout)``, in one pass where the engine has one
    (MX): the (element data, scales) that hardware and checkpoints use.
    Arguments as :func:`encode` and :func:`pack` (the packed data do not record
    ``rht``: they hold the transformed values).

    >>> data, scales = encode_packed(np.array([1.0, 2.0, 3.0]), "mxfp4_e2m1")
    >>> [hex(b) for b in data], scales.tolist()
    (['0x64', '0x7'], [126])
    """
    given = dict(rounding=rounding, scale_rule=scale_rule, overflow=overflow, nan=nan,
                 int_range=int_range, zero_scale=zero_scale, inf=inf, seed=seed, rbits=rbits,
                 rbits_layout=rbits_layout)
    f, eng = engine(fmt, recipe)
    _check_layout(layout, f, _block_size(f, block_size) if f.engine == "mx" else None)
    spec = rht_spec(rht)
    if spec is not None:
        x = transform_for_encode(x, spec, axis)
    if f.engine != "mx" or layout != "mxspec":
        return pack(encode(x, f, axis, block_size, **given, g_idx=g_idx), layout)
    return eng.encode_packed(x, f, axis, _block_size(f, block_size), _policies(f, eng, given))


def _layout(data, scales, f, shape, axis, block_size):
    """Check packed-layout arrays against a format, shape, axis and block size:
    (data, block scales, tensor scale, moved shape, axis, block size)."""
    shape = check_shape(shape)
    if not shape:
        raise ValueError("shape must have at least one dimension")
    ax = _norm_axis(axis, len(shape))
    bs = _block_size(f, block_size)
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    L = moved[-1]
    ts = None
    if f.tensor_scale:
        if not isinstance(scales, (tuple, list)) or len(scales) != 2:
            raise ValueError(f"scales must be (tensor_scale, block_scales) for {f.name} (its "
                             f"levels outermost first, as encode_packed gives them), got "
                             f"{type(scales).__name__}")
        ts, scales = check_tensor_scale(scales[0], "scales[0] (the tensor scale)"), scales[1]
    elif isinstance(scales, (tuple, list)):
        raise ValueError(f"{f.name} has one level of scales: pass its array, not a "
                         f"{type(scales).__name__}")
    p, s = np.asarray(data), np.asarray(scales)
    s_dtype = np.float32 if f.scale_kind == "float32" else np.uint8
    for name, arr, want in (("packed", p, np.uint8), ("scales", s, s_dtype)):
        if arr.dtype != want:
            raise TypeError(f"{name} must be {np.dtype(want)}, got {arr.dtype}")
    want_p = moved[:-1] + (packed_row_bytes(L, f.element.bits),)
    if p.shape != want_p:
        raise ValueError(f"packed has shape {p.shape}; {f.name} codes of shape {shape} along "
                         f"axis {ax} pack to {want_p}")
    want_s = moved[:-1] + (-(-L // bs),)
    if s.shape != want_s:
        raise ValueError(f"scales have shape {s.shape}; {shape} in blocks of {bs} along axis "
                         f"{ax} needs {want_s}")
    return p, s, ts, moved, ax, bs


def unpack(data, scales, fmt, shape, axis: int = -1, block_size: int | None = None,
           layout: str = "mxspec", g_idx=None) -> BlockArray:
    """Rebuild a :class:`BlockArray` of ``shape`` from :func:`pack`'s output,
    checking every size against the format, shape and block size (an MX
    format's is 32 unless given; the others' are their own) and ``layout``.
    ``g_idx``: integer groups in the compressed-tensors or awq layouts, whose
    packed form has none (mxspec's and gptq's carry theirs)."""
    f = block_format(fmt)
    if layout == "gguf":
        return _unpack_gguf(data, scales, f, shape, axis, block_size)
    _check_layout(layout, f)
    if f.engine == "affine":
        return _unpack_affine(data, scales, f, shape, axis, block_size, layout, g_idx)
    if g_idx is not None:
        raise ValueError(f"g_idx=: {f.name} is a {f.engine} format; only integer groups take one")
    if f.engine == "micro":
        if scales is not None:
            raise ValueError(f"{f.name}: the scales are inside the packed units; pass "
                             f"scales=None")
        return micro.unpack(data, f, shape, axis)
    p, s, ts, moved, ax, bs = _layout(data, scales, f, shape, axis, block_size)
    codes = unpack_codes(p, f.element.bits, moved[-1])
    check_codes(codes, f.element, "packed codes")
    if f.scale is not None and f.engine != "mx":
        check_codes(s, f.scale, "scales")
    return BlockArray(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                      np.ascontiguousarray(np.moveaxis(s, -1, ax)), f, bs, ax, ts)


def _unpack_affine(data, scales, f, shape, axis, block_size, layout, g_idx):
    bs = _block_size(f, block_size)
    if layout != "mxspec":
        return words.unpack(data, scales, f, shape, axis, bs, layout, g_idx)
    if not isinstance(scales, (tuple, list)) or len(scales) != 3:
        raise ValueError(f"scales must be (scales, zero points or None, g_idx or None) for "
                         f"{f.name}, as pack gives them; got {type(scales).__name__}")
    if g_idx is not None and scales[2] is not None:
        raise ValueError("g_idx is given twice: in scales[2] and as g_idx=")
    shape = check_shape(shape)
    if not shape:
        raise ValueError("shape must have at least one dimension")
    ax = _norm_axis(axis, len(shape))
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    p = np.asarray(data)
    if p.dtype != np.uint8:
        raise TypeError(f"packed must be uint8, got {p.dtype}")
    want = moved[:-1] + (packed_row_bytes(moved[-1], f.element.bits),)
    if p.shape != want:
        raise ValueError(f"packed has shape {p.shape}; {f.name} codes of shape {shape} along "
                         f"axis {ax} pack to {want}")
    if not padding_is_zero(p, moved[-1], f.element.bits):
        raise ValueError("packed rows have nonzero padding bits after their last code: the "
                         "data is not a packing of this shape and format")
    codes = unpack_codes(p, f.element.bits, moved[-1])
    fwd = (lambda t: None if t is None else np.ascontiguousarray(np.moveaxis(np.asarray(t), -1, ax)))
    return BlockArray(fwd(codes), fwd(scales[0]), f, bs, ax, zero_points=fwd(scales[1]),
                      g_idx=scales[2] if g_idx is None else g_idx)


def _unpack_gguf(data, scales, f, shape, axis, block_size):
    shape = check_shape(shape)
    if not shape:
        raise ValueError("shape must have at least one dimension")
    ax = _norm_axis(axis, len(shape))
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    _check_layout("gguf", f, _block_size(f, block_size), moved[-1])
    if scales is not None:
        raise ValueError("layout='gguf': the scale bytes are inside the blocks; pass scales=None")
    p = np.asarray(data)
    if p.dtype != np.uint8:
        raise TypeError(f"packed must be uint8, got {p.dtype}")
    want = moved[:-1] + (moved[-1] // GGUF_BLOCK * GGUF_BLOCK_BYTES,)
    if p.shape != want:
        raise ValueError(f"packed has shape {p.shape}; {f.name} of shape {shape} along axis "
                         f"{ax} is {want} in ggml's block_mxfp4 bytes")
    codes, s = gguf_unpack(p)
    return BlockArray(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                      np.ascontiguousarray(np.moveaxis(s, -1, ax)), f, GGUF_BLOCK, ax)


def decode_packed(data, scales, fmt, shape, axis: int = -1, block_size: int | None = None,
                  dtype=None, out=None, layout: str = "mxspec", g_idx=None) -> np.ndarray:
    """``decode(unpack(data, scales, ...))``, in one pass where the engine has
    one (MX): the values of packed data of ``shape``, every size checked as
    :func:`unpack` checks it.  ``dtype`` and ``out`` as :func:`decode`.

    >>> decode_packed(np.uint8([0x64, 0x07]), np.uint8([126]), "mxfp4_e2m1", (3,)).tolist()
    [1.0, 2.0, 3.0]
    """
    f = block_format(fmt)
    if f.engine != "mx" or layout != "mxspec":
        return decode(unpack(data, scales, f, shape, axis, block_size, layout, g_idx), dtype, out)
    p, s, _, moved, ax, bs = _layout(data, scales, f, shape, axis, block_size)
    dtype = out_dtype(dtype, out, shape, (("packed", data), ("scales", scales)))
    if not padding_is_zero(p, moved[-1], f.element.bits):
        raise ValueError("packed rows have nonzero padding bits after their last code: "
                         "the data is not a packing of this shape and format")
    return mx.decode_packed(p, s, f, moved[-1], ax, bs, dtype, out)


_METHODS.update(decode=decode, pack=pack)
