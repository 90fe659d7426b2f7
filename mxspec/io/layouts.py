"""Checkpoint layouts that published models use, read and written bit for bit
(SPEC.md 9.6, docs/layouts.md):

- ``gpt-oss``: MXFP4 as ``<name>.blocks`` (uint8, (..., n_blocks, 16), two E2M1
  codes per byte, first in the low nibble) and ``<name>.scales`` (uint8 E8M0,
  (..., n_blocks)); ``gpt-oss-hf`` is the same with ``_blocks`` / ``_scales``;
- ``modelopt``: NVIDIA ModelOpt's NVFP4 export: ``<layer>.weight`` (uint8,
  (N, K/2)), ``<layer>.weight_scale`` (float8_e4m3fn, (N, K/16)),
  ``<layer>.weight_scale_2`` (float32 scalar);
- ``compressed-tensors``: ``<layer>.weight_packed`` (uint8, (N, K/2)),
  ``<layer>.weight_scale`` (float8_e4m3fn, (N, K/16)),
  ``<layer>.weight_global_scale`` (float32, (1,), a multiplier).

``mxspec.load`` tells the layout from the names and dtypes (:func:`layout_of`);
``mxspec.save(..., layout=...)`` writes any of them.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

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
    if any(n.endswith("weight_global_scale") for n in names):
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


def read_layout(path, raw, md, layout):
    """name -> BlockArray or array for a file in a published layout."""
    out = {}
    raw = dict(raw)
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
