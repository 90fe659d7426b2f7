"""Block formats with one-bit micro-exponents under a shared base scale: the
shared-microexponent MX4 / MX6 / MX9 (Rouhani et al., ISCA 2023) and HiFloat4
(HiF4), SPEC.md section 11.

A row is data: the element format (a sign-magnitude fixed point, written as an
E1Mn float with bias 1: S1P2 is ``fp4_e1m2_b1_none``), the unit size, the base
scale's rule and format, and the micro-exponent levels as (group size,
threshold) pairs.  One engine runs every row:

1. base: ``pow2``: 2^E with E = floor(log2(unit max)) - offset (MXn's shared
   exponent, kept in -127..127); ``e6m2``: HiF4's recipe with its BF16 steps;
   REC is the reciprocal the later steps multiply by.
2. each level, in order: a group's bit is 1 when (group max) x REC x 2^-(bits
   of the earlier levels) >= threshold;
3. element: x x REC x 2^-(all bits), rounded by the element codec to nearest
   with ties away from zero (the recipes' floor(v x 2^n + 1/2) / 2^n on the
   element's uniform grid), saturating at its largest value.

>>> mx = encode_micro(np.float32([1.0, -0.3, 2.5, 0.01] + [0.0] * 12), "mx6")
>>> decode_micro(mx).tolist()[:4]
[1.0, -0.25, 2.5, 0.0]
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .blocks import MXArray, _norm_axis
from .elements import as_float_input, decode_table, encode_elements
from .formats import ElementFormat, element_format

__all__ = ["MicroFormat", "micro_format", "micro_formats", "is_micro_name", "encode_micro",
           "decode_micro"]


@dataclass(frozen=True)
class MicroFormat:
    """A micro-exponent block format (see the module's text)."""

    name: str
    element: ElementFormat
    unit: int
    base: str            # "pow2" or "e6m2"
    offset: int          # pow2: E = floor(log2 max) - offset
    levels: tuple        # ((group size, threshold), ...), outermost first
    description: str = ""

    @property
    def block_size(self) -> int:
        return self.unit

    def __repr__(self) -> str:
        return f"MicroFormat({self.name!r})"


def _row(name, element, unit, base, offset, levels, description):
    return MicroFormat(name, element_format(element), unit, base, offset, levels, description)


_TABLE = {f.name: f for f in (
    _row("mx4", "fp3_e1m1_b1_none", 16, "pow2", 1, ((2, 2.0),),
         "MX4 (shared microexponents): 16 S1P1 elements, an 8-bit shared exponent, a 1-bit "
         "microexponent per pair"),
    _row("mx6", "fp5_e1m3_b1_none", 16, "pow2", 1, ((2, 2.0),),
         "MX6: 16 S1P3 elements, an 8-bit shared exponent, a 1-bit microexponent per pair"),
    _row("mx9", "fp8_e1m6_b1_none", 16, "pow2", 1, ((2, 2.0),),
         "MX9: 16 S1P6 elements, an 8-bit shared exponent, a 1-bit microexponent per pair"),
    _row("hif4", "fp4_e1m2_b1_none", 64, "e6m2", 0, ((8, 4.0), (4, 2.0)),
         "HiFloat4: 64 S1P2 elements under an E6M2 base scale, a 1-bit exponent per 8 and "
         "one per 4 (the published reference recipe)"),
)}


def is_micro_name(name) -> bool:
    return isinstance(name, MicroFormat) or (
        isinstance(name, str) and name.strip().lower() in _TABLE)


def micro_format(name) -> MicroFormat:
    if isinstance(name, MicroFormat):
        return name
    key = str(name).strip().lower()
    if key not in _TABLE:
        from .formats import FormatError
        raise FormatError(f"unknown micro-exponent format {name!r}; valid names: "
                          f"{', '.join(_TABLE)}")
    return _TABLE[key]


def micro_formats() -> list[str]:
    return list(_TABLE)


def bf16(x):
    """Round to BFloat16 (nearest even), as the HiF4 recipe's BF16 steps do."""
    return np.asarray(x, np.float64).astype(ml_dtypes.bfloat16).astype(np.float64)


E6M2_MIN, E6M2_MAX = 2.0 ** -48, 1.5 * 2.0 ** 15


def _e6m2(sf):
    """SF clamped to [2^-48, 1.5 x 2^15] and rounded to 2 mantissa bits (nearest
    even): (value, code e * 4 + m with value 2^(e-48) x (1 + m/4))."""
    x = np.clip(sf, E6M2_MIN, E6M2_MAX)
    e = np.frexp(x)[1] - 1.0
    v = np.round(x * 2.0 ** (2 - e)) * 2.0 ** (e - 2)   # np.round: ties to even
    e2 = np.frexp(v)[1] - 1.0
    m = np.round((v / 2.0 ** e2 - 1) * 4)
    return v, ((e2 + 48) * 4 + m).astype(np.uint8)


def _e6m2_value(code):
    c = np.asarray(code).astype(np.int64)
    return 2.0 ** ((c >> 2) - 48) * (1 + (c & 3) / 4)


def _base(f: MicroFormat, umax):
    """(base value, base code, REC) per unit from its largest magnitude."""
    if f.base == "pow2":
        # floor(log2 max), exactly: the exponent frexp reads off the bits
        E = np.frexp(np.where(umax > 0, umax, 2.0 ** -300))[1] - 1.0 - f.offset
        E = np.clip(E, -127, 127)
        return 2.0 ** E, (E + 127).astype(np.uint8), 2.0 ** -E
    # e6m2: SF = BF16(Vmax x BF16(1/7)); 7 = 2^2 x 1.75, the most the lower levels reach
    top = 2.0 ** sum(1 for _ in f.levels) * f.element.max_normal
    sf = bf16(umax * bf16(1.0 / top))
    v, code = _e6m2(sf)
    return v, code, bf16(1.0 / v)


def encode_micro(x, fmt, axis: int = -1) -> MXArray:
    """Encode ``x`` (float32, float16, bfloat16 or float64) in a micro-exponent
    format along ``axis``.  The MXArray's ``scales`` are the base codes (E8 + 127,
    or the E6M2 code) and ``micro`` the bits of each level, one uint8 per group."""
    f = micro_format(fmt)
    a = as_float_input(x).astype(np.float64)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (a unit runs along an axis)")
    if not np.isfinite(a).all():
        raise ValueError(f"x holds NaN or Inf; {f.name} has no code for them")
    ax = _norm_axis(axis, a.ndim)
    moved = np.moveaxis(a, ax, -1)
    L = moved.shape[-1]
    nu = -(-L // f.unit)
    u = np.zeros(moved.shape[:-1] + (nu, f.unit))
    u.reshape(moved.shape[:-1] + (nu * f.unit,))[..., :L] = moved
    mag = np.abs(u)
    bval, bcode, rec = _base(f, mag.max(axis=-1) if nu else np.zeros(moved.shape[:-1] + (0,)))
    shift = np.zeros(u.shape)
    bits = []
    for g, T in f.levels:
        gm = mag.reshape(u.shape[:-1] + (f.unit // g, g)).max(axis=-1)
        sh = shift.reshape(u.shape[:-1] + (f.unit // g, g))[..., 0]
        b = (gm * rec[..., None] * 2.0 ** -sh >= T)
        bits.append(b.astype(np.uint8))
        shift = shift + np.repeat(b, g, axis=-1)
    # the element codec's ties-away rounding, saturating: the recipes' floor(v + 1/2)
    # on the element's uniform grid (v is exact: 24 x 8 bits times powers of two)
    codes = encode_elements(np.copysign(mag * rec[..., None] * 2.0 ** -shift, u), f.element,
                            "rna", "saturate")
    codes = codes.reshape(moved.shape[:-1] + (nu * f.unit,))[..., :L]
    mv = lambda arr: np.ascontiguousarray(np.moveaxis(arr, -1, ax))  # noqa: E731
    return MXArray(mv(codes), mv(bcode), f, f.unit, ax, None,
                   tuple(np.ascontiguousarray(np.moveaxis(b, -2, ax)) for b in bits))


def decode_micro(mx: MXArray, dtype=np.float32) -> np.ndarray:
    """Values: sign x base x 2^(sum of the element's level bits) x element."""
    f = mx.format
    codes = np.moveaxis(np.asarray(mx.codes), mx.axis, -1)
    L = codes.shape[-1]
    nu = -(-L // f.unit)
    bcode = np.moveaxis(np.asarray(mx.scales), mx.axis, -1)
    if bcode.shape != codes.shape[:-1] + (nu,) or len(mx.micro) != len(f.levels):
        raise ValueError(f"mx.scales has shape {np.shape(mx.scales)} and {len(mx.micro)} "
                         f"micro levels; {f.name} of shape {np.shape(mx.codes)} along axis "
                         f"{mx.axis} needs {np.moveaxis(np.empty(codes.shape[:-1] + (nu,)), -1, mx.axis).shape} "
                         f"and {len(f.levels)}")
    bval = 2.0 ** (bcode.astype(np.int64) - 127) if f.base == "pow2" else _e6m2_value(bcode)
    shift = np.zeros(codes.shape[:-1] + (nu * f.unit,))
    for (g, _), b in zip(f.levels, mx.micro):
        bm = np.moveaxis(np.asarray(b), mx.axis, -2).reshape(codes.shape[:-1] + (nu * f.unit // g,))
        shift = shift + np.repeat(bm, g, axis=-1)
    e = decode_table(f.element, np.float64)[codes]
    full = np.repeat(bval, f.unit, axis=-1)[..., :L] * 2.0 ** shift[..., :L]
    return np.ascontiguousarray(np.moveaxis((e * full).astype(dtype), -1, mx.axis))


def unit_bytes(f: MicroFormat) -> int:
    """Bytes of one packed unit: the base byte, each level's bits (least
    significant first, whole bytes), the elements' bit stream."""
    lv = sum(-(-(f.unit // g) // 8) for g, _ in f.levels)
    return 1 + lv + -(-(f.unit * f.element.bits) // 8)


def pack_units(mx: MXArray) -> np.ndarray:
    """The units of a micro-exponent MXArray as bytes, shape (..., units,
    unit_bytes) with the blocked axis moved last (SPEC.md 11.2):
    [base code][level 1 bits][level 2 bits]...[elements, two 4-bit codes per byte
    low nibble first (or the general little-endian bit stream of section 5)]."""
    from .packing import pack_codes
    f = mx.format
    codes = np.moveaxis(np.asarray(mx.codes), mx.axis, -1)
    L = codes.shape[-1]
    nu = -(-L // f.unit)
    full = np.zeros(codes.shape[:-1] + (nu * f.unit,), np.uint8)
    full[..., :L] = codes
    parts = [np.moveaxis(np.asarray(mx.scales), mx.axis, -1)[..., None].astype(np.uint8)]
    for (g, _), b in zip(f.levels, mx.micro):
        bits = np.moveaxis(np.asarray(b), mx.axis, -2)
        parts.append(np.packbits(bits, axis=-1, bitorder="little"))
    parts.append(pack_codes(full.reshape(full.shape[:-1] + (nu, f.unit)), f.element.bits))
    return np.ascontiguousarray(np.concatenate(parts, axis=-1))


def unpack_units(units, fmt, shape, axis: int = -1) -> MXArray:
    """Inverse of :func:`pack_units` for values of ``shape`` blocked along ``axis``."""
    from .elements import check_codes
    from .packing import unpack_codes
    f = micro_format(fmt)
    shape = tuple(int(s) for s in shape)
    ax = _norm_axis(axis, len(shape))
    moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
    nu = -(-moved[-1] // f.unit)
    u = np.asarray(units)
    want = moved[:-1] + (nu, unit_bytes(f))
    if u.dtype != np.uint8 or u.shape != want:
        raise ValueError(f"units must be uint8 of shape {want} ({f.name}, shape {shape} along "
                         f"axis {ax}: {nu} units of {unit_bytes(f)} bytes), got {u.dtype} "
                         f"{u.shape}")
    base = u[..., 0]
    micro, o = [], 1
    for g, _ in f.levels:
        n = f.unit // g
        nb = -(-n // 8)
        micro.append(np.unpackbits(u[..., o:o + nb], axis=-1, count=n, bitorder="little"))
        o += nb
    codes = unpack_codes(np.ascontiguousarray(u[..., o:]), f.element.bits, f.unit)
    codes = check_codes(codes.reshape(moved[:-1] + (nu * f.unit,))[..., :moved[-1]], f.element)
    mv = lambda a: np.ascontiguousarray(np.moveaxis(a, -1, ax))  # noqa: E731
    return MXArray(mv(codes), mv(base), f, f.unit, ax, None,
                   tuple(np.ascontiguousarray(np.moveaxis(m, -2, ax)) for m in micro))
