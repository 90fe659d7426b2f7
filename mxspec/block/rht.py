"""The random Hadamard transform as the NVFP4 training recipes apply it to GEMM
operands along K (SPEC.md 13): groups of ``size`` values times ``diag(signs) H /
sqrt(size)``, H the Sylvester Hadamard matrix; for size 16 the factor is 1/4 and
every entry of the matrix is exact in bfloat16.

Each output is the exact sum of its ``size`` products (the products are exact:
an input times +-2^-2), rounded once to ``dtype`` (nearest even; float32 accumulation
in a kernel rounds partial sums only where a group's magnitudes span more than
about 2^(24 - p), p the input's significand bits).

>>> import numpy as np
>>> y = rht(np.arange(16, dtype=np.float32), dtype="float32")
>>> y[:4].tolist()
[-14.5, -7.5, 6.5, -0.5]
>>> np.array_equal(rht(y, inverse=True, dtype="float32"), np.arange(16, dtype=np.float32))
True
"""
from __future__ import annotations

import math

import numpy as np

from ..codec.ieee import round64_array
from ..tables.transforms import RHT_DTYPES as DTYPES, RHT_SIGNS, RHTSpec, hadamard
SIGNIFICAND_BITS = {"bfloat16": 8, "float16": 11, "float32": 24}


def _dtype(name):
    """The numpy type of ``name`` (ml_dtypes only when bfloat16 is asked for: importing
    mxspec does not import it)."""
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return {"float16": np.float16, "float32": np.float32}[name]


def rht_matrix(size: int = 16, signs="te") -> np.ndarray:
    """``diag(signs) H / sqrt(size)`` in float64 (exact for a power-of-four size)."""
    s = _signs(signs, size)
    return (s[:, None] * hadamard(size)) / math.sqrt(size)


def _signs(signs, size):
    if isinstance(signs, str):
        if signs not in RHT_SIGNS:
            raise ValueError(f"signs={signs!r}; allowed: {', '.join(map(repr, RHT_SIGNS))} "
                             f"or a sequence of {size} values +-1")
        signs = RHT_SIGNS[signs]
        if signs is None:
            return np.ones(size)
        if len(signs) != size:
            raise ValueError(f"signs='te' has 16 entries; size={size} needs signs of its own "
                             f"length (or signs='none')")
    s = np.asarray(signs, np.float64)
    if s.shape != (size,) or not np.isin(s, (-1.0, 1.0)).all():
        raise ValueError(f"signs: {size} values, each +1 or -1; got shape {s.shape}")
    return s


def rht(x, axis: int = -1, size: int = 16, signs="te", dtype: str = "bfloat16",
        inverse: bool = False) -> np.ndarray:
    """``x`` (cast to ``dtype`` first, nearest even) in groups of ``size`` along
    ``axis``, each group times the RHT matrix (``inverse``: its transpose), each
    output rounded once to ``dtype``.  ``signs``: ``"te"`` (Transformer Engine's and
    fouroversix's), ``"none"`` (the plain Hadamard transform) or ``size`` values +-1."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}; allowed: {', '.join(DTYPES)}")
    dt = _dtype(dtype)
    m = rht_matrix(size, signs)
    if inverse:
        m = m.T
    a = np.asarray(x)
    if a.ndim == 0:
        raise ValueError("x: an array with an axis of a multiple of size values, got a scalar")
    ax = axis % a.ndim if -a.ndim <= axis < a.ndim else None
    if ax is None:
        raise ValueError(f"axis={axis}; allowed: -{a.ndim} .. {a.ndim - 1} for x of shape "
                         f"{a.shape}")
    if a.shape[ax] % size:
        raise ValueError(f"x's axis {axis} has {a.shape[ax]} values, not a multiple of "
                         f"size={size}")
    with np.errstate(over="ignore"):
        v = np.asarray(a, dt).astype(np.float64)
    v = np.moveaxis(v, ax, -1)
    g = v.reshape(v.shape[:-1] + (v.shape[-1] // size, size))
    out = _exact_group_product(g, m, SIGNIFICAND_BITS[dtype])
    out = round64_array(out.reshape(v.shape), dtype)
    return np.moveaxis(out, -1, ax)


def transform_for_encode(x, spec: RHTSpec, axis: int):
    """``x`` through ``spec`` along ``axis``, as ``encode(..., rht=spec)`` applies it
    before quantizing; a refusal names ``rht=``."""
    try:
        return rht(x, axis=axis, **spec.kwargs())
    except ValueError as e:
        raise ValueError(f"rht={spec.name!r} (size {spec.size}): {e}") from None


def _exact_group_product(g, m, p):
    """g @ m per group, as float64 sums that one rounding to ``p`` bits or fewer
    (:func:`mxspec.codec.ieee.round64`) rounds correctly: in float64 where that sum is exact (a group whose
    nonzero magnitudes span at most 53 - p - log2(size) - 1 binades: every
    product is an input times +-2^-k, so the partial sums stay on a grid of
    53 bits), else in exact rationals, rounded to odd."""
    size = g.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        out = g @ m
    mag = np.abs(g)
    nz = mag > 0
    e = np.frexp(np.where(nz, mag, 1.0))[1]
    hi = np.where(nz, e, np.iinfo(np.int64).min).max(axis=-1)
    lo = np.where(nz, e, np.iinfo(np.int64).max).min(axis=-1)
    wide = nz.any(axis=-1) & (hi - lo > 53 - p - int(math.log2(size)) - 1) & \
        np.isfinite(g).all(axis=-1)
    if wide.any():
        out[wide] = [_rational_row(row, m) for row in g[wide]]
    return out


def _rational_row(row, m):
    """One group's outputs: exact sums, each rounded to odd in float64."""
    from fractions import Fraction
    xs = [Fraction(float(v)) for v in row]
    res = []
    for j in range(m.shape[1]):
        exact = sum(x * Fraction(float(m[i, j])) for i, x in enumerate(xs))
        f = float(exact)  # nearest, then toward zero with a sticky last bit
        if Fraction(f) != exact:
            if abs(Fraction(f)) > abs(exact):
                f = float(np.nextafter(f, 0.0))
            f = float((np.array([f]).view(np.uint64) | np.uint64(1)).view(np.float64)[0])
        res.append(f)
    return res
