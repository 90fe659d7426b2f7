"""The one dot-product engine: every accumulator model of
:mod:`mxspec.accumulators` over pairs of rows (SPEC.md section 8).

A task is one output: row ``ia[t]`` of operand A against row ``ib[t]`` of
operand B, plus the addend ``c[t]``.  Each operand is a record of per-element
arrays made by :mod:`mxspec.dot` from the element format's code tables:

    (sig, val, raw, cls, scale, f32, e32, limbs, special, scale_sig)

``sig`` is the element's significand (its sign and whether it is zero are
what the engine reads), ``val`` its exact value with its scale as a float64,
``raw`` its exponent (with its scale) as the model's datapath sees it,
``cls`` FINITE, NEG_ZERO, POS_INF, NEG_INF or NAN; ``scale`` the per-block
power-of-two exponents
(NaN scales are marked in ``special``); ``f32`` the float32 value with its
scale (what :func:`mxspec.decode` returns), ``e32`` without; ``limbs`` the
value in units of the format's smallest step, split into float64 integers of
at most 24 bits (float32 holds them exactly) so that 32 products of two
limbs add exactly in float64.  For the block-FMA models the columns are in
the model's order.  The ``group_sums`` step reads ``val`` without the scale,
``scale`` as each block scale's exponent (a subnormal UE4M3 scale's at -6) and
``scale_sig`` as its significand (1 for E8M0).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._kernel import cache as _cache
from .._kernel.jit import exact_dot16
from ..tables.accumulators import (A_ACC_BITS, A_C_ADD, A_FRAC, A_FRAC2, A_GROUP, A_INST_K,
                                   A_KIND, A_ORDER, A_OVF_INF, A_RND, A_STEP, A_SUM_GROUP,
                                   A_ZERO_EXP, A_ZERO_POS, NO_CLAMP)
from ..codec.core import _bitcast, bit_length, jit, round_core
from ..tables.policies import DOWN, RNA, RNE, UP

# A float64 sum of CHUNK products of two limbs of LIMB_BITS each stays below 2**53,
# so it is exact in any order.
LIMB_BITS = 24
CHUNK = 32
DIGIT = 30
_DMASK = (1 << DIGIT) - 1
# Element classes (cls arrays) and the scale exponent that stands for a NaN scale.
FINITE, NEG_ZERO, POS_INF, NEG_INF, NAN = range(5)
SCALE_NAN = -(1 << 20)
# The datapath exponent of a zero element: far below any product's.
ZERO_RAW = -(1 << 24)

# Index of each field of the output record O.
O_MODE, O_PREC, O_EMIN, O_EMAX = range(4)

# fastmath reassociation is exact here: every term and partial sum is an integer
# below 2**53 (see LIMB_BITS), so any order gives the same float64.
_exact_sum_jit = numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy",
                            fastmath={"reassoc", "contract"})


@_exact_sum_jit
def limb_dot(x, y, k0, k1):
    # Loops over slices from 0: with an index that is known not to be negative,
    # Numba drops the wraparound check and LLVM vectorizes (4-5x here).
    xs, ys = x[k0:k1], y[k0:k1]
    s = 0.0
    for k in range(xs.shape[0]):
        s += np.float64(xs[k]) * np.float64(ys[k])
    return s


@jit
def round_to_float(neg, mag, exp, mode, prec, emin, emax):
    """``(-1)**neg * mag * 2**exp`` rounded to a binary float with ``prec``
    significand bits, smallest normal exponent ``emin`` and largest exponent
    ``emax``, as a float64 (exact for float32/float16/bfloat16/float64).
    ``mag`` < 2**62; a sticky bit, if any, is already in its lowest bit.
    The rounding itself is :func:`mxspec.core.round_core`."""
    if mag == 0:
        return -0.0 if neg else 0.0
    lead = bit_length(mag) - 1 + exp
    lsb = max(lead, emin) - (prec - 1)
    sh = lsb - exp
    q = mag
    if sh > 0:
        if sh > 62:  # all of it below half the last place: round 1 * 2**-2
            q, sh = numba.int64(1), 2
        q, _ = round_core(numba.int64(q), sh, neg, mode, 0, 0, 0)
    else:
        lsb = exp
    v = math.ldexp(float(q), lsb)
    top = math.ldexp(2.0 - math.ldexp(1.0, 1 - prec), emax)
    if v > top:
        to_inf = mode == RNE or mode == RNA or (mode == UP and not neg) or (mode == DOWN and neg)
        v = math.inf if to_inf else top
    return -v if neg else v


@intrinsic
def fma32(typingctx, a, b, c):
    """IEEE float32 fused multiply-add a*b + c, rounded once to nearest even:
    LLVM's ``llvm.fma.f32``, one FMA instruction where the CPU has one and
    libm's correctly rounded ``fmaf`` where it has not; the same bits either
    way (tests/test_dot.py holds fp32_sequential to the fractions reference).
    The software form it replaced (an exact float64 product, a sum rounded to
    odd, then to float32) took a serial chain of about 20 operations."""
    if not all(isinstance(t, types.Float) and t.bitwidth == 32 for t in (a, b, c)):
        return None
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f = ir.FloatType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f, [f, f, f]),
                                            "llvm.fma.f32")
        return builder.call(fn, args)
    return sig, codegen


@jit
def kul_add(dig, v, off):
    """Add the integer ``v`` (|v| < 2**53) times 2**off (off >= 0) into the
    long accumulator ``dig`` (base 2**30 digits, carries left for later)."""
    # unsigned: off >= 0, so the indices need no wraparound for negative ones
    uq = numba.uint64(off) // numba.uint64(DIGIT)
    r = off - numba.int64(uq) * DIGIT
    q, q1, q2 = uq, uq + numba.uint64(1), uq + numba.uint64(2)
    a = -v if v < 0 else v
    lo = (a & _DMASK) << r
    hi = (a >> DIGIT) << r
    if v < 0:
        dig[q] -= lo & _DMASK
        dig[q1] -= (lo >> DIGIT) + (hi & _DMASK)
        dig[q2] -= hi >> DIGIT
    else:
        dig[q] += lo & _DMASK
        dig[q1] += (lo >> DIGIT) + (hi & _DMASK)
        dig[q2] += hi >> DIGIT


@jit
def kul_carry(dig):
    """Carry the long accumulator's digits into base 2**30 (the top one keeps
    the sign; every other one ends in 0 .. 2**30 - 1)."""
    for i in range(dig.shape[0] - 1):
        carry = dig[i] >> DIGIT
        dig[i] -= carry << DIGIT
        dig[i + 1] += carry


@jit
def kul_scale(dig, m):
    """The long accumulator times the integer 1 <= ``m`` < 2**31, exactly: the
    digits carried first, so that each product stays below 2**62 (the top
    digit's room for it is in the accumulator's length)."""
    if m == 1:
        return
    kul_carry(dig)
    for i in range(dig.shape[0]):
        dig[i] *= m
    kul_carry(dig)


@jit
def kul_round(dig, dlo, mode, prec, emin, emax):
    """The long accumulator's value rounded once: (float64, whether it is zero)."""
    n = dig.shape[0]
    kul_carry(dig)
    neg = dig[n - 1] < 0
    if neg:
        for i in range(n):
            dig[i] = -dig[i]
        kul_carry(dig)
    t = n - 1
    while t >= 0 and dig[t] == 0:
        t -= 1
    if t < 0:
        return 0.0, True
    p = t * DIGIT + bit_length(dig[t]) - 1  # top bit, counted from dlo
    lo_bit = max(p - 59, 0)
    mag = numba.int64(0)
    sticky = numba.int64(0)
    for i in range(t, -1, -1):
        b0 = i * DIGIT
        d = dig[i]
        if b0 >= lo_bit:
            mag += d << (b0 - lo_bit)
        elif b0 + DIGIT > lo_bit:
            s = lo_bit - b0
            mag += d >> s
            sticky |= d & ((numba.int64(1) << s) - 1)
        else:
            sticky |= d
    mag = (mag << 1) | numba.int64(sticky != 0)
    return round_to_float(neg, mag, dlo + lo_bit - 1, mode, prec, emin, emax), False


