"""An independent reference of the random Hadamard transform (SPEC.md 13.1), for
tests/test_rht.py and the conformance files: the Sylvester matrix built here
(not mxspec's table), each output the exact rational sum of its products,
rounded once to bfloat16 by comparing its neighbours exactly."""
import math
from fractions import Fraction

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16


def sylvester(n):
    """H_1 = [1], H_2n = [[H, H], [H, -H]], as lists of +-1."""
    h = [[1]]
    while len(h) < n:
        h = [r + r for r in h] + [r + [-v for v in r] for r in h]
    return h


def nearest_bf16_bits(q: Fraction) -> int:
    """The bfloat16 bits nearest the rational q, ties to the even code, overflow
    (at or past max + half its ulp) to Inf; q == 0 gives +0 (SPEC.md 13.1)."""
    top = Fraction(float(ml_dtypes.finfo(BF16).max)) + Fraction(2) ** 119
    if abs(q) >= top:
        return 0x7F80 | (0x8000 if q < 0 else 0)
    guess = int(np.array([float(q)], np.float32).astype(BF16).view(np.uint16)[0])
    best = None
    for b in (guess - 1, guess, guess + 1):
        v = float(np.array([b & 0xFFFF], np.uint16).view(BF16)[0])
        if not math.isfinite(v):
            continue
        d = abs(Fraction(v) - q)
        if best is None or d < best[0] or (d == best[0] and b % 2 == 0):
            best = (d, b & 0xFFFF)
    return best[1]


def transform_bits(x, signs, inverse=False):
    """bfloat16 bits of each group of len(signs) values of x (any float array, its
    values taken exactly) times diag(signs) H / sqrt(n) (inverse: its transpose)."""
    n = len(signs)
    H = sylvester(n)
    root = math.isqrt(n)
    assert root * root == n, "a power-of-four size: the scale is exact"
    M = [[Fraction(signs[j] * H[j][i] if inverse else signs[i] * H[i][j], root)
          for j in range(n)] for i in range(n)]
    out = []
    for g in np.asarray(x, np.float64).reshape(-1, n):
        for j in range(n):
            out.append(nearest_bf16_bits(sum(Fraction(float(g[i])) * M[i][j] for i in range(n))))
    return np.array(out, np.uint16)
