"""Named choices: rounding modes, overflow policies, NaN profiles, integer range,
and the exception-flag bits.  Each name maps to the small integer that the Numba
codecs read; :func:`check` turns a bad name into an error that lists the valid ones.

>>> from mxspec import policies
>>> policies.check("rounding", "rne")
0
>>> policies.ROUNDING
('rne', 'rtz', 'rna', 'up', 'down', 'stochastic', 'rnz')
"""
from __future__ import annotations

import re

from .element import P_IS_INT, P_UZERO

# rnz: nearest, ties toward zero (what a first-index argmin over the values
# does: GGUF's MXFP4 quantizer, SPEC.md 2.2 and 4.5).
ROUNDING = ("rne", "rtz", "rna", "up", "down", "stochastic", "rnz")
RNE, RTZ, RNA, UP, DOWN, STOCHASTIC, RNZ = range(7)

# How rbits= gives each value its random bits under rounding="stochastic"
# (SPEC.md 2.3.1): "per_element", one uint32 per value, all 32 bits compared; or
# "cvt_rs", PTX's cvt.rs.satfinite.{e4m3,e5m2,e2m3,e3m2,e2m1}x4.f32 (sm_100a): one
# uint32 per four values, operands a, b, e, f = values 4i..4i+3 in C order, each
# lane the (shift, width) of the word below.  The ISA (PTX 9.0, cvt): for the
# 8- and 6-bit types "upper 16 bits are used for operands a, b" and "lower 16-bits
# ... for operands e, f" (a pair shares its 16 bits, as written); for e2m1 "upper
# 8-bits from both 16-bits half ... for operands a, b", lower 8 for e, f (which
# half goes to which operand of a pair is not written: the first takes the upper
# half here).  The bits a lane gets are the top bits of a 32-bit comparison, so a
# value rounds up iff floor(fraction x 2^width) + bits >= 2^width.
RBITS_LAYOUTS = ("per_element", "cvt_rs")
_PAIRS16 = ((16, 16), (16, 16), (0, 16), (0, 16))
CVT_RS_LANES = {"fp8_e4m3": _PAIRS16, "fp8_e5m2": _PAIRS16, "fp6_e2m3": _PAIRS16,
                "fp6_e3m2": _PAIRS16, "fp4_e2m1": ((24, 8), (8, 8), (16, 8), (0, 8))}

# saturate:      finite overflow and +-Inf inputs give +-max finite (MX elements,
#                cvt.satfinite; P3109's SatFinite).
# ieee:          overflow gives +-Inf, else NaN, else +-max (P3109's OvfInf).
# sat_propagate: finite overflow saturates, +-Inf inputs stay Inf (P3109's
#                SatPropagate): ieee for infinities, saturate for the rest.
# wrap:          integer formats only: the rounded integer modulo 2^bits, as a C
#                cast does (ml_dtypes 0.5-0.6's int2/uint2/uint4 casts, with rtz).
# zero:          integer formats only: a rounded integer outside the format's
#                two's-complement (or unsigned) range, and +-Inf, give 0
#                (ml_dtypes 0.7's int2/uint2/uint4 casts, with rtz).
OVERFLOW = ("saturate", "ieee", "sat_propagate", "wrap", "zero")
SATURATE, IEEE, SAT_PROPAGATE, WRAP, ZERO = range(5)
INT_ONLY_OVERFLOW = ("wrap", "zero")

# keep_sign: the format's quiet NaN with the input's sign; formats without NaN
#            give a zero with the input's sign (the spec's reading; default).
# canonical: one NaN code, S=0 and all other bits set (NVIDIA cvt.*.satfinite);
#            formats without NaN give +0.
# ml_dtypes: exactly what ml_dtypes' casts do (as keep_sign, except that
#            formats without NaN give a zero with the *opposite* sign; the
#            same in every ml_dtypes release from 0.5 to 0.7).
NAN = ("keep_sign", "canonical", "ml_dtypes")
NAN_KEEP_SIGN, NAN_CANONICAL, NAN_ML_DTYPES = range(3)

