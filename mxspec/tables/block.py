"""Block formats beyond MX's E8M0 scales: the NVFP4 family (SPEC.md section 9).

A row holds an element format (any of the table), a block-scale format
(unsigned E4M3 as NVFP4 uses: an E4M3 code whose sign bit is 0; or float32),
a block size, whether a float32 per-tensor scale sits above the block scales,
and the recipe that computes and applies the scales.  E8M0-scaled blocks are
the MX formats (:mod:`mxspec.blocks`).  Recipes are rows too (:data:`RECIPES`): each names the choices
that an implementation makes, so that its bits can be reproduced.

>>> f = block_format("nvfp4")
>>> f.element.name, f.scale_kind, f.block_size, f.tensor_scale, f.recipe.name
('fp4_e2m1', 'ue4m3', 16, True, 'exact')
>>> block_format("nvfp4", recipe="modelopt").name
'nvfp4:modelopt'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .element import ElementFormat, FormatError, element_format

__all__ = ["Recipe", "BlockFormat", "block_format", "block_formats", "RECIPES"]

TENSOR_RULES = ("divisor", "multiplier")
BLOCK_RULES = ("exact", "amax_over_6ts", "amax6_over_ts", "gs_times_amax6")
ELEMENT_RULES = ("exact", "divide_product", "multiply_reciprocal", "divide_ratio")
DECODE_RULES = ("exact", "product", "ratio")


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
                fl(gs * fl(bamax / 6)).
    scale_min   a block scale below this is raised to it before rounding
                (0: none); zero_to: the value that a block scale of zero becomes
                before that clamp (None: stays 0); zero_after: the value that a
                block scale that rounded to zero becomes (None: stays 0, and the
                block's elements encode as signed zeros).
    elements    "exact" x / (bs ts); "divide_product" fl(x / fl(bs ts));
                "multiply_reciprocal" fl(x * fl(fl(1 / ts) / bs));
                "divide_ratio" fl(x / fl(bs / gs)).  The result is rounded to
                nearest even in the element format, saturating at its max.
    decode      "exact" element x bs x ts rounded once; "product"
                fl(element x fl(bs ts)); "ratio" fl(element x fl(bs / gs)).
    zero_in     the code of a scaled value of exactly -0.0: "signed" (-0) or
                "positive" (+0); a negative value that rounds to zero gives -0
                in every recipe.
    zero_out    what code -0 decodes to: "signed" (-0) or "positive" (+0, as
                ModelOpt's value table has it).
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
    description: str = field(default="", compare=False)

    def __post_init__(self):
        for arg, v, allowed in (("tensor", self.tensor, TENSOR_RULES),
                                ("block", self.block, BLOCK_RULES),
                                ("elements", self.elements, ELEMENT_RULES),
                                ("decode", self.decode, DECODE_RULES),
                                ("arithmetic", self.arithmetic, ("exact", "float32"))):
            if v not in allowed:
                raise ValueError(f"recipe {self.name!r}: {arg}={v!r}; allowed: "
                                 f"{', '.join(allowed)}")


RECIPES = {r.name: r for r in (
    Recipe("exact", description=(
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
)}


SCALE_KINDS = ("ue4m3", "float32")


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format with non-power-of-two block scales and an optional
    float32 tensor scale.  ``element`` and ``name`` read like an MXFormat's.

    scale_kind  "ue4m3": an unsigned E4M3 code per block (``scale`` is the
                fp8_e4m3 format, sign bit 0); "float32": a float32 value per block
                (``scale`` is None; no tensor scale above it).
    """

    name: str
    element: ElementFormat
    scale: ElementFormat | None
    block_size: int
    tensor_scale: bool
    recipe: Recipe
    base: str = ""
    scale_kind: str = "ue4m3"

    @property
    def scale_max(self) -> float:
        return self.scale.max_normal if self.scale is not None else float(np.finfo(np.float32).max)

    def __repr__(self) -> str:
        return f"BlockFormat({self.name!r})"


