"""An independent reference for integer groups (SPEC.md 12.2), in exact rationals:
the ``exact`` recipe's scale, zero point, codes and values for one group, written
from the formulas alone (no float arithmetic past the inputs and the final
rounding), for tests/test_int_groups.py to hold mxspec's kernels to.
"""
from fractions import Fraction as Fr

KINDS = {"float32": (23, -126, 127), "float16": (10, -14, 15), "bfloat16": (7, -126, 127)}


def round_to(v: Fr, dtype: str) -> Fr:
    """v rounded to nearest even in dtype (an exact rational; inf as None)."""
    m, emin, emax = KINDS[dtype]
    if v == 0:
        return Fr(0)
    sign = -1 if v < 0 else 1
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fr(2) ** e > a:
        e -= 1
    if Fr(2) ** (e + 1) <= a:
        e += 1
    e = max(e, emin)
    q = Fr(2) ** (e - m)
    n = a / q
    fl = n.numerator // n.denominator
    r = n - fl
    if r > Fr(1, 2) or (r == Fr(1, 2) and fl % 2):
        fl += 1
    val = fl * q
    if val > (2 - Fr(2) ** -m) * Fr(2) ** emax:
        return None
    return sign * val


def nearest_int(v: Fr) -> int:
    fl = v.numerator // v.denominator
    r = v - fl
    return fl + 1 if r > Fr(1, 2) or (r == Fr(1, 2) and fl % 2) else fl


def group(xs, bits, dtype, zero_point):
    """(scale, zero point, codes as integers, values) of one group of floats."""
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    lo = min(min(Fr(x) for x in xs), Fr(0))
    hi = max(max(Fr(x) for x in xs), Fr(0))
    eps = Fr(2) ** -KINDS[dtype][0]
    if zero_point:
        s = round_to((hi - lo) / ((1 << bits) - 1), dtype)
        s = eps if s == 0 else s
        z = min(max(nearest_int(qmin - lo / s), qmin), qmax)
    else:
        s = round_to(max(-lo, hi) / (Fr(1 << bits, 2) - Fr(1, 2)), dtype)
        s = eps if s == 0 else s
        z = 0
    qs = [min(max(nearest_int(Fr(x) / s + z), qmin), qmax) for x in xs]
    return s, z, qs, [(q - z) * s for q in qs]
