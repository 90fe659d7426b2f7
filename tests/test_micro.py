"""MX4 / MX6 / MX9 and HiF4 (SPEC.md section 11): quantize-dequantize equals the
published reference recipes (tests/micro_reference.py, written from their rules)
on Gaussian tensors of every scale and on directed units; the layout of what
encode returns; errors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mxspec
import micro_reference as ref


def _ref(name, x):
    if name == "hif4":
        return ref.hif4(x)
    return ref.mxn(x, {"mx4": 1, "mx6": 3, "mx9": 6}[name])


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
@pytest.mark.parametrize("log_sigma", [-40, -12, -3, 0, 3, 12])
def test_equals_reference_on_gaussian_data(name, log_sigma):
    x = np.random.default_rng(log_sigma + 50).standard_normal(512) * 2.0 ** log_sigma
    got = mxspec.decode(mxspec.encode(x, name), np.float64)
    assert np.array_equal(got, _ref(name, x))


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_equals_reference_on_hypothesis_units(name, data):
    unit = mxspec.micro_format(name).unit
    n = data.draw(st.integers(1, 3)) * unit - data.draw(st.integers(0, unit - 1))
    mant = data.draw(st.lists(st.floats(-2, 2, allow_subnormal=False), min_size=n, max_size=n))
    lo = data.draw(st.integers(-60, 40))
    ex = data.draw(st.lists(st.integers(lo, lo + 20), min_size=n, max_size=n))
    x = np.array([m * 2.0 ** e for m, e in zip(mant, ex)])
    got = mxspec.decode(mxspec.encode(x, name), np.float64)
    assert np.array_equal(got, _ref(name, x))


def test_directed_units():
    # all zeros; one value; values at the thresholds of each level; saturation
    for name in ("mx4", "mx6", "mx9", "hif4"):
        unit = mxspec.micro_format(name).unit
        for x in (np.zeros(unit), np.eye(1, unit, 5)[0] * 3.0,
                  np.linspace(-7, 7, unit), np.full(unit, 1.999), np.full(unit, 2.0 ** -50)):
            got = mxspec.decode(mxspec.encode(x, name), np.float64)
            assert np.array_equal(got, _ref(name, x)), (name, x[:4])


NFRAC = {"mx4": 1, "mx6": 3, "mx9": 6, "hif4": 2}


def _hard_units(name):
    """Directed units (issue #15): ties at every element step, unshifted and
    under every level's shift; group maxima exactly at each level's threshold
    and one float64 step below; maxima that saturate E6M2 or E8; inputs near
    2^-48 and 2^15; all zeros.  The base is 1 (HiF4: unit max 7 gives E6M2
    1.0 and REC 1; MXn: max 3.5 gives E8 = 0), so the ties are exact."""
    f = mxspec.micro_format(name)
    u, n = f.unit, NFRAC[name]
    step = 2.0 ** -n
    ties = (np.arange(2 ** (n + 1)) + 0.5) * step        # the last: 2 - step/2, saturates
    top = 7.0 if name == "hif4" else 3.5
    units = []
    for mult in ((1.0, 2.0, 4.0) if name == "hif4" else (1.0, 2.0)):
        x = np.resize(ties * mult, u)
        x[0] = top                                        # the unit's maximum
        if name == "hif4" and mult == 2.0:   # 8-groups reach 4 (bit), 4-groups stay below 4
            x[4:8] = 4.0
            x[8::8] = 4.0
        if name == "hif4" and mult == 4.0:   # both bits: 8-groups and 4-groups reach 4 and 2 x 2
            x[::4] = 4.0 * 1.999
            x[0] = top
        if name != "hif4" and mult == 2.0:   # pairs reach 2: microexponent 1
            x[1::2] = np.maximum(x[1::2], 2.0)
        units += [x, -x]
    thr = [4.0, 2.0] if name == "hif4" else [2.0]
    for T in thr:                         # a group max at the threshold and just below it
        for v in (T, np.nextafter(T, 0.0), T * 2 if name == "hif4" else T):
            x = np.full(u, 0.3)
            x[0], x[u // 2] = top, v
            units.append(x)
    for big in (1e6, 1e30, 49152.0 * 7, 2.0 ** 15, 2.0 ** 15 * 1.75):
        units.append(np.linspace(-big, big, u))            # E6M2 saturates (HiF4)
    for tiny in (7 * 2.0 ** -48, 2.0 ** -48, 2.0 ** -50, 2.0 ** -60):
        units.append(np.linspace(-tiny, tiny, u) + tiny / 3)
    units.append(np.zeros(u))
    x = np.full(u, 1e-310)                 # float64 subnormals: the codec's full path
    x[0], x[1] = top, -5e-324
    units.append(x)
    return np.stack(units)


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
def test_hard_units(name):
    x = _hard_units(name)
    got = mxspec.decode(mxspec.encode(x, name), np.float64)
    assert np.array_equal(got.reshape(-1), _ref(name, x))   # rows are whole units
    # the ties are ties: each went away from zero, one step up (the last saturated)
    n = NFRAC[name]
    step = 2.0 ** -n
    u = x.shape[1]
    g = 8 if name == "hif4" else 2                        # past the top's group
    idx = np.arange(g, min(g + 2 ** (n + 1), u))
    k = idx % 2 ** (n + 1)
    assert np.array_equal(got[0, idx], np.minimum(k + 1, 2 ** (n + 1) - 1) * step)
    assert np.array_equal(got[1], -got[0])
    # a group max at a level's threshold sets its bit, one float64 step below does not
    mx = mxspec.encode(x, name)
    first = 6 if name == "hif4" else 4                    # the threshold units start here
    for i, level in enumerate([0, 1] if name == "hif4" else [0]):
        g = mxspec.micro_format(name).micro_levels[level][0]
        at, below = first + 3 * i, first + 3 * i + 1
        assert mx.micro[level][at, 0, (u // 2) // g] == 1
        assert mx.micro[level][below, 0, (u // 2) // g] == 0
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        mxspec.encode(np.where(np.arange(u) == 3, np.inf, x[0]), name)


def test_layout_and_worked_example():
    x = np.float32([1.0, -0.3, 2.5, 0.01] + [0.0] * 12)
    mx = mxspec.encode(x, "mx6")
    assert mx.scales.tolist() == [127]                 # E8 = floor(log2 2.5) - 1 = 0
    assert mx.micro[0].tolist() == [[0, 1, 0, 0, 0, 0, 0, 0]]  # the pair (2.5, 0.01) reaches 2
    assert mxspec.decode(mx)[:4].tolist() == [1.0, -0.25, 2.5, 0.0]
    h = mxspec.encode(np.linspace(-1, 1, 128), "hif4")
    assert h.scales.shape == (2,) and [b.shape for b in h.micro] == [(2, 8), (2, 16)]
    assert h.block_size == 64 and h.format.element.name == "fp4_e1m2_b1"  # S1P2, no specials


def test_errors():
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        mxspec.encode(np.array([1.0, np.nan]), "hif4")
    with pytest.raises(ValueError, match="block_size is fixed by the format"):
        mxspec.encode(np.ones(32), "mx4", block_size=32)
    mx = mxspec.encode(np.linspace(-3, 3, 128, dtype=np.float32), "hif4")
    # built by hand: the MXArray refuses each at once
    with pytest.raises(ValueError, match=r"codes holds 16; its codes are 0..15"):
        replace(mx, codes=np.where(np.arange(128) == 5, 16, mx.codes))
    with pytest.raises(ValueError, match=r"scales have shape \(1,\).* need \(2,\)"):
        replace(mx, scales=mx.scales[:1])
    with pytest.raises(ValueError, match=r"micro\[1\] holds 2; its codes are 0..1"):
        replace(mx, micro=(mx.micro[0], mx.micro[1] * 2))
    with pytest.raises(ValueError, match=r"micro\[0\] has shape \(2, 4\); one bit per group of 8 "
                                         r"needs \(2, 8\)"):
        replace(mx, micro=(mx.micro[0][:, :4], mx.micro[1]))
    # written after the check: decode still refuses it
    bad = replace(mx, codes=mx.codes.copy())
    bad.codes[5] = 16
    with pytest.raises(ValueError, match=r"mx.codes holds 16, out of range for fp4_e1m2_b1"):
        mxspec.decode(bad)
    bad = replace(mx, micro=(mx.micro[0], mx.micro[1].copy()))
    bad.micro[1][0, 0] = 2
    with pytest.raises(ValueError, match=r"mx.micro\[1\] must hold 0 or 1, one per group of 4"):
        mxspec.decode(bad)


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
def test_nan_base_and_short_units(name):
    """SPEC.md 11: base code 0xFF (NaN) makes its unit NaN; a blocked axis that
    is not a whole number of units ends in a short unit, padded with zeros as
    the recipes pad (the same values as the whole padded unit)."""
    f = mxspec.micro_format(name)
    x = np.random.default_rng(1).standard_normal(3 * f.unit + 5).astype(np.float32)
    mx = mxspec.encode(x, name)
    assert mx.codes.shape == x.shape and mx.scales.shape == (4,)
    padded = np.concatenate([x, np.zeros(f.unit - 5, np.float32)])
    assert np.array_equal(mxspec.decode(mx), mxspec.decode(mxspec.encode(padded, name))[:x.size])
    assert (mx.scales != 0xFF).all()
    bad = replace(mx, scales=np.where(np.arange(4) == 1, 0xFF, mx.scales).astype(np.uint8))
    got = mxspec.decode(bad)
    assert np.isnan(got[f.unit:2 * f.unit]).all()
    assert np.array_equal(np.delete(got, np.s_[f.unit:2 * f.unit]),
                          np.delete(mxspec.decode(mx), np.s_[f.unit:2 * f.unit]))


@pytest.mark.parametrize("name", ["mx4", "mx6", "mx9", "hif4"])
def test_packed_units_and_checkpoints(name, tmp_path):
    """SPEC.md 11.2: [base][level bits, LSB first][elements, low nibble first];
    encode_packed / decode_packed and save / load keep every bit."""
    f = mxspec.micro_format(name)
    x = np.random.default_rng(1).standard_normal((3, 2 * f.unit + 5))
    mx = mxspec.encode(x, name)
    units, none = mxspec.encode_packed(x, name)
    assert none is None and units.shape == (3, 3, f.unit_bytes)
    assert units[0, 0, 0] == mx.scales[0, 0]
    lv = mx.micro[0][0, 0]
    assert units[0, 0, 1] == sum(int(b) << i for i, b in enumerate(lv[:8]))
    back = mxspec.decode_packed(units, None, name, x.shape)
    assert np.array_equal(back, mxspec.decode(mx))
    mxspec.save(tmp_path / "u.safetensors", {"w": mx})
    assert mxspec.load(tmp_path / "u.safetensors")["w"].equals(mx)
    with pytest.raises(ValueError, match="units must be uint8 of shape"):
        mxspec.decode_packed(units[:, :2], None, name, x.shape)


def test_hif4_unit_layout_by_hand():
    """One HiF4 unit: byte 0 the E6M2 code, byte 1 the 8 E1_8 bits, bytes 2-3 the
    16 E1_16 bits, then 32 bytes of elements, the even element in the low nibble."""
    x = np.zeros(64)
    x[0], x[1], x[9], x[63] = 7.0, -1.0, 0.5, 2.0
    mx = mxspec.encode(x, "hif4")
    u = mxspec.encode_packed(x, "hif4")[0]
    assert u.shape == (1, 36) and u[0, 0] == mx.scales[0]
    assert u[0, 1] == np.packbits(mx.micro[0][0], bitorder="little")[0]
    assert u[0, 2:4].tolist() == np.packbits(mx.micro[1][0], bitorder="little").tolist()
    assert u[0, 4] == mx.codes[0] | (mx.codes[1] << 4)


def test_hif4_unit_by_hand():
    """SPEC.md 11.2's worked unit, byte by byte."""
    x = np.zeros(64)
    x[0], x[1], x[9], x[63] = 7.0, -1.0, 0.5, 2.0
    u = mxspec.encode_packed(x, "hif4")[0][0]
    assert u[:5].tolist() == [0xC0, 0x01, 0x01, 0x80, 0x97]
    assert u[8] == 0x20 and u[35] == 0x40 and u.sum() == 0xC0 + 1 + 1 + 0x80 + 0x97 + 0x20 + 0x40
    assert mxspec.decode_packed(u[None], None, "hif4", (64,)).tolist() == x.tolist()


def test_ties_away_is_exact():
    """SPEC.md 11 step 3: a value a hair below a midpoint rounds down, where the
    recipes' float64 floor(v + 1/2) would round it up (v = 0.5 - 2^-54 here)."""
    x = np.zeros(16)
    x[0], x[15] = 512.0, 2.0 - 2.0 ** -52   # E8 = 8: x15 x 2^-8 x 2^6 = 0.5 - 2^-54
    got = mxspec.decode(mxspec.encode(x, "mx9"), np.float64)
    assert got[15] == 0.0 and got[0] == 512.0
    recipe = np.floor(x[15] * 2.0 ** -8 * 2.0 ** 6 + 0.5)   # what the float64 recipe computes
    assert recipe == 1.0
    x[15] = 2.0   # the midpoint itself: away from zero
    assert mxspec.decode(mxspec.encode(x, "mx9"), np.float64)[15] == 4.0


def test_show(capsys):
    from mxspec.app import cli
    assert cli.main(["show", "hif4"]) == 0
    out = capsys.readouterr().out
    assert "64 values, 36 bytes packed (4.5 bits per value)" in out
    assert "2 level bit(s) set: 0 1 2 3 4 5 6 7" in out
    assert cli.main(["show", "mx6", "--scale", "3"]) == 2


def test_e6m2_step_is_the_codec_s_encode():
    """HiF4's base rounds its scale to E6M2 on the bits (one round_core step); on every
    input it can get (every bfloat16 value of [2^-48, 1.5 x 2^15], the clamp's
    bounds) and on random float64 values of that range, the code is the element
    codec's encode in the e6m2 row, nearest even."""
    import ml_dtypes
    from mxspec.block.micro import E6M2_MAX, E6M2_MIN, _e6m2_code, _e6m2_value
    bf = np.arange(1 << 15, dtype=np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)
    rng = np.random.default_rng(11)
    rand = np.exp2(rng.uniform(-48, np.log2(E6M2_MAX), 20000))
    v = np.concatenate([bf[(bf >= E6M2_MIN) & (bf <= E6M2_MAX)], rand, [E6M2_MIN, E6M2_MAX]])
    want = mxspec.encode_elements(v, "e6m2", rounding="rne")
    got = np.array([_e6m2_code(float(a)) for a in v])
    assert np.array_equal(got, want.astype(np.int64))
    assert len(v) > 8000 and want.max() == 0xFE and want.min() == 0
    row = mxspec.element_format("e6m2").values
    assert all(_e6m2_value(c) == row[c] for c in range(255))  # the REC step's E6M2 value


def test_bf16_step_is_nearest_even_at_8_bits_and_the_2_pow_minus_133_grid():
    """HiF4's BF16 step (one round_core on the bits) against exact rationals: nearest,
    ties to even, 8 significant bits, no step finer than bf16's subnormal 2^-133."""
    import math
    from fractions import Fraction
    from mxspec.block.micro import _bf16
    rng = np.random.default_rng(5)
    v = np.abs(rng.standard_normal(5000)) * np.exp2(rng.uniform(-150, 20, 5000))
    edges = [0.0, 2.0 ** -133, 1.5 * 2.0 ** -133, 2.5 * 2.0 ** -133, 2.0 ** -134, 3 * 2.0 ** -135,
             2.0 ** -126, 2.0 ** -126 * (1 - 2 ** -9), 1 + 2 ** -8, 1 + 3 * 2 ** -8, 255.5, 256.5]
    for a in np.concatenate([v, edges]).tolist():
        lsb = -133 if a == 0 else max(math.floor(math.log2(a)) - 7, -133)
        want = float(round(Fraction(a) / Fraction(2) ** lsb) * Fraction(2) ** lsb)
        assert _bf16(a) == want, a
