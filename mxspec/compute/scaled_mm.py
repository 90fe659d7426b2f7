"""``torch._scaled_mm`` on the CPU: a scaled FP8 GEMM as a library row of
:mod:`mxspec.tables.gemm` runs it (SPEC.md 8.8).

The float32 accumulator is the library's accumulator row for the accumulation
mode (``cublas_fp8`` or ``cublas_fp8_fast`` on an H100/H200); the row's
epilogue then multiplies by the scales, adds the bias and rounds to the output
type, each step an IEEE float32 operation rounded to nearest even.

>>> import numpy as np, ml_dtypes, mxspec
>>> a = np.array([[1.0, 2.0], [3.0, 4.0]], ml_dtypes.float8_e4m3fn).repeat(8, axis=1)
>>> b = np.eye(16, dtype=ml_dtypes.float8_e4m3fn)
>>> y = mxspec.scaled_mm(a, b, np.float32(0.5), np.float32(3.0), out_dtype="bfloat16")
>>> y.dtype.name, y[:, :2].astype(float).tolist()
('bfloat16', [[1.5, 1.5], [4.5, 4.5]])
"""
from __future__ import annotations

import numpy as np

from .._kernel.arrays import as_numpy, as_torch, is_torch_tensor
from ..tables.accumulators import accumulator
from ..tables.gemm import OUT_DTYPES, gemm_library
from .dot import matmul_elements, round_float32

__all__ = ["scaled_mm"]

_FP8_DTYPES = {"float8_e4m3fn": "fp8_e4m3", "float8_e5m2": "fp8_e5m2"}


def _operand(x, arg, fmt):
    """(codes as uint8, element format name) of an FP8 operand."""
    x = as_numpy(x, arg)
    x = np.asarray(x)
    name = x.dtype.name
    if name in _FP8_DTYPES:
        f = _FP8_DTYPES[name]
        if fmt is not None and fmt != f:
            raise ValueError(f"{arg} has dtype {name} ({f}), but fmt_{arg}={fmt!r}")
        codes = x.view(np.uint8)
    elif np.issubdtype(x.dtype, np.integer):
        if fmt is None:
            raise ValueError(f"{arg} holds integer codes: say their format with fmt_{arg}= "
                             f"('fp8_e4m3' or 'fp8_e5m2')")
        if fmt not in _FP8_DTYPES.values():
            raise ValueError(f"fmt_{arg}={fmt!r}; allowed: fp8_e4m3, fp8_e5m2 (the FP8 types "
                             f"torch._scaled_mm takes)")
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{arg} holds codes outside 0..255")
        codes, f = x.astype(np.uint8), fmt
    else:
        raise TypeError(f"{arg} must be FP8 (a float8_e4m3fn / float8_e5m2 array or CPU torch "
                        f"tensor) or uint8 codes with fmt_{arg}=; got dtype {name}")
    if codes.ndim != 2:
        raise ValueError(f"{arg} must be 2-D, got shape {codes.shape}")
    return np.ascontiguousarray(codes), f


def _scale(s, arg, shape_row):
    """A float32 scale as an array: (kind, values) with kind "tensor" or "row"."""
    if type(s) in (float, int):  # a Python number (a numpy float64 is checked by dtype)
        v = np.float32(s)
        if float(v) != float(s):
            raise ValueError(f"{arg}={s!r} is not a float32 value; pass np.float32({s!r}) "
                             f"to use its float32 rounding")
        s = v
    s = np.asarray(as_numpy(s, arg))
    if s.dtype != np.float32:
        raise TypeError(f"{arg} must be float32 (as torch._scaled_mm takes it), got dtype "
                        f"{s.dtype}")
    if s.size == 1 and s.ndim <= 2:
        return "tensor", s.reshape(())
    if s.shape == shape_row:
        return "row", s.reshape(-1)
    raise ValueError(f"{arg} has shape {s.shape}; allowed: one value (per tensor) or "
                     f"{shape_row} (row-wise)")


def _out_dtype(o):
    if o is None:
        raise ValueError("out_dtype is required: one of float32, bfloat16, float16 "
                         "(an FP8 output, torch's default, is not modelled)")
    name = str(o).replace("torch.", "")
    name = {"float": "float32", "half": "float16"}.get(name, name)
    if name not in OUT_DTYPES:
        raise ValueError(f"out_dtype={o!r}; allowed: {', '.join(OUT_DTYPES)}")
    return name


