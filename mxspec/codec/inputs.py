"""What the codecs accept: float input arrays (float16, bfloat16 and float8
widened exactly; torch tensors as views), element codes checked against their
format, and the random bits of stochastic rounding.

>>> import numpy as np
>>> as_float_input(np.float16([0.5, 2.0])).dtype
dtype('float32')
"""
from __future__ import annotations

import sys

import numpy as np

from .._kernel.arrays import as_numpy
from ..tables.element import ElementFormat
from ..tables.policies import CVT_RS_LANES, RBITS_LAYOUTS

_NARROW_NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                 "float8_e4m3b11fnuz", "float8_e8m0fnu", "float8_e4m3", "float8_e3m4",
                 "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn")


def _is_narrow_float(dtype) -> bool:
    ml = sys.modules.get("ml_dtypes")
    return ml is not None and any(
        dtype == np.dtype(getattr(ml, n)) for n in _NARROW_NAMES if hasattr(ml, n))


__all__ = ["as_float_input", "check_codes", "random_bits"]


_FLOAT_KINDS = (np.dtype(np.float64), np.dtype(np.float32))


def as_float_input(x, argument: str = "x") -> np.ndarray:
    """``x`` as a float64 or float32 array, widened exactly from float16 or
    bfloat16; Python scalars become float64.  Other dtypes are refused."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{argument} must be float64, float32, float16, bfloat16 or float8 data, "
                        "got bool")
    if isinstance(x, (int, float)):
        return np.asarray(float(x), np.float64)
    a = np.asarray(as_numpy(x, argument))
    if a.dtype.kind == "f" and not a.dtype.isnative:  # big-endian data: the same values
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype in _FLOAT_KINDS:
        return a
    if a.dtype == np.float16 or _is_narrow_float(a.dtype):
        return a.astype(np.float32)  # exact widening
    raise TypeError(f"{argument} must be float64, float32, float16, bfloat16 or float8 data, "
                    f"got dtype {a.dtype}")


def random_bits(size: int, seed=None, rbits=None, argument="rbits", layout="per_element",
                fmt=None) -> np.ndarray:
    """The uint32 random bits that stochastic rounding compares, one per element
    in C order: ``rbits`` as given, or ``numpy.random.default_rng(seed)
    .integers(0, 2**32, n, dtype=np.uint32)``; n is ``size``, or under
    ``layout="cvt_rs"`` one word per four elements, whose lanes are spread to
    the top bits of each element's (SPEC.md 2.3.1; ``fmt`` the element format's
    name)."""
    if layout not in RBITS_LAYOUTS:
        raise ValueError(f"rbits_layout={layout!r} is not valid; allowed values: "
                         f"{', '.join(RBITS_LAYOUTS)}")
    if layout == "cvt_rs" and fmt not in CVT_RS_LANES:
        raise ValueError(f"rbits_layout='cvt_rs' is PTX's cvt.rs ... x4.f32, which converts to "
                         f"{', '.join(CVT_RS_LANES)}; not to {fmt}")
    words = size if layout == "per_element" else -(-size // 4)
    r = _words(words, seed, rbits, argument, layout)
    if layout == "per_element":
        return r
    lanes = np.array(CVT_RS_LANES[fmt], np.uint32)  # (shift, width) per lane
    w = np.repeat(r, 4)[:size]
    k = np.tile(np.arange(4), words)[:size]
    shift, width = lanes[k, 0], lanes[k, 1]
    return (((w >> shift) & ((np.uint32(1) << width) - np.uint32(1))) << (32 - width)) \
        .astype(np.uint32)


def _words(size, seed, rbits, argument, layout):
    if rbits is not None and seed is not None:
        raise ValueError("give seed= or rbits=, not both (rbits are the random bits a seed "
                         "would make)")
    if rbits is not None:
        r = np.asarray(rbits)
        if r.dtype != np.uint32 or r.size != size:
            what = "one per element" if layout == "per_element" else \
                "rbits_layout='cvt_rs': one word per 4 elements, the last one's unused lanes " \
                "ignored"
            raise ValueError(f"{argument} must be a uint32 array of {size} elements "
                             f"({what}), got dtype {r.dtype} and {r.size} elements")
        return np.ascontiguousarray(r).reshape(-1)
    if seed is None:
        raise ValueError("rounding='stochastic' needs seed= or rbits= "
                         "(the codes must be reproducible)")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(
            seed, (int, np.integer, np.random.SeedSequence, np.random.Generator)):
        raise TypeError(f"seed must be an int (or a numpy SeedSequence or Generator), got "
                        f"{seed!r}")
    try:
        rng = np.random.default_rng(seed)
    except ValueError as err:
        raise ValueError(f"seed={seed!r} is not valid: {err}") from None
    return rng.integers(0, 1 << 32, size, dtype=np.uint32)


def check_codes(codes, fmt: ElementFormat, argument: str = "codes") -> np.ndarray:
    """``codes`` as a uint8 array, refusing any code outside 0 .. n_codes-1."""
    c = np.asarray(codes)
    if not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"{argument} must be an integer array, got dtype {c.dtype}")
    if c.dtype != np.uint8 or fmt.bits < 8:
        if c.size and (c.min() < 0 or c.max() >= fmt.n_codes):
            bad = c[(c < 0) | (c >= fmt.n_codes)].reshape(-1)[0]
            raise ValueError(f"{argument} holds {int(bad)}, out of range for {fmt.name} "
                             f"(codes are 0..{fmt.n_codes - 1})")
        c = c.astype(np.uint8)
    return c
