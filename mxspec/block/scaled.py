"""The scaled engine: the NVFP4 family of :mod:`mxspec.tables.block`, UE4M3 or
float32 block scales under an optional float32 tensor scale, computed and
applied as the format's recipe says (SPEC.md section 9).  Reached through the
one dispatch, :mod:`mxspec.block.api`.
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


import numba
import numpy as np

from .._kernel import cache as _cache
from .._kernel import parallel as _parallel
from ..tables.block import BLOCK_RULES, CHOICES, DECODE_RULES, ELEMENT_RULES, SELECT_RULES, BlockFormat
from .array import BlockArray, _check_block_size, _norm_axis
from .._kernel.jit import abs_max_bits, borrowed, fma, kernel_factory, lane_sum16, unref
from ..codec.core import (_bitcast, abs_max_bits_run, decode_value32, encode_fast, encode_one,
                   encode_rne32, encode_rne32_value, jit)
from ..codec.elements import (as_float_input, check_codes, decode_table, encode_elements,
                       value32_exact)
from ..tables.element import element_format
from ..tables.policies import INT_SYMMETRIC, NAN_KEEP_SIGN, RNE, SATURATE

__all__ = ["encode", "decode", "POLICIES"]

# A recipe fixes every choice; an encode takes no policy keywords.
POLICIES: dict = {}

F32 = np.float32


def _f32(x):
    return np.asarray(x, F32)


def top(f: BlockFormat) -> float:
    """The tensor scale's top: the element's max x the block scale's largest value
    (NVFP4: 6 * 448 = 2688; Four Over Six caps the scale at 256: 1536)."""
    cap = f.recipe.scale_cap
    return f.element.max_normal * (f.scale_max if cap is None else cap)


def tensor_scale(amax: float, f: BlockFormat) -> np.float32:
    """The float32 tensor scale the recipe stores (SPEC.md 9.2 step 1): ts for
    "divisor" recipes, gs for "multiplier" ones, amax for "amax" ones; 1 where
    there is none."""
    r = f.recipe
    t = top(f)
    if not f.tensor_scale:
        return F32(1.0)
    if r.tensor == "amax":
        return F32(amax)
    if r.tensor == "multiplier":  # torch's 2688 / amax: a reciprocal, then a product
        with np.errstate(over="ignore"):
            gs = (F32(1.0) / max(F32(amax), np.finfo(F32).tiny)) * F32(t)
        return F32(1.0) if not np.isfinite(gs) else F32(gs)
    if amax == 0:
        return F32(1.0)  # nothing to scale; libraries divide by zero here (SPEC.md 9.3)
    if r.arithmetic == "exact":
        ts = F32(np.float64(amax) / t)  # one rounding: float64 holds the quotient well enough
    else:
        ts = F32(F32(amax) / F32(t))
    # a tensor whose amax is below 2688 * 2^-150 would divide by zero below (SPEC.md 9.3)
    return ts if ts > 0 else F32(2.0 ** -149)


def _kernel_scale(stored, f: BlockFormat) -> np.float32:
    """The tensor scale the kernel's rules read: the stored one, but gs =
    fl(top / amax) (a true division, as torch's tensor / tensor) for "amax"
    recipes; 0 for an all-zero tensor, whose block scales are then all 0."""
    if f.recipe.tensor != "amax":
        return stored
    if stored == 0:
        return F32(0.0)
    with np.errstate(over="ignore"):  # a float32 overflow: scales saturate (SPEC.md 9.10)
        return F32(F32(top(f)) / F32(stored))


@jit
def _amax_kernel(t0, t1, x, chunk, out):
    """Largest |x| over the finite values of each chunk (NaN and Inf skipped)."""
    for t in range(t0, t1):
        lo = t * chunk
        xs = x[lo:min(lo + chunk, x.size)]
        m = np.int32(0)
        for k in range(xs.shape[0]):  # on the bits: |x| orders as an int32, NaN/Inf >= 0x7F800000
            b = np.int32(_bitcast(xs[k], np.int32(0)) & np.int32(0x7FFFFFFF))
            m = np.int32(max(m, b if b < np.int32(0x7F800000) else np.int32(0)))
        out[t] = _bitcast(np.int32(m), np.float32(0))
    return 0


# The recipe as the kernel reads it: ints (arithmetic, block rule, element rule,
# zero_in, zero_after's code, the scale format's NaN code, the element's -0
# code) and floats (scale_min, zero_to, zero_after (-1: none), ts, element max,
# scale max).
# Then the choice (0 none, 1 four_over_six), its error rule (0 mse, 1 mae, 2
# abs_max) and whether a zero-scale block's codes are +0; the floats go on with
# the second candidate's scale factor, fl(1 / gs), the stored amax and top, IF4's
# weight, the first candidate's factor and fl(1 / top).
I_AR, I_BLOCK, I_ELEM, I_ZIN, I_ZCODE, I_SNAN, I_NEG0, I_SF32, I_CHOICE, I_SEL, I_ZBLK = \
    range(11)
F_SMIN, F_ZTO, F_ZAFTER, F_TS, F_EMAX, F_SMAX, F_AMIN, F_XF, F_DEC, F_AMAX, F_TOP, F_AF, F_X1, \
    F_RTOP = range(14)
# IF4's integers: v x fl(7/6) rounded to -7..7, each worth 6/7 (SPEC.md 9.11)
IF4_UP, IF4_DOWN = np.float32(7 / 6), np.float32(6 / 7)


BLOCKS_PER_TASK = 512
FLT32_TINY, FLT32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _elements(xb, cb, n, erule, d, m32, mul, zin, Pe):
    """The element codes of one block (SPEC.md 9.2 steps 4-5) by the codec's
    fast path; returns nonzero where it declined any (Inf, 0 / 0)."""
    slow = np.int32(0)  # an OR of flags: a cheaper reduction than a count of them
    if erule == 0:
        for k in range(n):
            c, ok = encode_fast(np.float64(xb[k]) / d, 0, Pe, RNE, SATURATE, INT_SYMMETRIC,
                                numba.uint32(0))
            cb[k] = c
            slow |= np.int32(not ok)
    else:
        for k in range(n):  # float32 values: the FPU's own rne (core.encode_rne32)
            v = xb[k] * m32 if mul else xb[k] / m32
            c, ok = encode_rne32(v, Pe, SATURATE)
            cb[k] = 0 if (zin == 1) & (v == 0) else c  # a scaled -0.0 -> +0 if the recipe says
            slow |= np.int32(not ok)
    return slow


@jit
def _pow2_ceil(r):
    """2^ceil(log2 r) from the bits, exactly (r a normal float32: amax_min keeps
    it so), as float64."""
    b = _bitcast(r, np.int32(0))
    return np.float64(_bitcast(np.int32(b if (b & 0x7FFFFF) == 0 else
                                        (b & np.int32(0x7F800000)) + np.int32(0x800000)),
                               np.float32(0)))


@jit
def _raw_scale(bam, ar, brule, ts, ts32, emax32, RF, xf):
    """The block scale before it is rounded to the scale format (SPEC.md 9.2
    steps 2-3): the recipe's quotient, its zero rule and its clamps.  The one
    place this rule is written; every branch is a select, so loops over it
    vectorize."""
    bam = max(bam, np.float32(RF[F_AMIN]))
    q0 = np.float64(bam) / (np.float64(emax32) * ts)
    q1 = np.float64(bam / (emax32 * ts32))
    q2 = np.float64((bam / emax32) / ts32)
    q3 = np.float64(ts32 * (bam / emax32))
    # fl(amax x fl(1/max)) (CUDA's quotient by a constant) or fl(amax / max), and its
    # power-of-two ceiling
    r = bam * (np.float32(1.0) / emax32) if brule < 6 else bam / emax32
    q = q0 if ar == 0 else (q1 if brule == 1 else (q2 if brule == 2 else (
        q3 if brule == 3 else (np.float64(r) if (brule == 4) | (brule == 6) else
                               _pow2_ceil(r)))))
    # a second candidate's scale: fl(q x xf) in float32 (Four Over Six's 1.5)
    q = np.float64(np.float32(q) * np.float32(xf)) if xf != 1.0 else q
    q = RF[F_ZTO] if (RF[F_ZTO] >= 0) & (q == 0) else q
    q = max(q, RF[F_SMIN])
    return min(q, RF[F_SMAX]) if ar == 1 else q


@jit
def _scale_codes(bam, nbk, ar, brule, ts, ts32, emax32, RF, xf, Ps, sf32, out, ok_out):
    """Pass 2: every block's scale code from its largest magnitude (bits), in
    one branch-free loop over the task's blocks, so that it vectorizes.  A
    float32 scale format (sf32) keeps q rounded to float32 in ``out`` (as bits)."""
    f32 = np.float32
    for j in range(nbk):
        b = _bitcast(np.int32(min(bam[j], np.int32(0x7F7FFFFF))), f32(0))
        q = _raw_scale(b, ar, brule, ts, ts32, emax32, RF, xf)
        c, ok = encode_fast(q, 0, Ps, RNE, SATURATE, INT_SYMMETRIC, numba.uint32(0))
        q32 = np.int64(_bitcast(f32(q), np.int32(0)))  # float32 scales: the cast rounds (RNE)
        out[j] = q32 if sf32 else c
        ok_out[j] = ok | sf32


# Arrays of this many values or more run a kernel with the recipe's ints, the
# element and scale records and the block size frozen in (compiled once per
# recipe and block size); smaller ones share one kernel that reads them at run time.
SPECIALIZE_MIN = 1 << 20


@kernel_factory
def _encode_kernel(two, spec=None):
    """The encode loop (see ``kernel`` below).  ``two``: the recipe has a choice
    (a second candidate per block); a kernel carries only its own task loop, so a
    recipe without one never compiles the choice's (an empty cache paid for both:
    37.9 s against 17.5 s for a first small NVFP4 encode).  ``spec``: None
    (everything else read at run time: one compile for every recipe), or (RI, element params, scale
    params, block size) as tuples and ints, frozen in as constants so that the
    recipe's branches fold and the element codec's constants reach its vector
    loop (large arrays: several times faster); the second candidate's element
    record sits after the element's."""
    generic = spec is None
    CRI, CPE, CPA, CPS, CBS = spec if spec is not None else ((0,) * 11, (0,), (0,), (0,), 16)
    # The task loop is a global, chosen by a closure constant (the other branch is
    # pruned): a dispatcher in the closure pickles with a per-process id, which
    # is part of Numba's cache key, so the kernel compiled again in every process.
    TWO = bool(two)

    @jit
    def kernel(t0, t1, x, L, bs_, RI_, RF, Pe_, Pa_, Ps_, stab, etab, atab, tiles, codes, scales,
               svals):
        if generic:
            bs, RI, Pe, Pa, Ps = bs_, RI_, Pe_, Pa_, Ps_
        else:
            bs, RI, Pe, Pa, Ps = CBS, CRI, CPE, CPA, CPS
        if TWO:
            return _TASKS_TWO(t0, t1, x, L, bs, RI, RF, Pe, Pa, Ps, stab, etab, atab, tiles,
                              codes, scales, svals)
        return _TASKS_ONE(t0, t1, x, L, bs, RI, RF, Pe, Pa, Ps, stab, etab, atab, tiles, codes,
                          scales, svals)
    return kernel


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _scale_value(bamj, scj, okj, ar, brule, ts, ts32, emax32, RF, xf, RI, Ps, sf32, stab):
    """A block's (scale code, its value as float64) from pass 2's code, the
    full path where the fast one declined, and the zero_after rule."""
    sc = scj
    if not okj:  # what the fast path declined: the full path
        q = _raw_scale(_bitcast(bamj, np.float32(0)), ar, brule, ts, ts32, emax32, RF, xf)
        sc, _ = encode_one(q, Ps, RNE, SATURATE, NAN_KEEP_SIGN, INT_SYMMETRIC, numba.uint32(0))
    if sf32:
        sv = np.float64(_bitcast(np.int32(sc), np.float32(0)))
        sc = 0
    else:
        sv = stab[sc]
    if (RF[F_ZAFTER] >= 0) & (sv == 0):
        sc, sv = RI[I_ZCODE], RF[F_ZAFTER]
    return sc, sv


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _block_codes(xb, cb, n, sv, ts, ts32, RI, RF, Pe, bam):
    """One block's element codes under the block scale value ``sv`` (SPEC.md
    9.2 steps 4-5), written to ``cb``: the recipe's multiplier hoisted, the
    codec's fast path, the full path for what it declined.  ``bam``: the
    block's (or tile's) largest magnitude as bits (DeepGEMM's multiplier is
    computed from it, not from the scale)."""
    f32 = np.float32
    erule, zin, neg0 = RI[I_ELEM], RI[I_ZIN], RI[I_NEG0]
    if sv == 0:  # a vanished block: zeros of the inputs' signs, or +0 where the recipe says
        for k in range(n):
            cb[k] = neg0 if np.signbit(xb[k]) & (RI[I_ZBLK] == 0) else 0
        return
    d = sv * ts  # exact in float64 (4 + 24 bits)
    sv32 = f32(sv)
    if erule == 1:
        m32 = sv32 * ts32
    elif erule == 2:
        m32 = (f32(1.0) / ts32) / sv32
    elif erule == 4:  # fouroversix: x * fl(1 / fl(fl(1 / gs) * bs))
        m32 = f32(1.0) / (f32(RF[F_DEC]) * sv32)
    elif erule == 5:  # DeepGEMM: x * (448 / amax), torch's reciprocal times 448
        m32 = (f32(1.0) / max(_bitcast(bam, f32(0)), f32(RF[F_AMIN]))) * f32(RF[F_EMAX])
    elif erule == 6:  # x * (1 / sf)
        m32 = f32(1.0) / sv32
    else:
        m32 = sv32 / ts32
    mul = (erule == 2) | (erule >= 4)
    if n == 16:  # a constant trip count: the compiler unrolls and vectorizes
        slow = _elements(xb, cb, 16, erule, d, m32, mul, zin, Pe)
    else:
        slow = _elements(xb, cb, n, erule, d, m32, mul, zin, Pe)
    if slow:  # Inf (a divisor that underflowed) and 0 / 0: the full path
        for k in range(n):
            xv = xb[k]
            if erule == 0:
                v = np.float64(xv) / (sv * ts)
            else:
                v = np.float64(xv * m32 if mul else xv / m32)
            if v != v:  # 0 / 0 in float32: a zero of x's sign
                cb[k] = neg0 if (np.signbit(xv) and zin == 0) else 0
            elif not (abs(v) < np.inf):
                cb[k], _ = encode_one(v, Pe, RNE, SATURATE, NAN_KEEP_SIGN,
                                      INT_SYMMETRIC, numba.uint32(0))


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _integer_codes(xb, cb, n, sv, RF, Pi):
    """IF4's integer candidate (SPEC.md 9.11): fl(fl(x m) x fl(7/6)), m as the
    fouroversix element rule, to the nearest integer in -7..7, written as the
    INT4 code of a quarter of it (``Pi``: INT4's record); +0 under a zero scale."""
    f32 = np.float32
    if sv == 0:
        for k in range(n):
            cb[k] = 0
        return
    m32 = f32(1.0) / (f32(RF[F_DEC]) * f32(sv))
    for k in range(n):
        c, _ = encode_rne32(((xb[k] * m32) * IF4_UP) * f32(0.25), Pi, SATURATE)
        cb[k] = c


