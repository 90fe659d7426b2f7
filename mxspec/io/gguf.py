"""GGUF files, llama.cpp's model format (SPEC.md 4.5, docs/layouts.md), read and
written with gguf-py (PyPI ``gguf``, the reader and writer llama.cpp ships; the
optional extra ``mxspec[gguf]``).

- :func:`load_gguf`: MXFP4 tensors become :class:`BlockArray` in
  ``mxfp4_e2m1:gguf`` (blocks of 32 along the last axis, the numpy shape, which
  is GGUF's dimensions reversed); F32, F16, BF16, F64 and the integer types
  become numpy arrays; every other tensor type (Q4_K, Q8_0, ...) is skipped, with
  a :class:`GGUFSkipped` warning that names each one.  The key-value metadata
  comes back as Python values.
- :func:`save_gguf`: MXFP4 :class:`BlockArray` (blocks of 32 along the last
  axis) and numpy arrays of those types; metadata str, int, float, bool or lists.

Before gguf-py reads a file, its header is checked here (magic, version, sizes),
and after, every tensor's offset (aligned, inside the file): a bad file raises
:class:`mxspec.CheckpointError` naming the file and what is wrong, and nothing is
read past its end.

>>> import os, tempfile, numpy as np, mxspec
>>> p = os.path.join(tempfile.mkdtemp(), "w.gguf")
>>> x = np.linspace(-6, 6, 64, dtype=np.float32).reshape(2, 32)
>>> mxspec.save(p, {"w": mxspec.encode(x, "mxfp4_e2m1:gguf"), "b": x[0]}, layout="gguf")
>>> t = mxspec.load(p)
>>> t["w"].format.name, t["w"].shape, mxspec.layout(p)
('mxfp4_e2m1:gguf', (2, 32), 'gguf')
"""
from __future__ import annotations

import os
import re
import struct
import warnings

import numpy as np

from ..block.api import pack, unpack
from ..block.array import BlockArray
from ..block.bits import GGUF_BLOCK, GGUF_BLOCK_BYTES
from .files import CheckpointError

__all__ = ["is_gguf", "check_gguf", "load_gguf", "save_gguf", "GGUFSkipped", "GGUF_VERSIONS"]

MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
# The ggml type ids mxspec reads (gguf-py's GGMLQuantizationType; ggml.h): MXFP4 as
# BlockArray, the rest as numpy arrays.
_MXFP4 = 39
_PLAIN = {0: np.float32, 1: np.float16, 24: np.int8, 25: np.int16, 26: np.int32, 27: np.int64,
          28: np.float64}
_BF16 = 30


class GGUFSkipped(UserWarning):
    """A GGUF file held tensors of types mxspec does not read; the message names them."""


def _gguf():
    try:
        import gguf
    except ImportError:
        raise ImportError("GGUF files need the gguf package (gguf-py, llama.cpp's reader and "
                          "writer): pip install 'mxspec[gguf]'") from None
    return gguf


def _version() -> str:
    from importlib.metadata import version
    return version("gguf")