# symmetric: integer codes are clamped to -(2^(n-1)-1) .. 2^(n-1)-1 (default);
# full:      the most negative code -2^(n-1) may be produced too.
INT_RANGE = ("symmetric", "full")
INT_SYMMETRIC, INT_FULL = range(2)

# MX block choices (SPEC.md section 4).
# E8M0 scale rules (SPEC.md 4.2).  floor: OCP v1.0 (torchao FLOOR); ceil: the smallest
# scale that keeps amax within the element's max (NVIDIA's cuBLAS/TE rule, torchao RCEIL);
# even: amax rounded to the element's precision, then floor (torchao EVEN);
# torchao_ceil: ceil(log2 amax) - emax (torchao's ScaleCalculationMode.CEIL);
# gguf: floor of log2(amax) rounded to float32, minus emax, the byte taken
# modulo 256 (gguf-py's and llama.cpp's MXFP4 quantizer, SPEC.md 4.5).
SCALE_RULE = ("floor", "ceil", "even", "torchao_ceil", "gguf")
# torchao's names for the rules that equal mxspec's (tests/test_scale_rules_torchao.py).
SCALE_RULE_ALIASES = {"torchao_floor": "floor", "torchao_rceil": "ceil", "torchao_even": "even"}
ZERO_SCALE = ("min", "one")          # all-zero block: 2^-127 (spec reading) or 2^0
INF = ("nan_scale", "element")       # Inf in a block: NaN scale, or encode the element

# Element recipes: one name for the rounding, overflow and NaN choices that an
# implementation makes (SPEC.md 2.8), as a block format's recipe names a library's
# choices for its scales (one word for one idea; "profile" was this table's old
# name and stays an alias for one release).  A recipe is a function of the format,
# because a library treats its float and integer types differently.  Where a
# library's releases differ, each behaviour is its own row, named after the
# releases it reproduces; the bare library name follows the installed release.
#   name           floats                 integers (int2, uint2, uint4)
ELEMENT_RECIPES = {
    "ml_dtypes-0.6": (("rne", "ieee", "ml_dtypes"), ("rtz", "wrap", "ml_dtypes")),   # 0.5-0.6
    "ml_dtypes-0.7": (("rne", "ieee", "ml_dtypes"), ("rtz", "zero", "ml_dtypes")),   # 0.7
}
RECIPE_NAMES = ("ml_dtypes",) + tuple(ELEMENT_RECIPES)


def installed_ml_dtypes_recipe() -> str:
    """The row of :data:`ELEMENT_RECIPES` that the installed ml_dtypes follows
    (read from its package metadata: ml_dtypes itself is not imported).

    >>> installed_ml_dtypes_recipe() in ELEMENT_RECIPES
    True
    """
    from importlib.metadata import version
    parts = (version("ml_dtypes").split(".") + ["0"])[:2]
    major, minor = (int(re.match(r"\d*", p).group() or 0) for p in parts)
    return "ml_dtypes-0.6" if (major, minor) < (0, 7) else "ml_dtypes-0.7"


def element_recipe(name: str, is_int: bool) -> dict:
    """The element policies of the named recipe for a float or an integer
    format.  ``ml_dtypes``: what ``x.astype(ml_dtypes.<type>)`` does in the
    installed release; ``ml_dtypes-0.6`` (releases 0.5 and 0.6) and
    ``ml_dtypes-0.7`` name one behaviour each.  Floats round to nearest even,
    overflow to Inf or NaN (no saturation) and give zero with the opposite sign
    for NaN where the format has no NaN; integers (int2, uint2, uint4)
    truncate toward zero, then wrap modulo 2^bits (0.5-0.6, a C cast) or give
    0 when out of range (0.7).

    >>> element_recipe("ml_dtypes-0.6", is_int=True)
    {'rounding': 'rtz', 'overflow': 'wrap', 'nan': 'ml_dtypes'}
    >>> element_recipe("ml_dtypes-0.7", is_int=True)["overflow"]
    'zero'
    """
    if name not in RECIPE_NAMES:
        raise ValueError(f"recipe={name!r} is not valid; allowed values: "
                         f"{', '.join(RECIPE_NAMES)}")
    if name == "ml_dtypes":
        name = installed_ml_dtypes_recipe()
    chosen = ELEMENT_RECIPES[name][1 if is_int else 0]
    return dict(zip(("rounding", "overflow", "nan"), chosen))


