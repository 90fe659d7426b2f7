"""Slice-and-Scale: convert an MX anchor (MXINT8, MXFP8, ...) to a lower MX
format of the same family in the code domain: from element codes and scale
codes alone, never through the tensor's values (SPEC.md section 7; MF-QAT, arXiv
2604.00529).

Each anchor code is split into its integer parts (sign, significand, exponent);
the block's new scale follows the named rule; each element is re-rounded by the
one rounding rule of mxspec with its exponent shifted by the scale change.  That
rule fills a table per scale offset; the large-array kernel computes the same
codes by float32 arithmetic where that is proven equal on every code and offset
(:func:`scaled_code32`, SPEC.md 7.5).

>>> import numpy as np, mxspec
>>> a = mxspec.encode(np.array([1.0, -0.3, 0.01, 1.9]), "mxint8")
>>> b = mxspec.slice_and_scale(a, "mxint4")
>>> a.codes.tolist(), b.codes.tolist(), a.scales.tolist() == b.scales.tolist()
([64, 237, 1, 122], [4, 15, 0, 7], True)
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from .._kernel import parallel as _parallel
from .._kernel.jit import ABS_MAX_RUN_MAX, borrowed, code_mag_max_run, kernel_factory
from ..tables import policies
from ..tables.policies import R_INF, R_IRANGE, R_MODE, R_NAN, R_OVF, R_ZSCALE
from ..block.array import BlockArray
from ..block.mx import blocked_layout
from ..tables.block import mx_format
from ..codec.core import (CLS_FINITE, CLS_INF, CLS_NAN, code_parts, decode_value32, encode_parts,
                          encode_rne32, interpreted, jit, pow2_f32, rne32_applies)
from ..codec.elements import check_codes, decode_table, random_bits, value32_exact
from ..tables.element import P_BITS, P_EMAX, P_IS_INT, P_NANZ, P_SIGNED, element_format
from ..codec.e8m0 import E8M0_NAN, INF_NAN_SCALE, SCALE_MAX, SCALE_MIN, ZERO_MIN

__all__ = ["slice_and_scale", "slice_elements", "SLICE_RULES", "slice_pairs"]

SLICE_RULES = ("requantize", "paper")
REQUANTIZE, PAPER = range(2)
NO_EXPONENT = -(1 << 30)


def slice_pairs() -> str:
    """The anchor -> target pairs that have a rule, in words."""
    return ("int{n} -> int{m} for m < n (mxint8 -> mxint2..mxint7, ...); "
            "fp{n}_e{E}m{M} -> any fp{m}_e{E'}m{M'} with m < n (mxfp8_e4m3 or mxfp8_e5m2 -> "
            "mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1, generic small floats, ...)")


def _check_pair(anchor, target):
    if anchor.engine != "mx":
        raise ValueError(f"Slice-and-Scale converts MX anchors (E8M0 scales); {anchor.name} is "
                         f"a {anchor.engine} format (SPEC.md 7)")
    a, t = anchor.element, target.element
    if a.kind == t.kind and a.kind in ("int", "float") and t.bits < a.bits:
        return
    raise ValueError(f"no Slice-and-Scale rule from {anchor.name} to {target.name}; "
                     f"defined pairs: {slice_pairs()}")


@jit
def convert_span(codes, lo, hi, d, Pa, R, rbits, out):
    """Re-encode anchor codes[lo:hi] into the target format, their values
    multiplied by 2**d, from the integer parts alone.  ``R``: the target's
    policy record (policies.record: its params and the policy ids)."""
    Pt, Q = R
    mode, ovf, nanp, irange = Q[R_MODE], Q[R_OVF], Q[R_NAN], Q[R_IRANGE]
    use_r = rbits.size > 0
    for i in range(lo, hi):
        cls, neg, sig, e_top, e_lsb = code_parts(np.int64(codes[i]), Pa)
        r = rbits[i] if use_r else numba.uint32(0)
        c, f = encode_parts(cls, neg, sig, e_top + d, e_lsb + d, Pt, mode, ovf, nanp, irange, r)
        out[i] = c


@jit
def new_scale(s, top, Pa, Pt, rule, zscale):
    """The target block's shared exponent (clamped) from the anchor's ``s`` and
    the largest element exponent ``top`` (NO_EXPONENT: no finite nonzero)."""
    if rule == PAPER:
        s2 = s + Pa[P_EMAX] - Pt[P_EMAX]
    elif top == NO_EXPONENT:  # requantize an all-zero block: the zero-block scale
        s2 = SCALE_MIN if zscale == ZERO_MIN else 0
    else:                     # requantize: the floor rule on the block's largest exponent
        s2 = s + top - Pt[P_EMAX]
    return min(max(s2, SCALE_MIN), SCALE_MAX)


@jit
def slice_block(codes, lo, hi, S, Pa, R, rule, rbits, out):
    """Convert one anchor block with scale code S; returns the target scale code."""
    Pt, Q = R
    zscale, infp = Q[R_ZSCALE], Q[R_INF]
    if S == E8M0_NAN:
        for i in range(lo, hi):
            out[i] = 0
        return E8M0_NAN
    any_nan = False
    any_inf = False
    top = NO_EXPONENT
    for i in range(lo, hi):
        cls, neg, sig, e_top, e_lsb = code_parts(np.int64(codes[i]), Pa)
        any_nan |= cls == CLS_NAN
        any_inf |= cls == CLS_INF
        if cls == CLS_FINITE:
            top = max(top, e_top)
    if any_nan or (any_inf and infp == INF_NAN_SCALE):
        for i in range(lo, hi):
            out[i] = 0
        return E8M0_NAN
    s = np.int64(S) - 127
    s2 = new_scale(s, top, Pa, Pt, rule, zscale)
    convert_span(codes, lo, hi, s - s2, Pa, R, rbits, out)
    return s2 + 127


@jit
def _slice_kernel(t0, t1, codes, scales, L, bs, Pa, R, rule, rbits, out, out_scales):
    """Blocks t0 .. t1-1 (row-major over ``scales``), element by element."""
    nb = scales.shape[1]
    for k in range(t0, t1):
        r = numba.int64(k) // nb
        j = numba.int64(k) - r * nb
        lo = r * L + j * bs
        out_scales[r, j] = slice_block(codes, lo, min(lo + bs, (r + 1) * L), scales[r, j], Pa,
                                       R, rule, rbits, out)
    return 0


D_MIN, D_MAX = SCALE_MIN - SCALE_MAX, SCALE_MAX - SCALE_MIN  # every scale offset: -254..254


@jit
def _build_tables(Pa, R, lut, top, cls):
    """lut[d - D_MIN, c]: anchor code c with its value times 2**d, in the
    target (convert_span, the code-domain rule); top[c]: c's exponent
    (NO_EXPONENT for zero and specials); cls[c]: its class."""
    n = lut.shape[1]
    codes = np.arange(n).astype(np.uint8)
    empty = np.empty(0, np.uint32)
    for d in range(D_MIN, D_MAX + 1):
        convert_span(codes, 0, n, d, Pa, R, empty, lut[d - D_MIN])
    for c in range(n):
        k, neg, sig, e_top, e_lsb = code_parts(np.int64(c), Pa)
        cls[c] = k
        top[c] = e_top if k == CLS_FINITE else NO_EXPONENT


@functools.lru_cache(maxsize=64)
def _tables(Pa, R):
    n = 1 << Pa[P_BITS]
    lut = np.empty((D_MAX - D_MIN + 1, n), np.uint8)
    top = np.empty(n, np.int64)
    cls = np.empty(n, np.int64)
    _build_tables(Pa, R, lut, top, cls)
    return (lut, top, cls) + _key_tables(top, cls)


@jit
def scaled_code32(c, m, Pa, Pt):
    """The target code of anchor code ``c`` with its value times ``m`` = 2**d,
    by float32 arithmetic: the code's value (core.decode_value32), the exact
    product, the FPU's rne (core.encode_rne32, saturating).  A loop of them
    vectorizes, where the table of :func:`convert_span` is a byte gather; it
    equals that table's row d on every code for every d in :func:`arith_offsets`
    (tests/test_slicing.py::test_arithmetic_elements_equal_the_table_on_every_code)."""
    code, _ = encode_rne32(decode_value32(c, Pa) * m, Pt, policies.SATURATE)
    return code


@functools.lru_cache(maxsize=64)
def arith_offsets(anchor, R):
    """(d_lo, d_hi): the scale offsets for which :func:`scaled_code32`
    gives the code-domain result of anchor element format ``anchor`` under the
    target record ``R``, or None where it does not apply: rne and saturate, the
    anchor's values exactly float32 (core.decode_value32), the FPU's rne the
    target's (core.rne32_applies), 2**d a normal float32 and every anchor value
    times 2**d finite."""
    Pt, Q = R
    if Q[R_MODE] != policies.RNE or Q[R_OVF] != policies.SATURATE or not value32_exact(anchor) \
            or not interpreted(rne32_applies)(Pt, 0, Q[R_IRANGE]):
        return None
    v = decode_table(anchor, np.float64)
    top = float(np.max(np.abs(v[np.isfinite(v)])))
    return -126, 126 - int(np.ceil(np.log2(top)))


# How a kernel finds a block's largest element: the anchor codes' *key*, whose
# largest value over the block names the block's largest exponent and whether it
# holds NaN or Inf.  KEY_TABLE: key_tab[code], a rank built from the tables (any
# format); KEY_SIGN_MAGNITUDE: the code without its sign bit (sign-magnitude floats
# whose magnitude codes grow with the value and end in Inf and NaN: E4M3, E5M2);
# KEY_TWOS: |value| of a two's-complement integer code (INT8).  The last two are a
# branch-free integer max that vectorizes; the key is then a magnitude code, so the
# code tables answer for it.
KEY_TABLE, KEY_SIGN_MAGNITUDE, KEY_TWOS = range(3)


def key_kind(P) -> int:
    """Which key :func:`_lut_kernel` may use for anchor params ``P``."""
    if P[P_IS_INT] and P[P_SIGNED]:
        return KEY_TWOS
    if not P[P_IS_INT] and P[P_SIGNED] and not P[P_NANZ]:
        return KEY_SIGN_MAGNITUDE
    return KEY_TABLE


def _key_tables(top, cls):
    """(key_tab, key_top, key_cls) of :data:`KEY_TABLE`: each code's rank among
    (class, exponent) pairs, NaN above Inf above finite by exponent above zero,
    and each rank's exponent and class."""
    n = top.size
    prio = np.where(cls == CLS_NAN, 3, np.where(cls == CLS_INF, 2, np.where(cls == CLS_FINITE, 1, 0)))
    pairs = sorted({(int(p), int(t)) for p, t in zip(prio, top)})
    rank = {pt: i for i, pt in enumerate(pairs)}
    key_tab = np.array([rank[(int(p), int(t))] for p, t in zip(prio, top)], np.int64)
    key_top = np.full(max(n, len(pairs)), NO_EXPONENT, np.int64)
    key_cls = np.zeros(max(n, len(pairs)), np.int64)
    for (p, t), i in rank.items():
        key_top[i] = t
        key_cls[i] = {3: CLS_NAN, 2: CLS_INF, 1: CLS_FINITE, 0: 0}[p]
    return key_tab, key_top, key_cls


