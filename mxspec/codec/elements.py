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

from .._kernel import parallel as _parallel
from .._kernel.jit import kernel_factory
from ..tables import policies
from .core import (PASS_FAST32, PASS_RNE32, decode_one, decode_value32, encode_flags_span,
                   encode_full_span, fast32_pass, fast64_pass, interpreted, jit, pass_kind,
                   rne32_pass)
from ..tables.element import element_format
from .tapered import decode_tapered, encode_tapered, is_tapered_name
from .inputs import _FLOAT_KINDS, as_float_input, check_codes, random_bits  # noqa: F401
from ..tables.policies import R_IRANGE, R_MODE

# Narrow float inputs that float32 holds exactly: widened before encoding.  ml_dtypes
# is not imported here (it costs half a second): an array of its dtypes exists only
# once the caller has imported it, so its types are looked up then.
__all__ = ["encode_elements", "decode_elements", "decode_table", "as_float_input",
           "random_bits"]


CHUNK = 4096  # elements per task


@kernel_factory
def encode_kernel(kind, spec=None):
    """The encode loop over chunks ``t0 .. t1-1`` with the fast pass ``kind``
    (``core.PASS_*``).  ``spec``: None for the kernel that reads the record at
    run time (one compile serves every format and policy), or a record frozen
    in as constants, so that LLVM folds it away (large arrays).  Chunks with a
    declined element are marked in ``redo`` and counted; :func:`_redo_kernel`
    finishes them."""
    generic = spec is None

    # Each chunk goes to its pass as slices from 0 (codes[lo:hi], x[lo:hi]): the
    # pass's loop then starts at a known 0, which LLVM vectorizes (about twice
    # the speed of the same loop over offsets into the whole arrays).
    @jit
    def kernel(t0, t1, x, R, rbits, codes, redo):
        Rk = R if generic else spec
        n = x.size
        nredo = 0
        for ch in range(t0, t1):
            lo = numba.int64(ch) * CHUNK
            hi = min(lo + CHUNK, n)
            xs, cs = x[lo:hi], codes[lo:hi]
            if kind == PASS_RNE32:
                ns = rne32_pass(xs, 0, hi - lo, 0, Rk, cs, 0)
            elif kind == PASS_FAST32:
                ns = fast32_pass(xs, 0, hi - lo, 0, Rk, cs, 0)
            else:
                ns = fast64_pass(xs, 0, hi - lo, 0, Rk, rbits[lo:hi], cs, 0)
            redo[ch] = ns != 0
            nredo += ns != 0
        return nredo
    return kernel


@jit
def _redo_kernel(t0, t1, x, R, rbits, codes, redo):
    """Chunks marked in ``redo`` again, every element decided (the full path
    where the fast one declines)."""
    n = x.size
    for ch in range(t0, t1):
        if redo[ch]:
            lo = numba.int64(ch) * CHUNK
            encode_full_span(x, lo, min(lo + CHUNK, n), 0, R, rbits, codes, 0)
    return 0


@jit
def _flags_kernel(t0, t1, x, R, rbits, codes, flags):
    n = x.size
    for ch in range(t0, t1):
        lo = numba.int64(ch) * CHUNK
        encode_flags_span(x, lo, min(lo + CHUNK, n), 0, R, rbits, codes, 0, flags)
    return 0


# Arrays this long get a kernel specialized to their format and policies; shorter
# ones share one generic kernel per pass (compiled once), so that a test
# sweeping many formats and policies does not compile a variant for each.  Both
# run the same core functions, and tests/test_elements_exhaustive.py checks
# that they agree.
SPECIALIZE_MIN = 1 << 20