@jit
def quotient_by_reciprocal(a, t, rt):
    """fl(a / t) for float32 a and t, from rt = fl(1 / t): q0 = fl(a rt), then
    one correction by the exact remainder, fl(q0 + fl(a - q0 t) rt), two FMAs
    (Markstein's division step).  Equal to a / t wherever fl(a / t) is zero or
    a normal number (-0 gives +0), for t = 1536 and 2688 (every float32 a enumerated:
    tests/test_nvfp4.py::test_reciprocal_quotient_is_the_division_for_every_float32);
    a quotient in the subnormal range can differ, so callers take it only where
    none is."""
    q0 = a * rt
    return fma(fma(-q0, t, a), rt, q0)


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _reciprocal_applies(s32, amax, af, t):
    """Whether :func:`quotient_by_reciprocal` gives the division for every error
    term of a candidate under the block scale ``s32`` (float32s all): its
    smallest nonzero quotient is normal and its largest product finite.  The
    products are monotone in |e|, and |e| 0.5 .. 8 bounds every nonzero one
    (E2M1's values 0.5 .. 6, IF4's integers 1 .. 7)."""
    f32 = np.float32
    lo = ((f32(0.5) * s32) * amax) * af
    hi = ((f32(8.0) * s32) * amax) * af
    return (lo / t >= f32(FLT32_TINY)) & (hi <= f32(FLT32_MAX))


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _block_terms(xb, cb, n, sv, RI, RF, Pe, ints, af, tb):
    """Each element's error term of a candidate (SPEC.md 9.10), into ``tb``:
    fl(fl(fl(fl(e * bs) * amax) * af) / top) - x, squared for "mse", its
    magnitude otherwise; e from the code (core.decode_value32, exact for E2M1;
    ``ints``: IF4's integers, their two's complement), af 1 or IF4's fl(6/7)
    for its integers, ``sv`` the block scale's value.  The division is
    :func:`quotient_by_reciprocal` where the block's smallest nonzero value
    and its largest are normal (a vector division was a third of a Four Over
    Six encode), the division itself otherwise."""
    f32 = np.float32
    s32, amax, t, rt = f32(sv), f32(RF[F_AMAX]), f32(RF[F_TOP]), f32(RF[F_RTOP])
    sel = RI[I_SEL]
    if _reciprocal_applies(s32, amax, f32(af), t):
        for k in range(n):
            c = np.int32(cb[k])
            e = f32((c ^ 8) - 8) if ints else decode_value32(c, Pe)
            d = quotient_by_reciprocal(((e * s32) * amax) * af, t, rt) - xb[k]
            tb[k] = d * d if sel == 0 else abs(d)
        return
    for k in range(n):
        c = np.int32(cb[k])
        e = f32((c ^ 8) - 8) if ints else decode_value32(c, Pe)
        d = (((e * s32) * amax) * af) / t - xb[k]
        tb[k] = d * d if sel == 0 else abs(d)


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _summed_error(tb, n, sel):
    """A candidate's error from its terms ``tb`` (SPEC.md 9.10), in float32 in
    fouroversix's order: "mse" and "mae" the terms summed as PyTorch's CPU sum
    of 16 does (eight lanes, x_k + x_{k+8}, then the lanes in order), "abs_max"
    the largest."""
    f32 = np.float32
    if sel == 2:
        m = f32(0.0)
        for k in range(n):
            m = max(m, tb[k])
        return m
    if n == 16:  # the same additions in the same order, from one vector load
        return lane_sum16(tb, 0)
    acc = f32(0.0)
    for lane in range(8):
        v = f32(0.0)
        for k in range(lane, n, 8):
            v += tb[k]
        acc = v if lane == 0 else acc + v
    return acc


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _candidate_loop(xb, cb, n, s32, m32, RI, RF, P, ints, af, tb, divide):
    """The loop of :func:`_candidate`: each element's code and, from the value
    the codec rounded it to, its error term; ``divide`` (a constant) takes the
    quotient by top as a division, else by :func:`quotient_by_reciprocal`.
    Returns nonzero where the codec declined an element."""
    f32 = np.float32
    amax, t, rt = f32(RF[F_AMAX]), f32(RF[F_TOP]), f32(RF[F_RTOP])
    sel, zin = RI[I_SEL], RI[I_ZIN]
    slow = np.int32(0)
    for k in range(n):
        xv = xb[k]
        if ints:  # IF4's integers (as _integer_codes): the INT4 code of a quarter
            c, ok, v = encode_rne32_value(((xv * m32) * IF4_UP) * f32(0.25), P, SATURATE)
            e = v * f32(4.0)
            ok = True  # _integer_codes takes every code it gives
        else:
            y = xv * m32
            c, ok, e = encode_rne32_value(y, P, SATURATE)
            c = 0 if (zin == 1) & (y == 0) else c
        cb[k] = c
        slow |= np.int32(not ok)
        a = ((e * s32) * amax) * af
        d = (a / t if divide else quotient_by_reciprocal(a, t, rt)) - xv
        tb[k] = d * d if sel == 0 else abs(d)
    return slow


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _candidate(xb, cb, n, sv, ts, ts32, RI, RF, Pe, Pa, bam, ints, af, tb):
    """A choice's candidate under the block scale value ``sv``: its codes into
    ``cb`` (as :func:`_block_codes`, or :func:`_integer_codes` for IF4's
    integers, ``Pa`` their record) and its error terms into ``tb`` (as
    :func:`_block_terms`), in one loop that takes each value from the codec's
    rounding, not from a decode of the code.  The two steps themselves where
    the element rule is not fouroversix's, a scale is 0, or the codec declined
    an element (Inf, NaN: the full path then gives the codes)."""
    f32 = np.float32
    if (sv != 0) & (RI[I_ELEM] == 4):
        s32 = f32(sv)
        m32 = f32(1.0) / (f32(RF[F_DEC]) * s32)
        amax, t, af32 = f32(RF[F_AMAX]), f32(RF[F_TOP]), f32(af)
        P = Pa if ints else Pe
        if _reciprocal_applies(s32, amax, af32, t):
            slow = _candidate_loop(xb, cb, n, s32, m32, RI, RF, P, ints, af32, tb, False)
        else:
            slow = _candidate_loop(xb, cb, n, s32, m32, RI, RF, P, ints, af32, tb, True)
        if not slow:
            return
    if ints:
        _integer_codes(xb, cb, n, sv, RF, Pa)
    else:
        _block_codes(xb, cb, n, sv, ts, ts32, RI, RF, Pe, bam)
    _block_terms(xb, cb, n, sv, RI, RF, Pe, ints, af, tb)