@jit
def _specials(A, B, ra, rb, bs, c):
    """(nan, +inf, -inf) of a dot whose inputs hold NaN, Inf or a NaN scale."""
    a_sig, _, _, a_cls, a_sc = A[0], A[1], A[2], A[3], A[4]
    b_sig, _, _, b_cls, b_sc = B[0], B[1], B[2], B[3], B[4]
    nan = math.isnan(c)
    pinf = c == math.inf
    ninf = c == -math.inf
    K = a_sig.shape[1]
    for k in range(K):
        blk = k // bs
        ca = a_cls[ra, k]
        cb = b_cls[rb, k]
        if a_sc[ra, blk] == SCALE_NAN or b_sc[rb, blk] == SCALE_NAN or ca == NAN or cb == NAN:
            nan = True
        elif ca >= POS_INF or cb >= POS_INF:
            if (ca < POS_INF and a_sig[ra, k] == 0) or (cb < POS_INF and b_sig[rb, k] == 0):
                nan = True  # Inf * 0
            else:
                na = ca == NEG_INF if ca >= POS_INF else a_sig[ra, k] < 0
                nb = cb == NEG_INF if cb >= POS_INF else b_sig[rb, k] < 0
                if na != nb:
                    ninf = True
                else:
                    pinf = True
    return nan, pinf, ninf


