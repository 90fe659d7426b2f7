"""Block formats as rows of one table: an element format under levels of
scales (SPEC.md sections 4, 9 and 11).

Every family is the same record, :class:`BlockFormat`: an element format, its
scale levels outermost first (each a :class:`ScaleLevel`: the group it covers,
the scale's format and the rule that picks it), the recipe, and the engine that
runs it.  MX is one level of E8M0 scales; NVFP4 a float32 tensor level above
UE4M3 block scales; HiF4 and MX4/6/9 a base scale per unit and levels of
one-bit micro-exponents.  :func:`block_format` is the one registry: any name
or record of any family gives its row, and :func:`block_formats` lists them.

>>> f = block_format("nvfp4")
>>> f.engine, [(lv.group, lv.scale) for lv in f.levels]
('scaled', [('tensor', 'float32'), (16, 'ue4m3')])
>>> [(lv.group, lv.scale) for lv in block_format("hif4").levels]
[(64, 'e6m2'), (8, 'bit'), (4, 'bit')]
>>> block_format("mxfp8_e4m3").levels[0].scale, block_format("nvfp4", recipe="modelopt").name
('e8m0', 'nvfp4:modelopt')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .element import ElementFormat, FormatError, element_format

__all__ = ["Recipe", "MXRecipe", "MX_RECIPES", "IntRecipe", "INT_RECIPES", "int_formats", "ScaleLevel", "BlockFormat", "block_format", "block_formats", "family_of", "mx_format",
           "mx_formats", "micro_format", "micro_formats", "RECIPES", "ENGINES"]

TENSOR_RULES = ("divisor", "multiplier", "amax")
BLOCK_RULES = ("exact", "amax_over_6ts", "amax6_over_ts", "gs_times_amax6", "amax_times_recip",
               "amax_times_recip_pow2", "amax_over_emax", "amax_over_emax_pow2")
ELEMENT_RULES = ("exact", "divide_product", "multiply_reciprocal", "divide_ratio",
                 "times_recip_of_product", "times_emax_over_amax", "times_recip_of_scale")
DECODE_RULES = ("exact", "product", "ratio", "amax")
# Per-block choices between two candidates (SPEC.md 9.10) and what picks the winner.
CHOICES = (None, "four_over_six", "if4")
SELECT_RULES = ("mse", "mae", "abs_max")
# The engines of the block layer, one per family (mxspec.block.api dispatches on this).
ENGINES = ("mx", "scaled", "micro", "affine")
# Scale formats a level can have: rows of the element table where one exists
# (e8m0; ue4m3 is fp8_e4m3 with its sign bit 0), float32 values, HiF4's E6M2
# base, MXn's 8-bit shared exponent, one-bit micro-exponents, and the float16
# and bfloat16 values of integer groups.
SCALE_FORMATS = ("e8m0", "ue4m3", "float32", "e6m2", "e8", "bit", "float16", "bfloat16")
# The scale dtypes of integer groups (the affine family, SPEC.md 12).
INT_SCALES = ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class Recipe:
    """How a two-level block-scaled format's scales are computed and applied
    (SPEC.md 9.2 has a table of every field).

    tensor      "divisor": ts = amax / (emax_el * emax_scale), values are
                element x block scale x ts; "multiplier": gs = (emax_el *
                emax_scale) / amax, computed as fl(fl(1 / amax) x 2688) (as
                torch evaluates a number over a tensor), values are element x
                block scale / gs.
    arithmetic  "exact" (each quantity exact, rounded once) or "float32" (the
                float32 operations in the order the block/element rules name).
    block       the block scale before it is rounded to the scale format:
                "exact" bamax / (6 ts); "amax_over_6ts" fl(bamax / fl(6 ts));
                "amax6_over_ts" fl(fl(bamax / 6) / ts); "gs_times_amax6"
                fl(gs * fl(bamax / 6)); "amax_times_recip" fl(max(bamax, amax_min) *
                fl(1 / max)), max the element's largest value (what DeepSeek's Triton
                kernel and torch on CUDA compute for amax / 448); "amax_times_recip_pow2"
                that rounded up to a power of two, 2^ceil(log2 s) (DeepSeek-V3.1's
                ue8m0 scales); "amax_over_emax" fl(max(bamax, amax_min) / max), a true
                division (torch on the CPU); "amax_over_emax_pow2" that rounded up
                to a power of two.
    amax_min    a block's largest magnitude below this is raised to it first (0: none).
    scale_min   a block scale below this is raised to it before rounding
                (0: none); zero_to: the value that a block scale of zero becomes
                before that clamp (None: stays 0); zero_after: the value that a
                block scale that rounded to zero becomes (None: stays 0, and the
                block's elements encode as signed zeros).
    elements    "exact" x / (bs ts); "divide_product" fl(x / fl(bs ts));
                "multiply_reciprocal" fl(x * fl(fl(1 / ts) / bs));
                "divide_ratio" fl(x / fl(bs / gs)); "times_recip_of_product"
                fl(x * fl(1 / fl(fl(1 / gs) * bs))) (fouroversix); "times_emax_over_amax"
                fl(x * fl(fl(1 / a) * max)), a the block's clamped amax (DeepGEMM's
                x * (448 / amax): torch evaluates a number over a tensor as its
                reciprocal times the number); "times_recip_of_scale" fl(x * fl(1 / bs))
                (DeepGEMM's x * (1 / sf)).  The result is rounded to
                nearest even in the element format, saturating at its max.
    decode      "exact" element x bs x ts rounded once; "product"
                fl(element x fl(bs ts)); "ratio" fl(element x fl(bs / gs));
                "amax" element x bs x amax / top rounded once.
    zero_in     the code of a scaled value of exactly -0.0: "signed" (-0) or
                "positive" (+0); a negative value that rounds to zero gives -0
                in every recipe.
    zero_out    what code -0 decodes to: "signed" (-0) or "positive" (+0, as
                ModelOpt's value table has it).
    zero_block  the codes of a block whose scale is zero: "signed" (zeros of the
                inputs' signs) or "positive" (+0, fouroversix's where(scale != 0)).
    scale_cap   the block scale's largest value in the tensor scale's top (None:
                the scale format's max; Four Over Six: 256, so that 1.5 x fits).
    choice      None, or "four_over_six": each block is encoded twice, its scale
                from bamax / 6 and that x 1.5 (max mapped to 4), and the one with
                the smaller error is kept (a tie keeps the first); or "if4": the
                block's one scale, its elements as E2M1 or as integers -7..7
                worth 6/7 each, the integers kept if their error is smaller (the
                scale byte's sign bit says so; SPEC.md 9.11).  ``select`` names
                the error: "mse" (sum of squares), "mae" (sum of |error|),
                "abs_max" (largest |error|), computed as SPEC.md 9.10 says.
    """

    name: str
    arithmetic: str = "exact"
    tensor: str = "divisor"
    block: str = "exact"
    scale_min: float = 0.0
    zero_to: float | None = None
    zero_after: float | None = None
    elements: str = "exact"
    decode: str = "exact"
    zero_in: str = "signed"
    zero_out: str = "signed"
    amax_min: float = 0.0
    takes: tuple | None = (("fp4_e2m1", "ue4m3"),)  # (element, scale) pairs; None: any
    zero_block: str = "signed"
    scale_cap: float | None = None
    choice: str | None = None
    select: str = "mse"
    description: str = field(default="", compare=False)

    def __post_init__(self):
        for arg, v, allowed in (("tensor", self.tensor, TENSOR_RULES),
                                ("block", self.block, BLOCK_RULES),
                                ("elements", self.elements, ELEMENT_RULES),
                                ("decode", self.decode, DECODE_RULES),
                                ("choice", self.choice, CHOICES),
                                ("select", self.select, SELECT_RULES),
                                ("zero_block", self.zero_block, ("signed", "positive")),
                                ("arithmetic", self.arithmetic, ("exact", "float32"))):
            if v not in allowed:
                raise ValueError(f"recipe {self.name!r}: {arg}={v!r}; allowed: "
                                 f"{', '.join(map(str, allowed))}")


RECIPES = {r.name: r for r in (
    Recipe("exact", takes=None, description=(
        "NVIDIA's recipe with every quantity exact and rounded once: ts = amax / (6 * 448) "
        "to float32, block scale bamax / (6 ts) to E4M3 (RNE, saturating), elements "
        "x / (bs ts) to E2M1 (RNE, saturating); decode rounds element x bs x ts once")),
    Recipe("modelopt", "float32", "divisor", "amax_over_6ts", scale_min=2.0 ** -9, zero_to=1.0,
           elements="divide_product", decode="product", zero_in="positive",
           zero_out="positive", description=(
               "NVIDIA ModelOpt 0.47 NVFP4QTensor: float32 ts = amax / 2688, "
               "bs = fl(bamax / fl(6 ts)), 0 -> 1, clamped to [2^-9, 448]; elements "
               "fl(x / fl(bs ts))")),
    Recipe("torchao", "float32", "divisor", "amax6_over_ts", scale_min=2.0 ** -6,
           elements="multiply_reciprocal", decode="product", description=(
               "torchao 0.18 nvfp4_quantize: bs = fl(fl(bamax / 6) / ts) clamped to "
               "[2^-6, 448]; elements x * fl(fl(1 / ts) / bs), a float32 reciprocal")),
    Recipe("compressed_tensors", "float32", "multiplier", "gs_times_amax6", zero_after=0.125,
           elements="divide_ratio", decode="ratio", zero_in="positive", description=(
               "compressed-tensors 0.20 nvfp4-pack-quantized: gs = fl(fl(1 / amax) * 2688) "
               "(a multiplier), bs = fl(gs * fl(bamax / 6)) clamped to 448, a zero scale -> "
               "0.125; elements fl(x / fl(bs / gs))")),
    Recipe("fouroversix", "float32", "amax", "gs_times_amax6", elements="times_recip_of_product",
           decode="amax", zero_in="positive", zero_block="positive", description=(
               "fouroversix 1.0.5 quantize_to_fp4 (its PyTorch reference, scale_rule=static_6): "
               "the tensor's amax stored, gs = fl(2688 / amax), bs = fl(fl(bamax / 6) * gs) to "
               "E4M3, elements fl(x * fl(1 / fl(fl(1 / gs) * bs))) to E2M1 (RNE, saturating); "
               "a zero scale gives +0 codes; values e * bs * amax / 2688")),
) + tuple(
    Recipe(name, "float32", "amax", "gs_times_amax6", elements="times_recip_of_product",
           decode="amax", zero_in="positive", zero_block="positive", scale_cap=256.0,
           choice="four_over_six",
           select=sel, description=(
               f"Four Over Six (arXiv 2512.02010; fouroversix 1.0.5, scale_rule={sel}): as "
               "fouroversix with top 6 * 256 = 1536; each block encoded with bs and with "
               "fl(bs_raw * 1.5) (its max mapped to 4), the one with the smaller "
               + {"mse": "sum of squared errors", "mae": "sum of absolute errors",
                  "abs_max": "largest absolute error"}[sel]
               + " kept (a tie keeps bs)" + ("; = 4over6_mse" if name == "4over6" else "")))
    for name, sel in (("4over6", "mse"), ("4over6_mse", "mse"), ("4over6_mae", "mae"),
                      ("4over6_abs_max", "abs_max"))
) + (
    Recipe("if4", "float32", "amax", "gs_times_amax6", elements="times_recip_of_product",
           decode="amax", zero_in="positive", zero_block="positive", choice="if4",
           description=(
               "IF4 (fouroversix 1.0.5, DataType.if4, scale_rule=mse): fouroversix's NVFP4 "
               "order (top 2688); per block the E2M1 codes or integers RNE(clamp(fl(v * "
               "fl(7/6)), -7, 7)) worth 6/7 each, whichever has the smaller sum of squared "
               "errors (a tie keeps E2M1); the integers set the scale byte's sign bit")),
) + tuple(
    Recipe(name, "float32", "amax", "gs_times_amax6", elements="times_recip_of_product",
           decode="amax", zero_in="positive", zero_block="positive", choice="if4", select=sel,
           description=f"IF4 as if4, the choice by the {what} (scale_rule={sel})")
    for name, sel, what in (("if4_mae", "mae", "sum of absolute errors"),
                            ("if4_abs_max", "abs_max", "largest absolute error"))
) + (
    Recipe("deepseek", "float32", "divisor", "amax_times_recip", elements="divide_product",
           decode="product", amax_min=1e-4, takes=(("fp8_e4m3", "float32"),), description=(
               "DeepSeek-V3 inference/kernel.py act_quant (Triton): per group of 128 amax "
               "clamped below at fl(1e-4), s = fl(amax * fl(1 / 448)) (Triton 3.6's "
               "div.full.f32 of amax by 448 gives that product, not amax / 448), elements "
               "fl(x / s) to E4M3 (RNE, saturating); float32 scales; dequantization "
               "fl(code x s)")),
    Recipe("deepseek_ue8m0", "float32", "divisor", "amax_times_recip_pow2",
           elements="divide_product", decode="product", amax_min=1e-4,
           takes=(("fp8_e4m3", "float32"),), description=(
               "DeepSeek-V3.1 act_quant with scale_fmt='ue8m0': s as deepseek, rounded up to "
               "a power of two, 2^ceil(log2 s), exactly; elements fl(x / s) to E4M3")),
) + tuple(
    Recipe(name, "float32", "divisor", block, elements=elements, decode="product",
           amax_min=1e-4, takes=(("fp8_e4m3", "float32"),), description=text)
    for name, block, elements, text in (
        ("deepgemm", "amax_times_recip", "times_emax_over_amax",
         "DeepGEMM's per_block_cast_to_fp8 / per_token_cast_to_fp8 (first releases) as torch "
         "runs them on CUDA: amax clamped at fl(1e-4), s = fl(amax x fl(1/448)) (ATen "
         "divides by a number as a multiplication by its float32 reciprocal), elements "
         "fl(x x fl(fl(1/amax) x 448)) to E4M3"),
        ("deepgemm_cpu", "amax_over_emax", "times_emax_over_amax",
         "deepgemm as torch runs it on the CPU: s = fl(amax / 448), a true division"),
        ("deepgemm_recip", "amax_times_recip", "times_recip_of_scale",
         "DeepGEMM's casts with use_ue8m0=False (later releases) on CUDA: s as deepgemm, "
         "elements fl(x x fl(1 / s))"),
        ("deepgemm_recip_cpu", "amax_over_emax", "times_recip_of_scale",
         "deepgemm_recip on the CPU: s = fl(amax / 448)"),
        ("deepgemm_ue8m0_cpu", "amax_over_emax_pow2", "divide_product",
         "DeepGEMM's use_ue8m0=True on the CPU: 2^ceil(log2 fl(amax / 448)), exactly "
         "(on CUDA it is deepseek_ue8m0)"),
    )
)}


@dataclass(frozen=True)
class MXRecipe:
    """A library's choices for an MX format, fixed together (SPEC.md 4.5): the
    element ``rounding``, the ``scale_rule``, whether zeros are signed, the
    ``input`` type the values are first cast to ("float32" or "as given"), the
    element types it is defined for, and how codes ``decode``: "mx" (OCP: a
    scale byte of 0xFF is NaN, -0 stays -0) or "gguf" (ggml's half-scale
    tables: byte e is 2^(e-127) for every e, 0xFF included, and code -0 is +0).
    Encoding a block that holds a NaN or an Inf follows the rule's own text
    (the gguf rule: SPEC.md 4.5)."""

    name: str
    rounding: str
    scale_rule: str
    zeros: str = "signed"
    input: str = "as given"
    elements: tuple = ()
    decode: str = "mx"
    description: str = field(default="", compare=False)

    @property
    def policies(self) -> dict:
        """The encode policies this recipe fixes (a caller may not give others)."""
        return {"rounding": self.rounding, "scale_rule": self.scale_rule, "zeros": self.zeros,
                "zero_scale": "min", "inf": "nan_scale", "overflow": "saturate",
                "nan": "keep_sign", "int_range": "symmetric"}


MX_RECIPES = {r.name: r for r in (
    MXRecipe("gguf", rounding="rnz", scale_rule="gguf", zeros="unsigned", input="float32",
             elements=("fp4_e2m1",), decode="gguf", description=(
                 "gguf-py 0.18-0.19 / llama.cpp block_mxfp4: values cast to float32; "
                 "scale byte floor(log2 amax rounded to float32) - 2 + 127 modulo 256 (0 for "
                 "an all-zero block or one holding a NaN or an Inf); each element the first "
                 "of the 16 E2M1 codes nearest to it (ties toward zero, never -0)")),
)}


@dataclass(frozen=True)
class IntRecipe:
    """How an integer group's scale, zero point and codes are computed (SPEC.md
    12.2).  Every recipe uses the same formulas (those of GPTQ and
    compressed-tensors): lo = min(group min, 0), hi = max(group max, 0);
    symmetric s = max(-lo, hi) / (2^(b-1) - 1/2); with a zero point s = (hi -
    lo) / (2^b - 1) and zp = round(qmin - lo / s) clamped to [qmin, qmax]; a
    scale of 0 becomes the scale dtype's eps; q = round(x / s + zp) clamped;
    the value (q - zp) s.  ``arithmetic`` says how they are evaluated:
    "exact" (each quantity exact, rounded once: the scale to its dtype, zp and
    q to the nearest integer, ties to even) or "scale dtype" (as
    compressed-tensors runs them in torch: the values first rounded to the
    scale's dtype, and every operation rounded to it)."""

    name: str
    arithmetic: str = "exact"
    description: str = field(default="", compare=False)

    def __post_init__(self):
        if self.arithmetic not in ("exact", "scale dtype"):
            raise ValueError(f"recipe {self.name!r}: arithmetic={self.arithmetic!r}; allowed: "
                             f"exact, scale dtype")


INT_RECIPES = {r.name: r for r in (
    IntRecipe("exact", "exact", description=(
        "each quantity exact and rounded once: the scale to its dtype (nearest even), the "
        "zero point and the codes to the nearest integer (ties to even)")),
    IntRecipe("compressed_tensors", "scale dtype", description=(
        "compressed-tensors 0.20 calculate_qparams / quantize / dequantize on the CPU: the "
        "weights in the scale's dtype and every torch operation rounded to it; the zero "
        "point computed before a zero scale becomes eps (0 / 0 gives zero point 0)")),
)}


@dataclass(frozen=True)
class ScaleLevel:
    """One level of scales.  ``group``: the elements one scale covers along the
    blocked axis (an int), a 2D tile (rows, columns: one scale per tile of a
    matrix, the columns along the blocked axis), or "tensor" (one scale for
    the whole tensor);
    ``scale``: one of SCALE_FORMATS; ``rule``: how the scale is chosen (the MX
    rules floor/ceil/even are call arguments, so an MX level says "shared
    exponent"); ``threshold``: a micro level's bit is 1 when the group's max,
    under the levels above, reaches it."""

    group: int | str
    scale: str
    rule: str = ""
    threshold: float | None = None
    zero_point: bool = False  # integer groups: an integer zero point beside each scale

    @property
    def format(self) -> ElementFormat | None:
        """The scale's row of the element table: e8m0 (and MXn's E8 shared exponent,
        whose codes are E8M0's), fp8_e4m3 for ue4m3 (sign bit 0), e6m2; None for
        float32 scales (values, not codes: the element table holds 2..8-bit rows) and
        for one-bit micro-exponents."""
        name = {"e8m0": "e8m0", "e8": "e8m0", "ue4m3": "fp8_e4m3", "e6m2": "e6m2"}.get(self.scale)
        return None if name is None else element_format(name)

    def __post_init__(self):
        if self.scale not in SCALE_FORMATS:
            raise ValueError(f"ScaleLevel: scale={self.scale!r}; allowed: "
                             f"{', '.join(SCALE_FORMATS)}")
        g = self.group
        tile = isinstance(g, tuple) and len(g) == 2 and all(
            isinstance(v, int) and v >= 1 for v in g)
        if g != "tensor" and not tile and (not isinstance(g, int) or g < 1):
            raise ValueError(f"ScaleLevel: group must be an int >= 1, a (rows, columns) tile "
                             f"or 'tensor', got {g!r}")


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format of any family (see the module's text).  Facts the
    engines read are derived from the levels: ``block_size`` (the group of the
    outermost level that is not the tensor's), ``tensor_scale``, ``scale``
    (the block scale's element-table row, None for float32 values), the micro
    levels as (group, threshold) pairs."""

    name: str
    element: ElementFormat
    levels: tuple
    engine: str
    recipe: Recipe | None = None
    base: str = ""            # the name without a recipe suffix
    offset: int = 0           # micro pow2 bases: E = floor(log2 max) - offset
    description: str = field(default="", compare=False)

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"BlockFormat: engine={self.engine!r}; allowed: {', '.join(ENGINES)}")

    @property
    def family(self) -> str:
        return self.engine

    @property
    def block_level(self) -> ScaleLevel:
        return next(lv for lv in self.levels if lv.group != "tensor")

    @property
    def block_size(self) -> int:
        """The block (MX: the default, any block size may be asked for), or the unit;
        a 2D tile's columns."""
        g = self.block_level.group
        return g[-1] if isinstance(g, tuple) else g

    @property
    def tile_rows(self) -> int:
        """The rows a block scale covers across the blocked axis: 1, or a 2D tile's
        rows (nvfp4_2d: 16; SPEC.md 9.12)."""
        g = self.block_level.group
        return g[0] if isinstance(g, tuple) else 1

    @property
    def unit(self) -> int:
        return self.block_size

    @property
    def tensor_scale(self) -> bool:
        return any(lv.group == "tensor" for lv in self.levels)

    @property
    def scale_kind(self) -> str:
        return self.block_level.scale

    @property
    def scale(self) -> ElementFormat | None:
        """The block scale's element-table row (E8M0; E4M3 for ue4m3); None for
        float32 values and the micro bases (E6M2, E8), which have their own rule."""
        return self.block_level.format if self.engine in ("mx", "scaled") else None

    @property
    def scale_max(self) -> float:
        return self.scale.max_normal if self.scale is not None else float(np.finfo(np.float32).max)

    @property
    def zero_point(self) -> bool:
        """Whether each block has an integer zero point (asymmetric integer groups)."""
        return any(lv.zero_point for lv in self.levels)

    @property
    def micro_levels(self) -> tuple:
        """((group, threshold), ...) of the one-bit levels, outermost first."""
        return tuple((lv.group, lv.threshold) for lv in self.levels if lv.scale == "bit")

    @property
    def unit_bytes(self) -> int:
        """A micro format's packed unit: the base byte, each level's bits (whole
        bytes), the elements' bit stream (SPEC.md 11.2)."""
        lv = sum(-(-(self.unit // g) // 8) for g, _ in self.micro_levels)
        return 1 + lv + -(-(self.unit * self.element.bits) // 8)

    @property
    def base_scale(self) -> str:
        """A micro format's base rule: "pow2" (an E8 shared exponent) or "e6m2"."""
        return "pow2" if self.scale_kind == "e8" else self.scale_kind

    def __repr__(self) -> str:
        return f"BlockFormat({self.name!r})"


# ---- MX: one level of E8M0 scales over blocks of 32 (the default) --------------------------

_MX_NAMES = {
    "mxfp8_e4m3": "fp8_e4m3", "mxfp8_e5m2": "fp8_e5m2", "mxfp6_e3m2": "fp6_e3m2",
    "mxfp6_e2m3": "fp6_e2m3", "mxfp4_e2m1": "fp4_e2m1", "mxint8": "int8", "mxint4": "int4",
}
# What torchao users type: FP4 has one MX element type; FP8 and FP6 have two each.
MX_ALIASES = {"mxfp4": "mxfp4_e2m1"}
MX_AMBIGUOUS = {"mxfp8": ("mxfp8_e4m3", "mxfp8_e5m2"), "mxfp6": ("mxfp6_e3m2", "mxfp6_e2m3")}
_MX_LEVEL = (ScaleLevel(32, "e8m0", "shared exponent (scale_rule)"),)


def _mx_key(name):
    key = name.strip().lower()
    return MX_ALIASES.get(key, key)


def mx_format(name) -> BlockFormat:
    """An MX format by name: one of :func:`mx_formats`, or ``mx`` + any element
    format name (``mxint2``, ``mxfp5_e2m2``).

    >>> mx_format("mxfp4_e2m1").element.max_normal
    6.0
    """
    if isinstance(name, BlockFormat):
        if name.engine != "mx":
            raise FormatError(f"{name.name} is not an MX format (it is a {name.engine} format)")
        return name
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    if ":" in name:  # an MX format under a recipe (mxfp4_e2m1:gguf)
        return mx_format(block_format(name))
    key = _mx_key(name)
    if key in MX_AMBIGUOUS:
        raise FormatError(f"{name!r} names no single MX format: say which element type, "
                          f"{' or '.join(MX_AMBIGUOUS[key])}")
    if key.startswith("mx"):
        try:
            el = element_format(key[2:])
        except FormatError:
            el = None
        if el is not None and el.kind != "scale":
            return BlockFormat(key, el, _MX_LEVEL, "mx", base=key,
                               description=f"MX: {el.name} elements, an E8M0 scale per block")
    raise FormatError(f"unknown MX format {name!r}; valid names: {', '.join(_MX_NAMES)}, "
                      "or 'mx' + any element format name such as mxint2 or mxfp5_e2m2")


def mx_formats() -> list[str]:
    """Names of the standard MX formats (others are made on demand)."""
    return list(_MX_NAMES)


# ---- the NVFP4 family: UE4M3 or float32 block scales, an optional float32 tensor scale ----

SCALE_KINDS = ("ue4m3", "float32")

_SCALED = {
    "nvfp4": dict(element="fp4_e2m1", scale="ue4m3", block_size=16, tensor_scale=True),
    "nvfp4_block_only": dict(element="fp4_e2m1", scale="ue4m3", block_size=16,
                             tensor_scale=False),
    # IF4: NVFP4's layout, each block E2M1 or 4-bit integers by its scale's sign (SPEC.md 9.11)
    "if4": dict(element="fp4_e2m1", scale="ue4m3", block_size=16, tensor_scale=True,
                recipe="if4"),
    # NVIDIA's NVFP4 training recipe for weights: one scale per 16 x 16 tile (SPEC.md 9.12)
    "nvfp4_2d": dict(element="fp4_e2m1", scale="ue4m3", block_size=16, tensor_scale=True,
                     tile_rows=16),
    # IF4 over 16 x 16 tiles: E2M1 or integers chosen per tile (fouroversix's
    # block_scale_2d=True with DataType.if4; SPEC.md 9.12)
    "if4_2d": dict(element="fp4_e2m1", scale="ue4m3", block_size=16, tensor_scale=True,
                   recipe="if4", tile_rows=16),
    # DeepSeek-V3's FP8 activations: 1 x 128 groups, float32 scales (SPEC.md 9.8)
    "deepseek_fp8": dict(element="fp8_e4m3", scale="float32", block_size=128,
                         tensor_scale=False, recipe="deepseek"),
    "deepseek_fp8_ue8m0": dict(element="fp8_e4m3", scale="float32", block_size=128,
                               tensor_scale=False, recipe="deepseek_ue8m0"),
    # DeepSeek-V3's FP8 weights: one float32 scale per 128 x 128 tile (SPEC.md 9.13)
    "deepseek_fp8_2d": dict(element="fp8_e4m3", scale="float32", block_size=128,
                            tensor_scale=False, recipe="deepgemm", tile_rows=128),
    "deepseek_fp8_2d_ue8m0": dict(element="fp8_e4m3", scale="float32", block_size=128,
                                  tensor_scale=False, recipe="deepseek_ue8m0", tile_rows=128),
}
_GENERIC = re.compile(r"^bf\(\s*([\w.]+)\s*,\s*(\w+)\s*,\s*(\d+)\s*(?:,\s*(tensor)\s*)?\)$")


def _scaled(element, scale, block_size, tensor_scale, recipe, base, name=None, own=False,
            tile_rows=1):
    el = element_format(element)
    if el.kind not in ("float", "int") or not np.isfinite(el.max_normal) or el.max_normal <= 0:
        raise FormatError(f"element={el.name!r} cannot be a block format's element (it needs a "
                          f"finite largest value)")
    if scale == "e8m0":
        raise ValueError("scale='e8m0': E8M0-scaled blocks are the MX formats; use 'mx' + the "
                         "element's name (mxspec.encode(x, 'mx" + el.name + "'))")
    if scale not in SCALE_KINDS:
        raise ValueError(f"scale={scale!r} is not valid; allowed values: "
                         f"{', '.join(SCALE_KINDS)} (e8m0: the MX formats)")
    if scale == "float32" and tensor_scale:
        raise ValueError("scale='float32' takes no tensor scale (a float32 block scale has "
                         "float32's range already)")
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or \
            block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    recipe = "exact" if recipe is None else recipe
    if recipe not in RECIPES:
        raise ValueError(f"recipe={recipe!r} is not valid; allowed values: {', '.join(RECIPES)}")
    takes = RECIPES[recipe].takes
    if takes is not None and (el.name, scale) not in takes:
        raise ValueError(f"recipe={recipe!r} takes " + " or ".join(f"{e} elements with {c} "
                         "scales" for e, c in takes) + f", not {el.name} with {scale}")
    if RECIPES[recipe].choice == "if4" and base not in ("if4", "if4_2d"):
        raise ValueError(f"recipe={recipe!r} is IF4's (its codes are E2M1 or integers by "
                         f"block): use the if4 format")
    if RECIPES[recipe].tensor == "amax" and not tensor_scale:
        raise ValueError(f"recipe={recipe!r} stores the tensor's amax: it needs a tensor scale "
                         f"level (nvfp4, not a block-only format)")
    if name is None:
        name = f"bf({el.name},{scale},{int(block_size)}{',tensor' if tensor_scale else ''})"
    if recipe != "exact" and not own:  # a row of its own recipe keeps its name
        name = f"{name}:{recipe}"
    if tile_rows > 1 and RECIPES[recipe].choice is not None and \
            tile_rows * int(block_size) != 256:
        raise ValueError(f"recipe={recipe!r} over {tile_rows} x {int(block_size)} tiles: its "
                         f"error is summed as fouroversix sums a 16 x 16 tile (256 terms); "
                         f"other tile sizes are not built")
    group = (int(tile_rows), int(block_size)) if tile_rows > 1 else int(block_size)
    levels = ((ScaleLevel("tensor", "float32", RECIPES[recipe].tensor),) if tensor_scale else ()) \
        + (ScaleLevel(group, scale, RECIPES[recipe].block),)
    return BlockFormat(name, el, levels, "scaled", RECIPES[recipe], base or name,
                       description=f"{el.name} elements, a {scale} scale per "
                                   + (f"{tile_rows} x {int(block_size)} tile" if tile_rows > 1
                                      else f"{int(block_size)}")
                                   + (", a float32 tensor scale" if tensor_scale else ""))


def _scaled_by_name(key, recipe):
    m = _GENERIC.match(key)
    if m:
        el, sc, bs, ts = m.groups()
        return _scaled(el, sc, int(bs), ts is not None, recipe, "")
    row = _SCALED[key]
    own = row.get("recipe")
    if own is not None and recipe not in (None, own) and recipe in RECIPES and \
            RECIPES[recipe].choice == RECIPES[own].choice == "if4":
        # IF4's selection rules are recipes of its row: if4:if4_mae, if4_2d:if4_mae
        return _scaled(row["element"], row["scale"], row["block_size"], row["tensor_scale"],
                       recipe, key, key, tile_rows=row.get("tile_rows", 1))
    if own is None and recipe in RECIPES and RECIPES[recipe].choice == "if4":
        raise ValueError(f"recipe={recipe!r} is IF4's (its codes are E2M1 or integers by "
                         f"block): use the if4 format, not {key}")
    if own is not None and recipe not in (None, own) and recipe in RECIPES and \
            RECIPES[own].choice is None and RECIPES[recipe].choice is None and \
            (row["element"], row["scale"]) in (RECIPES[recipe].takes or ()):
        # another recipe made for the row's element and scale: deepseek_fp8_2d:deepgemm_cpu
        return _scaled(row["element"], row["scale"], row["block_size"], row["tensor_scale"],
                       recipe, key, key, tile_rows=row.get("tile_rows", 1))
    if own is not None and recipe not in (None, own):
        raise ValueError(f"{key} is the {own!r} recipe's row; recipe={recipe!r} is another "
                         f"(use bf({row['element']},{row['scale']},{row['block_size']}):{recipe})")
    return _scaled(row["element"], row["scale"], row["block_size"], row["tensor_scale"],
                   own if own is not None else recipe, key, key, own=own is not None,
                   tile_rows=row.get("tile_rows", 1))


# ---- micro-exponent formats: a base scale per unit, one-bit levels below it (SPEC.md 11) ----

def _micro(name, element, unit, base, offset, levels, description):
    base_level = ScaleLevel(unit, "e8" if base == "pow2" else base,
                            "floor(log2 max) - offset" if base == "pow2" else "hif4 recipe")
    return BlockFormat(name, element_format(element),
                       (base_level,) + tuple(ScaleLevel(g, "bit", "group max >= threshold", t)
                                             for g, t in levels),
                       "micro", base=name, offset=offset, description=description)


_MICRO = {f.name: f for f in (
    _micro("mx4", "fp3_e1m1_b1_none", 16, "pow2", 1, ((2, 2.0),),
           "MX4 (shared microexponents): 16 S1P1 elements, an 8-bit shared exponent, a 1-bit "
           "microexponent per pair"),
    _micro("mx6", "fp5_e1m3_b1_none", 16, "pow2", 1, ((2, 2.0),),
           "MX6: 16 S1P3 elements, an 8-bit shared exponent, a 1-bit microexponent per pair"),
    _micro("mx9", "fp8_e1m6_b1_none", 16, "pow2", 1, ((2, 2.0),),
           "MX9: 16 S1P6 elements, an 8-bit shared exponent, a 1-bit microexponent per pair"),
    _micro("hif4", "fp4_e1m2_b1_none", 64, "e6m2", 0, ((8, 4.0), (4, 2.0)),
           "HiFloat4: 64 S1P2 elements under an E6M2 base scale, a 1-bit exponent per 8 and "
           "one per 4 (the published reference recipe)"),
)}


def micro_format(name) -> BlockFormat:
    """A micro-exponent format (MX4, MX6, MX9, HiF4) by name or record."""
    f = block_format(name)
    if f.engine != "micro":
        raise FormatError(f"{f.name} is not a micro-exponent format; valid names: "
                          f"{', '.join(_MICRO)}")
    return f


def micro_formats() -> list[str]:
    """Names of the micro-exponent block formats (MX4, MX6, MX9, HiF4; SPEC.md 11).

    >>> micro_formats()
    ['mx4', 'mx6', 'mx9', 'hif4']
    """
    return list(_MICRO)


# ---- integer groups: a float scale and an optional integer zero point per group (SPEC.md 12) ---

_INT_NAME = re.compile(r"^int(\d+)_g(\d+)(_sym)?(?:_(fp16|bf16|fp32))?$")
_INT_GENERIC = re.compile(r"^bf\(\s*(int\d+)\s*,\s*(float16|bfloat16|float32)\s*,\s*(\d+)\s*,"
                          r"\s*(zero_point|symmetric)\s*\)$")
_DTYPE_SUFFIX = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# The rows listed (others are made on demand): GPTQ's and AWQ's 4-bit groups, and 8-bit ones.
_INT_LISTED = ("int4_g32", "int4_g64", "int4_g128", "int4_g128_sym", "int8_g128", "int8_g128_sym")


def _int_group(element, scale, group, zero_point, recipe) -> BlockFormat:
    el = element_format(element)
    if el.kind != "int":
        raise FormatError(f"element={el.name!r}: integer groups take an integer element "
                          f"(int2..int8)")
    if scale not in INT_SCALES:
        raise ValueError(f"scale={scale!r} is not valid for integer groups; allowed values: "
                         f"{', '.join(INT_SCALES)}")
    if not isinstance(group, (int, np.integer)) or isinstance(group, bool) or group < 1:
        raise ValueError(f"group must be an integer >= 1, got {group!r}")
    recipe = "exact" if recipe is None else recipe
    if recipe not in INT_RECIPES:
        raise ValueError(f"recipe={recipe!r} is not valid for integer groups; allowed values: "
                         f"{', '.join(INT_RECIPES)}")
    # one name per row, whichever spelling made it: int<b>_g<group>[_sym][_bf16|_fp32]
    suffix = {"float16": "", "bfloat16": "_bf16", "float32": "_fp32"}[scale]
    base = f"{el.name}_g{int(group)}{'' if zero_point else '_sym'}{suffix}"
    full = base if recipe == "exact" else f"{base}:{recipe}"
    level = ScaleLevel(int(group), scale, "min/max" if zero_point else "max magnitude",
                       zero_point=bool(zero_point))
    return BlockFormat(full, el, (level,), "affine", INT_RECIPES[recipe], base,
                       description=f"{el.name} codes in groups of {int(group)}, a {scale} scale"
                                   + (" and an integer zero point" if zero_point else
                                      " (symmetric)") + " per group")


def _int_by_name(key, recipe):
    m = _INT_GENERIC.match(key)
    if m:
        el, sc, g, kind = m.groups()
        return _int_group(el, sc, int(g), kind == "zero_point", recipe)
    bits, g, sym, dt = _INT_NAME.match(key).groups()
    return _int_group(f"int{bits}", _DTYPE_SUFFIX[dt or "fp16"], int(g), sym is None, recipe)


def int_formats() -> list[str]:
    """Names of the listed integer-group formats (SPEC.md 12): ``int<b>_g<group>``
    with a float16 scale and a zero point per group, ``_sym`` for none (symmetric),
    ``_bf16``/``_fp32`` for another scale dtype; ``bf(int4,bfloat16,128,zero_point)``
    is another spelling of ``int4_g128_bf16``.

    >>> int_formats()[:3], block_format("bf(int4,bfloat16,128,zero_point)").name
    (['int4_g32', 'int4_g64', 'int4_g128'], 'int4_g128_bf16')
    """
    return list(_INT_LISTED)


# ---- the registry: any name of any family ----------------------------------------------------

def block_format(name=None, recipe=None, *, element=None, scale="ue4m3", block_size=16,
                 tensor_scale=True) -> BlockFormat:
    """The row of any block format: by name (an MX name such as ``mxfp8_e4m3``
    or ``mx`` + any element name, ``nvfp4``, ``nvfp4_block_only``,
    ``bf(element,scale,block_size[,tensor])``, ``mx4``/``mx6``/``mx9``/``hif4``,
    integer groups ``int4_g128`` or ``bf(int4,bfloat16,128,zero_point)``)
    or record, or an NVFP4-family row from its parts (``element`` any element
    format, ``scale`` "ue4m3" or "float32", the block size, whether a float32
    tensor scale sits above), with a recipe (one of :data:`RECIPES`, for the
    NVFP4 family; ``"nvfp4:torchao"`` names both).

    >>> block_format(element="fp6_e2m3", block_size=32).name
    'bf(fp6_e2m3,ue4m3,32,tensor)'
    >>> block_format("mxint8").engine, block_format("mx6").unit
    ('mx', 16)
    """
    if name is None:
        if element is None:
            raise ValueError("give a block format's name, or element= (and scale=, "
                             "block_size=, tensor_scale=)")
        return _scaled(element, scale, block_size, tensor_scale, recipe, "")
    if isinstance(name, BlockFormat):
        if recipe is None or (name.recipe is not None and recipe == name.recipe.name):
            return name
        if name.engine == "micro":
            raise ValueError(f"recipe={recipe!r}: {name.name} is a micro-exponent format and "
                             f"takes no recipe")
        name = name.base
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    key = name.strip().lower().replace(" ", "")
    if ":" in key:
        key, r = key.rsplit(":", 1)
        if recipe is not None and recipe != r:
            raise ValueError(f"format {name!r} names recipe {r!r}, and recipe={recipe!r}")
        recipe = r
    if key in _SCALED or _GENERIC.match(key):
        return _scaled_by_name(key, recipe)
    if _INT_GENERIC.match(key) or _INT_NAME.match(key):
        return _int_by_name(key, recipe)
    if key.startswith("bf("):
        raise FormatError(f"block format {name!r}: write bf(element,scale,block_size[,tensor]) "
                          f"with scale one of {', '.join(SCALE_KINDS)}, or integer groups "
                          f"bf(int<b>,scale,group,zero_point|symmetric) with scale one of "
                          f"{', '.join(INT_SCALES)}")
    if key in _MICRO:
        f = _MICRO[key]
    else:
        try:
            f = mx_format(key)
        except FormatError:
            if _mx_key(key) in MX_AMBIGUOUS:
                raise
            raise FormatError(f"unknown block format {name!r}; valid names: "
                              f"{', '.join(block_formats())}, 'mx' + any element format "
                              f"(mxint2, mxfp5_e2m2), or bf(element,scale,block_size[,tensor]) "
                              f"with scale {' or '.join(SCALE_KINDS)}") from None
    if recipe is not None:
        if f.engine == "mx":
            return _mx_recipe(f, recipe)
        raise ValueError(f"recipe={recipe!r}: recipes are for the NVFP4 family ("
                         f"{', '.join(RECIPES)}), the MX formats ({', '.join(MX_RECIPES)}) and "
                         f"integer groups ({', '.join(INT_RECIPES)}); {f.name} is a {f.engine} "
                         f"format")
    return f


def _mx_recipe(f: BlockFormat, recipe: str) -> BlockFormat:
    if recipe not in MX_RECIPES:
        other = f" ({recipe} is a recipe of the NVFP4 family)" if recipe in RECIPES else ""
        raise ValueError(f"recipe={recipe!r} is not an MX recipe{other}; allowed values for "
                         f"{f.name}: {', '.join(MX_RECIPES)}")
    r = MX_RECIPES[recipe]
    if r.elements and f.element.name not in r.elements:
        raise ValueError(f"recipe={recipe!r} is defined for "
                         f"{', '.join('mx' + e for e in r.elements)}, not {f.name}")
    return BlockFormat(f"{f.name}:{recipe}", f.element, f.levels, "mx", r, f.name,
                       description=f"{f.description}; {r.description}")


def family_of(name) -> str | None:
    """The family (engine) of the block format ``name``, or None where it names none.

    >>> family_of("nvfp4:torchao"), family_of("mx6"), family_of("mxint8"), family_of("fp8_e4m3")
    ('scaled', 'micro', 'mx', None)
    """
    try:
        return block_format(name).engine
    except (FormatError, ValueError):
        return None


def block_formats(family: str | None = None) -> list[str]:
    """Names of the listed block formats of a family (``mx``, ``scaled``: the
    NVFP4 family, ``micro``, ``affine``: integer groups), or of every family (others are made on demand:
    ``mx`` + any element, ``bf(...)``, recipes).

    >>> block_formats("scaled")
    ['nvfp4', 'nvfp4_block_only', 'if4', 'nvfp4_2d', 'if4_2d', 'deepseek_fp8',
     'deepseek_fp8_ue8m0', 'deepseek_fp8_2d', 'deepseek_fp8_2d_ue8m0']
    """
    lists = {"mx": mx_formats, "scaled": lambda: list(_SCALED), "micro": micro_formats,
             "affine": int_formats}
    if family is None:
        return [n for fam in ENGINES for n in lists[fam]()]
    if family not in lists:
        raise ValueError(f"family={family!r} is not valid; allowed values: {', '.join(ENGINES)}")
    return lists[family]()