@kernel_factory
def _encode_tasks(two):
    """The task loop, with the block step of a recipe with a choice (``two``)
    or without, frozen in so that a kernel carries only its own."""

    @numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
    def tasks(t0, t1, x, L, bs, RI, RF, Pe, Pa, Ps, stab, etab, atab, tiles, codes, scales,
              svals):
        """Tasks t0..t1-1, each BLOCKS_PER_TASK blocks of the rows of x (float32,
        rows of L), in three passes: the blocks' largest magnitudes, their scale
        codes (one vectorizable loop), then each block's elements with its
        multiplier hoisted (SPEC.md 9.2); a recipe with a choice encodes a second
        candidate and keeps the one with the smaller error (SPEC.md 9.10).
        ``scales`` gets the scale codes and ``svals`` the scales' float32 values
        (what a float32 scale format keeps).  ``Pa`` and ``atab``: the second
        candidate's element record and values (IF4's integers; else Pe and etab).
        ``tiles``: each block's largest magnitude (bits) given, that of its 2D
        tile (SPEC.md 9.12), or empty: each block's own.
        Inlined into its kernel (Numba IR), so that a frozen record's constants
        reach every branch and the element loop."""
        f32 = np.float32
        # The records and tables the per-block steps read, as views without a
        # reference count: the steps are inlined functions, and an array argument
        # costs an atomic increment and decrement at each block.
        RI, RF, Pe, Pa, Ps, stab = unref(RI), unref(RF), unref(Pe), unref(Pa), unref(Ps), \
            unref(stab)
        nb = (L + bs - 1) // bs
        ar, brule = RI[I_AR], RI[I_BLOCK]
        ts = RF[F_TS]
        ts32 = f32(ts)
        emax32 = f32(RF[F_EMAX])
        sf32 = RI[I_SF32] == 1
        if4 = RI[I_CHOICE] == 2
        total = scales.size
        bam = np.empty(BLOCKS_PER_TASK, np.int32)
        los = np.empty(BLOCKS_PER_TASK, np.int64)
        ns = np.empty(BLOCKS_PER_TASK, np.int64)
        sco = np.empty(BLOCKS_PER_TASK, np.int64)
        oks = np.empty(BLOCKS_PER_TASK, np.bool_)
        sco2 = np.zeros(BLOCKS_PER_TASK if two else 1, np.int64)
        oks2 = np.zeros(BLOCKS_PER_TASK if two else 1, np.bool_)
        alt = np.empty(bs if two else 0, np.uint8)
        lanes_ = np.empty(2 * bs, f32)  # the two candidates' per-element errors
        for task in range(t0, t1):
            j0 = task * BLOCKS_PER_TASK
            nbk = min(BLOCKS_PER_TASK, total - j0)
            r = j0 // nb  # the row and block within it, stepped on (no division per block)
            c = j0 - r * nb
            for j in range(nbk):
                lo = r * L + c * bs
                n = min(bs, r * L + L - lo)
                los[j] = lo
                ns[j] = n
                if tiles.size:
                    bam[j] = tiles[j0 + j]
                else:
                    bam[j] = abs_max_bits_run(x, lo, 16) if n == 16 else \
                        abs_max_bits(x, lo, lo + n)
                c += 1
                if c == nb:
                    r, c = r + 1, 0
            _scale_codes(bam, nbk, ar, brule, ts, ts32, emax32, RF, RF[F_X1], Ps, sf32, sco,
                         oks)
            if two and not if4:
                _scale_codes(bam, nbk, ar, brule, ts, ts32, emax32, RF, RF[F_XF], Ps, sf32, sco2,
                             oks2)
            for j in range(nbk):
                t = j0 + j
                lo = los[j]
                n = ns[j]
                if bam[j] >= np.int32(0x7F800000):  # NaN or Inf: the block's scale is NaN
                    scales[t] = RI[I_SNAN]
                    svals[t] = np.nan
                    for k in range(n):
                        codes[lo + k] = 0
                    continue
                sc, sv = _scale_value(bam[j], sco[j], oks[j], ar, brule, ts, ts32, emax32, RF, RF[F_X1],
                                      RI, Ps, sf32, stab)
                if (sv == 0) & (not two):  # a vanished block (both candidates' zeros: below)
                    scales[t] = sc
                    svals[t] = sv
                    for k in range(n):
                        codes[lo + k] = RI[I_NEG0] if np.signbit(x[lo + k]) & (RI[I_ZBLK] == 0) \
                            else 0
                    continue
                xb, cb = borrowed(x, lo, n), borrowed(codes, lo, n)
                if not two:
                    _block_codes(xb, cb, n, sv, ts, ts32, RI, RF, Pe, bam[j])
                else:
                    if if4:  # the same scale, the elements as integers
                        sc2, sv2 = sc | 0x80, sv
                    else:
                        sc2, sv2 = _scale_value(bam[j], sco2[j], oks2[j], ar, brule, ts, ts32,
                                                emax32, RF, RF[F_XF], RI, Ps, sf32, stab)
                    ab = borrowed(alt, 0, n)
                    # borrowed here, in the loop: a view made above it would outlive
                    # its array, which Numba frees after its last use
                    tb1, tb2 = borrowed(lanes_, 0, n), borrowed(lanes_, bs, n)
                    sel = RI[I_SEL]
                    if n == 16:  # a constant trip count: unrolled, vectorized
                        _candidate(xb, cb, 16, sv, ts, ts32, RI, RF, Pe, Pa, bam[j], False,
                                   f32(1.0), tb1)
                        _candidate(xb, ab, 16, sv2, ts, ts32, RI, RF, Pe, Pa, bam[j], if4,
                                   f32(RF[F_AF]), tb2)
                        better = _summed_error(tb2, 16, sel) < _summed_error(tb1, 16, sel)
                    else:
                        _candidate(xb, cb, n, sv, ts, ts32, RI, RF, Pe, Pa, bam[j], False,
                                   f32(1.0), tb1)
                        _candidate(xb, ab, n, sv2, ts, ts32, RI, RF, Pe, Pa, bam[j], if4,
                                   f32(RF[F_AF]), tb2)
                        better = _summed_error(tb2, n, sel) < _summed_error(tb1, n, sel)
                    # a select, not a branch: which candidate wins is as good as random
                    keep = np.uint8(0xFF * better)
                    for k in range(n):
                        cb[k] = (ab[k] & keep) | (cb[k] & ~keep)
                    sc = sc2 if better else sc
                    sv = sv2 if better else sv
                scales[t] = sc
                svals[t] = sv
        return 0
    return tasks


