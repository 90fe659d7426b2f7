"""Save and load MX tensors with safetensors (SPEC.md section 6).

An MX tensor ``name`` is stored as two uint8 tensors, as published MXFP4
checkpoints do:

- ``name.blocks``: packed codes, blocked axis last, shape
  ``(..., n_blocks, block_bytes)`` when every block fills whole bytes, else
  ``(..., row_bytes)``;
- ``name.scales``: E8M0 codes, shape ``(..., n_blocks)``.

The safetensors metadata key ``"mxspec"`` holds JSON: format, shape, axis,
block size and layout per tensor.  Loading parses only that JSON (no pickle,
no code), and checks every shape, dtype and format before it returns.

>>> import numpy as np, tempfile, os, mxspec
>>> mx = mxspec.encode(np.linspace(-1, 1, 64, dtype=np.float32), "mxfp4_e2m1")
>>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
>>> save(path, {"w": mx, "bias": np.zeros(3, np.float32)})
>>> back = load(path)
>>> back["w"].equals(mx), back["bias"].tolist()
(True, [0.0, 0.0, 0.0])
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from .._version import __version__
from ..block.api import pack, unpack
from ..block.array import BlockArray
from ..block.bits import packed_row_bytes
from ..tables.block import block_format
from ..tables.element import FormatError
from ..tables.transforms import RHT_PROFILES, rht_spec
from .files import META_KEY, CheckpointError, read_raw, write_file

__all__ = ["save", "load", "layout", "CheckpointError"]

LAYOUT_VERSION = 1


def _block_layout(mx: BlockArray) -> bool:
    L = mx.shape[mx.axis]
    return L % mx.block_size == 0 and (mx.block_size * mx.format.element.bits) % 8 == 0


def save(path, tensors: dict, metadata: dict | None = None, layout: str = "mxspec") -> None:
    """Write ``tensors`` (names to :class:`BlockArray` or numpy arrays) to a
    safetensors file; ``metadata`` is extra str -> str pairs kept beside ours.
    ``layout``: mxspec's own (default), or a published one (``gpt-oss``,
    ``gpt-oss-hf``, ``modelopt``, ``compressed-tensors``; :mod:`mxspec.layouts`),
    or ``gguf``: a GGUF file (:mod:`mxspec.io.gguf`; metadata values may then be
    str, int, float, bool or lists)."""
    if not isinstance(tensors, dict) or not tensors:
        raise ValueError("tensors must be a non-empty dict of name -> BlockArray or numpy array")
    from .layouts import LAYOUTS, write_layout  # imported on use: it imports ml_dtypes
    if layout not in LAYOUTS + ("gguf",):
        raise ValueError(f"layout={layout!r} is not valid; allowed values: "
                         f"{', '.join(LAYOUTS + ('gguf',))}")
    moved_by = [n for n, t in tensors.items() if isinstance(t, BlockArray) and t.rht is not None]
    if moved_by and layout != "mxspec":
        raise ValueError(f"tensor {moved_by[0]!r} went through a Hadamard transform "
                         f"(rht={tensors[moved_by[0]].rht.name!r}); layout="
                         f"{layout!r} cannot record it: save it with layout='mxspec', or "
                         f"decode it and apply mxspec.rht(..., inverse=True) first")
    if layout == "gguf":
        from .gguf import save_gguf
        return save_gguf(path, tensors, metadata)
    if layout != "mxspec":
        return write_layout(path, tensors, layout, metadata)
    out, meta = {}, {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        if isinstance(t, BlockArray) and t.format.engine == "micro":  # units, scales inside
            key = f"{name}.units"
            if key in out or key in tensors:
                raise ValueError(f"tensor name {key!r} is used twice")
            out[key] = pack(t)[0]
            meta[name] = {"format": t.format.name, "shape": list(t.shape), "axis": t.axis,
                          "block_size": t.block_size, "layout": "units"}
        elif isinstance(t, BlockArray):
            packed, scales = pack(t)
            if t.format.tensor_scale:  # NVFP4: (tensor scale, block scales); the first below
                scales = scales[1]
            layout = "blocks" if _block_layout(t) else "rows"
            if layout == "blocks":
                nb = scales.shape[-1]
                packed = packed.reshape(packed.shape[:-1] + (nb, packed.shape[-1] // max(nb, 1)))
            for key, arr in ((f"{name}.blocks", packed), (f"{name}.scales", scales)):
                if key in out or key in tensors:
                    raise ValueError(f"tensor name {key!r} is used twice")
                out[key] = np.ascontiguousarray(arr)
            meta[name] = {"format": t.format.name, "shape": list(t.shape), "axis": t.axis,
                          "block_size": t.block_size, "layout": layout}
            if t.tensor_scale is not None:  # NVFP4: the float32 per-tensor scale
                key = f"{name}.tensor_scale"
                if key in out or key in tensors:
                    raise ValueError(f"tensor name {key!r} is used twice")
                out[key] = np.float32([t.tensor_scale])
        elif isinstance(t, np.ndarray):
            if name in out:
                raise ValueError(f"tensor name {name!r} is used twice")
            out[name] = np.array(t, order="C")  # keeps a 0-d array 0-d
        else:
            raise TypeError(f"tensor {name!r} must be a BlockArray or numpy array, "
                            f"got {type(t).__name__}")
        if isinstance(t, BlockArray) and t.rht is not None:
            meta[name]["rht"] = {"name": t.rht.name, "size": t.rht.size,
                                 "signs": None if t.rht.signs is None else list(t.rht.signs),
                                 "dtype": t.rht.dtype}
    md = {str(k): str(v) for k, v in (metadata or {}).items()}
    if META_KEY in md:
        raise ValueError(f"metadata key {META_KEY!r} is reserved")
    md[META_KEY] = json.dumps({"version": LAYOUT_VERSION, "mxspec": __version__,
                               "tensors": meta}, sort_keys=True)
    write_file(path, out, md)


def layout(path) -> str:
    """Which layout a checkpoint holds: "mxspec", "gpt-oss", "gpt-oss-hf",
    "modelopt", "compressed-tensors", "gguf" (a GGUF file), or "plain" (arrays
    only); a file with a layout's parts missing raises :class:`CheckpointError`
    naming them."""
    from .gguf import check_gguf, is_gguf
    if is_gguf(path):
        check_gguf(path)
        return "gguf"
    from .layouts import LayoutError, layout_of
    raw, md = read_raw(path)
    try:
        return layout_of(raw, md)
    except LayoutError as err:
        raise CheckpointError(f"{path}: {err}") from None


def _with_rht(t: BlockArray, e: dict) -> BlockArray:
    """``t`` with the transform its metadata entry records (SPEC.md 13.2), if any."""
    if "rht" not in e:
        return t
    r = e["rht"]
    spec = rht_spec({"size": r["size"], "dtype": r["dtype"],
                     "signs": "none" if r["signs"] is None else r["signs"]})
    named = RHT_PROFILES.get(r.get("name"))  # a profile keeps its name
    if named is not None and dataclasses.replace(spec, name=named.name) == named:
        spec = named
    return dataclasses.replace(t, rht=spec)


def _entry(name, e):
    try:
        fmt = block_format(e["format"])
        shape = [int(s) for s in e["shape"]]
        axis, bs, layout = int(e["axis"]), int(e["block_size"]), e["layout"]
    except (KeyError, TypeError, ValueError, FormatError) as err:
        raise CheckpointError(f"metadata for MX tensor {name!r} is malformed: {err}") from None
    if layout not in ("blocks", "rows", "units") or bs < 1 or not shape or not 0 <= axis < len(shape) \
            or min(shape) < 0:
        raise CheckpointError(f"metadata for MX tensor {name!r} is malformed: {e}")
    return fmt, tuple(shape), axis, bs, layout


def load(path, return_metadata: bool = False):
    """Read a checkpoint: names to :class:`BlockArray` (MX and NVFP4 tensors) or
    numpy arrays (the rest).  The layout is told from the file (mxspec's own, or
    a published one: :func:`layout`); a file that mixes parts of a layout raises
    an error that says what is missing.  With ``return_metadata`` also returns
    the extra metadata pairs.  A GGUF file (told by its magic) loads as
    :func:`mxspec.io.gguf.load_gguf` reads it."""
    from .gguf import is_gguf, load_gguf
    if is_gguf(path):
        return load_gguf(path, return_metadata)
    from .layouts import LayoutError, layout_of, read_layout
    raw, md = read_raw(path)
    try:
        kind = layout_of(raw, md)
        if kind not in ("mxspec", "plain"):
            result = read_layout(path, raw, md, kind)
            return (result, md) if return_metadata else result
    except LayoutError as err:
        raise CheckpointError(f"{path}: {err}" if not str(err).startswith(str(path)) else
                              str(err)) from None
    try:
        info = json.loads(md.pop(META_KEY, '{"version": 1, "tensors": {}}'))
        entries = info["tensors"]
        if info.get("version") != LAYOUT_VERSION or not isinstance(entries, dict):
            raise ValueError(f"layout version {info.get('version')!r}")
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: the {META_KEY!r} metadata is malformed: {err}") from None
    result = {}
    for name, e in entries.items():
        fmt, shape, axis, bs, layout = _entry(name, e)
        if layout == "units":
            ku = f"{name}.units"
            if ku not in raw:
                raise CheckpointError(f"{path}: {fmt.name} tensor {name!r} needs {ku!r}")
            try:
                result[name] = _with_rht(unpack(raw.pop(ku), None, fmt, shape, axis), e)
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointError(f"{path}: {name!r}: {err}") from None
            continue
        kb, ks = f"{name}.blocks", f"{name}.scales"
        if kb not in raw or ks not in raw:
            raise CheckpointError(f"{path}: MX tensor {name!r} needs both {kb!r} and {ks!r}")
        blocks, scales = raw.pop(kb), raw.pop(ks)
        s_dtype = np.float32 if getattr(fmt, "scale_kind", "") == "float32" else np.uint8
        for key, arr, want in ((kb, blocks, np.uint8), (ks, scales, s_dtype)):
            if arr.dtype != want:
                raise CheckpointError(f"{path}: {key} must be {np.dtype(want)}, got {arr.dtype}")
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        nb = -(-moved[-1] // bs)
        if scales.shape != moved[:-1] + (nb,):
            raise CheckpointError(f"{path}: {ks} has shape {scales.shape}, but {name!r} "
                                  f"({fmt.name}, shape {shape}, blocks of {bs} along axis "
                                  f"{axis}) needs {moved[:-1] + (nb,)}")
        row = packed_row_bytes(moved[-1], fmt.element.bits)
        want = moved[:-1] + ((nb, row // max(nb, 1)) if layout == "blocks" else (row,))
        if blocks.shape != want:
            raise CheckpointError(f"{path}: {kb} has shape {blocks.shape}, but {name!r} "
                                  f"({fmt.name}, shape {shape}) packs to {want}")
        ts = None
        if getattr(fmt, "tensor_scale", False):
            kt = f"{name}.tensor_scale"
            if kt not in raw:
                raise CheckpointError(f"{path}: {fmt.name} tensor {name!r} needs {kt!r}")
            ts = raw.pop(kt)
            if ts.dtype != np.float32 or ts.shape != (1,):
                raise CheckpointError(f"{path}: {kt} must be float32 of shape (1,), got "
                                      f"{ts.dtype} {ts.shape}")
        try:
            levels = (ts.reshape(()), scales) if ts is not None else scales
            result[name] = unpack(blocks.reshape(moved[:-1] + (row,)), levels, fmt, shape,
                                  axis, bs)
            result[name] = _with_rht(result[name], e)
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{path}: {name!r}: {err}") from None
    result.update(raw)
    return (result, md) if return_metadata else result