@kernel_factory
def _lut_kernel(spec=None):
    """The block loop for deterministic modes: each block's largest key (see
    KEY_TABLE), its new scale, then every element one lookup in the table
    that convert_span built (a row per scale offset).  ``spec``: None (the key
    table, block size and everything else read at run time: one compile for
    every pair), or (block size, key kind, anchor bits) frozen in, for large
    arrays: the block's loops then run a constant count over slices, and the
    key is a vector max."""
    generic = spec is None
    CBS, KEY, ABITS, WHOLE, ARITH = (32, KEY_TABLE, 8, False, None) if generic else spec
    # (anchor params, target params, d_lo, d_hi): elements by scaled_code32 there
    HAS_ARITH = ARITH is not None
    APA, APT, DLO, DHI = ARITH if HAS_ARITH else ((0,), (0,), 1, 0)
    MASK = (1 << (ABITS - 1)) - 1
    HALF, FULL = 1 << (ABITS - 1), 1 << ABITS
    # every block whole and 8-bit codes: the key max as vector code (code_mag_max_run)
    VKEY = WHOLE and ABITS == 8 and KEY != KEY_TABLE and CBS <= ABS_MAX_RUN_MAX
    TWOS = KEY == KEY_TWOS
    # whole blocks of a multiple of 8 codes, one byte each: codes read and written
    # as little-endian uint64 words (the byte order of x86 and ARM)
    WORDS = VKEY and CBS % 8 == 0

    @jit
    def kernel(t0, t1, codes, scales, L, bs_, Pa, R, rule, tables, out, out_scales):
        """``tables``: (lut, key_tab, key_top, key_cls, top_tab, cls_tab), lut
        flattened (rows of the anchor's codes)."""
        lut, key_tab, key_top, key_cls, top_tab, cls_tab = tables
        nc = lut.size // (D_MAX - D_MIN + 1)
        Pt, Q = R
        zscale, infp = Q[R_ZSCALE], Q[R_INF]
        bs = bs_ if generic else CBS
        if WORDS:
            c64, o64 = codes.view(np.uint64), out.view(np.uint64)
        nb = scales.shape[1]
        one_row = scales.shape[0] == 1
        for k in range(t0, t1):
            if one_row:  # rows folded into one: a block starts at a multiple of bs
                r, j = numba.int64(0), numba.int64(k)
            else:
                r = numba.int64(k) // nb
                j = numba.int64(k) - r * nb
            lo = r * L + j * bs
            n = CBS if WHOLE else min(bs, r * L + L - lo)
            # views without a reference count: a slice's atomic increment and
            # decrement, on counts both threads share, were a fifth of the time
            cb, ob = borrowed(codes, lo, n), borrowed(out, lo, n)
            m = numba.int64(0)
            if VKEY:
                m = numba.int64(code_mag_max_run(codes, lo, CBS, TWOS))
            elif KEY == KEY_SIGN_MAGNITUDE:
                mi = np.int32(0)
                for i in range(n):
                    mi = max(mi, np.int32(cb[i]) & np.int32(MASK))
                m = numba.int64(mi)
            elif KEY == KEY_TWOS:
                mi = np.int32(0)
                for i in range(n):
                    c = np.int32(cb[i])
                    mi = max(mi, c if c < np.int32(HALF) else np.int32(FULL) - c)
                m = numba.int64(mi)
            else:
                for i in range(n):
                    m = max(m, key_tab[cb[i]])
            S = np.int64(scales[r, j])
            kc = key_cls[m]
            top = key_top[m]
            if S == E8M0_NAN or kc == CLS_NAN or (kc == CLS_INF and infp == INF_NAN_SCALE):
                for i in range(n):
                    ob[i] = 0
                out_scales[r, j] = E8M0_NAN
                continue
            if kc == CLS_INF:  # Inf encoded as an element: the largest *finite* exponent
                top = NO_EXPONENT
                for i in range(n):
                    c = cb[i]
                    if cls_tab[c] == CLS_FINITE:
                        top = max(top, top_tab[c])
            s2 = new_scale(S - 127, top, Pa, Pt, rule, zscale)
            d = S - 127 - s2
            row = borrowed(lut, (d - D_MIN) * nc, nc)
            arith = False
            if HAS_ARITH:  # a closure constant: the generic kernel never types this
                arith = (d >= DLO) & (d <= DHI) & (kc != CLS_INF)  # and no Inf among the codes
                if arith:
                    m32 = pow2_f32(d)
                    for i in range(n):
                        ob[i] = scaled_code32(cb[i], m32, APA, APT)
            if arith:
                pass
            elif WORDS:  # eight codes a load and a store: half the memory operations
                w0 = lo >> 3
                for w in range(CBS >> 3):
                    v = c64[w0 + w]
                    o = numba.uint64(0)
                    for b in range(8):
                        o |= numba.uint64(row[(v >> numba.uint64(8 * b)) & numba.uint64(0xFF)]) \
                            << numba.uint64(8 * b)
                    o64[w0 + w] = o
            else:
                for i in range(n):
                    ob[i] = row[cb[i]]
            out_scales[r, j] = s2 + 127
        return 0
    return kernel