_TASKS_ONE, _TASKS_TWO = _encode_tasks(False), _encode_tasks(True)


def _tile_amax(moved, f: BlockFormat, bs, ax, shape):
    """Each block's largest magnitude as the bits the kernel reads (NaN and Inf
    above 0x7F800000 and at it), raised to that of its tile of f.tile_rows rows
    (SPEC.md 9.12); the shape must be whole tiles."""
    tr = f.tile_rows
    if moved.ndim != 2 or moved.shape[0] % tr or moved.shape[1] % bs:
        raise ValueError(f"x of shape {shape} along axis {ax}: {f.name} scales {tr} x {bs} "
                         f"tiles of a matrix, so x must be 2-D, its other axis a multiple of "
                         f"{tr} and axis {ax} a multiple of {bs}")
    R, L = moved.shape
    out = np.empty(R * (L // bs), np.int32)
    _parallel.run(_tile_amax_kernel, R // tr, moved.reshape(-1), L, bs, tr, out,
                  work=moved.size)
    return out


@jit
def _tile_amax_kernel(t0, t1, x, L, bs, tr, out):
    """Tile rows t0..t1-1 of x (rows of L): each tile's largest magnitude (abs
    bits) to every block of it in ``out`` (blocks in row order)."""
    nb = L // bs
    for i in range(t0, t1):
        for j in range(nb):
            m = np.int32(0)
            for r in range(tr):
                lo = (i * tr + r) * L + j * bs
                m = max(m, abs_max_bits_run(x, lo, 16) if bs == 16 else
                        abs_max_bits(x, lo, lo + bs))
            for r in range(tr):
                out[(i * tr + r) * nb + j] = m
    return 0


def _scale_params(f: BlockFormat):
    """The scale format's codec record (E4M3's; a float32 scale format uses none)."""
    return (f.scale if f.scale is not None else element_format("fp8_e4m3")).params


def _recipe_record(f: BlockFormat, ts):
    r = f.recipe
    za = -1.0 if r.zero_after is None else float(r.zero_after)
    zcode = 0 if r.zero_after is None else int(encode_elements(np.float64(za), f.scale))
    RI = np.array([int(r.arithmetic == "float32"), BLOCK_RULES.index(r.block),
                   ELEMENT_RULES.index(r.elements),
                   int(r.zero_in == "positive"), zcode,
                   f.scale.nan_code if f.scale is not None else 0,
                   int(encode_elements(-0.0, f.element)), int(f.scale is None),
                   CHOICES.index(r.choice), SELECT_RULES.index(r.select),
                   int(r.zero_block == "positive")], np.int64)
    gs = _kernel_scale(F32(ts), f)
    with np.errstate(divide="ignore", over="ignore"):
        dec = F32(1.0) / gs if gs != 0 else F32(0.0)
    RF = np.array([r.scale_min, -1.0 if r.zero_to is None else r.zero_to, za, float(gs),
                   f.element.max_normal, f.scale_max, float(np.float32(r.amax_min)), 1.5,
                   float(dec), float(ts), top(f),
                   float(IF4_DOWN) if r.choice == "if4" else 1.0, 1.0,
                   # fl(1 / top), read by a choice's error terms only (a top past
                   # float32's range, float32 block scales: 0)
                   float(F32(1.0) / F32(top(f))) if top(f) < FLT32_MAX else 0.0], np.float64)
    return RI, RF


def _run(flat, L, f: BlockFormat, bs, RI, RF, tiles, codes, scales, svals, two):
    """The encode kernel over every block of ``flat`` (rows of L), into codes,
    scales and svals; ``two``: the recipe's choice between two candidates."""
    stab = decode_table(f.scale if f.scale is not None else element_format("fp8_e4m3"),
                        np.float64)
    Pe, Ps = tuple(f.element.params), tuple(_scale_params(f))
    etab = decode_table(f.element, np.float64).astype(F32)
    if f.recipe.choice == "if4":  # the integers, as INT4 codes of a quarter: -7..7
        Pa = tuple(element_format("int4").params)
        atab = (decode_table(element_format("int4"), np.float64) * 4).astype(F32)
    else:
        Pa, atab = Pe, etab
    kernel = _encode_kernel(two, (tuple(int(v) for v in RI), Pe, Pa, Ps, bs)
                            if flat.size >= SPECIALIZE_MIN else None)
    _parallel.run(kernel, -(-scales.size // BLOCKS_PER_TASK), flat, L, bs, RI, RF, Pe, Pa, Ps,
                  stab, etab, atab, tiles, codes.reshape(-1), scales.reshape(-1),
                  svals.reshape(-1), work=flat.size * (12 if two else 4))


@jit
def _integer_candidate(t0, t1, x, L, bs, svals, RF, Pi, codes):
    """IF4's integer codes (:func:`_integer_codes`) of blocks t0..t1-1 of ``x``
    (rows of L), each under its block's scale value ``svals`` (float32): the
    second candidate where IF4 chooses per tile."""
    nb = (L + bs - 1) // bs
    for t in range(t0, t1):
        r = t // nb
        j = t - r * nb
        lo = r * L + j * bs
        n = min(bs, L - j * bs)
        _integer_codes(borrowed(x, lo, n), borrowed(codes, lo, n), n, np.float64(svals[t]), RF,
                       Pi)
    return 0


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _sum_256(t, acc):
    """The float32 sum of 256 terms in the order PyTorch's CPU sum takes
    (8-lane vectors, SPEC.md 9.12): four accumulators of vectors, vector 4i + k
    into accumulator k for i = 0..7, the four added in order, then the 8 lanes
    in order; every step a float32 addition.  ``acc``: 32 float32 of scratch
    (an array made here would be an allocation per tile)."""
    for m in range(32):
        acc[m] = t[m]
    for i in range(1, 8):
        for m in range(32):
            acc[m] += t[32 * i + m]
    total = np.float32(0.0)
    for lane in range(8):
        q = (acc[lane] + acc[8 + lane]) + acc[16 + lane]
        q = q + acc[24 + lane]
        total = q if lane == 0 else total + q
    return total


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _tile_error(tb, x, cs, vs, i, j, L, bs, tr, RI, RF, Pe, ints, af):
    """The error of tile (i, j) of one candidate (codes ``cs``, block scale
    values ``vs``): its tr x bs terms (:func:`_block_terms`) into ``tb``, then
    summed by :func:`_sum_256`, or their largest for "abs_max".  ``tb``: tr x
    bs + 32 float32 of scratch (the terms, then the sum's accumulators)."""
    nb = L // bs
    for r in range(tr):
        lo = (i * tr + r) * L + j * bs
        _block_terms(borrowed(x, lo, bs), borrowed(cs, lo, bs), bs,
                     np.float64(vs[(i * tr + r) * nb + j]), RI, RF, Pe, ints, af,
                     borrowed(tb, r * bs, bs))
    if RI[I_SEL] == 2:
        m = np.float32(0.0)
        for k in range(tr * bs):
            m = max(m, tb[k])
        return m
    return _sum_256(tb, borrowed(tb, tr * bs, 32))


@kernel_factory
def _tile_choice(spec):
    """The per-tile choice (``kernel`` below), with ``spec`` = (block size, tile
    rows, the first candidate's element record, the second's, whether the second
    is IF4's integers) frozen in: constant trip counts, so each block's terms
    vectorize (read at run time, they took 4 ns a term)."""
    BS, TR, PE, PA, INTS = spec

    @jit
    def kernel(t0, t1, tb, x, L, RI, RF, af, c4, s4, v4, codes, scales, svals):
        """Tile rows t0..t1-1 (SPEC.md 9.12): each tile's error for the first
        candidate (in codes, scales, svals) and the second (c4, s4, v4); where
        the second's is smaller (a tie or a NaN keeps the first) it replaces the
        first over the whole tile.  ``tb``: a scratch row of TR x BS + 32 float32."""
        RI, RF, tb = unref(RI), unref(RF), unref(tb)
        nb = L // BS
        for i in range(t0, t1):
            for j in range(nb):
                e0 = _tile_error(tb, x, codes, svals, i, j, L, BS, TR, RI, RF, PE, False,
                                 np.float32(1.0))
                e1 = _tile_error(tb, x, c4, v4, i, j, L, BS, TR, RI, RF, PA, INTS, af)
                if e1 < e0:
                    for r in range(TR):
                        lo = (i * TR + r) * L + j * BS
                        t = (i * TR + r) * nb + j
                        for k in range(BS):
                            codes[lo + k] = c4[lo + k]
                        scales[t] = s4[t]
                        svals[t] = v4[t]
        return 0
    return kernel


def _choose_by_tile(flat, shape, f: BlockFormat, bs, RI, RF, tiles, codes, scales, svals):
    """A choice recipe over 2D tiles (SPEC.md 9.12): both candidates of every
    block, each tile's error over its 256 elements in fouroversix's float32
    order, and the candidate with the smaller error kept for the whole tile (a
    tie keeps the first).  Four Over Six: the tile's amax mapped to 6, and the
    scale x 1.5.  IF4: E2M1 under that scale, and the integers -7..7 under the
    same scale (SPEC.md 9.11's steps, in float32), flagged by the scale's sign bit."""
    R, L = shape
    tr = f.tile_rows
    if tr * bs != 256:  # the error sum's order is PyTorch's for 256 terms
        raise ValueError(f"block_size={bs}: {f.name} chooses per {tr} x block_size tile in "
                         f"fouroversix's order for 256 terms, so block_size must be {256 // tr}")
    if4 = f.recipe.choice == "if4"
    _run(flat, L, f, bs, RI, RF, tiles, codes, scales, svals, False)  # the first, into place
    if if4:  # the integers under the same scales, by the kernel's own rule
        int4 = element_format("int4")
        Pa = tuple(int4.params)
        c4 = np.empty_like(codes)
        _parallel.run(_integer_candidate, svals.size, flat, L, bs, svals.reshape(-1), RF, Pa,
                      c4.reshape(-1), work=flat.size)
        s4, v4 = scales | np.uint8(0x80), svals
    else:
        Pa = tuple(f.element.params)
        rf = RF.copy()
        rf[F_X1] = RF[F_XF]
        c4, s4, v4 = np.empty_like(codes), np.empty_like(scales), np.empty_like(svals)
        _run(flat, L, f, bs, RI, rf, tiles, c4, s4, v4, False)
    kernel = _tile_choice((bs, tr, tuple(f.element.params), Pa, if4))
    _parallel.run(kernel, R // tr, flat, L, RI, RF, F32(RF[F_AF]), c4.reshape(-1),
                  s4.reshape(-1), v4.reshape(-1),
                  codes.reshape(-1), scales.reshape(-1), svals.reshape(-1),
                  work=flat.size * 4, scratch=(tr * bs + 32, F32))


def encode(x, f: BlockFormat, axis, block_size, pol=None) -> BlockArray:
    """Codes, block scales and the tensor scale, as ``f.recipe`` computes them."""
    a = as_float_input(x)
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (a block runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    bs = f.block_size if block_size is None else _check_block_size(block_size)
    # NVFP4 takes float32 (float16 and bfloat16 widen exactly); float64 is rounded to
    # float32 first, as every implementation does (SPEC.md 9.2)
    moved = np.ascontiguousarray(np.moveaxis(a, ax, -1), F32)
    L = moved.shape[-1]
    nb = -(-L // bs)
    flat = moved.reshape(-1)
    chunk = 1 << 16
    parts = np.zeros(max(-(-flat.size // chunk), 1), F32)
    if flat.size:
        _parallel.run(_amax_kernel, parts.size, flat, chunk, parts, work=flat.size)
    ts = tensor_scale(float(parts.max()), f)
    RI, RF = _recipe_record(f, ts)
    tiles = _tile_amax(moved, f, bs, ax, a.shape) if f.tile_rows > 1 else np.zeros(0, np.int32)
    codes = np.empty(moved.shape, np.uint8)
    scales = np.empty(moved.shape[:-1] + (nb,), np.uint8)
    nblocks = scales.size
    svals = np.empty(scales.shape, F32)
    if nblocks and not np.isfinite(RF[F_TS]):
        # fl(top / amax) overflowed (amax below top / 2^128): no block scale exists; NaN
        # scales, as fouroversix's cast of Inf to E4M3 gives (SPEC.md 9.10)
        scales[...] = RI[I_SNAN]
        svals[...] = np.nan
        codes[...] = 0
    elif nblocks and f.tile_rows > 1 and f.recipe.choice is not None:
        _choose_by_tile(flat, moved.shape, f, bs, RI, RF, tiles, codes, scales, svals)
    elif nblocks:
        _run(flat, L, f, bs, RI, RF, tiles, codes, scales, svals, f.recipe.choice is not None)
    if f.scale is None:
        scales = svals  # a float32 scale format keeps the values
    return BlockArray._unchecked(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                   np.ascontiguousarray(np.moveaxis(scales, -1, ax)), f, bs, ax,
                   F32(ts) if f.tensor_scale else None)


def decode(mx: BlockArray, dtype, out=None) -> np.ndarray:
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
    if4 = f.recipe.choice == "if4"
    if if4:  # the sign bit says integers: drop it from the scale, move it to the codes
        msc = check_codes(msc, f.scale, "mx.scales")
        ints = msc >= 0x80
        msc = msc & np.uint8(0x7F)
        moved = moved + np.uint8(16) * np.repeat(ints, mx.block_size, axis=-1)[..., :L] \
            .astype(np.uint8)
    if f.scale is None:  # float32 block scales: the values themselves
        if msc.dtype != np.float32:
            raise TypeError(f"mx.scales of {f.name} must be float32 values, got {msc.dtype}")
        svals = msc.astype(np.float64)
    else:
        svals = decode_table(f.scale, np.float64)[check_codes(msc, f.scale, "mx.scales")]
    ts = F32(1.0 if mx.tensor_scale is None else mx.tensor_scale)
    r = f.recipe
    flat = np.ascontiguousarray(moved).reshape(-1)
    res = np.empty(moved.shape, dtype)
    if flat.size:
        # -0 decodes as +0 where the recipe's table has no -0
        table = decode_table(f.element, np.float64) + (0.0 if r.zero_out == "positive" else -0.0)
        div = top(f)
        if if4:  # codes 16..31 are the integers: e x 7 and q x 6 over 7 x top, each exact
            table = np.concatenate([table * 7,
                                    decode_table(element_format("int4"), np.float64) * 24])
            div = 7 * div
        nblocks = svals.size
        mode = DECODE_RULES.index(r.decode)
        # IF4's frozen decode computes its integers under the 'amax' rule only
        frozen = flat.size >= SPECIALIZE_MIN and value32_exact(f.element) and \
            (mode == 3 or not if4)
        kernel = _decode_kernel((mode, tuple(f.element.params), mx.block_size,
                                 r.zero_out == "positive",
                                 tuple(element_format("int4").params) if if4 else None)
                                if frozen else None)
        _parallel.run(kernel, -(-nblocks // BLOCKS_PER_TASK), flat, L,
                      mx.block_size, nb, np.ascontiguousarray(svals).reshape(-1), table, ts,
                      div, mode, res.reshape(-1), work=flat.size)
    res = np.moveaxis(res, -1, mx.axis)
    if out is not None:
        out[...] = res
        return out
    return np.ascontiguousarray(res)


@kernel_factory
def _decode_kernel(spec=None):
    """The decode loop (``kernel`` below).  ``spec``: None (the element table and
    the recipe's rule read at run time: one compile for every format), or
    (rule, element params, block size, whether -0 decodes as +0, INT4's params
    where codes 16..31 are IF4's integers, else None) frozen in, for
    large arrays of an element
    format whose values ``core.decode_value32`` gives exactly
    (``elements.value32_exact``): each block's values are then computed in a
    loop that vectorizes instead of looked up one by one."""
    generic = spec is None
    CMODE, CPE, CBS, ZPOS, CPI = (0, (0,), 16, False, None) if generic else spec
    IF4 = CPI is not None  # IF4: codes 16..31 are INT4's (record CPI)
    Z = np.float32(0.0) if ZPOS else np.float32(-0.0)  # + 0 turns -0 into +0; + -0 keeps it

    @jit
    def kernel(t0, t1, codes, L, bs_, nb, svals, table, ts, div, mode_, out):
        """Tasks t0..t1-1 of BLOCKS_PER_TASK blocks: element x block scale x
        tensor scale as the recipe computes it (SPEC.md 9.2), the same
        operations in the same order as the recipes' own numpy code
        (tests/nvfp4_reference.py): ``exact``: (e * s) * ts in float64,
        rounded once to the output; ``product``: e * (s * ts) in float32;
        ``ratio``: e * (s / ts) in float32; ``amax``: ((e * s) * amax) /
        top in float64 (ts holds amax, div top), rounded once.  A NaN scale
        makes its block NaN."""
        if generic:
            bs, mode = bs_, mode_
        else:
            bs, mode = CBS, CMODE
        f32 = np.float32
        total = svals.size
        for task in range(t0, t1):
            j0 = task * BLOCKS_PER_TASK
            j1 = min(j0 + BLOCKS_PER_TASK, total)
            r = j0 // nb  # the row and block within it, stepped on
            c = j0 - r * nb
            for j in range(j0, j1):
                lo = r * L + c * bs
                n = min(bs, r * L + L - lo)
                # views without a reference count (jit.borrowed): a slice's atomic
                # increment and decrement per block of 16 cost more than its values
                cs, os_ = borrowed(codes, lo, n), borrowed(out, lo, n)
                s = svals[j]
                if mode == 3:  # one rounding in float64 (the products are exact), then the output's
                    if generic:
                        for k in range(n):
                            os_[k] = ((table[cs[k]] * s) * np.float64(ts)) / div
                    elif IF4:  # codes 16..31 INT4's (q / 4) x 24 = 6q; E2M1 values x 7
                        for k in range(n):
                            ck = np.int32(cs[k]) & np.int32(15)  # (c is the block counter)
                            ev = np.float64(decode_value32(ck, CPE) + Z) * 7.0
                            q = np.float64(decode_value32(ck, CPI)) * 24.0
                            os_[k] = (((ev if cs[k] < 16 else q) * s) * np.float64(ts)) / div
                    else:  # the element's value computed, not looked up: the loop vectorizes
                        for k in range(n):
                            e = np.float64(decode_value32(np.int32(cs[k]), CPE) + Z)
                            os_[k] = ((e * s) * np.float64(ts)) / div
                elif mode == 0:
                    if generic:
                        for k in range(n):
                            os_[k] = (table[cs[k]] * s) * np.float64(ts)
                    else:  # the element's float32 value, exact, widened exactly
                        for k in range(n):
                            e = np.float64(decode_value32(np.int32(cs[k]), CPE) + Z)
                            os_[k] = (e * s) * np.float64(ts)
                else:
                    m = f32(s) * ts if mode == 1 else f32(s) / ts
                    if generic:
                        for k in range(n):
                            os_[k] = f32(table[cs[k]]) * m
                    else:
                        for k in range(n):
                            os_[k] = (decode_value32(np.int32(cs[k]), CPE) + Z) * m
                c += 1
                if c == nb:
                    r, c = r + 1, 0
        return 0
    return kernel
