"""Human-readable views of a format and of one value in it, for ``mxspec show``
and ``mxspec formats``: facts, every code, a value's code, bit fields and
neighbours.  Built on the public API only.

>>> print(describe_value(2.7, "fp4_e2m1").splitlines()[0])
2.7 -> fp4_e2m1 code 0x5 (0.10.1) = 3 (rne, saturate): inexact
"""
from __future__ import annotations

import numpy as np

from .. import decode_elements, element_format, encode_elements, formats, p3109_formats
from ..tables.block import block_format, micro_format
from ..tables.tapered import tapered_format
from ..tables.policies import flag_names

__all__ = ["fields", "describe_format", "describe_value", "format_rows", "plot_format",
           "describe_block_format", "block_grid", "plot_block"]


def fields(code: int, fmt) -> str:
    """The bit fields of ``code``: sign.exponent.mantissa for floats, the
    two's complement (or plain) bits for integers.

    >>> fields(0x7E, "fp8_e4m3"), fields(0xC, "int4"), fields(0x80, "e8m0")
    ('0.1111.110', '1100', '10000000')
    """
    f = element_format(fmt)
    b = format(int(code), f"0{f.bits}b")
    if f.is_int or f.kind == "scale":
        return b
    parts = ([b[0]] if f.signed else []) + [b[-(f.ebits + f.mbits):-f.mbits or None]]
    if f.mbits:
        parts.append(b[-f.mbits:])
    return ".".join(parts)


def _v(x: float) -> str:
    return f"{x:.10g}"


def format_rows(all_p3109: bool = False) -> list[dict]:
    """One dict of facts per format: the table, and the P3109 family if asked."""
    names = formats() + (p3109_formats() if all_p3109 else [])
    return [element_format(n).summary() for n in names]


def describe_format(fmt) -> str:
    """Every fact of ``fmt`` and the value of every code."""
    f = element_format(fmt)
    s = f.summary()
    lines = [f"{f.name}: {f.description}" if f.description else f.name]
    keys = ["kind", "bits", "ebits", "mbits", "bias", "specials", "signed", "emax", "emin",
            "max_normal", "min_normal", "min_subnormal", "has_inf", "has_nan",
            "has_negative_zero", "nan_code", "ml_dtype"]
    for k in keys:
        v = s[k]
        if k == "nan_code" and v >= 0:
            v = f"0x{v:0{(f.bits + 3) // 4}X}"
        lines.append(f"  {k:18s} {v}")
    vals = decode_elements(np.arange(f.n_codes, dtype=np.uint8), f, np.float64)
    lines.append("  code  fields        value")
    for c, v in enumerate(vals):
        lines.append(f"  0x{c:02X}  {fields(c, f):12s}  {_v(v)}")
    return "\n".join(lines)


def describe_value(x: float, fmt, rounding: str = "rne", overflow: str = "saturate") -> str:
    """The code ``x`` encodes to, its bit fields, value and flags, and the
    representable neighbours on either side with their codes."""
    f = element_format(fmt)
    code, fl = encode_elements(float(x), f, rounding=rounding, overflow=overflow, return_flags=True)
    val = float(decode_elements(code, f, np.float64))
    why = ", ".join(flag_names(fl)) or "exact"
    out = [f"{_v(x)} -> {f.name} code 0x{int(code):X} ({fields(code, f)}) = {_v(val)} "
           f"({rounding}, {overflow}): {why}"]
    vals = decode_elements(np.arange(f.n_codes, dtype=np.uint8), f, np.float64)
    fin = np.isfinite(vals) & ~((vals == 0) & np.signbit(vals))
    order = np.argsort(vals[fin], kind="stable")
    codes, sorted_vals = np.nonzero(fin)[0][order], vals[fin][order]
    below = np.nonzero(sorted_vals < x)[0]
    above = np.nonzero(sorted_vals > x)[0]
    if below.size:
        c = int(codes[below[-1]])
        out.append(f"  below: 0x{c:X} ({fields(c, f)}) = {_v(sorted_vals[below[-1]])}")
    if above.size:
        c = int(codes[above[0]])
        out.append(f"  above: 0x{c:X} ({fields(c, f)}) = {_v(sorted_vals[above[0]])}")
    if not above.size and np.isfinite(x):
        out.append(f"  above: none (max finite is {_v(sorted_vals[-1])})")
    return "\n".join(out)


