"""mxspec: a bit-exact reference for the OCP Microscaling (MX) formats.

>>> import mxspec
>>> mxspec.decode_elements(mxspec.encode_elements(2.7, "fp6_e2m3"), "fp6_e2m3")
np.float32(2.75)
"""
from . import policies
from .formats import (ElementFormat, FormatError, MXFormat, element_format, float_format,
                      formats, int_format, mx_format, mx_formats)
from .elements import decode_elements, encode_elements

__version__ = "0.1.0"

__all__ = [
    "ElementFormat", "FormatError", "MXFormat", "element_format", "float_format", "formats",
    "int_format", "mx_format", "mx_formats", "encode_elements", "decode_elements", "policies",
    "__version__",
]
