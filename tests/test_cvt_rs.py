"""Stochastic rounding with PTX's cvt.rs random bits (SPEC.md 2.3.1):
``rbits_layout="cvt_rs"`` takes one uint32 per four values, as
cvt.rs.satfinite.{e4m3,e5m2,e2m3,e3m2,e2m1}x4.f32 does, and gives each value the
bits the ISA assigns its operand.  The distribution tests run every value of a
lane's random bits at every step of E2M1 and E4M3."""
import numpy as np
import pytest

import mxspec

U32 = np.uint32


def _lanes_by_hand(words, fmt, n):
    """The ISA's assignment in plain Python ints: 8- and 6-bit types give a, b the
    word's upper 16 bits and e, f its lower 16; E2M1 gives a, b the upper byte of
    each half and e, f the lower byte (the first of a pair the upper half)."""
    out = []
    for i in range(n):
        w, lane = int(words[i // 4]), i % 4
        if fmt == "fp4_e2m1":
            shift = (24, 8, 16, 0)[lane]
            out.append(((w >> shift) & 0xFF) << 24)
        else:
            out.append(((w >> (16 if lane < 2 else 0)) & 0xFFFF) << 16)
    return np.array(out, U32)


def _steps(fmt):
    """Each pair of neighbouring non-negative finite values (lo, hi) of fmt."""
    v = np.unique(np.abs(mxspec.element_format(fmt).values[np.isfinite(
        mxspec.element_format(fmt).values)]))
    return list(zip(v[:-1], v[1:]))


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1"])
def test_each_value_gets_the_bits_the_isa_gives_its_operand(fmt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4 * 500 + 3)  # a last, partial word: its unused lane ignored
    words = rng.integers(0, 1 << 32, -(-x.size // 4), dtype=U32)
    got = mxspec.encode_elements(x, fmt, rounding="stochastic", rbits=words,
                                 rbits_layout="cvt_rs")
    want = mxspec.encode_elements(x, fmt, rounding="stochastic",
                                  rbits=_lanes_by_hand(words, fmt, x.size))
    assert np.array_equal(got, want)
    # and through an MX block encode, C order of x, blocked along either axis
    m = x[:2000].reshape(40, 50)
    for axis in (0, 1):
        a = mxspec.encode(m, "mx" + fmt, axis=axis, rounding="stochastic", rbits=words[:500],
                          rbits_layout="cvt_rs")
        b = mxspec.encode(m, "mx" + fmt, axis=axis, rounding="stochastic",
                          rbits=_lanes_by_hand(words, fmt, 2000))
        assert a.equals(b)


def _up_counts(fmt, lo, hi, fracs, width):
    """For each distance fraction, how many of the 2^width values of one lane's
    bits round lo + frac (hi - lo) up, counted in lane a and lane e (and b, f)."""
    el = mxspec.element_format(fmt)
    hi_code = int(mxspec.encode_elements(hi, fmt))
    counts = []
    v = np.arange(1 << width, dtype=np.int64)
    if width == 8:   # every lane the same byte v: a, b, e, f each see v
        words = (v * 0x01010101).astype(U32)
    else:            # both halves v
        words = (v * 0x00010001).astype(U32)
    for f in fracs:
        x = np.full(4 * words.size, lo + f * (hi - lo))
        codes = mxspec.encode_elements(x, el, rounding="stochastic", rbits=words,
                                       rbits_layout="cvt_rs")
        lanes = (codes == hi_code).reshape(-1, 4).sum(axis=0)
        counts.append(lanes)
        # the sign does not change which way the magnitude rounds
        neg = mxspec.encode_elements(-x, el, rounding="stochastic", rbits=words,
                                     rbits_layout="cvt_rs")
        assert np.array_equal(neg, codes | (1 << (el.bits - 1)))
    return counts


FRACS = (0.0, 2.0 ** -20, 1 / 3, 0.5, 0.7, 1 - 2.0 ** -17, 1 - 2.0 ** -9)


def test_e2m1_rounds_up_in_exactly_the_share_its_8_bits_express():
    """At every E2M1 step (0 to 0.5 through 4 to 6), for every one of the 256 values
    of a lane's byte, x = lo + d (hi - lo) rounds up for floor(256 d) of them."""
    for lo, hi in _steps("fp4_e2m1"):
        for f, lanes in zip(FRACS, _up_counts("fp4_e2m1", lo, hi, FRACS, 8)):
            assert (lanes == int(np.floor(f * 256))).all(), (lo, hi, f, lanes)


def test_e4m3_rounds_up_in_exactly_the_share_its_16_bits_express():
    """At every one of E4M3's 126 non-negative steps (subnormals, normals, up to 416 to
    448), for every one of the 65,536 values of a pair's 16 bits, x = lo + d (hi - lo)
    rounds up for floor(65536 d) of them: 2^-20 of a step never does, 1 - 2^-17
    rounds up for 65,535."""
    steps = _steps("fp8_e4m3")
    assert len(steps) == 126
    fracs = (2.0 ** -20, 1 / 3, 1 - 2.0 ** -17)
    for lo, hi in steps:
        for f, lanes in zip(fracs, _up_counts("fp8_e4m3", lo, hi, fracs, 16)):
            assert (lanes == int(np.floor(f * 65536))).all(), (lo, hi, f, lanes)


def test_a_pair_shares_its_16_bits_as_the_isa_writes():
    """Under the 8-bit types a and b read the same 16 bits, so equal inputs in a and b
    round alike; E2M1's four lanes read four different bytes."""
    rng = np.random.default_rng(1)
    words = rng.integers(0, 1 << 32, 4096, dtype=U32)
    x = np.full(4 * 4096, 1.0 + 1 / 3 * 0.125)  # a third of E4M3's step above 1
    c = mxspec.encode_elements(x, "fp8_e4m3", rounding="stochastic", rbits=words,
                               rbits_layout="cvt_rs").reshape(-1, 4)
    assert np.array_equal(c[:, 0], c[:, 1]) and np.array_equal(c[:, 2], c[:, 3])
    assert not np.array_equal(c[:, 0], c[:, 2])
    y = np.full(4 * 4096, 1.0 + 1 / 3 * 0.5)  # a third of E2M1's step above 1
    d = mxspec.encode_elements(y, "fp4_e2m1", rounding="stochastic", rbits=words,
                               rbits_layout="cvt_rs").reshape(-1, 4)
    assert all(not np.array_equal(d[:, i], d[:, j]) for i in range(4) for j in range(i))


def test_bad_random_bits_are_refused_by_name():
    x = np.ones(10)
    with pytest.raises(ValueError, match=r"rbits must be a uint32 array of 3 elements "
                                         r"\(rbits_layout='cvt_rs': one word per 4 elements"):
        mxspec.encode_elements(x, "fp8_e4m3", rounding="stochastic", rbits=np.zeros(10, U32),
                               rbits_layout="cvt_rs")
    with pytest.raises(ValueError, match="rbits_layout='cvt_rs' is PTX's cvt.rs .* not to int8"):
        mxspec.encode_elements(x, "int8", rounding="stochastic", seed=0, rbits_layout="cvt_rs")
    with pytest.raises(ValueError, match="rbits_layout='ptx' is not valid; allowed values: "
                                         "per_element, cvt_rs"):
        mxspec.encode_elements(x, "fp8_e4m3", rounding="stochastic", seed=0, rbits_layout="ptx")
    with pytest.raises(ValueError, match="rbits_layout= are for rounding='stochastic', not 'rne'"):
        mxspec.encode_elements(x, "fp8_e4m3", rbits_layout="cvt_rs")
    with pytest.raises(ValueError, match="nvfp4 takes no rbits_layout="):
        mxspec.encode(np.ones(16, np.float32), "nvfp4", rbits_layout="cvt_rs")
    # a seed makes the words: one per four values, reproducibly
    a = mxspec.encode_elements(np.full(8, 1.1), "fp4_e2m1", rounding="stochastic", seed=3,
                               rbits_layout="cvt_rs")
    w = np.random.default_rng(3).integers(0, 1 << 32, 2, dtype=U32)
    assert np.array_equal(a, mxspec.encode_elements(np.full(8, 1.1), "fp4_e2m1",
                                                    rounding="stochastic", rbits=w,
                                                    rbits_layout="cvt_rs"))