@jit
def _rne_int(y):
    """y (a float64 below 2**52 in magnitude) rounded to the nearest integer,
    ties to even, branch-free: the truncation, then one step where the
    remainder asks for it."""
    q = numba.int64(y)
    r = y - np.float64(q)
    up = (abs(r) > 0.5) | ((abs(r) == 0.5) & ((q & 1) == 1))
    return q + numba.int64(up) * (numba.int64(r > 0.0) - numba.int64(r < 0.0))


# 1.5 * 2**52 and its bits: the float64 whose unit in the last place is 1.
MAGIC = 6755399441055744.0
MAGIC_BITS = 0x4338000000000000
MAGIC_MAX_FRAC = 49


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _finish(S, E, F, rnd, P, ovf):
    """A step's exact sum S * 2**(E-F) rounded (truncated or to nearest even) to
    P significant bits and to float32."""
    inv = _bitcast((E - F + 1023) << 52, np.float64(0.0))
    if P < 24 and S != 0:
        m = abs(S)
        # floor(log2(m)) from the exponent field of float64(m), exact below 2**53
        sh = numba.int64((_bitcast(np.float64(m), numba.int64(0)) >> 52) & 0x7FF) - 1022 - P
        if sh > 0:
            q = m >> sh
            if rnd != 0:
                r = m - (q << sh)
                half = numba.int64(1) << (sh - 1)
                if r > half or (r == half and (q & 1) == 1):
                    q += 1
            S = q << sh if S > 0 else -(q << sh)
    x = np.float64(S) * inv  # exact: S * 2**(E - F)
    f = np.float32(x)
    if rnd == 0:
        if abs(np.float64(f)) > abs(x) and not (ovf and abs(x) >= 2.0 ** 128):
            # rounded away from zero: one step back
            f = _bitcast(numba.int32(_bitcast(f, numba.int32(0)) - 1), np.float32(0.0))
    return f


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _acc_exp(acc):
    """floor(log2|acc|) of a nonzero float32, -126 for a subnormal."""
    return max((_bitcast(acc, numba.int32(0)) >> 23) & 0xFF, 1) - 127


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _even_odd_finish(Se, So, Ee, Eo, acc, F, F2):
    """The rest of an ``even_odd`` step (see :func:`_blockfma`) from the two
    halves' sums Se, So at exponents Ee, Eo: their alignment, C's, and the
    final rounding."""
    if not (abs(acc) < np.inf):
        return acc
    Ed = max(Ee, Eo)
    D = (Se >> min(Ed - Ee, 62)) + (So >> min(Ed - Eo, 62))  # arithmetic shifts: floor
    ec = numba.int64(-126)
    if acc != 0.0:
        ec = _acc_exp(acc)
    Em = max(Ed, ec)
    up = F2 + 1 - F
    sh = Ed - Em + up
    T = D << sh if sh >= 0 else D >> min(-sh, 62)
    if ec >= Em - F - 1:
        T += numba.int64(math.floor(np.float64(acc) * math.ldexp(1.0, F - Em))) << up
    if T == 0:
        return np.float32(0.0)
    unit = Em - F2 - 1  # T counts units of 2**unit
    m = abs(T)
    lead = numba.int64((_bitcast(np.float64(m), numba.int64(0)) >> 52) & 0x7FF) - 1023 + unit
    cut = max(lead, -126) - F2 - unit
    if cut > 0:
        T = (T >> cut) << cut
    return np.float32(np.float64(T) * math.ldexp(1.0, unit))