def plot_format(fmt, path: str) -> str:
    """Draw the finite values of ``fmt`` (magnitudes on a log2 axis, one mark
    per code, subnormals marked) into ``path``; needs matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib (pip install 'mxspec[qat]')") from None
    f = element_format(fmt)
    vals = decode_elements(np.arange(f.n_codes, dtype=np.uint8), f, np.float64)
    pos = np.unique(vals[np.isfinite(vals) & (vals > 0)])
    sub = pos < f.min_normal if f.kind == "float" else np.zeros(pos.size, bool)
    fig, ax = plt.subplots(figsize=(9, 2.2))
    ax.scatter(np.log2(pos[~sub]), np.zeros((~sub).sum()), marker="|", s=300, label="normal")
    if sub.any():
        ax.scatter(np.log2(pos[sub]), np.zeros(sub.sum()), marker="|", s=300, c="tab:orange",
                   label="subnormal")
    ax.set_yticks([])
    ax.set_xlabel("log2 |value|")
    ax.set_title(f"{f.name}: {pos.size} positive finite values, max {_v(f.max_normal)}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _block(fmt):
    return block_format(fmt)


def describe_micro(fmt) -> str:
    """A micro-exponent format's parts and the values an element can take at a
    base scale of 1, for each count of its level bits (SPEC.md section 11)."""
    f = micro_format(fmt)
    vals = decode_elements(np.arange(f.element.n_codes, dtype=np.uint8), f.element, np.float64)
    pos = np.unique(np.abs(vals[np.isfinite(vals)]))
    base = ("2^E8, E8 = floor(log2 unit max) - 1, stored as E8 + 127" if f.base_scale == "pow2" else
            "E6M2 from BF16(max x BF16(1/7)), stored as e x 4 + m")
    lines = [f"{f.name}: {f.description}",
             f"  element            {f.element.name} ({_v(pos[-1])} largest, "
             f"{f.element.mbits} fraction bits, ties away)",
             f"  unit               {f.unit} values, {f.unit_bytes} bytes packed "
             f"({8 * f.unit_bytes / f.unit:g} bits per value)",
             f"  base scale         {base}",
             "  levels             " + ", ".join(f"1 bit per {g} (set when max x REC >= {T:g})"
                                                 for g, T in f.micro_levels)]
    for k in range(len(f.micro_levels) + 1):
        lines.append(f"  {k} level bit(s) set: {' '.join(_v(v * 2.0 ** k) for v in pos)}")
    return "\n".join(lines)


def block_grid(fmt, scale=None) -> tuple:
    """(the block scale's value, the sorted distinct finite values one block can
    hold at that scale).  ``scale``: for MX an E8M0 code (default 127: 2^0); for
    NVFP4 an E4M3 block-scale value (default 1), times a tensor scale of 1.

    >>> block_grid("mxfp4_e2m1", 128)[1][-3:].tolist()
    [6.0, 8.0, 12.0]
    >>> block_grid("nvfp4", 0.75)[1][-2:].tolist()
    [3.0, 4.5]
    """
    f = _block(fmt)
    vals = decode_elements(np.arange(f.element.n_codes, dtype=np.uint8), f.element, np.float64)
    vals = vals[np.isfinite(vals)]
    if f.engine == "micro":
        raise ValueError(f"{f.name}: a micro-exponent format's grid is describe_micro's")
    if f.engine == "affine":  # integer groups: q x s (a zero point of 0), q the code's integer
        sv = 1.0 if scale is None else float(scale)
        b = f.element.bits
        return sv, np.arange(-(1 << (b - 1)), 1 << (b - 1)) * sv + 0.0
    if f.scale_kind == "float32":
        sv = 1.0 if scale is None else float(np.float32(scale))
    elif f.engine == "scaled":
        s = 1.0 if scale is None else float(scale)
        code = int(encode_elements(s, f.scale))
        sv = float(decode_elements(np.uint8(code), f.scale, np.float64))
        if sv != s:
            raise ValueError(f"scale={s!r} is not an E4M3 value (nearest: {sv!r})")
    else:
        code = 127 if scale is None else int(scale)
        if not 0 <= code <= 254:
            raise ValueError(f"scale={scale!r}: an E8M0 code 0..254 (127 is 2^0)")
        sv = 2.0 ** (code - 127)
    return sv, np.unique(vals * sv + 0.0)  # + 0.0: one zero, not -0 and +0


def describe_block_format(fmt, scale=None) -> str:
    """A block format's parts, and the values of one block at a scale."""
    f = _block(fmt)
    lines = [f.name]
    if f.engine == "micro":
        return describe_micro(f)
    if f.engine == "affine":
        b = f.element.bits
        lines += [f"  element            {f.element.name} (codes {-(1 << (b - 1))}..{(1 << (b - 1)) - 1}, "
                  f"two's complement)",
                  f"  scale              {f.scale_kind}, one per group of {f.block_size}",
                  "  zero point         " + ("int8, one per group: value (q - zp) x s"
                                            if f.zero_point else "none (symmetric): value q x s"),
                  "  scale rule         " + (f"(max - min) / {(1 << b) - 1}, zp = round(qmin - min/s)"
                                            if f.zero_point else
                                            f"max|x| / {(1 << b) / 2 - 0.5:g}")
                  + " (min <= 0 <= max; a zero scale becomes eps)",
                  f"  recipe             {f.recipe.name}: {f.recipe.description}",
                  "  packings           mxspec bytes; compressed-tensors, gptq, awq int32 words"]
    elif f.engine == "scaled":
        if4 = f.recipe.choice == "if4"
        lines += [f"  element            {f.element.name}"
                  + (", or integers -7..7 worth 6/7 (a block whose scale byte has its sign "
                     "bit set)" if if4 else ""),
                  ("  block scale        fp8_e4m3 magnitude, sign bit: integer block (0x7F is "
                   "NaN)" if if4 else
                   "  block scale        fp8_e4m3 as unsigned E4M3 (sign bit 0; 0x7F is NaN)"
                   if f.scale is not None else "  block scale        float32"),
                  f"  block size         {f.block_size}" + (
                      f" (one scale per {f.tile_rows} x {f.block_size} tile, repeated over its "
                      f"rows; x must be whole tiles)" if f.tile_rows > 1 else ""),
                  f"  tensor scale       {'float32' if f.tensor_scale else 'none'}",
                  f"  recipe             {f.recipe.name}: {f.recipe.description}"]
    elif f.recipe is not None:  # an MX recipe (SPEC.md 4.5)
        nan = "0xFF is NaN" if f.recipe.decode == "mx" else "every code, 0xFF too: no NaN"
        lines += [f"  element            {f.element.name}",
                  f"  block scale        e8m0 (2^(code-127); {nan})",
                  f"  block size         {f.block_size} (default)",
                  f"  recipe             {f.recipe.name}: {f.recipe.description}"]
    else:
        lines += [f"  element            {f.element.name}",
                  "  block scale        e8m0 (2^(code-127); 0xFF is NaN)",
                  "  block size         32 (default)"]
    sv, grid = block_grid(f, scale)
    lines.append(f"  one block at scale {_v(sv)}: {grid.size} values, "
                 f"{' '.join(_v(v) for v in grid[grid >= 0])}")
    return "\n".join(lines)


