"""An independent reference for the accumulator models of SPEC.md section 8,
written with Python's fractions from the SPEC's words: no code shared with
mxspec's dot engine (values come from the element-format table's ``values``,
which tests/spec_reference.py checks code by code).

Each function takes plain Python lists: element values (floats, exact),
block scale exponents (ints, or None for a NaN scale), the block size, and C.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

F32 = (24, -126, 127)
OUT = {"float32": (24, -126, 127), "float64": (53, -1022, 1023),
       "float16": (11, -14, 15), "bfloat16": (8, -126, 127)}


def round_fraction(q: Fraction, mode: str, prec: int, emin: int, emax: int) -> float:
    """q rounded to a binary float (prec significand bits, normal exponents
    emin..emax) under an IEEE mode; returns the float value (inf on overflow
    where IEEE says so).  The sign of a zero result is the caller's."""
    if q == 0:
        return 0.0
    neg = q < 0
    a = -q if neg else q
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    elif Fraction(2) ** (e + 1) <= a:
        e += 1
    ulp = Fraction(2) ** (max(e, emin) - (prec - 1))
    n, rem = divmod(a, ulp)
    n = int(n)
    half = ulp / 2
    if mode == "rne":
        up = rem > half or (rem == half and n % 2 == 1)
    elif mode == "rna":
        up = rem >= half
    elif mode == "rtz":
        up = False
    elif mode == "up":
        up = rem > 0 and not neg
    elif mode == "down":
        up = rem > 0 and neg
    else:
        raise ValueError(mode)
    v = (n + int(up)) * ulp
    top = (2 - Fraction(2) ** (1 - prec)) * Fraction(2) ** emax
    if v > top:
        to_inf = mode in ("rne", "rna") or (mode == "up" and not neg) or (mode == "down" and neg)
        return -math.inf if neg and to_inf else (math.inf if to_inf else float(-top if neg else top))
    return -float(v) if neg else float(v)  # a negative value that rounds to 0 is -0