_TABLE = {
    "nvfp4": dict(element="fp4_e2m1", scale="ue4m3", block_size=16, tensor_scale=True),
    "nvfp4_block_only": dict(element="fp4_e2m1", scale="ue4m3", block_size=16,
                             tensor_scale=False),
}
_GENERIC = re.compile(r"^bf\(\s*([\w.]+)\s*,\s*(\w+)\s*,\s*(\d+)\s*(?:,\s*(tensor)\s*)?\)$")


def _make(element, scale, block_size, tensor_scale, recipe, base, name=None):
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
    if recipe != "exact" and (el.name, scale) != ("fp4_e2m1", "ue4m3"):
        raise ValueError(f"recipe={recipe!r} is a library's NVFP4 recipe: it takes fp4_e2m1 "
                         f"elements with ue4m3 scales, not {el.name} with {scale}")
    if name is None:
        name = f"bf({el.name},{scale},{int(block_size)}{',tensor' if tensor_scale else ''})"
    if recipe != "exact":
        name = f"{name}:{recipe}"
    return BlockFormat(name, el, element_format("fp8_e4m3") if scale == "ue4m3" else None,
                       int(block_size), bool(tensor_scale), RECIPES[recipe], base or name,
                       scale)


def block_format(name=None, recipe=None, *, element=None, scale="ue4m3", block_size=16,
                 tensor_scale=True) -> BlockFormat:
    """A block format: by name (one of :func:`block_formats`, or
    ``bf(element,scale,block_size[,tensor])``), or from its parts (``element``
    any element format of the table, ``scale`` "ue4m3" or "float32", the block
    size, whether a float32 tensor scale sits above), with a recipe (one of
    :data:`RECIPES`; default ``exact``).  ``"nvfp4:torchao"`` names both.

    >>> block_format(element="fp6_e2m3", block_size=32).name
    'bf(fp6_e2m3,ue4m3,32,tensor)'
    """
    if name is None:
        if element is None:
            raise ValueError("give a block format's name, or element= (and scale=, "
                             "block_size=, tensor_scale=)")
        return _make(element, scale, block_size, tensor_scale, recipe, "")
    if isinstance(name, BlockFormat):
        if recipe is None or recipe == name.recipe.name:
            return name
        name = name.base
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    key = name.strip().lower().replace(" ", "")
    if ":" in key:
        key, r = key.rsplit(":", 1)
        if recipe is not None and recipe != r:
            raise ValueError(f"format {name!r} names recipe {r!r}, and recipe={recipe!r}")
        recipe = r
    m = _GENERIC.match(key)
    if m:
        el, sc, bs, ts = m.groups()
        return _make(el, sc, int(bs), ts is not None, recipe, "")
    if key not in _TABLE:
        raise FormatError(f"unknown block format {name!r}; valid names: {', '.join(_TABLE)}, "
                          f"or bf(element,scale,block_size[,tensor]) with scale ue4m3 or "
                          f"float32")
    row = _TABLE[key]
    return _make(row["element"], row["scale"], row["block_size"], row["tensor_scale"], recipe,
                 key, key)


def is_block_format_name(name) -> bool:
    if isinstance(name, BlockFormat):
        return True
    if not isinstance(name, str):
        return False
    key = name.strip().lower().replace(" ", "")
    return key.split(":", 1)[0] in _TABLE or key.startswith("bf(")


def any_format(name):
    """An MX format or a block format, by name or record (the lookup that the
    packing and checkpoint code shares)."""
    if is_block_format_name(name):
        return block_format(name)
    from ..block.micro import is_micro_name, micro_format
    if is_micro_name(name):
        return micro_format(name)
    from .element import MXFormat, mx_format
    return name if isinstance(name, MXFormat) else mx_format(name)


def block_formats() -> list[str]:
    """Names of the block formats beyond MX."""
    return list(_TABLE)