def plot_block(fmt, path: str, scale=None) -> str:
    """Draw one block's values at a scale (see :func:`block_grid`)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib (pip install 'mxspec[qat]')") from None
    f = _block(fmt)
    sv, grid = block_grid(f, scale)
    fig, ax = plt.subplots(figsize=(9, 2.2))
    ax.scatter(grid, np.zeros(grid.size), marker="|", s=300)
    ax.set_yticks([])
    ax.set_xlabel("value")
    ax.set_title(f"{f.name}: one block at scale {_v(sv)} ({grid.size} values)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def describe_tapered(fmt, x=None, rounding="rna", overflow="ieee") -> str:
    """A tapered format's facts and every code (or, with ``x``, the code ``x``
    encodes to and its neighbours)."""
    f = tapered_format(fmt)
    if x is not None:
        c = int(encode_elements(float(x), f, rounding=rounding, overflow=overflow))
        v = float(decode_elements(c, f, np.float64))
        vals, codes = f.table
        a = abs(float(x))
        lo = vals[vals <= a][-1] if (vals <= a).any() else None
        hi = vals[vals > a][0] if (vals > a).any() else None
        lines = [f"{_v(float(x))} -> {f.name} code 0x{c:02X} ({c:08b}) = {_v(v)} "
                 f"({rounding}, {overflow}){'' if v == float(x) else ': inexact'}"]
        for name, w in (("below", lo), ("above", hi)):
            if w is not None:
                k = int(encode_elements(w, f))
                lines.append(f"  {name}: 0x{k:02X} ({k:08b}) = {_v(w)}")
        return "\n".join(lines)
    lines = [f"{f.name}: {f.description}"]
    for k, v in f.summary().items():
        if k != "name":
            lines.append(f"  {k:18s} {v if not isinstance(v, int) or k in ('bits',) else hex(v)}")
    lines.append("  code  bits      value")
    for c, v in enumerate(f.values):
        lines.append(f"  0x{c:02X}  {c:08b}  {_v(v)}")
    return "\n".join(lines)
