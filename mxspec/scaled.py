"""Encode and decode the block formats of :mod:`mxspec.blockformats` (NVFP4):
E4M3 block scales under a float32 tensor scale, computed and applied as the
format's recipe says (SPEC.md section 9).  The element and scale roundings are
mxspec's element codec (round to nearest even, saturating).

>>> import numpy as np, mxspec
>>> mx = mxspec.encode(np.float32([0.5, -1.0, 3.0, 6.0] * 4), "nvfp4")
>>> float(mx.tensor_scale) == float(np.float32(6.0 / 2688)), mx.scales.tolist()
(True, [126])
>>> mxspec.decode(mx)[:4].tolist()  # ts = fl32(6 / 2688) is not exact: 6 * 448 * ts > 6
[0.5, -1.0, 3.000000238418579, 6.000000476837158]
"""
from __future__ import annotations

import numpy as np

from .blockformats import BlockFormat, block_format
from .blocks import MXArray, _check_block_size, _norm_axis
from .elements import as_float_input, check_codes, decode_table, encode_elements

__all__ = ["encode_scaled", "decode_scaled"]

F32 = np.float32


def _f32(x):
    return np.asarray(x, F32)


def tensor_scale(amax: float, f: BlockFormat) -> np.float32:
    """The float32 tensor scale the recipe stores (SPEC.md 9.2 step 1): ts for
    "divisor" recipes, gs for "multiplier" ones; 1 where there is none."""
    r = f.recipe
    top = f.element.max_normal * f.scale.max_normal  # 6 * 448 = 2688
    if not f.tensor_scale:
        return F32(1.0)
    if r.tensor == "multiplier":  # torch's 2688 / amax: a reciprocal, then a product
        with np.errstate(over="ignore"):
            gs = (F32(1.0) / max(F32(amax), np.finfo(F32).tiny)) * F32(top)
        return F32(1.0) if not np.isfinite(gs) else F32(gs)
    if amax == 0:
        return F32(1.0)  # nothing to scale; libraries divide by zero here (SPEC.md 9.3)
    if r.arithmetic == "exact":
        ts = F32(np.float64(amax) / top)  # one rounding: float64 holds the quotient well enough
    else:
        ts = F32(F32(amax) / F32(top))
    # a tensor whose amax is below 2688 * 2^-150 would divide by zero below (SPEC.md 9.3)
    return ts if ts > 0 else F32(2.0 ** -149)


def _block_scale_raw(bamax, ts, f: BlockFormat):
    """The block scale before it is rounded to the scale format."""
    r, emax = f.recipe, F32(f.element.max_normal)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if r.block == "exact":
            return np.asarray(bamax, np.float64) / (np.float64(emax) * np.float64(ts))
        b = _f32(bamax)
        if r.block == "amax_over_6ts":
            return b / F32(emax * ts)
        if r.block == "amax6_over_ts":
            return (b / emax) / ts
        return ts * (b / emax)  # gs_times_amax6


def _scaled_values(x, bsv, ts, f: BlockFormat):
    """The values that are rounded to the element format."""
    r = f.recipe
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if r.elements == "exact":
            return np.asarray(x, np.float64) / (bsv * np.float64(ts))
        x32, b32 = _f32(x), _f32(bsv)
        if r.elements == "divide_product":
            return x32 / (b32 * ts)
        if r.elements == "multiply_reciprocal":
            return x32 * ((F32(1.0) / ts) / b32)
        return x32 / (b32 / ts)  # divide_ratio