@jit
def _blockfma(A, B, ra, rb, bs, c, M):
    """The block-FMA family, one output over all of K.  The columns are already
    in the model's order (h100_mma's permutation is applied by the caller).

    Per instruction window of ``inst_k`` products (all of K where the model has
    none), per group of G products, one step of the model's kind (SPEC.md 8.3,
    8.7, 8.10) takes the float32 ``acc`` to the next:

    - ``align``: the products and ``acc`` aligned to their largest exponent E,
      F bits kept below it (truncated or rounded to nearest even), added,
      rounded the same way to P significant bits (P < 24: a narrow
      accumulator) and to float32.  Every product times 2**(F-E) is exact in
      float64 and below 2**(F+2); its integer part is exact in int64, and so
      is the sum, below 2**53 (the model checks F and the group size).  A zero
      element has raw ZERO_RAW, so it never leads, unless Z (not NO_CLAMP)
      says that a zero term counts at exponent Z.
    - ``group_sums`` (Blackwell kind::mxf4 / mxf4nvf4): each SG products
      summed exactly (E2M1 values: their float64 sum is exact), times the two
      block scales' significands; each term counts at the scales' exponent
      sum, Z where its products are all zero; C at its own exponent; all
      aligned to the largest, F bits kept, truncated, added exactly and
      normalized toward zero.
    - ``even_odd`` (AMD CDNA3 FP8 MFMA): the even- and the odd-indexed products
      each aligned to their own largest exponent, F bits kept (truncated) and
      summed; the two halves aligned to the larger of their exponents, F bits,
      floor; that and C aligned to the largest exponent, the halves' sum at
      F2 + 1 bits and C at F bits (floor; C dropped below F + 1 bits); the sum
      floored to F2 bits below its own leading bit (float32's normal range)
      and rounded to nearest even into float32.

    ``ovf``: a truncated result of 2**128 or more is Inf instead of the largest
    float32.  The steps are written out here, not called: a call, or an
    inlined function, that takes the rows raised and dropped their reference
    counts (atomic operations) at every step, which cost more than the step's
    16 or 32 products; so did slices.  Indices are unsigned, so that Numba
    emits no negative-index wraparound and the loops vectorize."""
    a_val, a_raw = A[1][ra], A[2][ra]
    b_val, b_raw = B[1][rb], B[2][rb]
    a_sc, b_sc, a_ss, b_ss = A[4][ra], B[4][rb], A[9][ra], B[9][rb]
    K = a_val.shape[0]
    G, F, rnd, P, Z = M[A_GROUP], M[A_FRAC], M[A_RND], M[A_ACC_BITS], M[A_ZERO_EXP]
    SG, F2 = M[A_SUM_GROUP], M[A_FRAC2]
    step = M[A_STEP]
    ovf = M[A_OVF_INF] == 1
    pos = M[A_ZERO_POS] == 1
    windowed = M[A_INST_K] > 0
    inst = M[A_INST_K] if windowed else K
    c_add = M[A_C_ADD] == 1 and not windowed
    running = np.float32(0.0) if c_add else np.float32(c)
    for w0 in range(0, K, inst):
        w1 = min(w0 + inst, K)
        acc = np.float32(0.0) if windowed else running
        for g0 in range(w0, w1, G):
            if not (abs(acc) < np.inf):  # an earlier step overflowed to +-Inf (rne): it stays
                break
            o = numba.uint64(g0)
            n = min(g0 + G, w1) - g0
            if step == 0:  # align
                E = numba.int64(2 * ZERO_RAW)
                for k in range(n):
                    E = max(E, numba.int64(a_raw[o + numba.uint64(k)])
                            + numba.int64(b_raw[o + numba.uint64(k)]))
                if acc != 0.0:
                    E = max(E, _acc_exp(acc))
                elif E < ZERO_RAW // 2:  # the largest has a zero factor: every product is zero
                    acc = np.float32(0.0)
                    continue
                if Z != NO_CLAMP:
                    zero = acc == 0.0
                    for k in range(n):
                        zero |= (numba.int64(a_raw[o + numba.uint64(k)])
                                 + numba.int64(b_raw[o + numba.uint64(k)]) < ZERO_RAW // 2)
                    if zero:
                        E = max(E, numba.int64(Z))
                sc = _pow2(F - E)
                if rnd == 0:  # a float to int conversion truncates toward zero
                    S = numba.int64(np.float64(acc) * sc)
                else:
                    S = _rne_int(np.float64(acc) * sc)
                if F > MAGIC_MAX_FRAC:  # products may reach 2**51: one conversion at a time
                    for k in range(n):
                        y = a_val[o + numba.uint64(k)] * b_val[o + numba.uint64(k)] * sc
                        S += numba.int64(y) if rnd == 0 else _rne_int(y)
                # |product * 2**(F-E)| < 2**(F+2) <= 2**51: added to 1.5 * 2**52, whose
                # unit is 1, it lands in [2**52, 2**53) and the integer is the low bits
                # less the constant's; truncated first (np.trunc) for rz, and for rne
                # the addition itself rounds to nearest even.  All vector instructions,
                # where int64(y) went one value at a time (AVX2 has no such conversion).
                elif rnd == 0:
                    for k in range(n):
                        y = np.trunc(a_val[o + numba.uint64(k)] * b_val[o + numba.uint64(k)] * sc)
                        S += _bitcast(y + MAGIC, numba.int64(0)) - MAGIC_BITS
                else:
                    for k in range(n):
                        y = a_val[o + numba.uint64(k)] * b_val[o + numba.uint64(k)] * sc
                        S += _bitcast(y + MAGIC, numba.int64(0)) - MAGIC_BITS
                acc = _finish(S, E, F, rnd, P, ovf)
            elif step == 1:  # group_sums
                E = numba.int64(Z)
                if acc != 0.0:
                    E = max(E, _acc_exp(acc))
                for g in range(n // SG):
                    q = o + numba.uint64(g * SG)
                    blk = q // numba.uint64(bs)
                    nz = False
                    for k in range(SG):
                        nz |= a_val[q + numba.uint64(k)] * b_val[q + numba.uint64(k)] != 0.0
                    if nz and a_ss[blk] * b_ss[blk] != 0.0:
                        E = max(E, numba.int64(a_sc[blk]) + numba.int64(b_sc[blk]))
                sc = _pow2(F - E)
                S = numba.int64(np.float64(acc) * sc)
                for g in range(n // SG):
                    q = o + numba.uint64(g * SG)
                    blk = q // numba.uint64(bs)
                    p = 0.0
                    for k in range(SG):
                        p += a_val[q + numba.uint64(k)] * b_val[q + numba.uint64(k)]
                    e = numba.int64(a_sc[blk]) + numba.int64(b_sc[blk])
                    # p * significands * 2**(e + F - E): exact in float64 (at most 20
                    # significant bits)
                    S += numba.int64(p * (a_ss[blk] * b_ss[blk]) * sc * _pow2(e))
                acc = _finish(S, E, F, 0, 24, ovf)
            else:  # even_odd
                low = numba.int64(2 * ZERO_RAW)
                Ee = low
                Eo = low
                for k in range(0, n, 2):
                    Ee = max(Ee, numba.int64(a_raw[o + numba.uint64(k)])
                             + numba.int64(b_raw[o + numba.uint64(k)]))
                for k in range(1, n, 2):
                    Eo = max(Eo, numba.int64(a_raw[o + numba.uint64(k)])
                             + numba.int64(b_raw[o + numba.uint64(k)]))
                Se = numba.int64(0)
                So = numba.int64(0)
                if Ee > low:
                    sc = _pow2(F - Ee)
                    for k in range(0, n, 2):
                        Se += numba.int64(a_val[o + numba.uint64(k)] * b_val[o + numba.uint64(k)] * sc)
                if Eo > low:
                    sc = _pow2(F - Eo)
                    for k in range(1, n, 2):
                        So += numba.int64(a_val[o + numba.uint64(k)] * b_val[o + numba.uint64(k)] * sc)
                acc = _even_odd_finish(Se, So, Ee, Eo, acc, F, F2)
            if pos:
                acc = acc + np.float32(0.0)  # -0 + +0 is +0: the row returns no -0
        running = acc + running if windowed else acc
    if c_add:
        running = running + np.float32(c)
    return np.float64(running)


@jit
def _fp32(A, B, ra, rb, bs, c, M, buf):
    a_f, a_e, a_sc = A[5], A[6], A[4]
    b_f, b_e, b_sc = B[5], B[6], B[4]
    K = a_f.shape[1]
    order = M[A_ORDER]
    if order == 0:  # sequential fused multiply-adds from C
        acc = np.float32(c)
        ar, br = a_f[ra], b_f[rb]
        for k in range(K):
            acc = fma32(ar[k], br[k], acc)
        return np.float64(acc)
    if order == 1:  # float32 products, adjacent pairs level by level, then C
        for k in range(K):
            buf[k] = np.float32(a_f[ra, k] * b_f[rb, k])
        n = K
        while n > 1:
            h = n // 2
            for i in range(h):
                buf[i] = np.float32(buf[2 * i] + buf[2 * i + 1])
            if n & 1:
                buf[h] = buf[n - 1]
                h += 1
            n = h
        s = buf[0] if K else np.float32(0.0)
        return np.float64(np.float32(s + np.float32(c)))
    # blockwise, TOSA 1.1 MATMUL_T_BLOCK_SCALED: per block a float32 sum of the
    # element products (exact in float32, so fma = mul then add), times the float32
    # product of the two scales (which can overflow or flush to zero), added in order
    acc = np.float32(c)
    for b0 in range(0, K, bs):
        s = np.float32(0.0)
        ae, be = a_e[ra, b0:min(b0 + bs, K)], b_e[rb, b0:min(b0 + bs, K)]
        for k in range(ae.shape[0]):
            s = fma32(ae[k], be[k], s)
        xa = np.float32(math.ldexp(1.0, a_sc[ra, b0 // bs]))
        xb = np.float32(math.ldexp(1.0, b_sc[rb, b0 // bs]))
        acc = np.float32(acc + np.float32(s * np.float32(xa * xb)))
    return np.float64(acc)


# Outputs the float32 orders take eight at a time (see _fp32_group).
FP32_GROUP = 8


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _chain8(a, b, k0, k1, s):
    """Eight fused multiply-add chains s[u] = fma(a[u][k], b[u][k], s[u]) over
    k0 .. k1-1, interleaved (``a``, ``b``: 8-tuples of rows; ``s`` of float32)."""
    s0, s1, s2, s3, s4, s5, s6, s7 = s
    a0, a1, a2, a3, a4, a5, a6, a7 = a
    b0, b1, b2, b3, b4, b5, b6, b7 = b
    for k in range(k0, k1):
        s0 = fma32(a0[k], b0[k], s0)
        s1 = fma32(a1[k], b1[k], s1)
        s2 = fma32(a2[k], b2[k], s2)
        s3 = fma32(a3[k], b3[k], s3)
        s4 = fma32(a4[k], b4[k], s4)
        s5 = fma32(a5[k], b5[k], s5)
        s6 = fma32(a6[k], b6[k], s6)
        s7 = fma32(a7[k], b7[k], s7)
    return s0, s1, s2, s3, s4, s5, s6, s7


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _rows8(X, ix, t):
    return (X[ix[t]], X[ix[t + 1]], X[ix[t + 2]], X[ix[t + 3]], X[ix[t + 4]], X[ix[t + 5]],
            X[ix[t + 6]], X[ix[t + 7]])


@numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy", inline="always")
def _pow2(e):
    """2.0**e as a float64, from its bits where e is a normal exponent (no libm
    call); math.ldexp elsewhere."""
    if -1022 <= e <= 1023:
        return _bitcast((numba.int64(e) + 1023) << 52, np.float64(0.0))
    return math.ldexp(1.0, e)


@jit
def _fp32_group(A, B, ia, ib, t, c, bs, order, out):
    """Outputs t .. t+7 of the sequential (order 0) or blockwise (order 2) float32
    models, none of them special: each output's operations, in its order, are
    :func:`_fp32`'s, so the bits are the same; but eight outputs' chains run
    interleaved, so that an FMA waits on its own chain's previous result (four
    cycles) while the other seven fill the gap, where one chain alone left the
    FMA unit idle three cycles in four.  Returns the count of NaN."""
    c8 = (np.float32(c[t]), np.float32(c[t + 1]), np.float32(c[t + 2]), np.float32(c[t + 3]),
          np.float32(c[t + 4]), np.float32(c[t + 5]), np.float32(c[t + 6]),
          np.float32(c[t + 7]))
    if order == 0:
        a8, b8 = _rows8(A[5], ia, t), _rows8(B[5], ib, t)
        acc = _chain8(a8, b8, 0, A[5].shape[1], c8)
    else:
        a8, b8 = _rows8(A[6], ia, t), _rows8(B[6], ib, t)
        K = A[6].shape[1]
        acc = c8
        z = np.float32(0.0)
        for b0 in range(0, K, bs):
            s = _chain8(a8, b8, b0, min(b0 + bs, K), (z, z, z, z, z, z, z, z))
            j = b0 // bs
            x = (np.float32(_pow2(A[4][ia[t], j])) * np.float32(_pow2(B[4][ib[t], j])),
                 np.float32(_pow2(A[4][ia[t + 1], j])) * np.float32(_pow2(B[4][ib[t + 1], j])),
                 np.float32(_pow2(A[4][ia[t + 2], j])) * np.float32(_pow2(B[4][ib[t + 2], j])),
                 np.float32(_pow2(A[4][ia[t + 3], j])) * np.float32(_pow2(B[4][ib[t + 3], j])),
                 np.float32(_pow2(A[4][ia[t + 4], j])) * np.float32(_pow2(B[4][ib[t + 4], j])),
                 np.float32(_pow2(A[4][ia[t + 5], j])) * np.float32(_pow2(B[4][ib[t + 5], j])),
                 np.float32(_pow2(A[4][ia[t + 6], j])) * np.float32(_pow2(B[4][ib[t + 6], j])),
                 np.float32(_pow2(A[4][ia[t + 7], j])) * np.float32(_pow2(B[4][ib[t + 7], j])))
            acc = (np.float32(acc[0] + np.float32(s[0] * x[0])), np.float32(acc[1] + np.float32(s[1] * x[1])),
                   np.float32(acc[2] + np.float32(s[2] * x[2])), np.float32(acc[3] + np.float32(s[3] * x[3])),
                   np.float32(acc[4] + np.float32(s[4] * x[4])), np.float32(acc[5] + np.float32(s[5] * x[5])),
                   np.float32(acc[6] + np.float32(s[6] * x[6])), np.float32(acc[7] + np.float32(s[7] * x[7])))
    nans = 0
    out[t], out[t + 1], out[t + 2], out[t + 3] = acc[0], acc[1], acc[2], acc[3]
    out[t + 4], out[t + 5], out[t + 6], out[t + 7] = acc[4], acc[5], acc[6], acc[7]
    for u in range(FP32_GROUP):
        nans += math.isnan(out[t + u])
    return nans


@jit
def _exact(A, B, ra, rb, bs, base, lwa, lwb, c_sig, c_exp, dig, dlo, O, factor):
    """The exact sum of the row pair's products, times ``factor`` (the operands'
    common factors, taken out of their limbs), plus c, rounded once (O)."""
    a_sc, a_limbs = A[4], A[7]
    b_sc, b_limbs = B[4], B[7]
    K = a_limbs.shape[2]
    dig[:] = 0
    if a_limbs.shape[0] == 1 and b_limbs.shape[0] == 1 and bs == 16 and K % 16 == 0:
        # one limb each (NVFP4's values, their tensor scales taken out) in blocks of
        # 16: each block's sum a constant trip count that vectorizes, rows hoisted
        xa, xb = a_limbs[0, ra], b_limbs[0, rb]
        sa, sb = a_sc[ra], b_sc[rb]
        for blk in range(K // 16):
            s = exact_dot16(xa, xb, blk * 16)
            if s != 0.0:
                kul_add(dig, numba.int64(s), base + sa[blk] + sb[blk] - dlo)
        return _exact_end(dig, dlo, O, factor, c_sig, c_exp)
    for b0 in range(0, K, bs):
        e = base + a_sc[ra, b0 // bs] + b_sc[rb, b0 // bs] - dlo
        b1 = min(b0 + bs, K)
        for k0 in range(b0, b1, CHUNK):
            k1 = min(k0 + CHUNK, b1)
            for i in range(a_limbs.shape[0]):
                for j in range(b_limbs.shape[0]):
                    s = limb_dot(a_limbs[i, ra], b_limbs[j, rb], k0, k1)
                    if s != 0.0:
                        kul_add(dig, numba.int64(s), e + i * lwa + j * lwb)
    return _exact_end(dig, dlo, O, factor, c_sig, c_exp)


@jit
def _exact_end(dig, dlo, O, factor, c_sig, c_exp):
    """The long accumulator times the operands' common factors, plus c,
    rounded once."""
    kul_scale(dig, factor[0])
    kul_scale(dig, factor[1])
    if c_sig != 0:
        kul_add(dig, c_sig, c_exp - dlo)
    return kul_round(dig, dlo, O[O_MODE], O[O_PREC], O[O_EMIN], O[O_EMAX])


@jit
def _all_neg_zero(A, B, ra, rb, c):
    """Whether C and every product are negative zeros (IEEE: then the exact
    zero sum is -0)."""
    if c != 0.0 or math.copysign(1.0, c) > 0:
        return False
    for k in range(A[0].shape[1]):
        za = A[0][ra, k] == 0
        zb = B[0][rb, k] == 0
        if not (za or zb):
            return False
        na = A[3][ra, k] == NEG_ZERO or A[0][ra, k] < 0
        nb = B[3][rb, k] == NEG_ZERO or B[0][rb, k] < 0
        if na == nb:
            return False
    return True


@jit
def dot_kernel(t0, t1, A, B, ia, ib, bs, c, c_sig, c_exp, M, O, X, out):
    """Outputs t0 .. t1-1.  ``X`` = (base, lwa, lwb, dlo, ndigits, factor of A,
    factor of B) for exact.
    Returns the count of results that are NaN."""
    kind = M[A_KIND]
    dig = np.zeros(max(X[4], 1), np.int64)
    K = A[0].shape[1]
    buf = np.empty(max(K, 1), np.float32)
    nans = 0
    grouped = kind == 1 and (M[A_ORDER] == 0 or M[A_ORDER] == 2)
    t = t0 - 1
    while t + 1 < t1:
        t += 1
        if grouped and t + FP32_GROUP <= t1:
            clean = True
            for u in range(t, t + FP32_GROUP):
                clean &= not (A[8][ia[u]] or B[8][ib[u]]) and math.isfinite(c[u])
            if clean:
                nans += _fp32_group(A, B, ia, ib, t, c, bs, M[A_ORDER], out)
                t += FP32_GROUP - 1
                continue
        ra = ia[t]
        rb = ib[t]
        ct = c[t]
        if A[8][ra] or B[8][rb] or not math.isfinite(ct):
            nan, pinf, ninf = _specials(A, B, ra, rb, bs, ct)
            if nan or (pinf and ninf):
                out[t] = np.nan
                nans += 1
                continue
            if pinf or ninf:
                out[t] = math.inf if pinf else -math.inf
                continue
        if kind == 0:
            v, zero = _exact(A, B, ra, rb, bs, X[0], X[1], X[2], c_sig[t], c_exp[t], dig, X[3], O,
                             (X[5], X[6]))
            if zero:  # an exact zero sum: IEEE's sign rule (a rounded tiny keeps its sign)
                v = -0.0 if (O[O_MODE] == DOWN or _all_neg_zero(A, B, ra, rb, ct)) else 0.0
        elif kind == 1:
            v = _fp32(A, B, ra, rb, bs, ct, M, buf)
        else:
            v = _blockfma(A, B, ra, rb, bs, ct, M)
        out[t] = v
        if math.isnan(v):
            nans += 1
    return nans
