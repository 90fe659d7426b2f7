"""Checkpoint layouts that published models use, read and written bit for bit
(SPEC.md 9.6, docs/layouts.md):

- ``gpt-oss``: MXFP4 as ``<name>.blocks`` (uint8, (..., n_blocks, 16), two E2M1
  codes per byte, first in the low nibble) and ``<name>.scales`` (uint8 E8M0,
  (..., n_blocks)); ``gpt-oss-hf`` is the same with ``_blocks`` / ``_scales``;
- ``modelopt``: NVIDIA ModelOpt's NVFP4 export: ``<layer>.weight`` (uint8,
  (N, K/2)), ``<layer>.weight_scale`` (float8_e4m3fn, (N, K/16)),
  ``<layer>.weight_scale_2`` (float32 scalar);
- ``compressed-tensors``: NVFP4 as ``<layer>.weight_packed`` (uint8, (N, K/2)),
  ``<layer>.weight_scale`` (float8_e4m3fn, (N, K/16)),
  ``<layer>.weight_global_scale`` (float32, (1,), a multiplier); integer
  groups (``pack-quantized``, SPEC.md 12.4) as ``<layer>.weight_packed`` (int32,
  (N, ceil(K b / 32))), ``<layer>.weight_scale`` (the weight's float dtype, (N,
  K / group)), ``<layer>.weight_zero_point`` (int32, (ceil(N b / 32), K / group),
  asymmetric only) and ``<layer>.weight_shape`` (int64, [N, K]).

``mxspec.load`` tells the layout from the names and dtypes (:func:`layout_of`);
``mxspec.save(..., layout=...)`` writes any of them.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

from ..block.api import pack as _pack
from ..block.api import unpack as _unpack
from ..block.array import BlockArray
from ..block.bits import pack_codes, unpack_codes
from ..tables.block import block_format, mx_format
from .files import META_KEY, LayoutError, write_file

__all__ = ["LAYOUTS", "LayoutError", "layout_of", "read_layout", "write_layout"]

LAYOUTS = ("mxspec", "gpt-oss", "gpt-oss-hf", "modelopt", "compressed-tensors")
_GPT = {"gpt-oss": (".blocks", ".scales"), "gpt-oss-hf": ("_blocks", "_scales")}


def layout_of(raw: dict, md: dict) -> str:
    """The layout whose names the tensors carry; "plain" when none (only arrays)."""
    if META_KEY in md:
        return "mxspec"
    names = set(raw)
    if any(n.endswith("weight_global_scale") for n in names) or any(
            n.endswith("weight_shape") and raw.get(n[:-len("shape")] + "packed") is not None
            and raw[n[:-len("shape")] + "packed"].dtype == np.int32 for n in names):
        return "compressed-tensors"
    if any(n.endswith("weight_scale_2") for n in names):
        return "modelopt"
    for lay, (b, s) in _GPT.items():
        if any(n.endswith(b) and n[:-len(b)] + s in names for n in names):
            return lay
    # names that belong to a layout whose other parts are missing: say so
    for b, s in _GPT.values():
        for n in names:
            if n.endswith(b) or n.endswith(s):
                part = n[:-len(b)] + s if n.endswith(b) else n[:-len(s)] + b
                raise LayoutError(f"cannot tell the layout: {n!r} looks like a gpt-oss MXFP4 "
                                  f"part, but {part!r} is missing")
    for n in names:
        packed = raw.get(n[:-len("shape")] + "packed") if n.endswith("weight_shape") else None
        if packed is not None and packed.dtype != np.uint8:
            raise LayoutError(f"cannot tell the layout: {n!r} sits beside "
                              f"{n[:-len('shape')] + 'packed'!r} of dtype {packed.dtype}; "
                              f"compressed-tensors' pack-quantized words are int32")
        if n.endswith("weight_scale") and raw[n].dtype == np.dtype(ml_dtypes.float8_e4m3fn):
            raise LayoutError(f"cannot tell the layout: {n!r} is an FP8 block scale, but "
                              f"neither {n + '_2'!r} (ModelOpt) nor "
                              f"{n[:-len('weight_scale')] + 'weight_global_scale'!r} "
                              f"(compressed-tensors) is there")
    return "plain"


def _need(path, raw, key, dtype, what):
    if key not in raw:
        raise LayoutError(f"{path}: {what} needs the tensor {key!r}, which is missing")
    a = raw[key]
    if a.dtype != np.dtype(dtype):
        raise LayoutError(f"{path}: {key} must be {np.dtype(dtype)}, got {a.dtype}")
    return a


def _nvfp4(path, raw, prefix, packed_key, ts_key, recipe, out):
    what = f"the NVFP4 tensor {prefix + 'weight'!r}"
    w = _need(path, raw, packed_key, np.uint8, what)
    s = _need(path, raw, prefix + "weight_scale", ml_dtypes.float8_e4m3fn, what)
    ts = _need(path, raw, ts_key, np.float32, what)
    if w.ndim < 1:
        raise LayoutError(f"{path}: {packed_key} is a scalar; an NVFP4 weight has at least one "
                          f"axis (packed codes, two per byte)")
    if s.shape != w.shape[:-1] + (w.shape[-1] * 2 // 16,) or \
            (w.shape[-1] * 2) % 16:
        raise LayoutError(f"{path}: {prefix}weight_scale has shape {s.shape}; packed weight "
                          f"{packed_key} of shape {w.shape} holds {w.shape[-1] * 2} values "
                          f"per row and needs scales of shape "
                          f"{w.shape[:-1] + (w.shape[-1] * 2 // 16,)}")
    if ts.size != 1:
        raise LayoutError(f"{path}: {ts_key} must hold one float32, got shape {ts.shape}")
    codes = unpack_codes(w, 4, w.shape[-1] * 2)
    out[prefix + "weight"] = BlockArray(codes, s.view(np.uint8).copy(),
                                     block_format("nvfp4", recipe), 16, codes.ndim - 1,
                                     np.float32(ts.reshape(())))
    for k in (packed_key, prefix + "weight_scale", ts_key):
        raw.pop(k)


_INT_SCALE = {np.dtype(np.float16): "float16", np.dtype(ml_dtypes.bfloat16): "bfloat16",
              np.dtype(np.float32): "float32"}


def _int_groups(path, raw, prefix, out):
    """compressed-tensors' pack-quantized weight ``prefix + 'weight'`` as an
    integer-group BlockArray (its compressed_tensors recipe: decode as
    compressed-tensors decompresses it)."""
    what = f"the pack-quantized tensor {prefix + 'weight'!r}"
    shp = raw[prefix + "weight_shape"]
    w = _need(path, raw, prefix + "weight_packed", np.int32, what)
    if prefix + "weight_scale" not in raw:
        raise LayoutError(f"{path}: {what} needs the tensor {prefix + 'weight_scale'!r}, which "
                          f"is missing")
    sc = raw[prefix + "weight_scale"]
    if sc.dtype not in _INT_SCALE:
        raise LayoutError(f"{path}: {prefix}weight_scale must be float16, bfloat16 or float32, "
                          f"got {sc.dtype}")
    if not np.issubdtype(shp.dtype, np.integer) or shp.ndim != 1 or shp.size != w.ndim:
        raise LayoutError(f"{path}: {prefix}weight_shape must list the weight's {w.ndim} "
                          f"dimensions, got {shp.tolist()}")
    shape = tuple(int(d) for d in shp)
    K = shape[-1]
    if sc.ndim != w.ndim or sc.shape[:-1] != shape[:-1] or not sc.shape[-1] or \
            K % sc.shape[-1]:
        raise LayoutError(f"{path}: {prefix}weight_scale has shape {sc.shape}; a weight of "
                          f"shape {shape} in whole groups needs {shape[:-1]} + (K / group,)")
    group = K // sc.shape[-1]
    bits = [b for b in range(2, 9) if -(-K * b // 32) == w.shape[-1]]
    if w.shape[:-1] != shape[:-1] or not bits:
        raise LayoutError(f"{path}: {prefix}weight_packed has shape {w.shape}; no code width "
                          f"2..8 packs a weight of shape {shape} into it")
    if len(bits) > 1:
        raise LayoutError(f"{path}: {prefix}weight_packed's {w.shape[-1]} words a row hold "
                          f"{K} codes of any of {bits} bits; the file does not say which")
    zp_key = prefix + "weight_zero_point"
    zp = raw.get(zp_key)
    if zp is not None and zp.dtype != np.int32:
        raise LayoutError(f"{path}: {zp_key} must be int32 (packed zero points), got {zp.dtype}")
    kind = "zero_point" if zp is not None else "symmetric"
    f = block_format(f"bf(int{bits[0]},{_INT_SCALE[sc.dtype]},{group},{kind})",
                     "compressed_tensors")
    try:
        out[prefix + "weight"] = _unpack(w, (sc, zp), f, shape, layout="compressed-tensors")
    except (ValueError, TypeError) as e:
        raise LayoutError(f"{path}: {what}: {e}") from None
    for k in ("weight_packed", "weight_scale", "weight_shape", "weight_zero_point"):
        raw.pop(prefix + k, None)


def read_layout(path, raw, md, layout):
    """name -> BlockArray or array for a file in a published layout."""
    out = {}
    raw = dict(raw)
    if layout == "compressed-tensors":
        for name in sorted(n for n in raw if n.endswith("weight_shape")):
            prefix = name[:-len("weight_shape")]
            packed = raw.get(prefix + "weight_packed")
            if packed is not None and packed.dtype == np.int32:
                _int_groups(path, raw, prefix, out)
    if layout in ("modelopt", "compressed-tensors"):
        suffix = "weight_scale_2" if layout == "modelopt" else "weight_global_scale"
        for name in sorted(n for n in raw if n.endswith(suffix)):
            prefix = name[:-len(suffix)]
            if layout == "modelopt":
                _nvfp4(path, raw, prefix, prefix + "weight", name, "modelopt", out)
            else:
                _nvfp4(path, raw, prefix, prefix + "weight_packed", name, "compressed_tensors",
                       out)
    elif layout in _GPT:
        b, s = _GPT[layout]
        for name in sorted(n for n in raw if n.endswith(b)):
            base = name[:-len(b)]
            what = f"the MXFP4 tensor {base!r}"
            blocks = _need(path, raw, name, np.uint8, what)
            scales = _need(path, raw, base + s, np.uint8, what)
            if blocks.ndim < 2 or blocks.shape[-1] != 16 or scales.shape != blocks.shape[:-1]:
                raise LayoutError(f"{path}: {name} has shape {blocks.shape} and {base + s} "
                                  f"{scales.shape}; {layout} needs (..., n_blocks, 16) and "
                                  f"(..., n_blocks)")
            rows = blocks.reshape(blocks.shape[:-2] + (-1,))
            codes = unpack_codes(rows, 4, rows.shape[-1] * 2)
            out[base] = BlockArray(codes, scales.copy(), mx_format("mxfp4_e2m1"), 32,
                                codes.ndim - 1)
            raw.pop(name)
            raw.pop(base + s)
    out.update(raw)
    return out


def _check_last_axis(name, mx, fmt_ok, block, what):
    if not isinstance(mx, BlockArray) or not fmt_ok(mx.format):
        raise LayoutError(f"tensor {name!r}: the {what} layout stores "
                          f"{'MXFP4 (mxfp4_e2m1)' if block == 32 else 'NVFP4'} arrays only, "
                          f"got {getattr(mx, 'format', type(mx).__name__)}")
    L = mx.shape[-1]
    if mx.axis != mx.codes.ndim - 1 or mx.block_size != block or L % block:
        raise LayoutError(f"tensor {name!r}: the {what} layout needs blocks of {block} along "
                          f"the last axis and a last axis that is a multiple of {block}; got "
                          f"blocks of {mx.block_size} along axis {mx.axis}, shape {mx.shape}")


def write_layout(path, tensors: dict, layout: str, metadata=None):
    """Write name -> BlockArray (and plain arrays) in a published layout."""
    out = {}

    def put(key, arr):
        if key in out:
            raise LayoutError(f"tensor name {key!r} is used twice")
        out[key] = np.array(arr, order="C")  # (ascontiguousarray would make a 0-d array 1-d)

    for name, t in tensors.items():
        if not isinstance(t, BlockArray):
            put(name, np.asarray(t))
            continue
        if layout == "compressed-tensors" and t.format.engine == "affine":
            if not name.endswith("weight"):
                raise LayoutError(f"tensor {name!r}: the {layout} layout names a pack-quantized "
                                  f"tensor '<layer>.weight'")
            if t.axis != t.codes.ndim - 1 or t.codes.ndim < 2:
                raise LayoutError(f"tensor {name!r}: pack-quantized weights are grouped along "
                                  f"their last axis and have at least two; got shape "
                                  f"{t.shape} grouped along axis {t.axis}")
            prefix = name[:-len("weight")]
            try:
                packed, (sc, zp) = _pack(t, "compressed-tensors")
            except ValueError as e:
                raise LayoutError(f"tensor {name!r}: {e}") from None
            put(prefix + "weight_packed", packed)
            put(prefix + "weight_scale", sc)
            if zp is not None:
                put(prefix + "weight_zero_point", zp)
            put(prefix + "weight_shape", np.array(t.shape, np.int64))
            continue
        if layout in _GPT:
            _check_last_axis(name, t, lambda f: f.engine == "mx" and
                             f.element.name == "fp4_e2m1", 32, layout)
            packed = pack_codes(t.codes, 4)
            b, s = _GPT[layout]
            put(name + b, packed.reshape(packed.shape[:-1] + (-1, 16)))
            put(name + s, t.scales)
            continue
        rule = "divisor" if layout == "modelopt" else "multiplier"
        _check_last_axis(name, t, lambda f: f.engine == "scaled" and f.tensor_scale and
                         f.element.name == "fp4_e2m1" and f.recipe.tensor == rule, 16, layout)
        if not name.endswith("weight"):
            raise LayoutError(f"tensor {name!r}: the {layout} layout names an NVFP4 tensor "
                              f"'<layer>.weight'")
        prefix = name[:-len("weight")]
        packed = pack_codes(t.codes, 4)
        put(prefix + ("weight" if layout == "modelopt" else "weight_packed"), packed)
        put(prefix + "weight_scale", t.scales.view(ml_dtypes.float8_e4m3fn))
        ts = np.float32(t.tensor_scale)
        put(prefix + ("weight_scale_2" if layout == "modelopt" else "weight_global_scale"),
            np.array(ts) if layout == "modelopt" else np.array([ts], np.float32))
    write_file(path, out, {str(k): str(v) for k, v in (metadata or {}).items()} or None)
