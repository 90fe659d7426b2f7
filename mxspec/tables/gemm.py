"""Scaled FP8 GEMMs as libraries run them: one row per library (and version),
read by one engine (:func:`mxspec.scaled_mm`, SPEC.md 8.8).

A row names the accumulator row each accumulation mode runs, the element
pairs and output types it takes, and its epilogue: how the float32
accumulator meets the scales and the bias and becomes the output.

>>> gemm_library("cublas").accumulate(fast=True)
'cublas_fp8_fast'
>>> gemm_library("cublas").epilogue("row")
'acc_b_a'
"""
from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass, field

__all__ = ["GemmLibrary", "gemm_library", "gemm_libraries", "EPILOGUES", "BIAS_RULES",
           "OUT_DTYPES", "UnmeasuredShapeWarning"]

OUT_DTYPES = ("float32", "bfloat16", "float16")
SCALE_KINDS = ("tensor", "row")

# How the scales meet the float32 accumulator acc (each product rounded to
# float32, nearest even); sa, sb the scales of a and b (per tensor: scalars; row
# wise: sa[i] of a's row i, sb[j] of b's column j).
EPILOGUES = {
    "acc_ab": "fl32(acc * fl32(sa * sb)): the two scales multiplied first (cuBLAS's alpha)",
    "acc_b_a": "fl32(fl32(acc * sb[j]) * sa[i]): b's column scale first, then a's row scale",
    "acc_a_b": "fl32(fl32(acc * sa[i]) * sb[j]): a's row scale first",
}
# Where a bias enters: y the scaled float32 result, bias[j] widened to float32.
BIAS_RULES = {
    "add32": "fl32(y + bias[j]), then rounded once to the output type",
    "none": "no bias",
}


class UnmeasuredShapeWarning(UserWarning):
    """A library row's kernel choice at this shape comes from the nearest measured one."""


@dataclass(frozen=True)
class GemmLibrary:
    """One library's scaled FP8 GEMM (SPEC.md 8.8).

    accumulators  the accumulator rows of (default mode, fast accumulation).
    pairs         (format_a, format_b) the library takes.
    out_dtypes    per scale kind ("tensor", "row"): the output types it offers.
    epilogues     per scale kind: a key of EPILOGUES.
    bias          per output type: a key of BIAS_RULES ("none": a bias is refused).
    split_k       the module of this package with the measured split table (GRID,
                  SPLITS), or "" (never splits).
    k_tile        the K granularity of a part (split_bounds).
    no_row_bias_fast_split  True: row-wise scales with a bias and fast accumulation
                  find no kernel at a shape the per-tensor heuristic splits.
    k_multiple    K and N must be multiples of it (torch._scaled_mm's own check).
    measured      the library version, chip and capture the row reproduces.
    """

    name: str
    accumulators: tuple
    pairs: tuple
    out_dtypes: dict
    epilogues: dict
    bias: dict
    k_multiple: int = 16
    split_k: str = ""
    no_row_bias_fast_split: bool = False
    k_tile: int = 128
    measured: str = ""
    description: str = field(default="", compare=False)

    def accumulate(self, fast: bool) -> str:
        """The accumulator row of one accumulation mode."""
        return self.accumulators[1 if fast else 0]

    def splits(self, M: int, N: int, K: int, kind: str, out: str = "float32") -> int:
        """How many parts the GEMM's K is split into at this shape (1: none),
        as the library's heuristic chose it on the measured grid (``split_k``:
        the module holding the table); row-wise scaled kernels never split.
        Off the grid: no split below the smallest K the grid ever splits, else
        the nearest measured shape's choice with an :class:`UnmeasuredShapeWarning`."""
        if kind == "row" or not self.split_k:
            return 1
        t = importlib.import_module(f"{__package__}.{self.split_k}")
        table = t.SPLITS["float32" if out == "float32" else "bfloat16"]
        if K not in table:
            table = t.SPLITS["float32"]  # K not measured for this output: float32's
        grid = t.GRID
        if M in grid and N in grid and K in table:
            row = table[K]
            return 1 if row == "1" else int(row[grid.index(M) * len(grid) + grid.index(N)])
        lowest = min((k for k, v in table.items() if v.strip("1")), default=None)
        if lowest is None or K < lowest:
            return 1
        def dist(m, n, k):
            return abs(math.log2(m / M)) + abs(math.log2(n / N)) + abs(math.log2(k / K))
        m, n, k = min(((m, n, k) for m in grid for n in grid for k in table),
                      key=lambda g: dist(*g))
        s = 1 if table[k] == "1" else int(table[k][grid.index(m) * len(grid) + grid.index(n)])
        warnings.warn(f"{self.name}: the kernel choice at (M, N, K) = ({M}, {N}, {K}) was not "
                      f"measured; the nearest measured shape ({m}, {n}, {k}) splits K into {s} "
                      f"(left out, the nearest shape agrees with the heuristic on 85-90% of the "
                      f"grid); pass split_k= from CUBLASLT_LOG_LEVEL=2's numSplitsK to be sure",
                      UnmeasuredShapeWarning, stacklevel=3)
        return s

    def split_bounds(self, K: int, parts: int) -> list:
        """The K ranges of the parts: ceil(K / k_tile / parts) k-tiles each, the
        last one shorter."""
        tiles = -(-K // self.k_tile)
        ch = -(-tiles // parts) * self.k_tile
        return [(k0, min(K, k0 + ch)) for k0 in range(0, K, ch)]

    def epilogue(self, kind: str) -> str:
        """The epilogue key of a scale kind ("tensor" or "row")."""
        return self.epilogues[kind]


_FP8_PAIRS = (("fp8_e4m3", "fp8_e4m3"), ("fp8_e4m3", "fp8_e5m2"), ("fp8_e5m2", "fp8_e4m3"))

_TABLE = {r.name: r for r in (
    GemmLibrary(
        "cublas_sm90", ("cublas_fp8", "cublas_fp8_fast"), _FP8_PAIRS,
        out_dtypes={"tensor": OUT_DTYPES, "row": OUT_DTYPES},
        epilogues={"tensor": "acc_ab", "row": "acc_b_a"},
        bias={"float32": "none", "bfloat16": "add32", "float16": "add32"},
        split_k="cublas_sm90_splits", no_row_bias_fast_split=True,
        measured="cuBLAS 13.0 through torch 2.11 on an H100 and an H200 (sm_90)",
        description="torch._scaled_mm on an H100/H200: cuBLASLt's FP8 GEMM (per-tensor "
                    "scales) and torch's row-wise scaled kernel"),
)}
ALIASES = {"cublas": "cublas_sm90", "torch": "cublas_sm90", "h100": "cublas_sm90",
           "h200": "cublas_sm90"}


def gemm_library(name) -> GemmLibrary:
    """A row by name (or alias: ``cublas``, ``torch``, ``h100``, ``h200``); a row passes through."""
    if isinstance(name, GemmLibrary):
        return name
    if not isinstance(name, str):
        raise TypeError(f"library must be a name or a GemmLibrary, got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in _TABLE:
        raise ValueError(f"library={name!r}; allowed: {', '.join(_TABLE)} "
                         f"(aliases: {', '.join(ALIASES)})")
    return _TABLE[key]


def gemm_libraries() -> list[str]:
    """Names of the rows."""
    return list(_TABLE)
