"""encode_packed and decode_packed (SPEC.md 5.2): the one-pass forms of
encode().pack() and decode(unpack()), which must give the same bytes and values."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mxspec
from mxspec.block.mx import SPECIALIZE_MIN

MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint4",
      "mxint2", "mxfp5_e2m2", "mxint7", "mxfp3_e2m0",
      "mxfp8_e4m3fnuz", "mxp3109_k3p2se", "mxp3109_k5p2ue", "mxuint2"]
# float32 bit patterns of every kind: normals over a wide range, subnormals,
# zeros of both signs, Inf, NaN
SPECIAL = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3e-40, 3.4e38])


def _same(a, b):
    """Same dtype, shape and bits (NaN payloads and signs included)."""
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.array_equal(np.ascontiguousarray(a).view(np.uint8),
                       np.ascontiguousarray(b).view(np.uint8))


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 70), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(-ndim, ndim - 1))
    bs = draw(st.sampled_from([1, 2, 3, 5, 8, 16, 32, 33, 64]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-30, 30, shape))
    mask = rng.random(shape) < draw(st.sampled_from([0.0, 0.02]))
    x[mask] = rng.choice(SPECIAL, mask.sum())
    return x.astype(dtype), axis, bs


@given(cases(), st.sampled_from(MX), st.sampled_from(["rne", "rtz", "up", "stochastic"]),
       st.sampled_from(["floor", "ceil", "even", "torchao_ceil"]), st.sampled_from(["saturate", "ieee"]))
def test_encode_packed_equals_encode_then_pack(case, name, rounding, scale_rule, overflow):
    x, axis, bs = case
    kw = dict(axis=axis, block_size=bs, rounding=rounding, scale_rule=scale_rule,
              overflow=overflow, seed=5 if rounding == "stochastic" else None)
    mx = mxspec.encode(x, name, **kw)
    packed, scales = mxspec.encode_packed(x, name, **kw)
    want_p, want_s = mx.pack()
    assert _same(packed, want_p) and _same(scales, want_s)
    for dtype in (np.float32, np.float64):
        got = mxspec.decode_packed(packed, scales, name, x.shape, axis, bs, dtype)
        assert _same(got, mxspec.decode(mx, dtype))


@pytest.mark.parametrize("name,shape", [("mxfp6_e2m3", (1024, 1024)),   # rows fold into one
                                        ("mxfp4_e2m1", (1000, 1049))])  # a shorter last block
def test_specialized_kernels_agree_with_generic(name, shape):
    """Arrays of SPECIALIZE_MIN elements or more run kernels compiled for their
    format, policies and block size (float32 input takes the rne fast pass):
    they must give what the generic kernels give, row by row."""
    assert np.prod(shape) >= SPECIALIZE_MIN
    rng = np.random.default_rng(11)
    x = rng.integers(0, 1 << 32, shape, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x[::7] = (rng.standard_normal((x[::7].shape)) * 100).astype(np.float32)  # ordinary rows too
    big = mxspec.encode(x, name)
    packed, scales = mxspec.encode_packed(x, name)
    rows = [mxspec.encode(x[i], name) for i in range(shape[0])]      # generic kernel
    assert np.array_equal(big.codes, np.stack([r.codes for r in rows]))
    assert np.array_equal(big.scales, np.stack([r.scales for r in rows]))
    assert _same(packed, big.pack()[0]) and _same(scales, big.pack()[1])
    dec = mxspec.decode_packed(packed, scales, name, shape)
    assert _same(dec, mxspec.decode(big))
    assert _same(dec, np.stack([mxspec.decode(r) for r in rows]))


def test_decode_packed_refuses_bad_input():
    packed, scales = mxspec.encode_packed(np.ones(33, np.float32), "mxfp4_e2m1")
    with pytest.raises(ValueError, match=r"packed has shape \(16,\); .* pack to \(17,\)"):
        mxspec.decode_packed(packed[:-1], scales, "mxfp4_e2m1", (33,))
    with pytest.raises(ValueError, match=r"scales have shape \(1,\).* needs \(2,\)"):
        mxspec.decode_packed(packed, scales[:1], "mxfp4_e2m1", (33,))
    with pytest.raises(TypeError, match="scales must be uint8"):
        mxspec.decode_packed(packed, scales.astype(np.int32), "mxfp4_e2m1", (33,))
    with pytest.raises(ValueError, match="dtype=float16 is not valid"):
        mxspec.decode_packed(packed, scales, "mxfp4_e2m1", (33,), dtype=np.float16)
    with pytest.raises(mxspec.FormatError, match="valid names"):
        mxspec.decode_packed(packed, scales, "mxfp5", (33,))
    bad = packed.copy()
    bad[-1] |= 0xF0  # a 34th code where there are 33
    with pytest.raises(ValueError, match="nonzero padding bits"):
        mxspec.decode_packed(bad, scales, "mxfp4_e2m1", (33,))


def test_pack_codes_refuses_codes_wider_than_the_format():
    from mxspec import pack_codes
    with pytest.raises(ValueError, match="codes holds 16, which does not fit 4 bits"):
        pack_codes(np.uint8([1, 16, 2]), 4)


def test_decode_refuses_codes_past_the_format_in_any_position():
    """The range check rides along the decode loop as an OR of the bytes read;
    a bad code in a whole group, before one, or after one is caught alike."""
    mx = mxspec.encode(np.ones((3, 37), np.float32), "mxfp4_e2m1", block_size=12)
    for pos in [(0, 0), (1, 13), (2, 36), (1, 20)]:
        bad = mxspec.MXArray(mx.codes.copy(), mx.scales, mx.format, mx.block_size, mx.axis)
        bad.codes[pos] = 16  # written after the MXArray checked it
        with pytest.raises(ValueError, match="mx.codes holds 16, out of range for fp4_e2m1"):
            mxspec.decode(bad)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_decode_into_out(axis):
    """``out=`` gets the same values as a fresh result, C-ordered or strided,
    float32 or float64, along any axis."""
    x = np.random.default_rng(3).standard_normal((3, 5, 40)).astype(np.float32)
    mx = mxspec.encode(x, "mxfp6_e3m2", axis=axis, block_size=8)
    packed, scales = mx.pack()
    for dtype in (np.float32, np.float64):
        want = mxspec.decode(mx, dtype)
        for out in (np.empty(x.shape, dtype), np.empty(x.shape[::-1], dtype).T):
            assert mxspec.decode(mx, out=out) is out and _same(out, want)
            out[...] = 0
            got = mxspec.decode_packed(packed, scales, "mxfp6_e3m2", x.shape, axis, 8, out=out)
            assert got is out and _same(out, want)


def test_decode_refuses_a_bad_out():
    mx = mxspec.encode(np.ones((2, 8), np.float32), "mxint8")
    with pytest.raises(ValueError, match=r"out has shape \(8, 2\); the values have shape \(2, 8\)"):
        mxspec.decode(mx, out=np.empty((8, 2), np.float32))
    with pytest.raises(ValueError, match="dtype=float64 but out has dtype float32"):
        mxspec.decode(mx, np.float64, out=np.empty((2, 8), np.float32))
    with pytest.raises(ValueError, match="dtype=int32 is not valid"):
        mxspec.decode(mx, out=np.empty((2, 8), np.int32))
    with pytest.raises(TypeError, match="out must be a numpy array"):
        mxspec.decode(mx, out=[0.0] * 16)
    ro = np.empty((2, 8), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        mxspec.decode(mx, out=ro)


# every listed block format of every family (the registry's list), and rows made on demand
PACKED_FORMATS = mxspec.block_formats() + ["nvfp4:modelopt", "nvfp4:compressed_tensors",
                                           "bf(fp6_e2m3,float32,32)", "mxfp5_e2m2"]


def _same_packed(g, w) -> bool:
    """Two packed forms equal item for item: arrays by value, levels (tuples) recursively."""
    if isinstance(w, tuple):
        return isinstance(g, tuple) and len(g) == len(w) and all(map(_same_packed, g, w))
    if w is None:
        return g is None
    g, w = np.asarray(g), np.asarray(w)
    return g.dtype == w.dtype and np.array_equal(g, w)


@pytest.mark.parametrize("fmt", PACKED_FORMATS)
def test_pack_is_encode_packed_for_every_format(fmt):
    """encode(x, f).pack() gave 2 items where encode_packed gave 3 (NVFP4), and
    dropped HiF4's micro-exponent bits; now both are (element data, scales) for
    every family, equal item for item, and decode_packed(*encode_packed(x, f),
    f, shape) is decode(encode(x, f))."""
    # whole tiles for the 2D rows (16 x 16 for nvfp4_2d, 128 x 128 for deepseek_fp8_2d)
    rows = max(16, mxspec.block_format(fmt).tile_rows)
    x = (np.random.default_rng(3).standard_normal((rows, 128)) * 4).astype(np.float32)
    mx = mxspec.encode(x, fmt)
    got, want = mx.pack(), mxspec.encode_packed(x, fmt)
    assert len(want) == 2 and _same_packed(got, want)
    assert mxspec.unpack(*want, fmt, x.shape).equals(mx)
    back = mxspec.decode_packed(*want, fmt, x.shape)
    assert np.array_equal(back, mxspec.decode(mx), equal_nan=True)
