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

import math
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "ElementFormat", "element_format", "float_format", "int_format", "p3109_format", "formats",
    "p3109_formats", "FormatError",
]


class FormatError(ValueError):
    """An unknown or malformed format name or definition."""


# Which special values a small float has (SPEC.md 1.1, 1.5):
#   none:     every code is finite (OCP FP6/FP4).
#   fn:       no Inf; S.1..1.1..1 is NaN (OCP FP8 E4M3, "finite + NaN").
#   ieee:     the top exponent is reserved: Inf = S.1..1.0..0, NaN otherwise (E5M2).
#   fnuz:     no Inf and no -0; the -0 code 1.0..0 is the one NaN (AMD/Graphcore FP8,
#             P3109 signed finite).
#   p3109_se: fnuz, and the top magnitude code is +-Inf (P3109 signed extended).
#   p3109_uf: unsigned (no sign bit); the all-ones code is the one NaN (P3109
#             unsigned finite).
#   p3109_ue: p3109_uf, and the code below it is +Inf (P3109 unsigned extended).
SPECIALS = ("none", "fn", "ieee", "fnuz", "p3109_se", "p3109_uf", "p3109_ue")
UNSIGNED_SPECIALS = ("p3109_uf", "p3109_ue")
# P3109-style specials: a single NaN, no -0, and a tie under rne goes to the even
# *code* (which only differs from the even step when M = 0).
P3109_SPECIALS = ("fnuz", "p3109_se", "p3109_uf", "p3109_ue")
KINDS = ("float", "int", "uint", "scale")

# Index of each field in ElementFormat.params, the tuple the Numba codecs take.
P_IS_INT, P_SIGNED, P_BITS, P_MBITS, P_BIAS, P_EMIN, P_QMIN, P_EMAX, P_MAX_MAG, \
    P_HAS_INF, P_INF_MAG, P_HAS_NAN, P_NAN_MIN_MAG, P_QNAN_MAG, P_SUBNORMALS, \
    P_PREC, P_NANZ, P_HAS_ZERO, P_TIE_CODE, P_UZERO = range(20)
# P_UZERO is not the row's: policies.record sets it where a recipe gives every zero
# result the code +0 (GGUF's MXFP4, SPEC.md 4.5); the row itself always says 0.


