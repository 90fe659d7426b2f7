"""The format table: every element format mxspec knows, as data.

Each :class:`ElementFormat` is fully described by a handful of fields (kind,
exponent and mantissa widths, bias, which special values exist); every other
fact (emax, max normal, the value of each code, the integer parameter tuple the
Numba codecs read) is derived from them.  Nothing else in mxspec holds a
per-format constant.

>>> import mxspec
>>> f = mxspec.element_format("fp6_e2m3")
>>> (f.bits, f.bias, f.emax, f.max_normal, f.min_subnormal)
(6, 1, 2, 7.5, 0.125)
>>> mxspec.element_format("int4").max_normal
1.75
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "ElementFormat", "MXFormat", "element_format", "mx_format", "float_format",
    "int_format", "formats", "mx_formats", "FormatError",
]


class FormatError(ValueError):
    """An unknown or malformed format name or definition."""


# Which special values a small float has:
#   none: every code is finite (OCP FP6/FP4).
#   fn:   no Inf; S.1..1.1..1 is NaN (OCP FP8 E4M3, "finite + NaN").
#   ieee: the top exponent is reserved: Inf = S.1..1.0..0, NaN otherwise (E5M2).
SPECIALS = ("none", "fn", "ieee")

# Index of each field in ElementFormat.params, the tuple the Numba codecs take.
P_IS_INT, P_SIGNED, P_BITS, P_MBITS, P_BIAS, P_EMIN, P_QMIN, P_EMAX, P_MAX_MAG, \
    P_HAS_INF, P_INF_MAG, P_HAS_NAN, P_NAN_MIN_MAG, P_QNAN_MAG, P_SUBNORMALS, \
    P_PREC = range(16)


@dataclass(frozen=True)
class ElementFormat:
    """One element (or scale) format.  Construct through :func:`element_format`,
    :func:`float_format` or :func:`int_format` rather than directly."""

    name: str
    kind: str          # "float", "int" or "scale" (E8M0)
    bits: int
    ebits: int         # exponent field width (0 for int)
    mbits: int         # mantissa field width (int: bits - 1 magnitude bits)
    bias: int          # exponent bias (int: the implicit scale is 2**-(bits-2))
    specials: str      # one of SPECIALS ("none" for int)
    ml_dtype: str | None = field(default=None, compare=False)  # ml_dtypes twin
    description: str = field(default="", compare=False)

    # -- derived facts -----------------------------------------------------
    @property
    def signed(self) -> bool:
        return self.kind != "scale"

    @property
    def subnormals(self) -> bool:
        return self.kind == "float"

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials in ("fn", "ieee") or self.kind == "scale"

    @property
    def n_codes(self) -> int:
        return 1 << self.bits

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (int: of the implicit scale's top bit)."""
        if self.kind == "int":
            return 0
        return 1 - self.bias if self.subnormals else -self.bias

    @property
    def qmin(self) -> int:
        """Exponent of the smallest step (ulp) the format can take anywhere."""
        if self.kind == "int":
            return -(self.bits - 2)
        return self.emin - self.mbits

    @property
    def emax(self) -> int:
        """Exponent of the largest finite value, floor(log2(max_normal))."""
        if self.kind == "int":
            return 0
        top = (1 << self.ebits) - 1
        if self.specials == "ieee":
            top -= 1
        if self.specials == "fn" and self.mbits == 0:
            top -= 1  # the only code of the top exponent is NaN (E8M0's 0xFF)
        return top - self.bias

    @property
    def max_mag_code(self) -> int:
        """Magnitude code (sign bit clear) of the largest finite value."""
        if self.kind == "int":
            return (1 << (self.bits - 1)) - 1
        if self.kind == "scale":
            return (1 << self.bits) - 2
        mag_all = (1 << (self.bits - 1)) - 1
        if self.specials == "none":
            return mag_all
        if self.specials == "fn":
            return mag_all - 1
        return ((1 << self.ebits) - 2) << self.mbits | ((1 << self.mbits) - 1)

    @property
    def inf_mag_code(self) -> int:
        return ((1 << self.ebits) - 1) << self.mbits if self.has_inf else -1

    @property
    def nan_min_mag_code(self) -> int:
        """Smallest magnitude code that is NaN (every larger one is NaN too)."""
        if self.kind == "scale":
            return (1 << self.bits) - 1
        if self.specials == "fn":
            return (1 << (self.bits - 1)) - 1
        if self.specials == "ieee":
            return self.inf_mag_code + 1
        return -1

    @property
    def qnan_mag_code(self) -> int:
        """The quiet NaN produced with the input's sign: the top mantissa bit set
        (E5M2: S.11111.10, as IEEE quiet NaNs and ml_dtypes), all ones for fn."""
        if self.specials == "ieee":
            return self.inf_mag_code | (1 << (self.mbits - 1))
        return self.nan_min_mag_code

    @property
    def precision_bits(self) -> int:
        """Fraction bits below the leading one in the top binade (int: bits-2)."""
        return self.bits - 2 if self.kind == "int" else self.mbits

    @cached_property
    def params(self) -> tuple:
        """The integer tuple the Numba codecs read (indices P_* in this module)."""
        return (
            int(self.kind == "int"), int(self.signed), self.bits, self.mbits,
            self.bias, self.emin, self.qmin, self.emax, self.max_mag_code,
            int(self.has_inf), self.inf_mag_code, int(self.has_nan),
            self.nan_min_mag_code, self.qnan_mag_code, int(self.subnormals),
            self.precision_bits,
        )

    @cached_property
    def values(self) -> np.ndarray:
        """float64 value of every code 0 .. n_codes-1 (read-only)."""
        from .elements import decode_table
        v = decode_table(self, np.float64)
        v.setflags(write=False)
        return v

    @property
    def max_normal(self) -> float:
        return float(self.values[self.max_mag_code])

    @property
    def min_normal(self) -> float:
        """Smallest positive normal (int: the value 1.0 at the implicit scale's top)."""
        return 2.0 ** self.emin

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value (E8M0: 2**-127, it has no subnormals)."""
        return 2.0 ** (self.emin if self.kind == "scale" else self.qmin)

    def __repr__(self) -> str:
        return f"ElementFormat({self.name!r})"

    def summary(self) -> dict:
        """Every derived fact, as plain Python values."""
        return dict(name=self.name, kind=self.kind, bits=self.bits, ebits=self.ebits,
                    mbits=self.mbits, bias=self.bias, specials=self.specials,
                    emax=self.emax, emin=self.emin, max_normal=self.max_normal,
                    min_normal=self.min_normal, min_subnormal=self.min_subnormal,
                    n_codes=self.n_codes, has_inf=self.has_inf, has_nan=self.has_nan)


# -- the table ---------------------------------------------------------------
def _float(name, e, m, bias, specials, ml=None, desc=""):
    return ElementFormat(name, "float", 1 + e + m, e, m, bias, specials, ml, desc)


def _int(n, desc=""):
    return ElementFormat(f"int{n}", "int", n, 0, n - 1, n - 2, "none", None, desc)


_TABLE: dict[str, ElementFormat] = {f.name: f for f in [
    _float("fp8_e4m3", 4, 3, 7, "fn", "float8_e4m3fn", "OCP FP8 E4M3 (OFP8)"),
    _float("fp8_e5m2", 5, 2, 15, "ieee", "float8_e5m2", "OCP FP8 E5M2 (OFP8)"),
    _float("fp6_e3m2", 3, 2, 3, "none", "float6_e3m2fn", "OCP MX FP6 E3M2"),
    _float("fp6_e2m3", 2, 3, 1, "none", "float6_e2m3fn", "OCP MX FP6 E2M3"),
    _float("fp4_e2m1", 2, 1, 1, "none", "float4_e2m1fn", "OCP MX FP4 E2M1"),
    _int(8, "OCP MX INT8: two's complement, implicit scale 2^-6"),
    _int(4, "MX INT4: two's complement, implicit scale 2^-2 (not in OCP v1.0)"),
    ElementFormat("e8m0", "scale", 8, 8, 0, 127, "fn", "float8_e8m0fnu",
                  "OCP MX shared scale: unsigned, 2^-127..2^127, 0xFF = NaN"),
]}

_FLOAT_RE = re.compile(r"^fp(\d+)_e(\d+)m(\d+)(?:_b(-?\d+))?(?:_(none|fn|ieee))?$")
_INT_RE = re.compile(r"^int(\d+)$")


def _default_float(ebits: int, mbits: int):
    base = f"fp{1 + ebits + mbits}_e{ebits}m{mbits}"
    known = _TABLE.get(base)
    if known is not None:
        return base, known.bias, known.specials
    return base, (1 << (ebits - 1)) - 1, "none"


def float_format(ebits: int, mbits: int, bias: int | None = None,
                 specials: str = "none") -> ElementFormat:
    """A small float of 1 + ebits + mbits <= 8 bits with subnormals and signed zero.

    >>> float_format(2, 2).name, float_format(2, 2).max_normal
    ('fp5_e2m2', 7.0)
    >>> float_format(4, 3, specials="ieee").name
    'fp8_e4m3_ieee'
    """
    if not (isinstance(ebits, int) and isinstance(mbits, int)) or ebits < 1 or mbits < 0:
        raise FormatError(f"float_format: ebits must be >= 1 and mbits >= 0, got e{ebits}m{mbits}")
    if not 2 <= 1 + ebits + mbits <= 8:
        raise FormatError(f"float_format: 1 + ebits + mbits must be 2..8 bits, got {1 + ebits + mbits}")
    if specials not in SPECIALS:
        raise FormatError(f"float_format: specials must be one of {SPECIALS}, got {specials!r}")
    if specials == "ieee" and ebits < 2:
        raise FormatError("float_format: specials='ieee' needs ebits >= 2 (one exponent is reserved)")
    if specials == "ieee" and mbits < 1:
        raise FormatError("float_format: specials='ieee' needs mbits >= 1 (NaN is the reserved "
                          "exponent with a nonzero mantissa)")
    base, dbias, dspecials = _default_float(ebits, mbits)
    bias = dbias if bias is None else int(bias)
    if (base, bias, specials) == (base, dbias, dspecials) and base in _TABLE:
        return _TABLE[base]
    name = base + (f"_b{bias}" if bias != dbias else "") + (f"_{specials}" if specials != dspecials else "")
    fmt = _float(name, ebits, mbits, bias, specials, None, "generic small float")
    if fmt.max_mag_code <= 0:
        raise FormatError(f"float_format: {name} has no positive finite value")
    # every value exact in float32 (smallest step >= 2^-149, largest < 2^128),
    # so that a float32 decode is the exact value rounded once, never twice
    lo, hi = fmt.emax - 127 + bias, 150 - mbits - (0 if fmt.subnormals else 1)
    if not lo <= bias <= hi:
        raise FormatError(f"float_format: bias={bias} puts values of {base} outside float32; "
                          f"allowed: {lo}..{hi}")
    return fmt


def int_format(bits: int) -> ElementFormat:
    """The MX integer construction at 2..8 bits: two's complement code c means
    c * 2**-(bits-2) (emax 0).

    >>> int_format(2).values.tolist()
    [0.0, 1.0, -2.0, -1.0]
    """
    if not isinstance(bits, int) or not 2 <= bits <= 8:
        raise FormatError(f"int_format: bits must be 2..8, got {bits!r}")
    return _TABLE.get(f"int{bits}") or _int(bits, "generic MX integer")


def element_format(name) -> ElementFormat:
    """Look up an element format by name: a name in :func:`formats`, any
    ``fp{bits}_e{E}m{M}[_b{bias}][_none|_fn|_ieee]`` or any ``int{2..8}``."""
    if isinstance(name, ElementFormat):
        return name
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    key = name.strip().lower()
    if key in _TABLE:
        return _TABLE[key]
    m = _FLOAT_RE.match(key)
    if m:
        bits, e, mb = int(m[1]), int(m[2]), int(m[3])
        if bits != 1 + e + mb:
            raise FormatError(f"format {name!r}: fp{bits} must have 1 + E + M = {bits} bits, "
                              f"but e{e}m{mb} has {1 + e + mb}")
        base, dbias, dspecials = _default_float(e, mb)
        try:
            return float_format(e, mb, int(m[4]) if m[4] is not None else None,
                                m[5] or dspecials)
        except FormatError as err:
            raise FormatError(f"format {name!r}: {err}") from None
    m = _INT_RE.match(key)
    if m:
        try:
            return int_format(int(m[1]))
        except FormatError as err:
            raise FormatError(f"format {name!r}: {err}") from None
    raise FormatError(f"unknown element format {name!r}; valid names: {', '.join(_TABLE)}, "
                      "or any fp{bits}_e{E}m{M}[_b{bias}][_none|_fn|_ieee] of 2..8 bits, "
                      "or int{2..8}")


def formats() -> list[str]:
    """Names of the element formats in the table (generic ones are made on demand)."""
    return list(_TABLE)


@dataclass(frozen=True)
class MXFormat:
    """An MX format: an element format plus E8M0 block scales."""

    name: str
    element: ElementFormat

    def __repr__(self) -> str:
        return f"MXFormat({self.name!r})"


_MX_NAMES = {
    "mxfp8_e4m3": "fp8_e4m3", "mxfp8_e5m2": "fp8_e5m2", "mxfp6_e3m2": "fp6_e3m2",
    "mxfp6_e2m3": "fp6_e2m3", "mxfp4_e2m1": "fp4_e2m1", "mxint8": "int8", "mxint4": "int4",
}


def mx_format(name) -> MXFormat:
    """An MX format by name: one of :func:`mx_formats`, or ``mx`` + any element
    format name (``mxint2``, ``mxfp5_e2m2``).

    >>> mx_format("mxfp4_e2m1").element.max_normal
    6.0
    """
    if isinstance(name, MXFormat):
        return name
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    key = name.strip().lower()
    if key.startswith("mx"):
        try:
            el = element_format(key[2:])
        except FormatError:
            el = None
        if el is not None and el.kind != "scale":
            return MXFormat(key, el)
    raise FormatError(f"unknown MX format {name!r}; valid names: {', '.join(_MX_NAMES)}, "
                      "or 'mx' + any element format name such as mxint2 or mxfp5_e2m2")


def mx_formats() -> list[str]:
    """Names of the standard MX formats (others are made on demand)."""
    return list(_MX_NAMES)
