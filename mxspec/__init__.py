"""mxspec: a bit-exact reference for the OCP Microscaling (MX) formats.

>>> import mxspec
>>> float(mxspec.decode_elements(mxspec.encode_elements(2.7, "fp6_e2m3"), "fp6_e2m3"))
2.75
"""
from ._version import __version__

from ._kernel import cache as _cache  # noqa: E402

_cache.install()
cache_dir = _cache.cache_dir  # where the compiled kernels are kept (None: not cached)

from .tables import policies  # noqa: E402
from .tables.element import (ElementFormat, FormatError, element_format, float_format,  # noqa: E402
                             formats, int_format, p3109_format, p3109_formats)
from .tables.block import (BlockFormat, Recipe, ScaleLevel, block_format, block_formats,  # noqa: E402
                           int_formats, micro_format, micro_formats, mx_format, mx_formats)
from .tables.accumulators import AccumulatorModel, accumulator, accumulators, fixed, wgmma  # noqa: E402
from .codec.elements import decode_elements, encode_elements  # noqa: E402
from .block.array import BlockArray, MXArray  # noqa: E402
from .block.bits import pack_codes, unpack_codes  # noqa: E402
from .block.api import decode, decode_packed, encode, encode_packed, pack, unpack  # noqa: E402
from .compute.slicing import slice_and_scale, slice_elements  # noqa: E402
from .tables.gemm import GemmLibrary, gemm_libraries, gemm_library  # noqa: E402
from .compute.dot import dot, dot_elements, matmul, matmul_elements  # noqa: E402
from .compute.scaled_mm import scaled_mm  # noqa: E402
from .block.rht import rht, rht_matrix  # noqa: E402
from .compute.identify import Identification, candidate_models, identify  # noqa: E402
from .compute.warmup import warmup  # noqa: E402
from .io.checkpoint import CheckpointError, layout, load, save  # noqa: E402
from .io.torch_interop import from_torch, to_torch  # noqa: E402

__all__ = [
    "ElementFormat", "FormatError", "element_format", "float_format", "formats",
    "int_format", "p3109_format", "p3109_formats", "mx_format", "mx_formats",
    "encode_elements", "decode_elements", "policies",
    "BlockFormat", "Recipe", "ScaleLevel", "block_format", "block_formats", "micro_format",
    "micro_formats", "int_formats", "BlockArray", "MXArray", "encode", "decode", "encode_packed", "decode_packed", "pack", "unpack",
    "pack_codes", "unpack_codes", "cache_dir",
    "save", "load", "layout", "CheckpointError",
    "slice_and_scale", "slice_elements", "warmup",
    "dot", "matmul", "dot_elements", "matmul_elements", "scaled_mm", "GemmLibrary", "identify", "Identification", "candidate_models",
    "gemm_library", "gemm_libraries", "AccumulatorModel", "accumulator", "accumulators", "fixed", "wgmma",
    "to_torch", "from_torch", "rht", "rht_matrix",
    "__version__",
]