@dataclass(frozen=True)
class ElementFormat:
    """One element (or scale) format.  Construct through :func:`element_format`,
    :func:`float_format` or :func:`int_format` rather than directly."""

    name: str
    kind: str          # one of KINDS: "float", "int" (two's complement), "uint", "scale" (E8M0)
    bits: int
    ebits: int         # exponent field width (0 for int)
    mbits: int         # mantissa field width (int: bits - 1 magnitude bits, uint: bits)
    bias: int          # exponent bias (int: code c means c * 2**-bias)
    specials: str      # one of SPECIALS ("none" for int)
    ml_dtype: str | None = field(default=None, compare=False)  # ml_dtypes twin
    description: str = field(default="", compare=False)

    # -- derived facts -----------------------------------------------------
    @property
    def signed(self) -> bool:
        return self.kind in ("float", "int") and self.specials not in UNSIGNED_SPECIALS

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "uint")

    @property
    def subnormals(self) -> bool:
        return self.kind == "float"

    @property
    def has_inf(self) -> bool:
        return self.specials in ("ieee", "p3109_se", "p3109_ue")

    @property
    def has_nan(self) -> bool:
        return self.specials != "none" or self.kind == "scale"

    @property
    def has_zero(self) -> bool:
        return self.kind != "scale"

    @property
    def has_negative_zero(self) -> bool:
        """Whether a signed zero exists (float formats with OCP-style specials)."""
        return self.kind == "float" and self.specials in ("none", "fn", "ieee")

    @property
    def nan_is_negative_zero(self) -> bool:
        """fnuz and P3109 signed: the code 1.0..0 (where -0 would be) is the NaN."""
        return self.specials in ("fnuz", "p3109_se")

    @property
    def ties_to_even_code(self) -> bool:
        """rne breaks a tie toward the even *code* (P3109's rule).  Otherwise
        toward the even multiple of the step; the two differ only when M = 0."""
        return self.specials in P3109_SPECIALS

    @property
    def n_codes(self) -> int:
        return 1 << self.bits

    @property
    def _mag_bits(self) -> int:
        return self.bits - 1 if self.signed else self.bits

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (int: of the top bit of the largest code)."""
        if self.is_int:
            return self._mag_bits - 1 - self.bias
        return 1 - self.bias if self.subnormals else -self.bias

    @property
    def qmin(self) -> int:
        """Exponent of the smallest step (ulp) the format can take anywhere."""
        if self.is_int:
            return -self.bias
        return self.emin - self.mbits

    @property
    def emax(self) -> int:
        """Exponent of the largest finite value, floor(log2(max_normal))."""
        if self.is_int:
            return self.emin
        e = self.max_mag_code >> self.mbits
        if e == 0:  # the largest value is subnormal (tiny formats)
            return (self.max_mag_code & ((1 << self.mbits) - 1)).bit_length() - 1 + self.qmin
        return e - self.bias

    @property
    def max_mag_code(self) -> int:
        """Magnitude code (sign bit clear) of the largest finite value."""
        mag_all = (1 << self._mag_bits) - 1
        if self.is_int:
            return mag_all
        if self.kind == "scale":
            return mag_all - 1
        if self.specials in ("none", "fnuz"):
            return mag_all
        if self.specials in ("fn", "p3109_se", "p3109_uf"):
            return mag_all - 1
        if self.specials == "p3109_ue":
            return mag_all - 2
        return ((1 << self.ebits) - 2) << self.mbits | ((1 << self.mbits) - 1)

    @property
    def inf_mag_code(self) -> int:
        """Magnitude code of +Inf (-1 without Inf): always the code above max."""
        return self.max_mag_code + 1 if self.has_inf else -1

    @property
    def nan_min_mag_code(self) -> int:
        """Smallest magnitude code that is NaN (every larger one is NaN too);
        -1 where no magnitude is NaN (none, and fnuz-style, whose NaN is the
        code 1.0..0)."""
        if self.kind == "scale" or self.specials in ("fn", "p3109_uf", "p3109_ue"):
            return (1 << self._mag_bits) - 1
        if self.specials == "ieee":
            return self.inf_mag_code + 1
        return -1

    @property
    def nan_code(self) -> int:
        """The NaN an encoder produces with a positive sign (-1 without NaN)."""
        if not self.has_nan:
            return -1
        if self.nan_is_negative_zero:
            return 1 << (self.bits - 1)
        return self.qnan_mag_code

    @property
    def qnan_mag_code(self) -> int:
        """The quiet NaN produced with the input's sign: the top mantissa bit set
        (E5M2: S.11111.10, as IEEE quiet NaNs and ml_dtypes), all ones for fn."""
        if self.specials == "ieee":
            return self.inf_mag_code | (1 << (self.mbits - 1))
        return self.nan_min_mag_code

    @property
    def precision_bits(self) -> int:
        """Fraction bits below the leading one in the top binade (int: magnitude bits - 1)."""
        return self._mag_bits - 1 if self.is_int else self.mbits

    @cached_property
    def params(self) -> tuple:
        """The integer tuple the Numba codecs read (indices P_* in this module)."""
        return (
            int(self.is_int), int(self.signed), self.bits, self.mbits,
            self.bias, self.emin, self.qmin, self.emax, self.max_mag_code,
            int(self.has_inf), self.inf_mag_code, int(self.has_nan),
            self.nan_min_mag_code, self.qnan_mag_code, int(self.subnormals),
            self.precision_bits, int(self.nan_is_negative_zero), int(self.has_zero),
            int(self.ties_to_even_code), 0,
        )

    @cached_property
    def values(self) -> np.ndarray:
        """float64 value of every code 0 .. n_codes-1 (read-only), read off the
        row's fields alone (the codec's decoder is derived independently and
        tests/test_formats.py holds the two equal on every code)."""
        v = np.array([self._value(c) for c in range(self.n_codes)], np.float64)
        v.setflags(write=False)
        return v

    def _value(self, c: int) -> float:
        if self.is_int:
            signed_c = c - self.n_codes if self.signed and c >= self.n_codes // 2 else c
            return math.ldexp(signed_c, self.qmin)
        half = self.n_codes // 2
        neg, mag = (c >= half, c % half) if self.signed else (False, c)
        if self.has_nan and ((mag >= self.nan_min_mag_code >= 0)
                             or (self.nan_is_negative_zero and neg and mag == 0)):
            v = math.nan
        elif self.has_inf and mag == self.inf_mag_code:
            v = math.inf
        else:
            e, m = mag >> self.mbits, mag & ((1 << self.mbits) - 1)
            if self.subnormals and e == 0:
                v = math.ldexp(m, self.qmin)
            else:
                v = math.ldexp(m | (1 << self.mbits), e - self.bias - self.mbits)
        return -v if neg else v

    @property
    def max_normal(self) -> float:
        return float(self.values[self.max_mag_code])

    @property
    def min_normal(self) -> float:
        """Smallest positive normal (int: the value of the top bit of the largest code)."""
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
                    signed=self.signed, emax=self.emax, emin=self.emin,
                    max_normal=self.max_normal, min_normal=self.min_normal,
                    min_subnormal=self.min_subnormal, n_codes=self.n_codes,
                    has_inf=self.has_inf, has_nan=self.has_nan,
                    has_negative_zero=self.has_negative_zero, nan_code=self.nan_code,
                    ml_dtype=self.ml_dtype, description=self.description)


# -- the table ---------------------------------------------------------------
def _float(name, e, m, bias, specials, ml=None, desc=""):
    bits = e + m + (0 if specials in UNSIGNED_SPECIALS else 1)
    return ElementFormat(name, "float", bits, e, m, bias, specials, ml, desc)


def _int(n, desc="", bias=None, signed=True, ml=None):
    kind, base = ("int", f"int{n}") if signed else ("uint", f"uint{n}")
    dbias = n - 2 if signed else 0
    bias = dbias if bias is None else bias
    name = base + (f"_b{bias}" if bias != dbias else "")
    return ElementFormat(name, kind, n, 0, n - 1 if signed else n, bias, "none", ml, desc)


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
    ElementFormat("e6m2", "scale", 8, 6, 2, 48, "fn", None,
                  "HiFloat4's base scale: unsigned, 2^-48..1.5 x 2^15, no zero, 0xFF = NaN"),
    _float("fp8_e4m3fnuz", 4, 3, 8, "fnuz", "float8_e4m3fnuz",
           "FNUZ FP8 E4M3 (AMD MI300, Graphcore): no -0, no Inf, NaN = 0x80"),
    _float("fp8_e5m2fnuz", 5, 2, 16, "fnuz", "float8_e5m2fnuz",
           "FNUZ FP8 E5M2 (AMD MI300, Graphcore): no -0, no Inf, NaN = 0x80"),
    _float("fp8_e4m3b11fnuz", 4, 3, 11, "fnuz", "float8_e4m3b11fnuz",
           "FNUZ FP8 E4M3 with bias 11 (Graphcore): no -0, no Inf, NaN = 0x80"),
    _float("fp8_e4m3_ieee", 4, 3, 7, "ieee", "float8_e4m3", "IEEE-style FP8 E4M3 (ml_dtypes)"),
    _float("fp8_e3m4_ieee", 3, 4, 3, "ieee", "float8_e3m4", "IEEE-style FP8 E3M4 (ml_dtypes)"),
    _int(2, "MX INT2: two's complement, implicit scale 2^0 (ml_dtypes int2)", ml="int2"),
    _int(2, "unsigned 2-bit integer (ml_dtypes uint2)", signed=False, ml="uint2"),
    _int(4, "unsigned 4-bit integer (ml_dtypes uint4)", signed=False, ml="uint4"),
]}

# ml_dtypes' names for the formats it has.  Its int4 is a plain integer (code c
# means c), which is mxspec's int4_b0, not MX INT4 (c/4): mxspec's own name wins.
ALIASES = {f.ml_dtype: f.name for f in _TABLE.values() if f.ml_dtype and f.ml_dtype != f.name}

_SPECIALS_RE = "|".join(SPECIALS + ("p3109_sf",))
_FLOAT_RE = re.compile(rf"^fp(\d+)_e(\d+)m(\d+)(?:_b(-?\d+))?(?:_({_SPECIALS_RE}))?$")
_INT_RE = re.compile(r"^(u?)int(\d+)(?:_b(-?\d+))?$")
_P3109_RE = re.compile(r"^p3109_k(\d+)p(\d+)([su])([ef])$")
_FNUZ_RE = re.compile(r"^fp(\d+)_e(\d+)m(\d+)(?:b(-?\d+))?fnuz$")  # ml_dtypes' spelling


def _default_float(ebits: int, mbits: int):
    if ebits < 1 or mbits < 0:
        raise FormatError(f"float_format: ebits must be >= 1 and mbits >= 0, got e{ebits}m{mbits}")
    base = f"fp{1 + ebits + mbits}_e{ebits}m{mbits}"
    known = _TABLE.get(base)
    if known is not None:
        return base, known.bias, known.specials
    return base, (1 << (ebits - 1)) - 1, "none"


def float_format(ebits: int, mbits: int, bias: int | None = None,
                 specials: str = "none") -> ElementFormat:
    """A small float of 1 + ebits + mbits <= 8 bits (ebits + mbits for the
    unsigned specials) with subnormals.

    >>> float_format(2, 2).name, float_format(2, 2).max_normal
    ('fp5_e2m2', 7.0)
    >>> float_format(4, 3, specials="ieee").name
    'fp8_e4m3_ieee'
    >>> float_format(4, 3, 8, "fnuz").name
    'fp8_e4m3fnuz'
    """
    if not (isinstance(ebits, int) and isinstance(mbits, int)) or ebits < 1 or mbits < 0:
        raise FormatError(f"float_format: ebits must be >= 1 and mbits >= 0, got e{ebits}m{mbits}")
    if specials == "p3109_sf":
        specials = "fnuz"  # the same thing: one NaN at 1.0..0, no Inf, no -0
    if specials not in SPECIALS:
        raise FormatError(f"float_format: specials must be one of {SPECIALS}, got {specials!r}")
    bits = ebits + mbits + (0 if specials in UNSIGNED_SPECIALS else 1)
    if not 2 <= bits <= 8:
        raise FormatError(f"float_format: the format must have 2..8 bits, got {bits}")
    if specials == "ieee" and ebits < 2:
        raise FormatError("float_format: specials='ieee' needs ebits >= 2 (one exponent is reserved)")
    if specials == "ieee" and mbits < 1:
        raise FormatError("float_format: specials='ieee' needs mbits >= 1 (NaN is the reserved "
                          "exponent with a nonzero mantissa)")
    base, dbias, dspecials = _default_float(ebits, mbits)
    if specials in UNSIGNED_SPECIALS:
        base = f"fp{bits}_e{ebits}m{mbits}"
    if specials in P3109_SPECIALS:
        dbias = 1 << (ebits - 1)  # P3109's bias, one more than the IEEE-style one
    bias = dbias if bias is None else int(bias)
    if (base, bias, specials) == (base, dbias, dspecials) and base in _TABLE:
        return _TABLE[base]
    if specials == "fnuz":  # ml_dtypes' spelling: fp8_e4m3fnuz, fp8_e4m3b11fnuz
        name = base + (f"b{bias}" if bias != dbias else "") + "fnuz"
    else:
        name = base + (f"_b{bias}" if bias != dbias else "") + \
            (f"_{specials}" if specials != dspecials else "")
    if name in _TABLE:
        return _TABLE[name]
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


def int_format(bits: int, bias: int | None = None, signed: bool = True) -> ElementFormat:
    """An integer format of 2..8 bits: code c means c * 2**-bias, two's
    complement when ``signed``.  The default bias is bits - 2 for signed
    formats (the MX construction, emax 0) and 0 for unsigned ones.

    >>> int_format(2).values.tolist()
    [0.0, 1.0, -2.0, -1.0]
    >>> int_format(4, signed=False).max_normal, int_format(4, 0).name
    (15.0, 'int4_b0')
    """
    if not isinstance(bits, int) or not 2 <= bits <= 8:
        raise FormatError(f"int_format: bits must be 2..8, got {bits!r}")
    if bias is not None and (not isinstance(bias, int) or not -8 <= bias <= 140):
        raise FormatError(f"int_format: bias must be an integer in -8..140, got {bias!r}")
    fmt = _int(bits, "generic integer", bias, signed)
    return _TABLE.get(fmt.name) or fmt


def p3109_format(k: int, precision: int, signed: bool = True,
                 extended: bool = True) -> ElementFormat:
    """IEEE P3109's K-bit format of precision P: signed (P = 1 .. K-1) or
    unsigned (P = 1 .. K), extended (+-Inf) or finite, one NaN, no -0.  Bias
    2^(K-P-1) signed, 2^(K-P) unsigned, as gfloat's ``format_info_p3109``.

    >>> f = p3109_format(8, 3)
    >>> f.name, f.bias, f.max_normal, f.nan_code, f.inf_mag_code
    ('p3109_k8p3se', 16, 49152.0, 128, 127)
    """
    if not isinstance(k, int) or not 3 <= k <= 8:
        raise FormatError(f"p3109_format: k must be 3..8, got {k!r}")
    top = k - 1 if signed else k
    if not isinstance(precision, int) or not 1 <= precision <= top:
        raise FormatError(f"p3109_format: precision must be 1..{top} for k={k} "
                          f"({'signed' if signed else 'unsigned'}), got {precision!r}")
    name = f"p3109_k{k}p{precision}{'s' if signed else 'u'}{'e' if extended else 'f'}"
    known = _TABLE.get(name)
    if known is not None:
        return known
    if signed:
        ebits, bias = k - precision, 1 << (k - precision - 1)
        specials = "p3109_se" if extended else "fnuz"
    else:
        ebits, bias = k - precision + 1, 1 << (k - precision)
        specials = "p3109_ue" if extended else "p3109_uf"
    twin = {"p3109_k8p4sf": "float8_e4m3fnuz", "p3109_k8p3sf": "float8_e5m2fnuz"}.get(name)
    return ElementFormat(name, "float", k, ebits, precision - 1, bias, specials, twin,
                         f"IEEE P3109 K={k} P={precision} {'signed' if signed else 'unsigned'} "
                         f"{'extended' if extended else 'finite'}")


def p3109_formats() -> list[str]:
    """Names of every P3109 format mxspec has: K = 3..8, every P the standard allows."""
    return [f"p3109_k{k}p{p}{s}{d}" for k in range(3, 9) for s in "su"
            for p in range(1, k if s == "s" else k + 1) for d in "ef"]


def element_format(name) -> ElementFormat:
    """Look up an element format by name: a name in :func:`formats`, an
    ml_dtypes name (``float8_e4m3fnuz``), a P3109 name
    (``p3109_k{K}p{P}{s|u}{e|f}``), any ``fp{bits}_e{E}m{M}[_b{bias}][_specials]``
    or any ``int{2..8}[_b{bias}]`` / ``uint{2..8}[_b{bias}]``.

    >>> element_format("float8_e4m3fnuz").name, element_format("p3109_k4p2uf").max_normal
    ('fp8_e4m3fnuz', 8.0)
    """
    if isinstance(name, ElementFormat):
        return name
    if not isinstance(name, str):
        raise FormatError(f"format must be a name (str), got {type(name).__name__}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in _TABLE:
        return _TABLE[key]
    try:
        m = _P3109_RE.match(key)
        if m:
            return p3109_format(int(m[1]), int(m[2]), m[3] == "s", m[4] == "e")
        m = _FLOAT_RE.match(key)
        if m:
            bits, e, mb = int(m[1]), int(m[2]), int(m[3])
            specials = m[5]
            want = e + mb + (0 if specials in UNSIGNED_SPECIALS else 1)
            if bits != want:
                raise FormatError(f"fp{bits} must have {want} bits for e{e}m{mb}"
                                  f"{' (unsigned: no sign bit)' if want == e + mb else ''}")
            base, dbias, dspecials = _default_float(e, mb)
            return float_format(e, mb, int(m[4]) if m[4] is not None else None,
                                specials or dspecials)
        m = _FNUZ_RE.match(key)
        if m:  # ml_dtypes-style fnuz spelling with any widths
            e, mb = int(m[2]), int(m[3])
            if int(m[1]) != 1 + e + mb:
                raise FormatError(f"fp{m[1]} must have {1 + e + mb} bits for e{e}m{mb}")
            bias = int(m[4]) if m[4] is not None else (1 << (e - 1))
            return float_format(e, mb, bias, "fnuz")
        m = _INT_RE.match(key)
        if m:
            return int_format(int(m[2]), int(m[3]) if m[3] is not None else None, m[1] != "u")
    except FormatError as err:
        msg = re.sub(r"^(float|int|p3109)_format: ", "", str(err))
        raise FormatError(f"format {name!r}: {msg}") from None
    raise FormatError(f"unknown element format {name!r}; valid names: {', '.join(_TABLE)}, "
                      "ml_dtypes' names (float8_e4m3fnuz, ...), p3109_k{K}p{P}{s|u}{e|f} "
                      "(K 3..8), any fp{bits}_e{E}m{M}[_b{bias}][_specials] of 2..8 bits "
                      f"(specials: {', '.join(SPECIALS)}), or [u]int{{2..8}}[_b{{bias}}]")


def formats() -> list[str]:
    """Names of the element formats in the table (generic and P3109 ones are
    made on demand; :func:`p3109_formats` lists the latter)."""
    return list(_TABLE)