def is_gguf(path) -> bool:
    """Whether ``path`` is read as GGUF: its name ends in ``.gguf`` (the header is
    then checked, and a bad one refused) or the file starts with GGUF's magic."""
    if os.fspath(path).lower().endswith(".gguf"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def check_gguf(path) -> None:
    """Raise :class:`CheckpointError` unless ``path`` has a GGUF header mxspec reads."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read: {err}") from None
    _check_header(path, size)


def _check_header(path, size):
    if size < 24:
        raise CheckpointError(f"{path}: truncated GGUF file: {size} bytes, and the header alone "
                              f"is 24")
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:4] != MAGIC:
        raise CheckpointError(f"{path}: not a GGUF file: the magic is {head[:4]!r}, not {MAGIC!r}")
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:])
    if version not in GGUF_VERSIONS:
        raise CheckpointError(f"{path}: GGUF version {version}; mxspec reads versions "
                              f"{', '.join(map(str, GGUF_VERSIONS))} (little-endian)")
    # each tensor's info and each key-value pair take more than 8 bytes
    if n_tensors * 8 > size or n_kv * 8 > size:
        raise CheckpointError(f"{path}: truncated or corrupt GGUF header: it counts {n_tensors} "
                              f"tensors and {n_kv} key-value pairs in {size} bytes")


def _value(field):
    """A reader field's value as Python: str, int, float, bool or a list of them."""
    gguf = _gguf()
    T = gguf.GGUFValueType
    main = field.types[0]
    if main == T.ARRAY:
        items = [field.parts[i] for i in field.data]
        if field.types[-1] == T.STRING:
            return [bytes(p).decode("utf-8") for p in items]
        return [p.tolist()[0] for p in items]
    if main == T.STRING:
        return bytes(field.parts[-1]).decode("utf-8")
    return field.parts[-1].tolist()[0]


def load_gguf(path, return_metadata: bool = False):
    """Read a GGUF file: names to :class:`BlockArray` (MXFP4) or numpy arrays
    (see the module's text); with ``return_metadata`` also the key-value pairs."""
    gguf = _gguf()
    check_gguf(path)
    size = os.path.getsize(path)
    try:
        reader = gguf.GGUFReader(os.fspath(path), "r")
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, UnicodeDecodeError) as err:
        if "cannot reshape" in str(err) or isinstance(err, IndexError):
            # gguf-py's reads stop at the end of its memory map and come back short
            raise CheckpointError(f"{path}: truncated GGUF file: a header field or a tensor's "
                                  f"data runs past the end of the file ({size} bytes)") from None
        m = re.search(r"(\d+)\)? is not a valid GGMLQuantizationType", str(err))
        if m:
            raise CheckpointError(f"{path}: not a readable GGUF file: a tensor has ggml type "
                                  f"{m.group(1)}, which gguf {_version()} does not "
                                  f"know") from None
        raise CheckpointError(f"{path}: not a readable GGUF file: {err}") from None
    out, skipped = {}, []
    align = int(reader.alignment)
    for t in reader.tensors:
        rel = t.data_offset - reader.data_offset
        if rel % align:
            raise CheckpointError(f"{path}: tensor {t.name!r} starts at data offset {rel}, not a "
                                  f"multiple of the file's alignment {align}")
        if t.data_offset + t.n_bytes > size:
            raise CheckpointError(f"{path}: truncated GGUF file: tensor {t.name!r} needs bytes "
                                  f"{t.data_offset} .. {t.data_offset + t.n_bytes}, and the "
                                  f"file has {size}")
        kind = int(t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        raw = np.asarray(t.data)
        if kind == _MXFP4:
            data = np.array(raw, np.uint8).reshape(shape[:-1] + (
                shape[-1] // GGUF_BLOCK * GGUF_BLOCK_BYTES,))
            out[t.name] = unpack(data, None, "mxfp4_e2m1:gguf", shape, layout="gguf")
        elif kind in _PLAIN:
            out[t.name] = np.array(raw, _PLAIN[kind]).reshape(shape)
        elif kind == _BF16:
            import ml_dtypes
            out[t.name] = np.array(raw).view(np.uint8).view(ml_dtypes.bfloat16).reshape(shape)
        else:
            skipped.append(f"{t.name} ({t.tensor_type.name})")
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} tensor(s) of types mxspec does not read "
                      f"(it reads MXFP4, F32, F16, BF16, F64 and the integer types): "
                      f"{', '.join(skipped)}", GGUFSkipped, stacklevel=3)
    if not return_metadata:
        return out
    md = {k: _value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return out, md


def _add_value(w, key, v):
    gguf = _gguf()
    T = gguf.GGUFValueType
    if isinstance(v, bool):
        w.add_bool(key, v)
    elif isinstance(v, (int, np.integer)):
        w.add_key_value(key, int(v), T.UINT32 if key == "general.alignment" else T.INT64)
    elif isinstance(v, (float, np.floating)):
        w.add_key_value(key, float(v), T.FLOAT64)
    elif isinstance(v, str):
        w.add_string(key, v)
    elif isinstance(v, (list, tuple)) and v:
        w.add_array(key, list(v))
    else:
        raise TypeError(f"metadata {key!r}: a GGUF value is a str, int, float, bool or a "
                        f"non-empty list of them, got {type(v).__name__}")


def save_gguf(path, tensors: dict, metadata: dict | None = None) -> None:
    """Write ``tensors`` to a GGUF file (see the module's text).  ``metadata``
    may name ``general.architecture`` (default "mxspec") and ``general.alignment``."""
    gguf = _gguf()
    md = dict(metadata or {})
    arch = md.pop("general.architecture", "mxspec")
    align = md.get("general.alignment")
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        if isinstance(t, BlockArray):
            f = t.format
            if f.engine != "mx" or f.element.name != "fp4_e2m1":
                raise ValueError(f"tensor {name!r}: GGUF holds MX blocks as MXFP4 only, not "
                                 f"{f.name}")
            if t.axis != len(t.shape) - 1:
                raise ValueError(f"tensor {name!r}: GGUF blocks run along the last axis; this "
                                 f"one is blocked along axis {t.axis} of {len(t.shape)}")
            if (f.recipe is None or f.recipe.decode != "gguf") and (
                    np.asarray(t.scales) == 0xFF).any():
                raise ValueError(f"tensor {name!r} has a NaN scale (0xFF): ggml's E8M0 has no "
                                 f"NaN and would read it as 2^128")
            data, _ = pack(t, layout="gguf")
            items.append((name, data, gguf.GGMLQuantizationType.MXFP4))
        elif isinstance(t, np.ndarray):
            kind = _plain_type(t, gguf)
            if kind is None:
                raise TypeError(f"tensor {name!r} has dtype {t.dtype}; GGUF arrays mxspec "
                                f"writes are float32, float16, bfloat16, float64, int8-int64")
            arr = np.ascontiguousarray(t)
            if kind == gguf.GGMLQuantizationType.BF16:
                arr = arr.view(np.uint8).reshape(arr.shape[:-1] + (arr.shape[-1] * 2,)) \
                    if arr.ndim else arr.reshape(1).view(np.uint8)
            items.append((name, arr, kind))
        else:
            raise TypeError(f"tensor {name!r} must be a BlockArray or numpy array, got "
                            f"{type(t).__name__}")
    w = gguf.GGUFWriter(os.fspath(path), arch)
    try:
        if align is not None:
            md.pop("general.alignment")
            w.add_custom_alignment(int(align))
        for key, v in md.items():
            _add_value(w, str(key), v)
        for name, arr, kind in items:
            w.add_tensor(name, arr, raw_dtype=kind)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()


def _plain_type(t, gguf):
    T = gguf.GGMLQuantizationType
    if t.dtype.name == "bfloat16":
        return T.BF16
    return {np.dtype(v): T(k) for k, v in _PLAIN.items()}.get(t.dtype)