def encode_array(flat, R, rbits, codes, flags=None):
    """Encode the contiguous 1-D ``flat`` into ``codes`` (and ``flags``) under
    the kernel record ``R`` (:func:`mxspec.policies.record`)."""
    n = flat.size
    nch = -(-n // CHUNK)
    if flags is not None:
        _parallel.run(_flags_kernel, nch, flat, R, rbits, codes, flags, work=n)
        return
    P, pol = R
    kind = pass_kind(flat.dtype, P, pol[R_MODE], pol[R_IRANGE])
    kernel = encode_kernel(kind, R if n >= SPECIALIZE_MIN else None)
    redo = np.empty(nch, np.bool_)
    if _parallel.run(kernel, nch, flat, R, rbits, codes, redo, work=n):
        _parallel.run(_redo_kernel, nch, flat, R, rbits, codes, redo, work=n)


@jit
def _lookup_kernel(t0, t1, codes, table, out):
    """out = table[codes] over chunks t0 .. t1-1, counting codes past the table
    (the range check rides along instead of costing a separate pass)."""
    n = table.size
    bad = 0
    for i in range(t0 * CHUNK, min(t1 * CHUNK, codes.size)):
        c = codes[i]
        bad += c >= n
        out[i] = table[c & (n - 1)]
    return bad


def decode_table(fmt, dtype=np.float32) -> np.ndarray:
    """Value of every code of ``fmt``, computed by the scalar decoder
    :func:`mxspec.core.decode_one` (run by the interpreter: at most 256 codes
    are not worth a compile).

    >>> decode_table("fp4_e2m1")[:8].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    fmt = element_format(fmt)
    key = (fmt, np.dtype(dtype).name)
    t = _TABLES.get(key)
    if t is None:
        one = interpreted(decode_one)
        t64 = np.array([one(c, fmt.params) for c in range(fmt.n_codes)], np.float64)
        t = t64.astype(dtype)  # exact: every element value fits float32
        t.setflags(write=False)
        _TABLES[key] = t
    return t


_TABLES: dict = {}


@jit
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

def encode_elements(x, fmt, *, rounding: str | None = None, overflow: str | None = None,
                    nan: str | None = None, int_range: str = "symmetric", seed=None,
                    rbits=None, return_flags: bool = False, recipe: str | None = None,
                    profile: str | None = None, rbits_layout: str | None = None):
    """Encode real numbers into element codes of ``fmt`` (one uint8 per value).

    Each value is rounded once, from its own precision (float64 is never
    narrowed through float32).  ``rounding``: rne, rtz, rna, up, down or
    stochastic (needs ``seed`` or ``rbits``; ``rbits_layout`` "per_element", one
    uint32 per value, or "cvt_rs", PTX's cvt.rs x4 word per four values, SPEC.md
    2.3.1); ``overflow``: saturate, ieee,
    sat_propagate, or wrap or zero (integer formats); ``nan``: keep_sign, canonical or
    ml_dtypes; ``int_range``: symmetric or full (int formats only).
    ``recipe="ml_dtypes"`` sets rounding, overflow and nan to what the installed
    ml_dtypes' cast does; ``"ml_dtypes-0.6"`` and ``"ml_dtypes-0.7"`` to what those
    releases' casts do (``mxspec.policies.ELEMENT_RECIPES``; SPEC.md 2.8; ``profile=``
    is its old name).  With ``return_flags`` also returns a uint8 array of
    SoftFloat exception bits (``mxspec.policies``).  SPEC.md states every rule.
    Defaults: rne, saturate, keep_sign; for a tapered format (``hifloat8``,
    SPEC.md section 10) its own: rna (ties away), ieee, keep; it also takes
    rtz, up, down and hybrid (with ``seed`` or ``rbits``).

    >>> encode_elements([464.0, 465.0], "fp8_e4m3", overflow="ieee").tolist()
    [126, 127]
    >>> encode_elements([-3.0, 17.9], "uint4", recipe="ml_dtypes-0.6").tolist()
    [13, 1]
    """
    if profile is not None:
        if recipe is not None and recipe != profile:
            raise ValueError(f"recipe={recipe!r} and profile={profile!r}: profile is recipe's "
                             f"old name; give one")
        recipe = profile
    if is_tapered_name(fmt):
        if recipe is not None or int_range != "symmetric":
            raise ValueError(f"{fmt}: a tapered format takes rounding, overflow, nan, "
                             f"return_flags, and seed or rbits for rounding='hybrid' only "
                             f"(recipe and int_range do not apply)")
        return encode_tapered(x, fmt, rounding or "rna", overflow or "ieee", nan or "keep",
                              return_flags, seed, rbits)
    fmt = element_format(fmt)
    if recipe is not None:
        chosen = policies.element_recipe(recipe, fmt.is_int)
        given = dict(rounding=rounding, overflow=overflow, nan=nan)
        for k in ("rounding", "overflow", "nan"):
            if given[k] is not None and given[k] != chosen[k]:
                raise ValueError(f"recipe={recipe!r} sets {k}={chosen[k]!r}; "
                                 f"do not pass {k}={given[k]!r} with it")
        rounding, overflow, nan = chosen["rounding"], chosen["overflow"], chosen["nan"]
    rounding = "rne" if rounding is None else rounding
    overflow = "saturate" if overflow is None else overflow
    nan = "keep_sign" if nan is None else nan
    mode = policies.check("rounding", rounding)
    for argument, value in (("overflow", overflow), ("nan", nan), ("int_range", int_range)):
        policies.check(argument, value)
    scalar = np.ndim(x) == 0 and not isinstance(x, np.ndarray)
    a = as_float_input(np.asarray(x, np.float64) if isinstance(x, (list, tuple)) else x)
    flat = np.ascontiguousarray(a).reshape(-1)
    if mode == policies.STOCHASTIC:
        r = random_bits(flat.size, seed, rbits, layout=rbits_layout or "per_element",
                        fmt=fmt.name)
    else:
        if rbits is not None or seed is not None or rbits_layout is not None:
            raise ValueError(f"seed=, rbits= and rbits_layout= are for rounding='stochastic', "
                             f"not {rounding!r}")
        r = np.empty(0, np.uint32)
    codes = np.empty(flat.size, np.uint8)
    flags = np.empty(flat.size, np.uint8) if return_flags else None
    encode_array(flat, policies.record(fmt.params, rounding, overflow, nan, int_range), r,
                 codes, flags)
    codes = codes.reshape(a.shape)
    if scalar:
        codes = codes[()]
    if return_flags:
        flags = flags.reshape(a.shape)
        return codes, (flags[()] if scalar else flags)
    return codes


def decode_elements(codes, fmt, dtype=np.float32):
    """Exact values of element codes, as float32 (or float64 with ``dtype``).

    >>> decode_elements([0x7F, 0x80], "fp8_e4m3").tolist()
    [nan, -0.0]
    """
    if is_tapered_name(fmt):
        return decode_tapered(codes, fmt, dtype)
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
    if _parallel.run(_lookup_kernel, -(-flat.size // CHUNK), flat, decode_table(fmt, dtype), out,
                     work=flat.size):
        check_codes(c, fmt)  # raises, naming the first bad code
    out = out.reshape(c.shape)
    return out[()] if scalar else out