def _special(a, b, sa, sb, bs, c):
    """NaN/Inf outcome of inputs with a NaN, an Inf or a NaN scale, else None."""
    nan = math.isnan(c)
    pos = c == math.inf
    neg = c == -math.inf
    for k, (x, y) in enumerate(zip(a, b)):
        if sa[k // bs] is None or sb[k // bs] is None or math.isnan(x) or math.isnan(y):
            nan = True
        elif math.isinf(x) or math.isinf(y):
            if x == 0 or y == 0:
                nan = True
            elif (x < 0) != (y < 0):
                neg = True
            else:
                pos = True
    if nan or (pos and neg):
        return math.nan
    if pos:
        return math.inf
    if neg:
        return -math.inf
    return None


def exact(a, b, sa, sb, bs, c=0.0, mode="rne", out="float32"):
    s = _special(a, b, sa, sb, bs, c)
    if s is not None:
        return s
    q = Fraction(c)
    for k, (x, y) in enumerate(zip(a, b)):
        q += Fraction(x) * Fraction(y) * Fraction(2) ** (sa[k // bs] + sb[k // bs])
    if q == 0:
        all_negzero = math.copysign(1, c) < 0 and all(
            (x == 0 or y == 0) and (math.copysign(1, x) * math.copysign(1, y) < 0)
            for x, y in zip(a, b))
        return -0.0 if (all_negzero or mode == "down") else 0.0
    return round_fraction(q, mode, *OUT[out])


def _f32(q: Fraction) -> float:
    return round_fraction(q, "rne", *F32) if q != 0 else 0.0


def _f32_add(x: float, y: float) -> float:
    return float(np.float32(np.float32(x) + np.float32(y)))


def fp32_sequential(a32, b32, c=0.0):
    """a32, b32: the float32 values with their scales (what decode returns).
    Fused multiply-adds, each rounded once, computed with fractions."""
    acc = float(np.float32(c))
    for x, y in zip(a32, b32):
        if any(math.isinf(v) or math.isnan(v) for v in (x, y, acc)):
            acc = float(np.float32(np.float64(x) * np.float64(y) + np.float64(acc)))
            continue
        q = Fraction(x) * Fraction(y) + Fraction(acc)
        if q == 0:
            p_neg = (math.copysign(1, x) * math.copysign(1, y)) < 0
            acc = -0.0 if (p_neg and math.copysign(1, acc) < 0) else 0.0
        else:
            acc = _f32(q)
    return acc


def fp32_pairwise(a32, b32, c=0.0):
    t = [np.float32(np.float32(x) * np.float32(y)) for x, y in zip(a32, b32)]
    while len(t) > 1:
        nxt = [np.float32(t[2 * i] + t[2 * i + 1]) for i in range(len(t) // 2)]
        if len(t) % 2:
            nxt.append(t[-1])
        t = nxt
    s = t[0] if t else np.float32(0.0)
    return float(np.float32(s + np.float32(c)))


def fp32_blockwise(e_a, e_b, sa, sb, bs, c=0.0):
    """TOSA 1.1 MATMUL_T_BLOCK_SCALED as its pseudocode reads: per block,
    block_acc = sum of value_A * value_B (float32 mul, then float32 add, from 0);
    block_acc = block_acc * (scale_A * scale_B); acc = acc + block_acc.
    e_a, e_b: element values without scales; sa, sb: scale exponents."""
    acc = np.float32(c)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for b0 in range(0, len(e_a), bs):
            blk = np.float32(0.0)
            for x, y in zip(e_a[b0:b0 + bs], e_b[b0:b0 + bs]):
                blk = np.float32(blk + np.float32(np.float32(x) * np.float32(y)))
            xa = np.float32(Fraction(2) ** sa[b0 // bs]) if sa[b0 // bs] >= -149 else np.float32(0)
            xb = np.float32(Fraction(2) ** sb[b0 // bs]) if sb[b0 // bs] >= -149 else np.float32(0)
            acc = np.float32(acc + np.float32(blk * np.float32(xa * xb)))
    return float(acc)


def _lead(x: Fraction) -> int:
    """floor(log2(|x|)) for x != 0."""
    x = abs(x)
    e = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** e > x:
        e -= 1
    elif Fraction(2) ** (e + 1) <= x:
        e += 1
    return e


def _rnd_int(q: Fraction, rounding: str) -> int:
    if rounding == "rz":
        return int(q)  # int() of a Fraction truncates toward zero
    return round(q)  # Fraction.__round__: nearest, ties to even


def block_fma(terms, acc: float, frac_bits: int, rounding: str, acc_bits: int = 24,
              zero_exp=None, overflow="saturate") -> float:
    """One step, as SPEC.md 8.3 words it.  terms: (value Fraction, datapath
    exponent) per product; acc a float32 value; acc_bits: the significant bits
    the step's sum keeps before it becomes a float32; zero_exp: the exponent a
    zero term (product or accumulator) counts at (None: zeros never lead);
    overflow "inf": a truncated result of 2^128 or more is Inf."""
    if math.isinf(acc):  # an earlier step overflowed: Inf passes through
        return acc
    exps = [e for v, e in terms if v != 0]
    if acc != 0:
        exps.append(max(_lead(Fraction(acc)), -126))
    if not exps:
        return 0.0
    if zero_exp is not None and (acc == 0 or any(v == 0 for v, _ in terms)):
        exps.append(zero_exp)
    E = max(exps)
    unit = Fraction(2) ** (E - frac_bits)
    S = sum(_rnd_int(v / unit, rounding) for v, _ in terms) + _rnd_int(Fraction(acc) / unit, rounding)
    if S == 0:
        return 0.0
    q = S * unit
    if acc_bits < 24:
        step = Fraction(2) ** (_lead(q) - acc_bits + 1)
        q = _rnd_int(q / step, rounding) * step
    if overflow == "inf" and abs(q) >= Fraction(2) ** 128:
        return math.copysign(math.inf, q)
    return round_fraction(q, "rtz" if rounding == "rz" else "rne", *F32)


def blockfma_model(a, b, sa, sb, bs, c, model, fmt_a, fmt_b):
    """The block-FMA family (fixed(...) and h100_fp8_mma) from SPEC.md 8.4.
    a, b: element values; fmt_a/fmt_b: ElementFormats (for emin)."""
    s = _special(a, b, sa, sb, bs, c)
    if s is not None:
        return s

    def dexp(x, f):
        clamp = model.input_emin if model.input_emin is not None else (
            f.emin if f.kind == "float" else -10 ** 9)
        return max(_lead(Fraction(x)), clamp)

    K = len(a)
    idx = list(range(K))
    inst = model.inst_k or K
    if model.inst_k and K % inst:
        pad = inst - K % inst
        a, b = list(a) + [0.0] * pad, list(b) + [0.0] * pad
        idx = list(range(len(a)))
        K = len(a)
    if model.k_order == "h100_mma":
        idx = []
        for w in range(0, K, 32):
            idx += [w + k for k in range(32) if k % 4 < 2] + [w + k for k in range(32) if k % 4 >= 2]
    terms = []
    for k in idx:
        if a[k] == 0 or b[k] == 0:
            terms.append((Fraction(0), None))
            continue
        s_k = sa[k // bs] + sb[k // bs] if k < len(sa) * bs else 0
        v = Fraction(a[k]) * Fraction(b[k]) * Fraction(2) ** s_k
        terms.append((v, dexp(a[k], fmt_a) + dexp(b[k], fmt_b) + s_k))
    c_add = model.c == "add" and not model.inst_k
    running = 0.0 if c_add else float(np.float32(c))
    for w0 in range(0, K, inst):
        acc = 0.0 if model.inst_k else running
        for g0 in range(w0, min(w0 + inst, K), model.group):
            acc = block_fma(terms[g0:min(g0 + model.group, w0 + inst)], acc, model.frac_bits,
                            model.rounding, model.acc_bits, model.zero_exp, model.overflow)
            if model.zero_result == "positive":
                acc += 0.0  # SPEC.md 8.7: the Blackwell rows return +0 for every zero
        running = _f32_add(acc, running) if model.inst_k else acc
    if c_add:
        running = _f32_add(running, c)
    return running


def _f32_exp(c: float) -> int:
    """floor(log2|c|) of a nonzero float32, -126 for a subnormal."""
    return max(_lead(Fraction(c)), -126)


def _trunc_units(q: Fraction, unit_exp: int) -> int:
    """q in units of 2^unit_exp, truncated toward zero."""
    n = q / Fraction(2) ** unit_exp
    return int(n) if n >= 0 else -int(-n)


def _floor_units(q: Fraction, unit_exp: int) -> int:
    return math.floor(q / Fraction(2) ** unit_exp)


def _rz_f32(q: Fraction) -> float:
    """q truncated toward zero to float32; 2^128 and past: Inf."""
    if q == 0:
        return 0.0
    if abs(q) >= Fraction(2) ** 128:
        return math.copysign(math.inf, q)
    return round_fraction(q, "rtz", *F32)


def group_sums_model(a, b, sa, sb, bs, c, model):
    """SPEC.md 8.7's kind::mxf4 / mxf4nvf4 rows in words: a, b element values;
    sa, sb the block scales as (significand, exponent) pairs (None: NaN); per
    instruction of ``model.group`` products, each ``model.sum_group`` summed
    exactly, times the two scale significands, counted at the scales' exponent
    sum (Z where the products are all zero); C counted at its exponent (Z if
    zero); everything cut to F bits below the largest, added, truncated to
    float32; each instruction's result the next one's C."""
    K = len(a)
    if math.isnan(c) or any(s is None for s in list(sa) + list(sb)) or \
            any(math.isnan(x) for x in list(a) + list(b)):
        return math.nan
    G, SG, F, Z = model.group, model.sum_group, model.frac_bits, model.zero_exp
    pad = (-K) % G
    a, b = list(a) + [0.0] * pad, list(b) + [0.0] * pad
    acc = float(np.float32(c))
    for w in range(0, K + pad, G):
        if math.isinf(acc):
            continue
        terms = []
        for g in range(w, w + G, SG):
            prods = [Fraction(a[k]) * Fraction(b[k]) for k in range(g, g + SG)]
            blk = g // bs
            (ma, ea), (mb, eb) = (sa[blk], sb[blk]) if blk < len(sa) else ((1, 0), (1, 0))
            zero = all(p == 0 for p in prods) or ma * mb == 0
            terms.append((sum(prods) * Fraction(ma) * Fraction(mb) * Fraction(2) ** (ea + eb),
                          Z if zero else ea + eb))
        terms.append((Fraction(acc), _f32_exp(acc) if acc != 0 else Z))
        E = max(e for _, e in terms)
        S = sum(_trunc_units(v, E - F) for v, _ in terms)
        acc = _rz_f32(Fraction(S) * Fraction(2) ** (E - F))
    return acc + 0.0


def even_odd_model(a, b, c, model, fmt_a, fmt_b):
    """SPEC.md 8.10's CDNA3 row in words, per 16 products: the even-indexed
    products cut to F bits below their largest exponent (toward zero) and
    summed, the odd ones the same; both halves cut to F bits below the larger
    of the two exponents (floor) and added; C (at floor(log2|C|), -126 if zero
    or subnormal) and that sum meet at the larger exponent E: the sum cut to
    F2 + 1 bits below E (floor), C to F bits (floor; nothing where C's exponent
    is below E - F - 1); the total cut to F2 bits below its leading bit (at
    least -126; floor) and rounded to nearest even into float32."""
    if math.isnan(c) or any(math.isnan(x) for x in list(a) + list(b)):
        return math.nan
    F, F2 = model.frac_bits, model.frac_bits2

    def dexp(x, f):
        return max(_lead(Fraction(x)), f.emin)

    acc = float(np.float32(c))
    for g in range(0, len(a), model.group):
        if math.isinf(acc):
            continue
        halves = []
        for par in (0, 1):
            ks = [k for k in range(g, min(g + model.group, len(a))) if (k - g) % 2 == par
                  and a[k] != 0 and b[k] != 0]
            if not ks:
                halves.append((Fraction(0), None))
                continue
            e = max(dexp(a[k], fmt_a) + dexp(b[k], fmt_b) for k in ks)
            s = sum(_trunc_units(Fraction(a[k]) * Fraction(b[k]), e - F) for k in ks)
            halves.append((Fraction(s) * Fraction(2) ** (e - F), e))
        es = [e for _, e in halves if e is not None]
        if es:
            ed = max(es)
            dot = sum(Fraction(_floor_units(v, ed - F)) * Fraction(2) ** (ed - F)
                      for v, _ in halves)
        else:
            ed, dot = -10 ** 6, Fraction(0)
        ec = _f32_exp(acc) if acc != 0 else -126
        E = max(ed, ec)
        total = Fraction(_floor_units(dot, E - F2 - 1)) * Fraction(2) ** (E - F2 - 1)
        if ec >= E - F - 1:
            total += Fraction(_floor_units(Fraction(acc), E - F)) * Fraction(2) ** (E - F)
        if total != 0:
            lead = max(_lead(abs(total)), -126)
            total = Fraction(_floor_units(total, lead - F2)) * Fraction(2) ** (lead - F2)
        acc = round_fraction(total, "rne", *F32) if total != 0 else 0.0
    return acc
