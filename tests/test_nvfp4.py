"""NVFP4 (SPEC.md section 9): every recipe against the independent fractions
reference (tests/nvfp4_reference.py) on Hypothesis tensors and directed ones,
laws of the format, and its errors.  tests/test_nvfp4_libraries.py checks the
recipes against the libraries themselves where they are installed."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import mxspec
import nvfp4_reference as ref

# IF4's are tests/test_fouroversix.py's; 4over6 is 4over6_mse by another name (checked there)
RECIPES = [r for r in ref.RECIPES if r not in ref.IF4 and r != "4over6"]
# recipes whose decode turns -0 into +0 (the last field of the reference's row)
RECIPES_ZERO_POSITIVE = {k: v[-1] == "positive" for k, v in ref.RECIPES.items()}


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def _check(x, recipe, tensor=True):
    if mxspec.block_format("nvfp4", recipe).recipe.tensor == "amax":
        tensor = True  # it stores the tensor's amax: no block-only form (SPEC.md 9.10)
    name = "nvfp4" if tensor else "nvfp4_block_only"
    mx = mxspec.encode(x, name, recipe=recipe)
    codes, scodes, ts = ref.quantize(x, recipe, tensor=tensor)
    assert np.array_equal(mx.scales, scodes), (recipe, mx.scales, scodes)
    assert np.array_equal(mx.codes, codes), (recipe, np.argwhere(mx.codes != codes)[:5])
    assert (mx.tensor_scale is None) == (not tensor)
    if tensor:
        assert np.float32(mx.tensor_scale) == np.float32(ts)
    got, want = mxspec.decode(mx), ref.dequantize(codes, scodes, ts, recipe)
    same = (_bits(got) == _bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (recipe, np.argwhere(~same)[:5])
    return mx


@st.composite
def tensors(draw):
    rows = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 3))
    lo = draw(st.integers(-140, 100))
    span = draw(st.integers(0, 40))
    n = rows * nb * 16
    mant = draw(st.lists(st.floats(-2, 2, width=32), min_size=n, max_size=n))
    exps = draw(st.lists(st.integers(lo, lo + span), min_size=n, max_size=n))
    x = np.array([m * 2.0 ** e for m, e in zip(mant, exps)], np.float64)
    x = np.clip(x, -3.4e38, 3.4e38).astype(np.float32).reshape(rows, nb * 16)
    zero_block = draw(st.booleans())
    if zero_block:
        x[0, :16] = draw(st.sampled_from([0.0, -0.0]))
    return x


@pytest.mark.parametrize("fmt", ["if4", "if4:if4_mae", "if4_2d:if4_abs_max"])
def test_if4_large_decode_computes_the_table_values(fmt, monkeypatch):
    """IF4's frozen decode (2^20 values or more) computes E2M1 values x 7 and
    the integers' 6q (codes 16..31) instead of looking them up: the same bits as
    the table, -0 and NaN blocks included, float32 and float64 outputs."""
    from mxspec.block import scaled
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((1024, 1024)) * np.exp(rng.uniform(-20, 20, (1024, 1024))))
    x[:, :16] = 0.0
    x[1:3, 16:32] = -0.0
    x[5, 40] = np.nan
    x = x.astype(np.float32)
    m = mxspec.encode(x, fmt)
    assert x.size >= scaled.SPECIALIZE_MIN and (np.asarray(m.scales) >= 0x80).any() \
        and (np.asarray(m.scales) < 0x80).any()  # both candidates kept somewhere
    for d in (np.float32, np.float64):
        got = mxspec.decode(m, dtype=d)
        with monkeypatch.context() as mp:
            mp.setattr(scaled, "SPECIALIZE_MIN", 1 << 62)
            want = mxspec.decode(m, dtype=d)
        u = f"u{got.itemsize}"
        assert np.array_equal(got.view(u), want.view(u)) or (
            np.array_equal(got, want, equal_nan=True)
            and np.array_equal(np.signbit(got), np.signbit(want))), (fmt, d)


@pytest.mark.parametrize("recipe", RECIPES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=tensors(), tensor=st.booleans())
def test_recipes_equal_reference(recipe, x, tensor):
    _check(x, recipe, tensor)


@pytest.mark.parametrize("recipe", RECIPES)
def test_directed_tensors(recipe):
    f32max = np.finfo(np.float32).max
    cases = {
        "saturating block scale": np.float32([[448 * 6.0] + [1.0] * 15 + [1e-3] * 16]),
        "block scale rounds to zero": np.float32([[1e4] + [0.0] * 15 + [1e-4] + [0.0] * 15]),
        "amax 0": np.zeros((2, 32), np.float32),
        "amax -0 and 0": np.float32([[-0.0] * 16 + [0.0] * 16]),
        "subnormal amax": np.float32([[1e-40, -3e-42] * 8 + [1e-45] * 16]),
        "float32 max": np.float32([[f32max, -f32max / 3] * 8 + [1.0] * 16]),
        "ties": np.float32([[0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0] * 2 + [6.0] * 16]),
        "negative tiny": np.float32([[-1e-30, 1e-30] * 8 + [1e3] * 16]),
    }
    for name, x in cases.items():
        try:
            _check(x, recipe)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


def test_large_tensors_take_the_frozen_kernel_with_the_same_result(monkeypatch):
    """Tensors of 2^20 values or more run encode and decode kernels with the
    recipe, the element and scale records and the block size frozen in
    (scaled.py); under every recipe (IF4's too), and for two other block formats, they
    equal the run-time kernels that smaller tensors take (checked against the
    references above) on one tensor: rows whose last block is short, blocks
    that saturate, vanish, hold NaN or Inf, subnormals, zeros."""
    from mxspec.block import scaled
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((1100, 1000)) * np.exp(rng.uniform(-60, 60, (1100, 1000))))
    x[rng.random(x.shape) < 0.002] = 0.0
    x[rng.random(x.shape) < 0.0002] = np.nan
    x[rng.random(x.shape) < 0.0002] = -np.inf
    x[rng.random(x.shape) < 0.002] = 1e-41
    x = x.astype(np.float32)
    assert x.size >= scaled.SPECIALIZE_MIN
    others = [mxspec.block_format(element="fp8_e4m3", scale="float32", block_size=32,
                                  tensor_scale=False),
              mxspec.block_format(element="int8", scale="ue4m3", block_size=32,
                                  tensor_scale=True)]
    for fmt, recipe in [("nvfp4", r) for r in RECIPES] + [("if4", r) for r in ref.IF4] + \
            [(f, None) for f in others]:
        big = mxspec.encode(x, fmt, recipe=recipe)
        with monkeypatch.context() as m:
            m.setattr(scaled, "SPECIALIZE_MIN", 1 << 62)
            small = mxspec.encode(x, fmt, recipe=recipe)
            slow = [mxspec.decode(big, dtype=d) for d in (np.float32, np.float64)]
        assert np.array_equal(big.codes, small.codes), recipe
        assert _bits(big.scales).tolist() == _bits(small.scales).tolist() \
            if big.scales.dtype == np.float32 else np.array_equal(big.scales, small.scales)
        assert np.float32(big.tensor_scale or 1) == np.float32(small.tensor_scale or 1)
        # and the decode kernel with the element's values computed (frozen) against
        # the table lookup, bit for bit, -0 and NaN included
        for d, want in zip((np.float32, np.float64), slow):
            got = mxspec.decode(big, dtype=d)
            assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}")) \
                or (np.array_equal(got, want, equal_nan=True)
                    and np.array_equal(np.signbit(got), np.signbit(want))), (fmt, recipe, d)


@pytest.mark.parametrize("recipe", RECIPES)
def test_decode_to_float64_and_into_out_along_any_axis(recipe):
    """The decode kernel's other outputs: float64 (the exact recipe's product
    rounded once to float64, the float32 rules' results widened), into ``out=``,
    and blocks along axis 0, against the reference; a NaN block scale and a
    tensor whose rows end in a short block included."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 48)) * np.exp(rng.uniform(-8, 8, (3, 48)))).astype(np.float32)
    x[1, 17] = np.nan
    mx = mxspec.encode(x, "nvfp4", recipe=recipe)
    codes, scodes, ts = ref.quantize(x, recipe)
    for dtype in (np.float32, np.float64):
        want = ref.dequantize(codes, scodes, ts, recipe, dtype=dtype)
        got = mxspec.decode(mx, dtype=dtype)
        assert got.dtype == dtype
        assert np.array_equal(got, want, equal_nan=True), (recipe, dtype)
        assert np.array_equal(np.signbit(got), np.signbit(want)), (recipe, dtype)
        out = np.full(x.shape, 7.0, dtype)
        assert mxspec.decode(mx, out=out) is out and np.array_equal(out, want, equal_nan=True)
    mt = mxspec.encode(np.ascontiguousarray(x.T), "nvfp4", axis=0, recipe=recipe)
    assert np.array_equal(mxspec.decode(mt), mxspec.decode(mx).T, equal_nan=True)
    # rows that end in a short block (40 = 2 x 16 + 8): written-out arithmetic of SPEC 9.2
    short = mxspec.encode(x[:, :40], "nvfp4", recipe=recipe)
    e = mxspec.decode_elements(short.codes, "fp4_e2m1", np.float64)
    if RECIPES_ZERO_POSITIVE[recipe]:
        e = e + 0.0
    s = np.repeat(mxspec.decode_elements(short.scales, "fp8_e4m3", np.float64), 16, axis=1)[:, :40]
    t = np.float32(short.tensor_scale)
    with np.errstate(invalid="ignore"):
        want = {"exact": lambda: (e * s * np.float64(t)).astype(np.float32),
                "product": lambda: e.astype(np.float32) * (s.astype(np.float32) * t),
                "ratio": lambda: e.astype(np.float32) * (s.astype(np.float32) / t),
                "amax": lambda: (e * s * np.float64(t) / (6 * 256 if "4over6" in recipe else
                                                          6 * 448)).astype(np.float32)}[
            mxspec.block_format("nvfp4", recipe).recipe.decode]()
    got = mxspec.decode(short)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_nan_and_inf_make_the_block_nan():
    x = np.float32([[1.0] * 15 + [np.nan] + [2.0] * 16 + [np.inf] + [0.5] * 15])
    for recipe in RECIPES:
        mx = _check(x, recipe)
        assert mx.scales.tolist() == [[0x7F, mx.scales[0, 1], 0x7F]]
        d = mxspec.decode(mx)
        assert np.isnan(d[0, :16]).all() and np.isnan(d[0, 32:]).all() and not np.isnan(d[0, 16:32]).any()


def test_spec_worked_example():
    """SPEC.md 9.4: amax 6 * 448 = 2688 makes ts exactly 1."""
    x = np.float32([[2688.0, 100.0, -0.3, 0.0] + [0.0] * 12 + [1.0, 0.75, 0.5, 0.25] + [0.0] * 12])
    mx = mxspec.encode(x, "nvfp4")
    assert float(mx.tensor_scale) == 1.0
    assert mx.scales.tolist() == [[0x7E, 0x23]]  # 448; 1/6 rounds to 1.375 * 2^-3 = 0.171875
    assert mx.codes[0, :4].tolist() == [7, 0, 8, 0]  # 6; 100/448 = 0.223 -> 0; -0.3/448 -> -0
    # 1, 0.75, 0.5, 0.25 over 0.171875: 5.82 -> 6, 4.36 -> 4, 2.91 -> 3, 1.45 -> 1.5
    assert mx.codes[0, 16:20].tolist() == [7, 6, 5, 3]
    assert mxspec.decode(mx)[0, 16:20].tolist() == [1.03125, 0.6875, 0.515625, 0.2578125]


@settings(max_examples=40, deadline=None)
@given(x=tensors())
def test_laws(x):
    """Nearest-ness: under the exact recipe each element is the grid value (E2M1
    times its block's scale times the tensor scale) nearest its input; sign
    symmetry: negating the input negates the codes and keeps the scales."""
    mx = mxspec.encode(x, "nvfp4")
    e2m1 = mxspec.element_format("fp4_e2m1").values.astype(np.float64)
    s = np.repeat(mxspec.element_format("fp8_e4m3").values[mx.scales].astype(np.float64), 16,
                  axis=-1)
    ts = np.float64(mx.tensor_scale)
    got = e2m1[mx.codes] * s * ts                       # exact: 2 + 4 + 24 bits
    grid = np.unique(np.abs(e2m1))[None, None, :] * s[..., None] * ts
    best = np.min(np.abs(grid - np.abs(x.astype(np.float64))[..., None]), axis=-1)
    assert (np.abs(got - x) <= best).all()
    neg = mxspec.encode(-x, "nvfp4")
    assert np.array_equal(neg.scales, mx.scales)
    assert np.array_equal(neg.codes ^ 8, mx.codes)


def test_errors_and_names():
    x = np.ones((2, 32), np.float32)
    with pytest.raises(ValueError, match="recipe='torch'"):
        mxspec.encode(x, "nvfp4", recipe="torch")
    with pytest.raises(mxspec.FormatError, match="unknown block format 'nvfp5'"):
        mxspec.encode(x, "nvfp5", recipe="exact")
    assert mxspec.encode(x, "nvfp4:torchao").format.recipe.name == "torchao"
    mx = mxspec.encode(x, "nvfp4", axis=0)
    assert mx.axis == 0 and mx.scales.shape == (1, 32) and mx.block_size == 16
    with pytest.raises(ValueError, match="scales have shape"):
        mxspec.MXArray(mx.codes, mx.scales[:, :3], mx.format, 16, 0, mx.tensor_scale)


@pytest.mark.parametrize("recipe", RECIPES)
def test_packed_and_checkpoint_round_trip(recipe, tmp_path):
    """encode_packed / decode_packed and save / load keep every bit: codes (low
    nibble first), E4M3 scales, the tensor scale, the recipe."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3, 48)) * 10.0).astype(np.float32)
    amax = mxspec.block_format("nvfp4", recipe).recipe.tensor == "amax"
    for tensor in (True,) if amax else (True, False):  # an amax recipe needs the tensor level
        name = ("nvfp4" if tensor else "nvfp4_block_only") + ":" + recipe
        mx = mxspec.encode(x, name)
        got = mxspec.encode_packed(x, name)
        packed, scales = mxspec.pack(mx)
        assert len(got) == 2 and np.array_equal(got[0], packed)
        assert packed[0, 0] == mx.codes[0, 0] | (mx.codes[0, 1] << 4)
        if tensor:  # the levels outermost first: (tensor scale, block scales)
            assert isinstance(got[1], tuple) and got[1][0] == mx.tensor_scale
            assert np.array_equal(got[1][1], scales[1])
        else:
            assert np.array_equal(got[1], scales)
        back = mxspec.decode_packed(*got, name, x.shape)
        assert np.array_equal(_bits(back), _bits(mxspec.decode(mx)))
        path = tmp_path / f"{recipe}{tensor}.safetensors"
        mxspec.save(path, {"w": mx})
        loaded = mxspec.load(path)["w"]
        assert loaded.equals(mx) and loaded.format.recipe.name == recipe


def test_packed_errors():
    x = np.ones((2, 32), np.float32)
    p, (ts, s) = mxspec.encode_packed(x, "nvfp4")
    with pytest.raises(ValueError, match=r"scales must be \(tensor_scale, block_scales\) for nvfp4"):
        mxspec.decode_packed(p, s, "nvfp4", x.shape)
    with pytest.raises(ValueError, match="mxfp4_e2m1 has one level of scales"):
        mxspec.decode_packed(p, (ts, s), "mxfp4_e2m1", x.shape)
    with pytest.raises(ValueError, match="scales have shape"):
        mxspec.decode_packed(p, (ts, s[:, :1]), "nvfp4", x.shape)
    with pytest.raises(ValueError, match="must be one float32 value"):
        mxspec.decode_packed(p, (0.1, s), "nvfp4", x.shape)


ELEMENTS = ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2", "int8", "int4"]


@st.composite
def block_formats_and_tensors(draw):
    el = draw(st.sampled_from(ELEMENTS))
    scale = draw(st.sampled_from(["ue4m3", "float32"]))
    block = draw(st.sampled_from([8, 16, 32]))
    tensor = scale == "ue4m3" and draw(st.booleans())
    x = draw(tensors())
    return el, scale, block, tensor, x


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=block_formats_and_tensors())
def test_any_block_format_equals_reference(case):
    """SPEC.md 9.8: any element format under ue4m3 or float32 block scales, any
    block size, with or without a tensor scale (exact recipe)."""
    import blockscaled_reference as bref
    el, scale, block, tensor, x = case
    f = mxspec.block_format(element=el, scale=scale, block_size=block, tensor_scale=tensor)
    mx = mxspec.encode(x, f)
    ef = mxspec.element_format(el)
    codes, scales, ts = bref.quantize(x, ef, scale, block, tensor)
    assert np.array_equal(mx.codes, codes), (f.name, np.argwhere(mx.codes != codes)[:4])
    assert _bits(mx.scales).tolist() == _bits(scales).tolist() if scale == "float32" else \
        np.array_equal(mx.scales, scales)
    assert float(mx.tensor_scale if tensor else 1.0) == ts
    got, want = mxspec.decode(mx), bref.dequantize(codes, scales, ts, ef, scale, block)
    same = (_bits(got) == _bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (f.name, np.argwhere(~same)[:4])


def test_block_format_names_and_errors():
    f = mxspec.block_format("bf(fp6_e2m3,ue4m3,32,tensor)")
    assert f == mxspec.block_format(element="fp6_e2m3", block_size=32)
    assert mxspec.block_format("bf(int8,float32,32)").scale_kind == "float32"
    with pytest.raises(ValueError, match="scale='e8m0'.*MX formats"):
        mxspec.block_format(element="fp4_e2m1", scale="e8m0")
    with pytest.raises(ValueError, match="scale='float32' takes no tensor scale"):
        mxspec.block_format(element="int8", scale="float32")
    with pytest.raises(ValueError, match="recipe='torchao' takes fp4_e2m1 elements with ue4m3 scales"):
        mxspec.block_format(element="fp6_e2m3", recipe="torchao")
    with pytest.raises(mxspec.FormatError, match="element='e8m0' cannot be"):
        mxspec.block_format(element="e8m0")


def test_generic_block_formats_pack_and_save(tmp_path):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 64)) * 50).astype(np.float32)
    for name in ("bf(fp6_e2m3,ue4m3,32,tensor)", "bf(int8,float32,32)", "bf(fp8_e5m2,float32,16)"):
        mx = mxspec.encode(x, name)
        got = mxspec.encode_packed(x, name)
        back = mxspec.decode_packed(*got, name, x.shape)
        assert np.array_equal(_bits(back), _bits(mxspec.decode(mx))), name
        mxspec.save(tmp_path / "a.safetensors", {"w": mx})
        assert mxspec.load(tmp_path / "a.safetensors")["w"].equals(mx), name
