"""The IEEE rounding of integer groups (mxspec.codec.ieee, SPEC.md 12.2): float64
to binary32, binary16 and bfloat16 against exact rationals and against numpy's
and ml_dtypes' casts (every float16 and bfloat16 value's neighbourhood here; every
float32 input under --runslow), and the exact quotient and nearest-integer
helpers against exact rationals at and around every tie."""
from fractions import Fraction as Fr

import ml_dtypes
import numba
import numpy as np
import pytest

from mxspec.codec.ieee import (kind_record, nearest_int, round64, round_quotient, two_sum)
import int_group_reference as ref

CASTS = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}


@numba.njit
def _round_all(v, R, out):
    for i in range(v.size):
        out[i] = round64(v[i], R)


def _cast(v, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        return v.astype(CASTS[dtype]).astype(np.float64)


@pytest.mark.parametrize("dtype", list(CASTS))
def test_round64_is_the_exact_rounding(dtype):
    """Random float64 values over the whole range, each grid point's midpoints
    and their float64 neighbours: round64 equals the rational reference."""
    R = kind_record(dtype)
    m, emin, emax = ref.KINDS[dtype]
    rng = np.random.default_rng(1)
    v = rng.standard_normal(20000) * np.exp2(rng.integers(emin - m - 3, emax + 2, 20000))
    g = _cast(v, dtype)
    g = g[np.isfinite(g)]
    step = np.exp2(np.floor(np.log2(np.maximum(np.abs(g), 2.0 ** emin))) - m - 1)
    mids = g + np.sign(g) * step
    w = np.concatenate([v, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf)])
    out = np.empty(w.size)
    _round_all(w, R, out)
    for x, got in zip(w.tolist(), out.tolist()):
        want = ref.round_to(Fr(x), dtype)
        want = float(want) if want is not None else np.copysign(np.inf, x)
        assert got == want, (x, got, want)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_round64_of_every_16_bit_neighbourhood(dtype):
    """Every float16 / bfloat16 value, its midpoints with both neighbours and
    the float32 values beside them: round64 equals numpy's and ml_dtypes' casts."""
    all16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(CASTS[dtype])
    v = all16.astype(np.float64)
    v = v[np.isfinite(v)]
    up = np.nextafter(v.astype(CASTS[dtype]), np.array(np.inf, CASTS[dtype])).astype(np.float64)
    mid = (v + up) / 2
    mid = mid[np.isfinite(mid)]
    w = np.concatenate([v, mid, np.nextafter(mid.astype(np.float32), np.float32(np.inf)),
                        np.nextafter(mid.astype(np.float32), np.float32(-np.inf))]
                       ).astype(np.float64)
    out = np.empty(w.size)
    _round_all(w, kind_record(dtype), out)
    assert np.array_equal(out, _cast(w, dtype))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_round64_of_every_float32(dtype):
    """All 2^32 float32 inputs (NaN excepted): round64 equals the cast."""
    R = kind_record(dtype)
    for hi in range(1 << 8):
        b = (np.arange(1 << 24, dtype=np.uint32) | np.uint32(hi << 24)).view(np.float32)
        v = b[~np.isnan(b)].astype(np.float64)
        out = np.empty(v.size)
        _round_all(v, R, out)
        assert np.array_equal(out, _cast(v, dtype)), hex(hi)


@pytest.mark.parametrize("dtype", list(CASTS))
def test_round_quotient_is_exact_at_every_tie(dtype):
    """a / d for the divisors integer groups use (7.5, 15, 127.5, 255) and
    others: random a, a on a grid point times d, a on a midpoint times d and its
    float64 neighbours, and a TwoSum error term breaking a midpoint tie."""
    R = kind_record(dtype)
    m, emin, emax = ref.KINDS[dtype]
    rng = np.random.default_rng(2)
    g = np.abs(_cast(rng.standard_normal(2000) * np.exp2(rng.integers(emin - m, emax - 8, 2000)),
                     dtype))
    step = np.exp2(np.floor(np.log2(np.maximum(g, 2.0 ** emin))) - m - 1)
    mids = g + step
    for d in (7.5, 15.0, 127.5, 255.0, 3.0, 1.5):
        for a in np.concatenate([g * d, mids * d, np.nextafter(mids * d, np.inf),
                                 np.nextafter(mids * d, 0), np.abs(rng.standard_normal(500))]):
            for err in (0.0, 2.0 ** -1074, -2.0 ** -1074):
                if a == 0 and err < 0:
                    continue
                got = round_quotient(a, err, d, R)
                want = ref.round_to((Fr(float(a)) + Fr(err)) / Fr(d), dtype)
                want = float(want) if want is not None else np.inf
                assert got == want, (a, err, d, got, want)


def test_two_sum_and_nearest_int():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        a, b = rng.standard_normal(2) * np.exp2(rng.integers(-60, 60, 2))
        s, e = two_sum(a, b)
        assert Fr(s) + Fr(e) == Fr(float(a)) + Fr(float(b))
    for _ in range(5000):
        s = float(np.float32(abs(rng.standard_normal()) * 2.0 ** rng.integers(-20, 20)))
        off = float(rng.integers(-8, 8))
        k = int(rng.integers(-20, 20))
        tie = (k + 0.5 - off) * s
        for a in (tie, np.nextafter(tie, np.inf), np.nextafter(tie, -np.inf),
                  rng.standard_normal() * s * 8):
            assert nearest_int(a, s, off) == ref.nearest_int(Fr(float(a)) / Fr(s) + int(off))
