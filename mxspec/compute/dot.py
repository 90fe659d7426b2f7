"""MX dot products and matrix products under named accumulator models
(SPEC.md section 8).

>>> import numpy as np, mxspec
>>> a = mxspec.encode(np.array([1.0, 2.0, 3.0, 4.0]), "mxfp8_e4m3", block_size=4)
>>> b = mxspec.encode(np.array([0.5, 0.25, 1.0, -1.0]), "mxfp8_e4m3", block_size=4)
>>> float(mxspec.dot(a, b))
0.0
>>> float(mxspec.dot_elements([0x38, 0x40], [0x38, 0x38], "fp8_e4m3", "fp8_e4m3"))
3.0
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from .._kernel import parallel as _parallel
from ..tables.accumulators import AccumulatorModel, NO_CLAMP, accumulator
from ..block.api import decode
from ..block.array import BlockArray
from .dotcore import (DIGIT, FINITE, LIMB_BITS, NAN, NEG_INF, NEG_ZERO, POS_INF, SCALE_NAN,
                      ZERO_RAW, dot_kernel)
from ..codec.elements import check_codes, decode_table
from ..tables.element import ElementFormat, element_format
from ..tables.policies import DOWN, RNA, RNE, RTZ, UP

__all__ = ["dot", "matmul", "dot_elements", "matmul_elements", "OUTPUTS"]

# Output formats of exact: (significand bits, smallest normal exponent, largest exponent,
# dtype: numpy's, or the name of an ml_dtypes type, imported when it is asked for).
OUTPUTS = {
    "float32": (24, -126, 127, np.float32),
    "float64": (53, -1022, 1023, np.float64),
    "float16": (11, -14, 15, np.float16),
    "bfloat16": (8, -126, 127, "bfloat16"),
}
_TILE_N = 16
EXACT_ROUNDING = {"rne": RNE, "rtz": RTZ, "rna": RNA, "up": UP, "down": DOWN}


@functools.lru_cache(maxsize=None)
def _tables(fmt: ElementFormat):
    """Per code: sig, lsb, floor(log2|v|), class, and the exact-engine limbs."""
    v = fmt.values
    n = fmt.n_codes
    sig = np.zeros(n, np.int64)
    lsb = np.zeros(n, np.int32)
    lead = np.full(n, NO_CLAMP, np.int32)
    cls = np.full(n, FINITE, np.int8)
    ints = [0] * n
    for code in range(n):
        x = float(v[code])
        if math.isnan(x):
            cls[code] = NAN
        elif math.isinf(x):
            cls[code] = POS_INF if x > 0 else NEG_INF
        elif x == 0.0:
            cls[code] = NEG_ZERO if math.copysign(1.0, x) < 0 else FINITE
        else:
            e = math.frexp(x)[1] - 1
            lead[code] = e
            lsb[code] = e - fmt.precision_bits
            s = Fraction(x) / Fraction(2) ** int(lsb[code])
            assert s.denominator == 1, (fmt.name, code)
            sig[code] = int(s)
            q = Fraction(x) / Fraction(2) ** fmt.qmin
            assert q.denominator == 1, (fmt.name, code)
            ints[code] = int(q)
    width = max(1, max(abs(i) for i in ints).bit_length())
    nl = -(-width // LIMB_BITS)
    lw = -(-width // nl)
    limbs = np.zeros((n, nl), np.float32)
    for code, i in enumerate(ints):
        m = abs(i)
        for j in range(nl):
            limbs[code, j] = math.copysign(float((m >> (j * lw)) & ((1 << lw) - 1)), i or 1)
    for t in (sig, lsb, lead, cls, limbs):
        t.setflags(write=False)
    return sig, lsb, lead, cls, limbs, lw


def _clamp(fmt: ElementFormat, model: AccumulatorModel) -> int:
    if model.input_emin is not None:
        return model.input_emin
    return fmt.emin if fmt.kind == "float" else NO_CLAMP


def _h100_order(K):
    """mma.sync m16n8k32 takes k % 4 in {0, 1} of each 32 first, then {2, 3}."""
    r = np.arange(32)
    one = np.concatenate([4 * (r[:16] // 2) + (r[:16] & 1), 4 * (r[:16] // 2) + (r[:16] & 1) + 2])
    return (np.arange(0, K, 32)[:, None] + one[None, :]).reshape(-1)


def _operand(codes, scale_exp, fmt, model, f32, bs, scale_sig=None):
    """The engine's record for rows of codes (R, K) with block scales (R, nb):
    their exponents (SCALE_NAN for a NaN scale) and, for UE4M3 scales, their
    significands (``scale_sig``; None: 1, E8M0's)."""
    sig_t, lsb_t, lead_t, cls_t, limb_t, lw = _tables(fmt)
    scale_exp = np.ascontiguousarray(scale_exp, np.int32)
    cls = cls_t[codes]
    special = (cls >= POS_INF).any(axis=1) | (scale_exp == SCALE_NAN).any(axis=1)
    empty32 = np.zeros((0, 0), np.float32)
    f32v = e32 = empty32
    limbs = np.zeros((0, 0, 0), np.float32)
    sig = sig_t[codes]
    raw = np.zeros((0, 0), np.int32)
    val = np.zeros((0, 0), np.float64)
    ssig = np.zeros((0, 0), np.float64)
    if model.kind == "fp32":
        e32 = np.ascontiguousarray(decode_table(fmt, np.float32)[codes])
        f32v = np.ascontiguousarray(f32, np.float32) if f32 is not None else e32
    elif model.kind == "exact":
        limbs = np.ascontiguousarray(np.moveaxis(limb_t[codes], -1, 0))
    else:
        R, K = codes.shape
        lead = np.maximum(lead_t, np.int32(_clamp(fmt, model)))
        lead[sig_t == 0] = ZERO_RAW
        if model.step == "group_sums":
            # the element values alone; the scales stay per block (scale_exp, ssig)
            raw = np.where(sig == 0, ZERO_RAW, lead[codes]).astype(np.int32)
            val = np.ldexp(sig.astype(np.float64), lsb_t[codes])
            ssig = (np.ones(scale_exp.shape) if scale_sig is None
                    else np.asarray(scale_sig, np.float64))
        else:
            s = np.repeat(scale_exp, bs, axis=1)[:, :K] if K else np.zeros((R, 0), np.int32)
            raw = np.where(sig == 0, ZERO_RAW, lead[codes] + s).astype(np.int32)
            # Exact in float64: an element's value times a power of two within 2**+-300.
            val = np.ldexp(sig.astype(np.float64), lsb_t[codes] + s)
        # K is zero-padded to whole instructions (or, where zero terms count, whole
        # steps), as a kernel pads K; the scales go with it.
        unit = model.inst_k or (model.group if model.zero_exp is not None else 0)
        if unit and K % unit:
            pad = unit - K % unit
            sig = np.pad(sig, ((0, 0), (0, pad)))
            raw = np.pad(raw, ((0, 0), (0, pad)), constant_values=ZERO_RAW)
            val = np.pad(val, ((0, 0), (0, pad)))
            cls = np.pad(cls, ((0, 0), (0, pad)))
            K += pad
            more = -(-K // bs) - scale_exp.shape[1]
            if more > 0:
                scale_exp = np.pad(scale_exp, ((0, 0), (0, more)))
                if ssig.size:
                    ssig = np.pad(ssig, ((0, 0), (0, more)), constant_values=1.0)
        if model.k_order == "h100_mma":
            order = _h100_order(K)
            sig, raw, val, cls = sig[:, order], raw[:, order], val[:, order], cls[:, order]
    rec = tuple(np.ascontiguousarray(x) for x in (sig, val, raw, cls)) + (
        np.ascontiguousarray(scale_exp), f32v, e32, limbs, special, np.ascontiguousarray(ssig))
    return rec, lw


def _value_operand(vals, g, model, f32):
    """The engine's record for rows (R, K) of exact float64 values (a block
    format's decoded values: NVFP4's tensor and E4M3 block scales, float32
    block scales, micro-exponent levels), in groups of ``g`` along K.

    ``exact``: each group's values are integers times 2^lsb, lsb the group's
    smallest lowest set bit; v * 2^-lsb is exact in float64 (a power-of-two
    scaling of a value of at most 53 significant bits), and so is each limb,
    floor(v * 2^-(lsb + j*lw)) mod 2^lw, which the exact engine then adds up.
    ``fp32`` sequential and pairwise: the values rounded to float32, as
    :func:`mxspec.decode` gives them.  Sign and class come from the values."""
    R, K = vals.shape
    nb = -(-K // g) if K else 1
    cls = np.full((R, K), FINITE, np.int8)
    cls[np.isnan(vals)] = NAN
    cls[vals == np.inf] = POS_INF
    cls[vals == -np.inf] = NEG_INF
    cls[(vals == 0) & np.signbit(vals)] = NEG_ZERO
    fin = np.isfinite(vals)
    special = (~fin).any(axis=1)
    v = np.where(fin, vals, 0.0)
    sig = np.sign(v).astype(np.int64)  # what _specials and the zero-sign rule read
    empty32 = np.zeros((0, 0), np.float32)
    limbs = np.zeros((0, 0, 0), np.float32)
    scale_exp = np.zeros((R, nb), np.int32)
    lw, factor = 1, 1
    if model.kind == "exact" and K:
        m, e = np.frexp(np.abs(v))
        m53 = (m * 2.0 ** 53).astype(np.int64)
        low = (m53 & -m53).astype(np.float64)          # lowest set bit, as a power of two
        lsb = np.where(m53 != 0, e - 53 + np.frexp(low)[1] - 1, np.iinfo(np.int32).max)
        pad = nb * g - K
        lsbp = np.pad(lsb, ((0, 0), (0, pad)), constant_values=np.iinfo(np.int32).max)
        glsb = lsbp.reshape(R, nb, g).min(axis=2)
        glsb = np.where(glsb == np.iinfo(np.int32).max, 0, glsb).astype(np.int64)
        scale_exp = glsb.astype(np.int32)
        x = np.ldexp(np.abs(v), -np.repeat(glsb, g, axis=1)[:, :K])   # exact integers
        x, factor = _common_factor(x)
        width = max(1, int(np.frexp(x.max(initial=0.0))[1]))
        if width > 1000:
            raise ValueError("a block's values span more than 1000 binades; the exact engine "
                             "does not take them")
        nl = -(-width // LIMB_BITS)
        lw = -(-width // nl)
        sgn = np.where(np.signbit(v), -1.0, 1.0)
        limbs = np.empty((nl, R, K), np.float32)
        for j in range(nl):
            limbs[j] = sgn * np.fmod(np.floor(np.ldexp(x, -j * lw)), 2.0 ** lw)
    val = np.zeros((0, 0), np.float64)
    raw = np.zeros((0, 0), np.int32)
    f32v = empty32
    if model.kind == "fp32":
        f32v = np.ascontiguousarray(f32, np.float32)
    rec = tuple(np.ascontiguousarray(a) for a in (sig, val, raw, cls)) + (
        scale_exp, f32v, empty32, np.ascontiguousarray(limbs), special,
        np.zeros((0, 0), np.float64))
    return rec, lw, factor


# The largest common factor the exact engine takes out of an operand: the long
# accumulator's digits (below 2^31 after carries) times it stay below 2^62.
FACTOR_MAX = (1 << 31) - 1


def _common_factor(x):
    """(x / d, d) for integers ``x`` (float64, exact): d the greatest common
    divisor of the nonzero ones where it is 2 to FACTOR_MAX, else 1.  NVFP4's
    values e x s x ts are each a multiple of ts's odd significand (up to 24
    bits): taken out, an operand needs one limb instead of two or three, and
    the exact engine multiplies the sum by it before its one rounding."""
    nz = x[x != 0]
    if nz.size == 0 or nz.max() >= 2.0 ** 62:
        return x, 1
    d = int(np.gcd.reduce(nz[:64].astype(np.int64)))  # most operands: 1, known early
    if d > 1:
        d = int(np.gcd.reduce(nz.astype(np.int64), initial=d))
    if not 1 < d <= FACTOR_MAX:
        return x, 1
    return x / d, d  # exact: every x is a multiple of d (and so is each quotient an integer)


def _scale_exponents(scales) -> np.ndarray:
    s = np.asarray(scales).astype(np.int32) - 127
    s[np.asarray(scales) == 255] = SCALE_NAN
    return s


def _check_model(model, fa, fb, out, rounding):
    if model.formats is not None:
        for arg, f in (("a", fa), ("b", fb)):
            if f.name not in model.formats:
                raise ValueError(
                    f"accumulator {model.name!r} takes element formats "
                    f"{', '.join(model.formats)}; {arg} is {f.name}")
    for (ra, rb), why in model.refuses:
        if (fa.name, fb.name) == (ra, rb):
            raise ValueError(f"accumulator {model.name!r} does not take a={fa.name} with "
                             f"b={fb.name}: {why}")
    if out not in OUTPUTS:
        raise ValueError(f"out={out!r}; allowed: {', '.join(OUTPUTS)}")
    if rounding not in EXACT_ROUNDING:
        raise ValueError(f"rounding={rounding!r}; allowed: {', '.join(EXACT_ROUNDING)}")
    if model.float32_only and out != "float32" and out not in model.outputs:
        raise ValueError(f"accumulator {model.name!r} returns float32; out={out!r} is only "
                         f"for 'exact' (allowed here: "
                         f"{', '.join(repr(o) for o in ('float32',) + model.outputs)})")
    if model.float32_only and rounding != "rne":
        raise ValueError(f"rounding={rounding!r} applies to the 'exact' accumulator only; "
                         f"{model.name!r} has its own rounding")


def _addend(c, shape, model):
    if c is None:
        return np.zeros(int(np.prod(shape)), np.float64)
    arr = np.asarray(c)
    if not model.takes_c and np.any(arr != 0):
        raise ValueError(f"accumulator {model.name!r} has no addend: c must be None or zero "
                         f"(the GEMM it models takes none; 'h100_fp8_wgmma' adds C as the "
                         f"wgmma's initial accumulator)")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype.name == "bfloat16"):
        raise TypeError(f"c must be a float array, got dtype {arr.dtype}")
    try:
        arr = np.broadcast_to(arr.astype(np.float64), shape)
    except ValueError:
        raise ValueError(f"c has shape {np.shape(c)}, which does not broadcast to the "
                         f"result's shape {shape}") from None
    if model.float32_only:
        fin = np.isfinite(arr)
        if not np.array_equal(arr[fin].astype(np.float32).astype(np.float64), arr[fin]):
            raise ValueError(f"c holds values that are not float32; accumulator "
                             f"{model.name!r} adds a float32 addend")
    return np.ascontiguousarray(arr).reshape(-1)


def round_float32(r, out: str):
    """A GEMM's float32 result rounded once more, to nearest even, into "bfloat16"
    or "float16" (NaN: 0x7FFF), or kept as float32 (NaN: 0x7FFFFFFF), as cuBLAS's
    epilogue writes it (SPEC 8.8)."""
    nan = np.isnan(r)
    if out == "float32":
        o = np.array(r, np.float32)
        o.view(np.uint32)[nan] = 0x7FFFFFFF
        return o
    dtype = OUTPUTS[out][3]
    if isinstance(dtype, str):
        import ml_dtypes  # only for a bfloat16 result: the import takes half a second
        dtype = np.dtype(getattr(ml_dtypes, dtype))
    with np.errstate(over="ignore"):
        o = r.astype(dtype)
    o.view(np.uint16)[nan] = 0x7FFF
    return o


def _run(A, B, ia, ib, bs, K, c, model, out, rounding, fa, fb, lwa, lwb, shape,
         factors=(1, 1)):
    """The dot kernel over result pairs (ia, ib) of operand records A and B.
    ``factors``: integers the exact engine multiplies its sum by, once, before
    adding c and rounding (the common factors :func:`_common_factor` took out)."""
    if model.float32_only and out != "float32":
        return round_float32(
            _run(A, B, ia, ib, bs, K, c, model, "float32", rounding, fa, fb, lwa, lwb, shape,
                 factors), out)
    prec, emin, emax, dtype = OUTPUTS[out]
    if isinstance(dtype, str):
        import ml_dtypes  # only for a bfloat16 result: the import takes half a second
        dtype = np.dtype(getattr(ml_dtypes, dtype))
    O = (EXACT_ROUNDING[rounding], prec, emin, emax)
    n = ia.size
    fin = np.isfinite(c) & (c != 0)
    c_sig = np.zeros(n, np.int64)
    c_exp = np.zeros(n, np.int32)
    if fin.any():
        m, e = np.frexp(c[fin])
        c_sig[fin] = (m * 2.0 ** 53).astype(np.int64)
        c_exp[fin] = e - 53
    X = (0, 0, 0, 0, 0, 1, 1)
    if model.kind == "exact":
        base = 0 if fa is None else fa.qmin + fb.qmin  # value operands carry their exponents
        sa, sb = A[4], B[4]
        lo_a = int(sa[sa != SCALE_NAN].min(initial=0))
        lo_b = int(sb[sb != SCALE_NAN].min(initial=0))
        hi_a = int(sa[sa != SCALE_NAN].max(initial=0))
        hi_b = int(sb[sb != SCALE_NAN].max(initial=0))
        dlo = base + lo_a + lo_b
        top = (base + hi_a + hi_b + (A[7].shape[0] - 1) * lwa + (B[7].shape[0] - 1) * lwb
               + 53 + max(1, K).bit_length() + (factors[0] * factors[1]).bit_length())
        if fin.any():
            dlo = min(dlo, int(c_exp[fin].min()))
            top = max(top, int(c_exp[fin].max()) + 54)
        top = max(top, dlo) + 1
        X = (base, lwa, lwb, dlo, (top - dlo) // DIGIT + 4, int(factors[0]), int(factors[1]))
    res = np.empty(n, np.float64)
    _parallel.run(dot_kernel, n, A, B, ia, ib, bs, c, c_sig, c_exp, model.params, O, X,
                  res, work=n * max(K, 1) * 8)
    r = res.astype(dtype).reshape(shape)
    nan = np.isnan(r)
    if nan.any():  # one NaN per model: float arithmetic on x86 makes 0xFFC00000 too
        if dtype == np.float32:
            r.view(np.uint32)[nan] = model.nan_bits
        else:
            r[nan] = np.nan
    return r


def _rows(codes, K):
    return np.ascontiguousarray(np.asarray(codes).reshape(-1, K))


def _pair_indices(lead_a, lead_b):
    try:
        shape = np.broadcast_shapes(lead_a, lead_b)
    except ValueError:
        raise ValueError(f"leading shapes {lead_a} and {lead_b} do not broadcast") from None
    na, nb = int(np.prod(lead_a)), int(np.prod(lead_b))
    ia = np.broadcast_to(np.arange(na, dtype=np.int64).reshape(lead_a), shape).reshape(-1)
    ib = np.broadcast_to(np.arange(nb, dtype=np.int64).reshape(lead_b), shape).reshape(-1)
    return np.ascontiguousarray(ia), np.ascontiguousarray(ib), shape


def dot_elements(codes_a, codes_b, fmt_a, fmt_b, accumulator: str = "exact", c=None,
                 out: str = "float32", rounding: str = "rne"):
    """Dot products of element codes along the last axis, without scales (the
    operation of a tensor-core atom); leading axes broadcast; ``c`` is shaped
    like the result.

    >>> float(dot_elements([0x38, 0x38], [0x40, 0xC0], "fp8_e4m3", "fp8_e4m3", c=1.5))
    1.5
    """
    model = _model(accumulator)
    fa, fb = element_format(fmt_a), element_format(fmt_b)
    _check_model(model, fa, fb, out, rounding)
    ca = check_codes(codes_a, fa, "codes_a")
    cb = check_codes(codes_b, fb, "codes_b")
    if ca.ndim == 0 or cb.ndim == 0:
        raise ValueError("codes_a and codes_b must have at least one axis (the K axis)")
    K = ca.shape[-1]
    if cb.shape[-1] != K:
        raise ValueError(f"codes_a has K={K} and codes_b has K={cb.shape[-1]} along the last axis")
    ia, ib, shape = _pair_indices(ca.shape[:-1], cb.shape[:-1])
    ra, rb = _rows(ca, K), _rows(cb, K)
    A, lwa = _operand(ra, np.zeros((ra.shape[0], 1), np.int32), fa, model, None, max(K, 1))
    B, lwb = _operand(rb, np.zeros((rb.shape[0], 1), np.int32), fb, model, None, max(K, 1))
    cc = _addend(c, shape, model)
    return _run(A, B, ia, ib, max(K, 1), K, cc, model, out, rounding, fa, fb, lwa, lwb, shape)


def _model(acc):
    try:
        return accumulator(acc)
    except TypeError as e:
        raise TypeError(str(e).replace("accumulator must", "accumulator= must")) from None


def _check_mx(arg, x):
    if not isinstance(x, BlockArray):
        raise TypeError(f"{arg} must be a BlockArray (from mxspec.encode), got {type(x).__name__}")


def _is_mx(x) -> bool:
    """Whether x's blocks are MX ones (E8M0 scales, no other level)."""
    return x.format.engine == "mx"


def _block_scale(x):
    """(scale kind, block size) of a block array whose scales a tensor core
    reads as codes: MX (E8M0) and the NVFP4 family's UE4M3 scales; None for
    others (float32 block scales, micro exponents, integer groups)."""
    if x.format.engine == "mx":
        return ("e8m0", x.block_size)
    if x.format.engine == "scaled" and x.format.scale_kind == "ue4m3":
        return ("ue4m3", x.block_size)
    return None


def _takes_codes(model, x) -> bool:
    """Whether the model reads x's element codes and block scales directly."""
    bsc = _block_scale(x)
    if bsc is None or model.kind != "blockfma" and bsc[0] != "e8m0":
        return False
    if model.block_scales is None:
        return bsc[0] == "e8m0"
    return bsc in model.block_scales


# Models that take any block format: they read the operands' values (exact, or
# float32 as decode gives them).  The others model a datapath that takes element
# codes with the block scales it has, and refuse other families by name.
def _takes_values(model) -> bool:
    return model.kind == "exact" or (model.kind == "fp32" and model.order != "blockwise")


def _describe_scales(model) -> str:
    if model.block_scales is None:
        return "E8M0 (MX) blocks of any size"
    if not model.block_scales:
        return ("element codes only (dot_elements, matmul_elements): its instruction has no "
                "block scales")
    return ", ".join(f"{k.upper()} scales per {n}" for k, n in model.block_scales)


def _value_path(model, a, b, out, rounding):
    """Whether a dot of a and b goes through their values; refuses, by name, a
    model that cannot take a's or b's blocks."""
    if _takes_codes(model, a) and _takes_codes(model, b):
        return False
    if not _takes_values(model):
        arg, other = ("b", b) if _takes_codes(model, a) else ("a", a)
        bsc = _block_scale(other)
        what = (f"{other.format.name} with {bsc[0].upper()} scales per {bsc[1]}" if bsc
                else other.format.name)
        raise ValueError(f"accumulator {model.name!r} takes {_describe_scales(model)}; {arg} "
                         f"is {what} (every block format goes through exact, fp32_sequential "
                         f"or fp32_pairwise)")
    _check_model(model, a.format.element, b.format.element, out, rounding)
    return True


def _values_dot(a, b, model, out, rounding, c, pairs):
    """dot/matmul through the operands' values: ``pairs`` (row matrix of a,
    row matrix of b, ia, ib, result shape)."""
    A64, B64, ia, ib, shape = pairs
    K = A64.shape[1]
    g = math.gcd(a.block_size, b.block_size)
    f32 = model.kind == "fp32"
    A, lwa, da = _value_operand(A64, g, model, A64.astype(np.float32) if f32 else None)
    B, lwb, db = _value_operand(B64, g, model, B64.astype(np.float32) if f32 else None)
    cc = _addend(c, shape, model)
    return _run(A, B, ia, ib, g, K, cc, model, out, rounding, None, None, lwa, lwb, shape,
                factors=(da, db))


def _check_blocks(a, b, K):
    if a.block_size != b.block_size:
        raise ValueError(f"a has block_size={a.block_size} and b has block_size={b.block_size}; "
                         "a block dot product needs the same blocks on both sides")
    if _block_scale(a) != _block_scale(b):
        raise ValueError(f"a has {_block_scale(a)[0].upper()} block scales and b has "
                         f"{_block_scale(b)[0].upper()}; the instruction takes one scale type")
    if K % a.block_size:
        raise ValueError(f"K={K} is not a whole number of blocks of {a.block_size}")


def _prepare(accumulator, a, b, out, rounding):
    """What dot and matmul check first: (the model, whether it takes the decoded
    values (any block family), a's and b's element formats)."""
    model = _model(accumulator)
    _check_mx("a", a)
    _check_mx("b", b)
    if a.rht != b.rht:
        # one operand transformed and the other not (or differently) is a product of
        # unrelated values: the law x.y = rht(x).rht(y) needs the same transform on both
        name = (lambda t: "none" if t is None else repr(t.name if t.name != "custom" else t))
        raise ValueError(f"a.rht={name(a.rht)} but b.rht={name(b.rht)}: a Hadamard-"
                         f"transformed operand needs its partner transformed alike along K "
                         f"(SPEC.md 13.2)")
    values = _value_path(model, a, b, out, rounding)
    fa, fb = a.format.element, b.format.element
    if not values:
        _check_model(model, fa, fb, out, rounding)
    return model, values, fa, fb


def _scales(x, model):
    """(exponents, significands or None) of x's block scales, in its scales' shape:
    E8M0 code - 127 (0xFF: SCALE_NAN); UE4M3 (the sign bit ignored, as the
    instruction ignores it) floor(log2), -6 for a subnormal, and significand."""
    if _block_scale(x)[0] == "e8m0":
        return _scale_exponents(x.scales), None
    u = np.asarray(x.scales).astype(np.int32) & 0x7F
    e, m = u >> 3, u & 7
    exp = np.where(e > 0, e - 7, -6).astype(np.int32)
    sig = np.where(e > 0, 1.0 + m / 8.0, m / 8.0)
    exp[u == 0x7F] = SCALE_NAN
    return exp, sig


def _epilogue(r, a, b, c, model, out):
    """The kernel epilogue of operands with tensor scales (NVFP4; SPEC.md 8.7):
    alpha = fl32(ts_a * ts_b), D = fl32(alpha * acc), with an addend C (an array
    shaped like r) fma32(alpha, acc, C) (CUTLASS's linear combination, beta = 1);
    then, for a bfloat16/float16 ``out``, one more rounding to nearest even."""
    ta = np.float32(1.0 if a.tensor_scale is None else a.tensor_scale)
    tb = np.float32(1.0 if b.tensor_scale is None else b.tensor_scale)
    alpha = np.float64(np.float32(ta * tb))
    with np.errstate(over="ignore", invalid="ignore"):
        x = r.astype(np.float64) * alpha  # exact: two float32 significands
        o = x.astype(np.float32) if c is None else _round_odd_sum(x, c)
    if out != "float32":
        return round_float32(o, out)
    o.view(np.uint32)[np.isnan(o)] = model.nan_bits
    return o


def _round_odd_sum(x, y):
    """fl32(x + y) for float64 x and y where x is exact: x + y rounded to odd in
    float64 (by the two-sum error), then to nearest even in float32."""
    s = x + y
    bb = s - x
    err = (x - (s - bb)) + (y - bb)
    si = s.view(np.int64).copy()
    inexact = (err != 0) & np.isfinite(s) & ((si & 1) == 0)
    # toward zero by one ulp where s was rounded away from zero, then set the odd bit
    away = inexact & ((err < 0) == (s > 0))
    si[away] -= 1
    si[inexact] |= 1
    return si.view(np.float64).astype(np.float32)


def _code_operand(x, rows, model, transpose=False):
    """The engine record of a block array read as element codes and scales."""
    exp, sig = _scales(x, model)
    if transpose:
        exp = exp.T
        sig = None if sig is None else sig.T
    exp = exp.reshape(rows.shape[0], -1)
    sig = None if sig is None else sig.reshape(rows.shape[0], -1)
    f32 = None
    if model.kind == "fp32":
        d = decode(x)
        f32 = (d.T if transpose else d).reshape(rows.shape)
    return _operand(rows, exp, x.format.element, model, f32, x.block_size, sig)


def dot(a: BlockArray, b: BlockArray, accumulator: str = "exact", out: str = "float32", c=None,
        rounding: str = "rne"):
    """The MX dot product (OCP MX v1.0 Dot/DotGeneral) of two BlockArrays blocked
    along their last axis: sum over blocks of X_A * X_B * sum_i P_i * Q_i, plus
    ``c``, under the named accumulator model.  Leading axes broadcast like numpy.

    >>> import numpy as np, mxspec
    >>> x = mxspec.encode(np.arange(64.0).reshape(2, 32) % 8 - 4, "mxfp8_e4m3")
    >>> mxspec.dot(x, x).tolist()
    [176.0, 176.0]
    """
    model, values, fa, fb = _prepare(accumulator, a, b, out, rounding)
    for arg, x in (("a", a), ("b", b)):
        if x.codes.ndim == 0 or x.axis != x.codes.ndim - 1:
            raise ValueError(f"dot takes BlockArrays blocked along their last axis; {arg} is "
                             f"blocked along axis {x.axis} of {x.codes.ndim}")
    K = a.shape[-1]
    if b.shape[-1] != K:
        raise ValueError(f"a has K={K} and b has K={b.shape[-1]} along the last axis")
    if values:
        ia, ib, shape = _pair_indices(a.shape[:-1], b.shape[:-1])
        return _values_dot(a, b, model, out, rounding, c,
                           (_rows(decode(a, np.float64), K), _rows(decode(b, np.float64), K),
                            ia, ib, shape))
    _check_blocks(a, b, K)
    ia, ib, shape = _pair_indices(a.shape[:-1], b.shape[:-1])
    A, lwa = _code_operand(a, _rows(a.codes, K), model)
    B, lwb = _code_operand(b, _rows(b.codes, K), model)
    tensor = a.tensor_scale is not None or b.tensor_scale is not None
    cc = _addend(c, shape, model)
    if tensor:
        r = _run(A, B, ia, ib, a.block_size, K, np.zeros_like(cc), model, "float32", rounding,
                 fa, fb, lwa, lwb, shape)
        return _epilogue(r, a, b, None if c is None else cc.reshape(shape), model, out)
    return _run(A, B, ia, ib, a.block_size, K, cc, model, out, rounding, fa, fb, lwa, lwb, shape)


def _tiled(M, N):
    """The (row, column) pairs of an M x N product in tiles of _TILE_N columns:
    the B rows of a tile stay in cache across all of A."""
    m, n = np.meshgrid(np.arange(M, dtype=np.int64), np.arange(N, dtype=np.int64),
                       indexing="ij")
    tiles = [slice(n0, n0 + _TILE_N) for n0 in range(0, N, _TILE_N)]
    ia = np.concatenate([m[:, t].reshape(-1) for t in tiles] or [m.reshape(-1)])
    ib = np.concatenate([n[:, t].reshape(-1) for t in tiles] or [n.reshape(-1)])
    return ia, ib


def matmul_elements(codes_a, codes_b, fmt_a, fmt_b, accumulator: str = "exact", c=None,
                    out: str = "float32", rounding: str = "rne"):
    """An (M, K) matrix of element codes times a (K, N) one, without scales,
    plus ``c`` (broadcast to (M, N)): the GEMM of a tensor core's operands.

    >>> matmul_elements([[0x38, 0x40]], [[0x38], [0x38]], "fp8_e4m3", "fp8_e4m3").tolist()
    [[3.0]]
    """
    model = _model(accumulator)
    fa, fb = element_format(fmt_a), element_format(fmt_b)
    _check_model(model, fa, fb, out, rounding)
    ca = check_codes(codes_a, fa, "codes_a")
    cb = check_codes(codes_b, fb, "codes_b")
    if ca.ndim != 2 or cb.ndim != 2:
        raise ValueError(f"matmul_elements takes an (M, K) codes_a and a (K, N) codes_b; got "
                         f"shapes {ca.shape} and {cb.shape}")
    (M, K), N = ca.shape, cb.shape[1]
    if cb.shape[0] != K:
        raise ValueError(f"codes_a is {ca.shape} and codes_b is {cb.shape}: K must match "
                         f"({K} != {cb.shape[0]})")
    ia, ib = _tiled(M, N)
    cc = np.ascontiguousarray(_addend(c, (M, N), model).reshape(M, N)[ia, ib])
    bs = max(K, 1)
    A, lwa = _operand(np.ascontiguousarray(ca), np.zeros((M, 1), np.int32), fa, model, None, bs)
    B, lwb = _operand(np.ascontiguousarray(cb.T), np.zeros((N, 1), np.int32), fb, model, None, bs)
    r = _run(A, B, ia, ib, bs, K, cc, model, out, rounding, fa, fb, lwa, lwb, (ia.size,))
    res = np.empty((M, N), r.dtype)
    res[ia, ib] = r
    return res


def matmul(a: BlockArray, b: BlockArray, accumulator: str = "exact", out: str = "float32", c=None,
           rounding: str = "rne"):
    """An (M, K) MX matrix blocked along K (axis 1) times a (K, N) one blocked
    along K (axis 0), plus ``c`` (broadcast to (M, N)), under the named
    accumulator model.

    >>> import numpy as np, mxspec
    >>> a = mxspec.encode(np.ones((2, 32)), "mxfp8_e4m3")
    >>> b = mxspec.encode(np.ones((32, 3)), "mxfp8_e5m2", axis=0)
    >>> mxspec.matmul(a, b, c=1.0).tolist()
    [[33.0, 33.0, 33.0], [33.0, 33.0, 33.0]]
    """
    model, values, fa, fb = _prepare(accumulator, a, b, out, rounding)
    if a.codes.ndim != 2 or a.axis != 1:
        raise ValueError(f"matmul's a must be an (M, K) BlockArray blocked along axis 1; got shape "
                         f"{a.shape} blocked along axis {a.axis}")
    if b.codes.ndim != 2 or b.axis != 0:
        raise ValueError(f"matmul's b must be a (K, N) BlockArray blocked along axis 0; got shape "
                         f"{b.shape} blocked along axis {b.axis}")
    M, K = a.shape
    if b.shape[0] != K:
        raise ValueError(f"a is {a.shape} and b is {b.shape}: K must match ({K} != {b.shape[0]})")
    N = b.shape[1]
    if not values:
        _check_blocks(a, b, K)
    ia, ib = _tiled(M, N)
    cc = _addend(c, (M, N), model)
    cc = np.ascontiguousarray(cc.reshape(M, N)[ia, ib])
    if values:
        r = _values_dot(a, b, model, out, rounding, cc,
                        (np.ascontiguousarray(decode(a, np.float64)),
                         np.ascontiguousarray(decode(b, np.float64).T), ia, ib, (ia.size,)))
    else:
        A, lwa = _code_operand(a, np.ascontiguousarray(a.codes), model)
        B, lwb = _code_operand(b, np.ascontiguousarray(b.codes.T), model, transpose=True)
        tensor = a.tensor_scale is not None or b.tensor_scale is not None
        r = _run(A, B, ia, ib, a.block_size, K, np.zeros_like(cc) if tensor else cc, model,
                 "float32" if tensor else out, rounding, fa, fb, lwa, lwb, (ia.size,))
        if tensor:
            r = _epilogue(r, a, b, None if c is None else cc, model, out)
    res = np.empty((M, N), r.dtype)
    res[ia, ib] = r
    return res
