"""PyTorch in and out (optional: ``pip install 'mxspec[torch]'``).  numpy stays
the only array library mxspec needs; torch is imported only when a torch
tensor is seen or asked for.

- Every public function takes CPU torch tensors where it takes arrays: float32,
  float16 and float64 are read without a copy; bfloat16 and float8 are viewed
  as ml_dtypes arrays of the same bytes (no copy either).
- :func:`to_torch` gives a BlockArray's codes and scales as torch tensors in
  PyTorch's own dtypes where they exist; :func:`from_torch` reads them back.

>>> import numpy as np, mxspec
>>> t = mxspec.to_torch(mxspec.encode(np.float32([1.0, -2.0, 3.0, 0.5]), "mxfp8_e4m3"))  # doctest: +SKIP
>>> t.codes.dtype, t.scales.dtype                                    # doctest: +SKIP
(torch.float8_e4m3fn, torch.float8_e8m0fnu)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._kernel.arrays import as_numpy, is_torch_tensor  # noqa: F401
from ..block.array import _METHODS, BlockArray
from ..block.bits import pack_codes, unpack_codes
from ..tables.block import block_format

__all__ = ["is_torch_tensor", "as_numpy", "to_torch", "from_torch", "TorchMX"]


class TorchMX(NamedTuple):
    """An BlockArray's parts as torch tensors (see :func:`to_torch`); ``micro``
    holds each micro-exponent level's bits (MX4/6/9, HiF4) as uint8 tensors."""
    codes: object
    scales: object
    tensor_scale: object
    format: str
    block_size: int
    axis: int
    micro: tuple = ()


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("this needs PyTorch: pip install 'mxspec[torch]' (on a machine "
                          "without a GPU, the CPU wheel: pip install torch --index-url "
                          "https://download.pytorch.org/whl/cpu)") from None
    return torch


_CODE_DTYPES = {"fp8_e4m3": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2"}


def to_torch(mx) -> TorchMX:
    """Codes and scales of ``mx`` as torch tensors, without a copy where the
    dtype exists: FP8 E4M3/E5M2 codes as float8_e4m3fn/float8_e5m2, FP4 E2M1
    codes as float4_e2m1fn_x2 (two codes per element, first in the low nibble,
    packed along the last axis, which must be even), INT8 codes as int8, other
    codes as uint8; E8M0 scales as float8_e8m0fnu, E4M3 block scales (NVFP4) as
    float8_e4m3fn; the tensor scale (NVFP4) as a 0-d float32 tensor; the
    micro-exponent levels (MX4/6/9, HiF4) as uint8 tensors, one bit per group."""
    torch = _torch()
    if not isinstance(mx, BlockArray):
        raise TypeError(f"mx must be a BlockArray, got {type(mx).__name__}")
    el = mx.format.element
    codes = torch.from_numpy(np.ascontiguousarray(mx.codes))
    if el.name in _CODE_DTYPES:
        codes = codes.view(getattr(torch, _CODE_DTYPES[el.name]))
    elif el.name == "fp4_e2m1" and mx.codes.shape[-1] % 2 == 0 and \
            hasattr(torch, "float4_e2m1fn_x2"):
        codes = torch.from_numpy(pack_codes(mx.codes, 4)).view(torch.float4_e2m1fn_x2)
    elif el.name == "int8":
        codes = codes.view(torch.int8)
    scales = torch.from_numpy(np.ascontiguousarray(mx.scales))
    kind = getattr(mx.format, "scale_kind", "e8m0")
    sname = {"e8m0": "float8_e8m0fnu", "ue4m3": "float8_e4m3fn"}.get(kind)
    if sname is not None and hasattr(torch, sname):  # float32 scales stay float32
        scales = scales.view(getattr(torch, sname))
    ts = None if mx.tensor_scale is None else torch.tensor(np.float32(mx.tensor_scale))
    micro = tuple(torch.from_numpy(np.ascontiguousarray(b)) for b in mx.micro)
    return TorchMX(codes, scales, ts, mx.format.name, mx.block_size, mx.axis, micro)


def from_torch(codes, scales=None, fmt=None, block_size=None, axis=-1, tensor_scale=None,
               micro=()):
    """The BlockArray whose parts :func:`to_torch` gave (a :class:`TorchMX`, or its
    fields one by one); codes may be any of the dtypes to_torch makes, or uint8.
    Every part is checked as a BlockArray checks it (the scales' shape and kind,
    the axis, the block size, the levels and the tensor scale the format has)."""
    torch = _torch()
    if isinstance(codes, TorchMX):
        codes, scales, tensor_scale, fmt, block_size, axis, micro = codes
    if fmt is None or scales is None:
        raise ValueError("from_torch needs codes, scales and fmt (or a TorchMX)")
    f = block_format(fmt)
    if str(codes.dtype) == "torch.float4_e2m1fn_x2":
        packed = codes.view(torch.uint8).numpy()
        c = unpack_codes(packed, 4, packed.shape[-1] * 2)
    elif codes.element_size() == 1:
        c = codes.detach().contiguous().view(torch.uint8).numpy()
    else:
        raise TypeError(f"codes must be a one-byte (or float4_e2m1fn_x2) tensor, got "
                        f"{codes.dtype}")
    s = scales.detach().contiguous()
    float_scales = getattr(f, "scale_kind", "") == "float32"
    if (s.dtype == torch.float32) != float_scales:
        raise TypeError(f"scales of {f.name} must be "
                        f"{'float32 values' if float_scales else 'one-byte codes'}, got {s.dtype}")
    s = s.numpy() if float_scales else s.view(torch.uint8).numpy()
    bs = block_size if block_size is not None else getattr(f, "block_size", 32)
    levels = tuple(b.detach().contiguous().numpy() for b in micro)
    ts = None if tensor_scale is None else np.asarray(
        tensor_scale.detach().numpy() if is_torch_tensor(tensor_scale) else tensor_scale)
    return BlockArray(c, s, f, bs, axis, ts, levels)


_METHODS["to_torch"] = to_torch
