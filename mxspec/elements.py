"""Element codecs over arrays: real numbers to element codes and back.

>>> import numpy as np, mxspec
>>> mxspec.encode_elements(np.array([0.3, -7.9, 1e9]), "fp4_e2m1").tolist()
[1, 15, 7]
>>> mxspec.decode_elements(np.array([1, 15, 7], np.uint8), "fp4_e2m1").tolist()
[0.5, -6.0, 6.0]
>>> codes, flags = mxspec.encode_elements(0.3, "fp4_e2m1", return_flags=True)
>>> int(codes), mxspec.policies.flag_names(flags)
(1, ['inexact', 'underflow'])
"""
from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange

from . import policies
from .core import decode_one, decode_value32, encode_span
from .formats import ElementFormat, element_format

try:
    import ml_dtypes
    _BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a hard dependency
    _BF16 = None

__all__ = ["encode_elements", "decode_elements", "decode_table", "as_float_input",
           "random_bits"]

_pjit = numba.njit(cache=True, nogil=True, parallel=True)


CHUNK = 4096  # elements per parallel task


@_pjit
def _encode_generic(x, P, mode, ovf, nanp, irange, rbits, codes, flags, want_flags):
    n = x.size
    for ch in prange((n + CHUNK - 1) // CHUNK):
        lo = numba.int64(ch) * CHUNK
        encode_span(x, lo, min(lo + CHUNK, n), 0, P, mode, ovf, nanp, irange, rbits, codes, 0,
                    flags, want_flags)


# Arrays this long get a kernel specialized to their format and policies; shorter
# ones share one generic kernel (compiled once), so that a test sweeping many
# formats and policies does not compile a variant for each.  Both run the same
# core functions, and tests/test_elements_exhaustive.py checks that they agree.
SPECIALIZE_MIN = 1 << 20


@functools.lru_cache(maxsize=None)
def encode_kernel(P, mode, ovf, nanp, irange, want_flags):
    """A parallel encode loop with the format and every policy frozen in as
    compile-time constants, so that LLVM folds them away and vectorizes the
    common case.  Numba caches each variant on disk."""
    @_pjit
    def kernel(x, rbits, codes, flags):
        n = x.size
        for ch in prange((n + CHUNK - 1) // CHUNK):
            lo = numba.int64(ch) * CHUNK
            encode_span(x, lo, min(lo + CHUNK, n), 0, P, mode, ovf, nanp, irange, rbits, codes, 0,
                        flags, want_flags)
    return kernel


@_pjit
def _lookup_kernel(codes, table, out):
    """out = table[codes], counting codes past the table (the range check
    rides along instead of costing a separate pass)."""
    n = table.size
    bad = 0
    for i in prange(codes.size):
        c = codes[i]
        bad += c >= n
        out[i] = table[c & (n - 1)]
    return bad


@numba.njit(cache=True)
def _table_kernel(P, n, out):
    for c in range(n):
        out[c] = decode_one(c, P)


def decode_table(fmt, dtype=np.float32) -> np.ndarray:
    """Value of every code of ``fmt``, computed by the scalar decoder.

    >>> decode_table("fp4_e2m1")[:8].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    fmt = element_format(fmt)
    key = (fmt, np.dtype(dtype).name)
    t = _TABLES.get(key)
    if t is None:
        t64 = np.empty(fmt.n_codes, np.float64)
        _table_kernel(fmt.params, fmt.n_codes, t64)
        t = t64.astype(dtype)  # exact: every element value fits float32
        t.setflags(write=False)
        _TABLES[key] = t
    return t


_TABLES: dict = {}


@numba.njit(cache=True)
def _value32_kernel(P, n, out):
    for c in range(n):
        out[c] = decode_value32(c, P)


@functools.lru_cache(maxsize=None)
def value32_exact(fmt) -> bool:
    """Whether :func:`mxspec.core.decode_value32` gives the bits of
    ``decode_table(fmt, float32)`` for every code of ``fmt``, checked code by
    code (at most 256): the block decoders compute values with it only then,
    and look them up in the table otherwise.

    >>> value32_exact("fp8_e4m3"), value32_exact("e8m0")
    (True, False)
    """
    fmt = element_format(fmt)
    got = np.empty(fmt.n_codes, np.float32)
    _value32_kernel(fmt.params, fmt.n_codes, got)
    return bool(np.array_equal(got.view(np.uint32), decode_table(fmt, np.float32).view(np.uint32)))

_FLOAT_KINDS = (np.dtype(np.float64), np.dtype(np.float32))


def as_float_input(x, argument: str = "x") -> np.ndarray:
    """``x`` as a float64 or float32 array, widened exactly from float16 or
    bfloat16; Python scalars become float64.  Other dtypes are refused."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{argument} must be float64, float32, float16 or bfloat16 data, got bool")
    if isinstance(x, (int, float)):
        return np.asarray(float(x), np.float64)
    a = np.asarray(x)
    if a.dtype in _FLOAT_KINDS:
        return a
    if a.dtype == np.float16 or (_BF16 is not None and a.dtype == _BF16):
        return a.astype(np.float32)  # exact widening
    raise TypeError(f"{argument} must be float64, float32, float16 or bfloat16 data, "
                    f"got dtype {a.dtype}")


def random_bits(size: int, seed=None, rbits=None, argument="rbits") -> np.ndarray:
    """The uint32 random bits that stochastic rounding compares, one per element
    in C order: ``rbits`` as given, or ``numpy.random.default_rng(seed)
    .integers(0, 2**32, size, dtype=np.uint32)``."""
    if rbits is not None:
        r = np.asarray(rbits)
        if r.dtype != np.uint32 or r.size != size:
            raise ValueError(f"{argument} must be a uint32 array of {size} elements "
                             f"(one per element), got dtype {r.dtype} and {r.size} elements")
        return np.ascontiguousarray(r).reshape(-1)
    if seed is None:
        raise ValueError("rounding='stochastic' needs seed= or rbits= "
                         "(the codes must be reproducible)")
    return np.random.default_rng(seed).integers(0, 1 << 32, size, dtype=np.uint32)


def encode_elements(x, fmt, rounding: str = "rne", overflow: str = "saturate",
                    nan: str = "keep_sign", int_range: str = "symmetric", *, seed=None,
                    rbits=None, return_flags: bool = False):
    """Encode real numbers into element codes of ``fmt`` (one uint8 per value).

    Each value is rounded once, from its own precision (float64 is never
    narrowed through float32).  ``rounding``: rne, rtz, rna, up, down or
    stochastic (needs ``seed`` or ``rbits``); ``overflow``: saturate or ieee;
    ``nan``: keep_sign, canonical or ml_dtypes; ``int_range``: symmetric or full
    (int formats only).  With ``return_flags`` also returns a uint8 array of
    SoftFloat exception bits (``mxspec.policies``).  SPEC.md states every rule.

    >>> encode_elements([464.0, 465.0], "fp8_e4m3", overflow="ieee").tolist()
    [126, 127]
    """
    fmt = element_format(fmt)
    mode = policies.check("rounding", rounding)
    ovf = policies.check("overflow", overflow)
    nanp = policies.check("nan", nan)
    irange = policies.check("int_range", int_range)
    scalar = np.ndim(x) == 0 and not isinstance(x, np.ndarray)
    a = as_float_input(np.asarray(x, np.float64) if isinstance(x, (list, tuple)) else x)
    flat = np.ascontiguousarray(a).reshape(-1)
    if mode == policies.STOCHASTIC:
        r = random_bits(flat.size, seed, rbits)
    else:
        if rbits is not None or seed is not None:
            raise ValueError(f"seed= and rbits= are for rounding='stochastic', not {rounding!r}")
        r = np.empty(0, np.uint32)
    codes = np.empty(flat.size, np.uint8)
    flags = np.empty(flat.size if return_flags else 1, np.uint8)
    if flat.size >= SPECIALIZE_MIN:
        encode_kernel(fmt.params, mode, ovf, nanp, irange, return_flags)(flat, r, codes, flags)
    else:
        _encode_generic(flat, fmt.params, mode, ovf, nanp, irange, r, codes, flags,
                        return_flags)
    codes = codes.reshape(a.shape)
    if scalar:
        codes = codes[()]
    if return_flags:
        flags = flags.reshape(a.shape)
        return codes, (flags[()] if scalar else flags)
    return codes


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


def decode_elements(codes, fmt, dtype=np.float32):
    """Exact values of element codes, as float32 (or float64 with ``dtype``).

    >>> decode_elements([0x7F, 0x80], "fp8_e4m3").tolist()
    [nan, -0.0]
    """
    fmt = element_format(fmt)
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_KINDS:
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    scalar = np.ndim(codes) == 0 and not isinstance(codes, np.ndarray)
    c = np.asarray(codes)
    if c.dtype != np.uint8:
        c = check_codes(c, fmt)
    flat = np.ascontiguousarray(c).reshape(-1)
    out = np.empty(flat.size, dtype)
    if _lookup_kernel(flat, decode_table(fmt, dtype), out):
        check_codes(c, fmt)  # raises, naming the first bad code
    out = out.reshape(c.shape)
    return out[()] if scalar else out
