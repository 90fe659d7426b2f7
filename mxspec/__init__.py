"""mxspec: a bit-exact reference for the OCP Microscaling (MX) formats.

>>> import mxspec
>>> float(mxspec.decode_elements(mxspec.encode_elements(2.7, "fp6_e2m3"), "fp6_e2m3"))
2.75
"""
from ._version import __version__

from ._kernel import cache as _cache  # noqa: E402

_cache.install()

from .tables import policies  # noqa: E402
from .tables.element import (ElementFormat, FormatError, MXFormat, element_format, float_format,
                      formats, int_format, mx_format, mx_formats, p3109_format, p3109_formats)
from .codec.elements import decode_elements, encode_elements
from .block.mx import MXArray, decode, encode
from .tables.block import BlockFormat, Recipe, block_format, block_formats
from .block.packing import decode_packed, encode_packed, pack, unpack
from .io.checkpoint import CheckpointError, layout, load, save
from .compute.slicing import slice_and_scale, slice_elements
from .compute.warmup import warmup
from .tables.accumulators import AccumulatorModel, accumulator, accumulators, fixed, wgmma
from .compute.dot import dot, dot_elements, matmul
from .io.torch_interop import from_torch, to_torch


def micro_formats() -> list:
    """Names of the micro-exponent block formats (MX4, MX6, MX9, HiF4; SPEC.md 11).

    >>> micro_formats()
    ['mx4', 'mx6', 'mx9', 'hif4']
    """
    from .block.micro import micro_formats as names  # imported on use: its kernels are not small
    return names()

__all__ = [
    "ElementFormat", "FormatError", "MXFormat", "element_format", "float_format", "formats",
    "int_format", "p3109_format", "p3109_formats", "mx_format", "mx_formats",
    "encode_elements", "decode_elements", "policies",
    "BlockFormat", "Recipe", "block_format", "block_formats", "micro_formats",
    "MXArray", "encode", "decode", "encode_packed", "decode_packed", "pack", "unpack",
    "save", "load", "layout", "CheckpointError",
    "slice_and_scale", "slice_elements", "warmup",
    "dot", "matmul", "dot_elements", "AccumulatorModel", "accumulator", "accumulators", "fixed", "wgmma",
    "to_torch", "from_torch",
    "__version__",
]