# Arrays this long get a kernel with their block size and key frozen in; shorter
# ones share the generic kernel.
SPECIALIZE_MIN = 1 << 20


@jit
def _elements_kernel(t0, t1, codes, d, Pa, R, rbits, out):
    n = codes.size
    for ch in range(t0, t1):
        lo = numba.int64(ch) * 4096
        convert_span(codes, lo, min(lo + 4096, n), d, Pa, R, rbits, out)
    return 0


def _record(target, rounding, overflow, nan, int_range, zero_scale="min", inf="nan_scale"):
    """The target's policy record (policies.record), every name checked."""
    return policies.record(target.params, rounding, overflow, nan, int_range, "floor",
                           zero_scale, inf)


def slice_elements(codes, anchor, target, shift: int = 0, *, rounding: str = "rne",
                   overflow: str = "saturate", nan: str = "keep_sign",
                   int_range: str = "symmetric", seed=None, rbits=None) -> np.ndarray:
    """Element codes of ``anchor`` re-encoded into ``target`` with their values
    multiplied by ``2**shift``, in the code domain: the element step of
    Slice-and-Scale, exposed for testing and for callers with their own scales.

    >>> slice_elements([0x7E], "fp8_e4m3", "fp4_e2m1", shift=-6).tolist()  # 448 / 64 = 7
    [7]
    """
    a, t = element_format(anchor), element_format(target)
    if isinstance(shift, (bool, np.bool_)) or not isinstance(shift, (int, np.integer)):
        raise TypeError(f"shift must be an integer (a power-of-two exponent), got {shift!r}")
    c = check_codes(codes, a)
    R = _record(t, rounding, overflow, nan, int_range)
    flat = np.ascontiguousarray(c).reshape(-1)
    r = random_bits(flat.size, seed, rbits) if R[1][R_MODE] == policies.STOCHASTIC else \
        np.empty(0, np.uint32)
    out = np.empty(flat.size, np.uint8)
    _parallel.run(_elements_kernel, -(-flat.size // 4096), flat, int(shift), a.params, R, r,
                  out, work=flat.size)
    return out.reshape(c.shape)


def slice_and_scale(mx: BlockArray, target, *, rounding: str = "rne", rule: str = "requantize",
                    overflow: str = "saturate", nan: str = "keep_sign",
                    int_range: str = "symmetric", zero_scale: str = "min",
                    inf: str = "nan_scale", seed=None, rbits=None) -> BlockArray:
    """Convert an anchor :class:`BlockArray` to the lower MX format ``target``
    (same shape, axis and block size) from its integer codes and scale codes.

    ``rule``: ``requantize`` (default; bit for bit the same as encoding the
    exactly decoded anchor with the floor scale rule) or ``paper`` (the shared
    exponent moves by emax(anchor) - emax(target), as MF-QAT describes).  The
    element options are those of :func:`mxspec.encode`; SPEC.md section 7
    states every step.
    """
    if not isinstance(mx, BlockArray):
        raise TypeError(f"mx must be a BlockArray, got {type(mx).__name__}")
    tf = mx_format(target)
    _check_pair(mx.format, tf)
    if rule not in SLICE_RULES:
        raise ValueError(f"rule={rule!r} is not valid; allowed values: {', '.join(SLICE_RULES)}")
    R = _record(tf.element, rounding, overflow, nan, int_range, zero_scale, inf)
    stochastic = R[1][R_MODE] == policies.STOCHASTIC
    codes = check_codes(mx.codes, mx.format.element, "mx.codes")
    moved, L, nb, sc2 = blocked_layout(mx, codes)
    if stochastic:
        r = random_bits(codes.size, seed, rbits)
        r = np.ascontiguousarray(np.moveaxis(r.reshape(codes.shape), mx.axis, -1)).reshape(-1)
    else:
        if seed is not None or rbits is not None:
            raise ValueError(f"seed= and rbits= are for rounding='stochastic', not {rounding!r}")
        r = np.empty(0, np.uint32)
    out = np.empty(moved.size, np.uint8)
    out_sc = np.empty(sc2.shape, np.uint8)
    Pa, rid = mx.format.element.params, SLICE_RULES.index(rule)
    if stochastic:  # random bits per element: no table
        _parallel.run(_slice_kernel, sc2.size, moved.reshape(-1), sc2, L, mx.block_size, Pa, R,
                      rid, r, out, out_sc, work=moved.size)
    else:
        lut, top, cls, key_tab, key_top, key_cls = _tables(Pa, R)
        bs = mx.block_size
        flat = moved.reshape(-1)
        ksc = sc2
        kL = L
        if L and L % bs == 0 and sc2.size:  # rows of whole blocks fold into one row
            ksc, kL = sc2.reshape(1, -1), flat.size
        big = flat.size >= SPECIALIZE_MIN
        whole = ksc.shape[0] == 1 and flat.size == ksc.size * bs
        arith = arith_offsets(mx.format.element, R) if big else None
        arith = None if arith is None else (Pa, R[0]) + arith
        kernel = _lut_kernel((bs, key_kind(Pa), mx.format.element.bits, whole, arith) if big
                             else None)
        if big and key_kind(Pa) != KEY_TABLE:
            key_top, key_cls = top, cls  # the key is a magnitude code
        kout = out_sc.reshape(ksc.shape)
        _parallel.run(kernel, ksc.size, flat, ksc, kL, bs, Pa, R, rid,
                      (lut.reshape(-1), key_tab, key_top, key_cls, top, cls), out, kout,
                      work=moved.size)
    return BlockArray._unchecked(np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, mx.axis)),
                   np.ascontiguousarray(np.moveaxis(out_sc.reshape(moved.shape[:-1] + (nb,)), -1, mx.axis)),
                   tf, mx.block_size, mx.axis, rht=mx.rht)
