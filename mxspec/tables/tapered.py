"""Tapered 8-bit floats as rows (HiFloat8; SPEC.md section 10): a prefix-coded
dot field per row, and every value derived from the row's fields.

>>> tapered_format("hif8").max_normal
32768.0
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .element import FormatError

TAPERED_ROUNDING = ("rna", "rtz", "up", "down")   # deterministic modes
TAPERED_RANDOM = ("hybrid",)                      # take seed= or rbits=
HYBRID_TA_BELOW = 4   # hybrid: ties away where |E| < 4, stochastic elsewhere (SPEC.md 10.2)
TAPERED_OVERFLOW = ("ieee", "saturate")
TAPERED_NAN = ("keep", "zero")


@dataclass(frozen=True)
class TaperedFormat:
    """An 8-bit tapered float: sign bit, then a prefix-coded dot field.

    dots        (prefix bits, D, mantissa bits) per dot value: D exponent bits
                stored as sign-magnitude with an implicit top magnitude bit
                (|E| in 2^(D-1) .. 2^D - 1; D = 0 is E = 0).
    denormal    (prefix, mantissa bits, exponent offset): value 2^(M + offset).
    inf_code    the code of +Inf (-Inf has the sign bit set); nan_code NaN.
    """

    name: str
    dots: tuple
    denormal: tuple
    inf_code: int
    nan_code: int
    description: str = ""
    bits: int = 8
    kind: str = "tapered"
    is_int: bool = False
    signed: bool = True

    @property
    def n_codes(self) -> int:
        return 1 << self.bits

    @cached_property
    def values(self) -> np.ndarray:
        """The value of every code, from the row's fields (SPEC.md 10.1)."""
        out = np.empty(self.n_codes, np.float64)
        for c in range(self.n_codes):
            out[c] = self._value(c)
        return out

    def _value(self, c: int) -> float:
        if c == self.nan_code:
            return float("nan")
        sign = -1.0 if c >> 7 else 1.0
        r = c & 0x7F
        if r == self.inf_code:
            return sign * float("inf")
        for prefix, D, mbits in self.dots:
            plen = len(prefix)
            if (r >> (7 - plen)) == int(prefix, 2):
                body = r & ((1 << (7 - plen)) - 1)
                m = body & ((1 << mbits) - 1)
                ebits = body >> mbits
                if D == 0:
                    E = 0
                else:
                    esign = ebits >> (D - 1)
                    mag = (1 << (D - 1)) | (ebits & ((1 << (D - 1)) - 1))
                    E = -mag if esign else mag
                return sign * (1.0 + m / (1 << mbits)) * 2.0 ** E
        prefix, mbits, offset = self.denormal
        m = r & ((1 << mbits) - 1)
        return 0.0 if m == 0 else sign * 2.0 ** (m + offset)

    @cached_property
    def max_normal(self) -> float:
        v = self.values
        return float(np.max(v[np.isfinite(v)]))

    @cached_property
    def min_normal(self) -> float:
        return min(abs(v) for c, v in enumerate(self.values)
                   if np.isfinite(v) and v != 0 and not self._is_denormal(c))

    @cached_property
    def min_subnormal(self) -> float:
        v = np.abs(self.values)
        return float(np.min(v[np.isfinite(v) & (v > 0)]))

    def _is_denormal(self, c):
        r = c & 0x7F
        return (r >> (7 - len(self.denormal[0]))) == int(self.denormal[0], 2)

    @cached_property
    def table(self):
        """(the positive finite values sorted, their codes): the encoder's search."""
        v = self.values[:128]
        keep = np.isfinite(v)
        order = np.argsort(v[keep], kind="stable")
        return (np.ascontiguousarray(v[keep][order]),
                np.ascontiguousarray(np.arange(128)[keep][order].astype(np.uint8)))

    @cached_property
    def successors(self):
        """(value, next value up, its code) by positive code, from the search
        table: what stochastic rounding chooses between.  Past the largest
        value the next is 1.5 x it, whose code is Inf's."""
        vals, codes_t = self.table
        val = np.ascontiguousarray(self.values[:128])
        nxt_val = np.zeros(128)
        nxt_code = np.zeros(128, np.int64)
        nxt_val[codes_t] = np.append(vals[1:], vals[-1] * 1.5)
        nxt_code[codes_t] = np.append(codes_t[1:], self.inf_code)
        return val, nxt_val, nxt_code

    def summary(self) -> dict:
        return dict(name=self.name, kind=self.kind, bits=self.bits,
                    max_normal=self.max_normal, min_normal=self.min_normal,
                    min_subnormal=self.min_subnormal, inf_code=self.inf_code,
                    nan_code=self.nan_code)

    def __repr__(self) -> str:
        return f"TaperedFormat({self.name!r})"


_TABLE = {f.name: f for f in (
    TaperedFormat(
        "hifloat8",
        dots=(("11", 4, 1), ("10", 3, 2), ("01", 2, 3), ("001", 1, 3), ("0001", 0, 3)),
        denormal=("0000", 3, -23), inf_code=0x6F, nan_code=0x80,
        description="HiFloat8 (Huawei, arXiv 2409.16626): tapered, exponents -15..15 "
                    "with 1-3 mantissa bits, denormals 2^-22..2^-16, no -0 (0x80 is NaN)"),
)}
ALIASES = {"hif8": "hifloat8"}


def is_tapered_name(name) -> bool:
    if isinstance(name, TaperedFormat):
        return True
    return isinstance(name, str) and ALIASES.get(name.strip().lower(), name.strip().lower()) \
        in _TABLE


def tapered_format(name) -> TaperedFormat:
    if isinstance(name, TaperedFormat):
        return name
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in _TABLE:
        raise FormatError(f"unknown tapered format {name!r}; valid names: {', '.join(_TABLE)}")
    return _TABLE[key]


def tapered_formats() -> list[str]:
    return list(_TABLE)