def _check_split(split_k, K, lib):
    if isinstance(split_k, bool) or not isinstance(split_k, (int, np.integer)) or split_k < 1:
        raise ValueError(f"split_k={split_k!r}: a positive number of parts (None: the "
                         f"library's own choice at this shape)")
    tiles = -(-K // lib.k_tile)
    if split_k > tiles:
        raise ValueError(f"split_k={split_k}: K={K} has only {tiles} k-tiles of {lib.k_tile}")
    return int(split_k)


def scaled_mm(a, b, scale_a, scale_b, *, out_dtype, use_fast_accum: bool = False, bias=None,
              library: str = "cublas", split_k: int | None = None, fmt_a: str | None = None,
              fmt_b: str | None = None):
    """``torch._scaled_mm(a, b, scale_a, scale_b, bias, out_dtype=..., use_fast_accum=...)``
    as the library row runs it (default ``cublas``: cuBLAS 13.0 on an H100/H200).

    a          (M, K) FP8 E4M3/E5M2: an ml_dtypes array, a CPU torch tensor, or uint8
               codes with ``fmt_a``.
    b          (K, N) likewise (``fmt_b``).
    scale_a    float32: one value (per tensor) or (M, 1) (row-wise).
    scale_b    float32: one value or (1, N); both per tensor or both row-wise.
    out_dtype  "float32", "bfloat16" or "float16" (or the torch / numpy dtype).
    bias       (N,) in the output type (or None; cuBLAS takes none with a float32 output).
    split_k    how many parts K is split into (None: what the library picks at this
               shape, as measured; a number: what ``CUBLASLT_LOG_LEVEL=2`` shows as
               ``numSplitsK`` for another shape or version).

    Returns an (M, N) array of the output type (a torch tensor if ``a`` is one).
    """
    lib = gemm_library(library)
    torch_in = is_torch_tensor(a)
    ca, fa = _operand(a, "a", fmt_a)
    cb, fb = _operand(b, "b", fmt_b)
    (M, K), (K2, N) = ca.shape, cb.shape
    if K != K2:
        raise ValueError(f"a is {ca.shape} and b is {cb.shape}: K must match ({K} != {K2})")
    for arg, n in (("K", K), ("N", N)):
        if n % lib.k_multiple:
            raise ValueError(f"{arg}={n}: {lib.name} (torch._scaled_mm) needs K and N to be "
                             f"multiples of {lib.k_multiple}")
    if (fa, fb) not in lib.pairs:
        raise ValueError(f"a={fa} with b={fb}: {lib.name} takes "
                         f"{', '.join(f'{x} x {y}' for x, y in lib.pairs)}")
    if not isinstance(use_fast_accum, (bool, np.bool_)):
        raise TypeError(f"use_fast_accum must be True or False, got {use_fast_accum!r}")
    out = _out_dtype(out_dtype)
    ka, sa = _scale(scale_a, "scale_a", (M, 1))
    kb, sb = _scale(scale_b, "scale_b", (1, N))
    if ka != kb and M == 1 and sa.size == 1:  # (1, 1) is also row-wise for one row, as in torch
        ka, sa = "row", sa.reshape(1)
    if ka != kb and N == 1 and sb.size == 1:
        kb, sb = "row", sb.reshape(1)
    if ka != kb:
        raise ValueError(f"scale_a is {'per tensor' if ka == 'tensor' else 'row-wise'} and "
                         f"scale_b {'per tensor' if kb == 'tensor' else 'row-wise'}: "
                         f"{lib.name} takes both per tensor or both row-wise")
    if out not in lib.out_dtypes[ka]:
        raise ValueError(f"out_dtype={out!r} with {ka} scales: {lib.name} offers "
                         f"{', '.join(lib.out_dtypes[ka])}")
    rule = lib.bias[out]
    if bias is not None:
        bv = np.asarray(as_numpy(bias, "bias"))
        if rule == "none":
            raise ValueError(f"bias with out_dtype={out!r}: {lib.name} takes no bias there "
                             f"(torch: 'Bias is not supported when out_dtype is set to "
                             f"Float32'); allowed with: "
                             f"{', '.join(o for o, r in lib.bias.items() if r != 'none')}")
        if bv.dtype.name != out:
            raise TypeError(f"bias must have the output type {out}, got dtype {bv.dtype}")
        if bv.shape != (N,):
            raise ValueError(f"bias has shape {bv.shape}; it must be ({N},)")
    model = accumulator(lib.accumulate(bool(use_fast_accum)))
    parts = lib.splits(M, N, K, ka, out) if split_k is None else _check_split(split_k, K, lib)
    if split_k is None and ka == "row" and bias is not None and use_fast_accum and \
            lib.no_row_bias_fast_split and lib.splits(M, N, K, "tensor", out) > 1:
        raise ValueError(f"row-wise scales with a bias and use_fast_accum=True at (M, N, K) = "
                         f"({M}, {N}, {K}): {lib.name} finds no kernel "
                         f"(CUBLAS_STATUS_NOT_SUPPORTED) where its heuristic splits K")
    # split-K: each part of K from zero on the accumulator row, the float32
    # partial sums added in order (cuBLASLt's splitKreduce, SPEC 8.8)
    acc = None
    for k0, k1 in lib.split_bounds(K, parts):
        p = matmul_elements(ca[:, k0:k1], cb[k0:k1], fa, fb, model)
        acc = p if acc is None else acc + p
    with np.errstate(over="ignore", invalid="ignore"):
        ep = lib.epilogue(ka)
        if ep == "acc_ab":
            y = acc * (sa * sb)
        elif ep == "acc_b_a":
            y = (acc * sb[None, :]) * sa[:, None]
        else:  # acc_a_b
            y = (acc * sa[:, None]) * sb[None, :]
        if bias is not None:
            y = y + bv.astype(np.float32)[None, :]
    r = round_float32(np.asarray(y, np.float32), out)
    return as_torch(r) if torch_in else r