# the old names (0.1.0)
PROFILE_TABLE, PROFILES = ELEMENT_RECIPES, RECIPE_NAMES
installed_ml_dtypes_profile, profile = installed_ml_dtypes_recipe, element_recipe


# Exception flags, the bit values of Berkeley SoftFloat.
INEXACT, UNDERFLOW, OVERFLOW_FLAG, INVALID = 1, 2, 4, 16
FLAG_NAMES = {INEXACT: "inexact", UNDERFLOW: "underflow", OVERFLOW_FLAG: "overflow",
              INVALID: "invalid"}

# zeros: "signed" (a negative value that rounds to zero is -0; the spec's
# reading) or "unsigned" (every zero is +0: GGUF's MXFP4).  Not a kernel id:
# it sets the P_UZERO slot of the record's params.
ZEROS = ("signed", "unsigned")

# The record a kernel takes: (format params, policy ids in this order).  One
# argument instead of a dozen positionals, and one compiled signature for
# every format and policy (each is a run-time integer).
RECORD_FIELDS = ("rounding", "overflow", "nan", "int_range", "scale_rule", "zero_scale", "inf")
R_MODE, R_OVF, R_NAN, R_IRANGE, R_RULE, R_ZSCALE, R_INF = range(7)

_CHOICES = {"rounding": ROUNDING, "overflow": OVERFLOW, "nan": NAN, "int_range": INT_RANGE,
            "scale_rule": SCALE_RULE, "zero_scale": ZERO_SCALE, "inf": INF}


def check(argument: str, value) -> int:
    """The integer id of ``value`` for the named argument, or a ValueError that
    names the argument and lists the allowed values."""
    allowed = _CHOICES[argument]
    if argument == "scale_rule" and isinstance(value, str):
        value = SCALE_RULE_ALIASES.get(value, value)
    if isinstance(value, str) and value in allowed:
        return allowed.index(value)
    names = allowed + tuple(SCALE_RULE_ALIASES) if argument == "scale_rule" else allowed
    raise ValueError(f"{argument}={value!r} is not valid; allowed values: {', '.join(names)}")


def record(params, rounding="rne", overflow="saturate", nan="keep_sign",
           int_range="symmetric", scale_rule="floor", zero_scale="min",
           inf="nan_scale", zeros="signed") -> tuple:
    """The kernel record of a format's ``params`` and named policies, each
    checked: ``(params, (rounding id, overflow id, ...))`` in the order of
    :data:`RECORD_FIELDS`.

    >>> record((0,) * 16, rounding="rtz", overflow="ieee")[1]
    (1, 1, 0, 0, 0, 0, 0)
    """
    names = (rounding, overflow, nan, int_range, scale_rule, zero_scale, inf)
    if overflow in INT_ONLY_OVERFLOW and params and not params[P_IS_INT]:
        raise ValueError(f"overflow={overflow!r} is for integer formats (int*, uint*); allowed "
                         "values for this format: saturate, ieee, sat_propagate")
    if zeros not in ZEROS:
        raise ValueError(f"zeros={zeros!r} is not valid; allowed values: {', '.join(ZEROS)}")
    params = tuple(params)
    if zeros == "unsigned":
        params = params[:P_UZERO] + (1,) + params[P_UZERO + 1:]
    return (params, tuple(check(a, v) for a, v in zip(RECORD_FIELDS, names)))


def flag_names(mask: int) -> list[str]:
    """Names of the flags set in ``mask``.

    >>> flag_names(INEXACT | UNDERFLOW)
    ['inexact', 'underflow']
    """
    return [name for bit, name in FLAG_NAMES.items() if int(mask) & bit]
