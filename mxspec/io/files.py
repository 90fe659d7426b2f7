"""safetensors files as mxspec reads and writes them: every dtype (float8 through
ml_dtypes), and failures as errors that name the file.

>>> issubclass(CheckpointError, ValueError), issubclass(LayoutError, ValueError)
(True, True)
"""
from __future__ import annotations

import os

import numpy as np
from safetensors import SafetensorError, deserialize, safe_open
from safetensors.numpy import save_file

__all__ = ["CheckpointError", "LayoutError", "META_KEY", "read_raw", "write_file"]

META_KEY = "mxspec"  # the metadata key of mxspec's own layout (SPEC.md 6)
def _dtypes():
    """safetensors dtype names to numpy dtypes (ml_dtypes is imported here, on first
    use: it takes half a second, and ``import mxspec`` does not need it)."""
    import ml_dtypes
    return {"U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16, "U32": np.uint32,
            "I32": np.int32, "U64": np.uint64, "I64": np.int64, "F16": np.float16,
            "BF16": ml_dtypes.bfloat16, "F32": np.float32, "F64": np.float64, "BOOL": np.bool_,
            "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
            "F8_E8M0": ml_dtypes.float8_e8m0fnu}


class CheckpointError(ValueError):
    """A checkpoint whose contents do not match its metadata."""


class LayoutError(ValueError):
    """A file whose tensors do not fit the layout they claim."""


def read_raw(path):
    """(name -> numpy array, metadata) for any safetensors file, float8 included
    (safetensors' numpy loader has no float8 dtypes; ml_dtypes provides them)."""
    p = os.fspath(path)
    try:
        with safe_open(p, framework="np") as fh:
            md = dict(fh.metadata() or {})
        with open(p, "rb") as fh:
            items = deserialize(fh.read())
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file: {err}") from None
    raw, dtypes = {}, _dtypes()
    for name, t in items:
        if t["dtype"] not in dtypes:
            raise LayoutError(f"{path}: tensor {name!r} has dtype {t['dtype']}, which mxspec "
                              f"does not read")
        raw[name] = np.frombuffer(bytes(t["data"]), dtypes[t["dtype"]]).reshape(t["shape"])
    return raw, md


def write_file(path, tensors: dict, metadata) -> None:
    """safetensors' save_file, with a failure to write as a CheckpointError that
    names the file (not a bare SafetensorError)."""
    try:
        save_file(tensors, os.fspath(path), metadata=metadata)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: cannot write the checkpoint: {err}") from None