def encode_scaled(x, fmt, axis=-1, block_size=None, recipe=None) -> MXArray:
    """:func:`mxspec.encode` for a block format (``nvfp4``, ``nvfp4:modelopt``)."""
    f = block_format(fmt, recipe)
    a = as_float_input(x)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (a block runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    bs = f.block_size if block_size is None else _check_block_size(block_size)
    # NVFP4 takes float32 (float16 and bfloat16 widen exactly); float64 is rounded to
    # float32 first, as every implementation does (SPEC.md 9.2)
    a = a.astype(F32)
    moved = np.moveaxis(a, ax, -1)
    L = moved.shape[-1]
    nb = -(-L // bs)
    padded = np.zeros(moved.shape[:-1] + (nb * bs,), a.dtype)
    padded[..., :L] = moved
    blocks = padded.reshape(moved.shape[:-1] + (nb, bs))
    finite = np.isfinite(blocks)
    mag = np.where(finite, np.abs(blocks), 0)
    amax = float(mag.max()) if mag.size else 0.0
    ts = tensor_scale(amax, f)
    bamax = mag.max(axis=-1) if nb else np.zeros(moved.shape[:-1] + (0,))
    r = f.recipe
    q = _block_scale_raw(bamax, ts, f)
    if r.zero_to is not None:
        q = np.where(q == 0, q.dtype.type(r.zero_to), q)
    if r.scale_min:
        q = np.maximum(q, q.dtype.type(r.scale_min))
    if r.arithmetic == "float32":
        q = np.minimum(q, F32(f.scale.max_normal))
    scodes = encode_elements(q, f.scale, "rne", "saturate")
    svals = decode_table(f.scale, np.float64)[scodes]
    if r.zero_after is not None:
        zero = svals == 0
        scodes = np.where(zero, encode_elements(np.float64(r.zero_after), f.scale), scodes)
        svals = np.where(zero, r.zero_after, svals)
    v = _scaled_values(blocks, svals[..., None], ts, f)
    if r.arithmetic == "float32":
        v = np.clip(v, -F32(f.element.max_normal), F32(f.element.max_normal))
    # +-Inf (a float32 divisor that underflowed to zero) saturates like any overflow
    codes = encode_elements(np.where(np.isnan(v), 0, v), f.element, "rne", "saturate")
    if r.zero_in == "positive":
        codes = np.where((v == 0) & np.signbit(v), np.uint8(0), codes)
    # a block scale of zero, or 0 / 0 in float32: the element is a zero of x's sign
    dead = (svals == 0)[..., None] | np.isnan(v)
    neg0 = np.signbit(blocks) & (r.zero_in == "signed")
    codes = np.where(dead, np.where(neg0 | ((svals == 0)[..., None] & np.signbit(blocks)),
                                    encode_elements(-0.0, f.element), np.uint8(0)), codes)
    bad = ~finite.all(axis=-1)  # a NaN or Inf in a block: its scale is NaN
    if bad.any():
        scodes = np.where(bad, np.uint8(f.scale.nan_code), scodes)
        codes = np.where(bad[..., None], np.uint8(0), codes)
    codes = codes.reshape(moved.shape[:-1] + (nb * bs,))[..., :L]
    return MXArray(np.ascontiguousarray(np.moveaxis(codes.astype(np.uint8), -1, ax)),
                   np.ascontiguousarray(np.moveaxis(scodes.astype(np.uint8), -1, ax)), f, bs,
                   ax, F32(ts) if f.tensor_scale else None)


def decode_scaled(mx: MXArray, dtype, out=None) -> np.ndarray:
    """:func:`mxspec.decode` for a block format: element x block scale x tensor
    scale as the recipe computes it; NaN for a block whose scale is NaN."""
    f = mx.format
    codes = check_codes(np.asarray(mx.codes), f.element, "mx.codes")
    sc = np.asarray(mx.scales)
    moved = np.moveaxis(codes, mx.axis, -1)
    L = moved.shape[-1]
    nb = -(-L // mx.block_size) if L else 0
    msc = np.moveaxis(sc, mx.axis, -1)
    if msc.shape != moved.shape[:-1] + (nb,):
        raise ValueError(f"scales have shape {sc.shape}, but codes of shape {codes.shape} in "
                         f"blocks of {mx.block_size} along axis {mx.axis} need "
                         f"{np.moveaxis(np.empty(moved.shape[:-1] + (nb,)), -1, mx.axis).shape}")
    e = decode_table(f.element, np.float64)[moved]
    if f.recipe.zero_out == "positive":
        e = e + 0.0  # -0 decodes as +0 (the recipe's table has no -0)
    s = np.repeat(decode_table(f.scale, np.float64)[check_codes(msc, f.scale, "mx.scales")],
                  mx.block_size, axis=-1)[..., :L]
    ts = F32(1.0 if mx.tensor_scale is None else mx.tensor_scale)
    r = f.recipe
    with np.errstate(invalid="ignore", over="ignore"):
        if r.decode == "exact":
            v = e * s * np.float64(ts)  # exact in float64: 2 + 4 + 24 significant bits
            res = v.astype(dtype)
        elif r.decode == "product":
            res = (_f32(e) * (_f32(s) * ts)).astype(dtype)
        else:  # ratio
            res = (_f32(e) * (_f32(s) / ts)).astype(dtype)
    res = np.moveaxis(res, -1, mx.axis)
    if out is not None:
        out[...] = res
        return out
    return np.ascontiguousarray(res)
