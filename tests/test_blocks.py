"""MX blocks against the independent block reference (SPEC.md section 4)."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mxspec
from block_reference import ref_block_decode, ref_block_encode, ref_scale

MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint4",
      "mxint2", "mxfp5_e2m2",
      # elements with other specials: no -0 (fnuz), +-Inf codes (P3109 extended),
      # unsigned (P3109 unsigned, uint: values below zero, SPEC.md 2.4)
      "mxfp8_e4m3fnuz", "mxfp8_e5m2fnuz", "mxp3109_k8p3se", "mxp3109_k6p3uf", "mxuint4"]
RULES = ["floor", "ceil", "even", "torchao_ceil"]
TINY = np.float32(2.0 ** -140)  # a float32 subnormal


def check(x, name, bs=32, **kw):
    el = mxspec.mx_format(name).element
    mx = mxspec.encode(np.asarray(x), name, block_size=bs, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, rs = ref_block_encode(np.asarray(x, np.float64).reshape(-1), el, bs,
                                  kw.get("scale_rule", "floor"), kw.get("rounding", "rne"),
                                  kw.get("overflow", "saturate"), kw.get("zero_scale", "min"),
                                  kw.get("inf", "nan_scale"), kw.get("int_range", "symmetric"))
    assert mx.scales.tolist() == rs.tolist(), (name, kw)
    assert mx.codes.tolist() == rc.tolist(), (name, kw)
    ref = ref_block_decode(rc, rs, el, bs)
    assert np.array_equal(mxspec.decode(mx, np.float64), ref, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(mxspec.decode(mx), ref.astype(np.float32), equal_nan=True)
    return mx


blocks = hnp.arrays(np.float32, st.integers(1, 80),
                    elements=st.floats(width=32, allow_nan=False, allow_infinity=False)
                    | st.sampled_from([float(np.float32(v)) for v in (0.0, -0.0, 1e-40, 448.0, 6.0, 7.9, 2.0 ** -127)]))


@given(blocks, st.sampled_from(MX), st.sampled_from(RULES), st.sampled_from([1, 7, 32]))
def test_random_blocks_match_reference(x, name, rule, bs):
    check(x, name, bs, scale_rule=rule)


@given(hnp.arrays(np.float32, 32, elements=st.floats(-8, 8, width=32)), st.sampled_from(MX),
       st.sampled_from(["rtz", "rna", "up", "down"]), st.sampled_from(["saturate", "ieee"]))
def test_other_rounding_and_overflow(x, name, rounding, overflow):
    check(x, name, rounding=rounding, overflow=overflow, scale_rule="floor")


def directed_blocks():
    def blk(*vals):
        b = np.zeros(32, np.float32)
        b[:len(vals)] = vals
        return b
    yield "all zero", np.zeros(32, np.float32)
    yield "negative zeros", -np.zeros(32, np.float32)
    yield "one NaN", blk(1.0, np.nan, 3.0)
    yield "one Inf", blk(1.0, np.inf, 3.0)
    yield "one -Inf", blk(-np.inf, 0.5)
    yield "amax power of two", blk(4.0, -1.0, 0.3)
    yield "amax just below a power of two", blk(np.nextafter(np.float32(4), np.float32(0)), 1.0)
    yield "saturates under floor", blk(7.9, 1.0, -7.5, 5.9)
    yield "E4M3 amax 500", blk(500.0, -1.0)
    yield "mixed signs", blk(*np.linspace(-3, 3, 32, dtype=np.float32))
    yield "float32 subnormals", blk(1e-40, -3e-41, 1.4e-45, 1e-39)
    yield "scale at the low clamp", blk(TINY, -TINY / 2)
    yield "scale at the high clamp", blk(3.0e38, -1.0)
    yield "one big one small", blk(1e30, 1e-30)


@pytest.mark.parametrize("label,x", list(directed_blocks()))
@pytest.mark.parametrize("name", MX)
@pytest.mark.parametrize("rule", RULES)
def test_directed_blocks(label, x, name, rule):
    check(x, name, scale_rule=rule)
    check(x, name, scale_rule=rule, zero_scale="one", inf="element", overflow="ieee")


def test_scale_worked_examples():
    """SPEC.md 4.2, verbatim."""
    fp4 = mxspec.mx_format("mxfp4_e2m1")
    enc = lambda x, r: mxspec.encode(np.array(x, np.float32), fp4, scale_rule=r)  # noqa: E731
    assert enc([7.9], "floor").scales[0] == 127 and enc([7.9], "floor").codes[0] == 0x7
    assert enc([7.9], "ceil").scales[0] == 128 and enc([7.9], "ceil").codes[0] == 0x6
    assert enc([6.0], "ceil").scales[0] == 127     # 6 fits: no step up
    assert enc([7.0], "even").scales[0] == 128     # 7 rounds to 8 at one mantissa bit
    assert enc([6.9], "even").scales[0] == 127     # 6.9 rounds to 6
    # torchao_ceil: ceil(log2 amax) - emax, whether or not amax fits the max
    assert [enc([a], "torchao_ceil").scales[0] for a in (7.9, 6.0, 7.0, 6.9, 4.0)] == \
        [128, 128, 128, 128, 127]
    assert mxspec.encode(np.float32([150.0]), "mxfp8_e4m3", scale_rule="torchao_ceil").scales[0] \
        == 127 and mxspec.encode(np.float32([150.0]), "mxfp8_e4m3", scale_rule="ceil").scales[0] == 126
    assert enc([0.0] * 4, "floor").scales[0] == 0  # all zero -> 2^-127
    e4 = mxspec.encode(np.float32([500.0]), "mxfp8_e4m3")
    assert e4.scales[0] == 127 + 0 and e4.codes[0] == 0x7E  # 500 saturates to 448
    i8 = mxspec.encode(np.float32([-2.0, 1.0]), "mxint8")
    assert i8.scales[0] == 128 and i8.codes.tolist() == [0xC0, 0x20]
    # the spec's own: a NaN in a block makes the scale NaN and decodes as all NaN
    nanb = mxspec.encode(np.float32([1.0, np.nan]), "mxfp8_e4m3")
    assert nanb.scales[0] == 255 and np.isnan(mxspec.decode(nanb)).all()


def test_axes_shapes_and_partial_blocks():
    x = np.random.default_rng(0).standard_normal((5, 70, 3)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        mx = mxspec.encode(x, "mxfp6_e2m3", axis=axis, block_size=16)
        ax = axis % 3
        assert mx.axis == ax and mx.shape == x.shape
        assert mx.scales.shape[ax] == -(-x.shape[ax] // 16)
        # the same as encoding each 1-D row along that axis
        moved = np.moveaxis(x, ax, -1)
        row = mxspec.encode(moved[1, 2], "mxfp6_e2m3", block_size=16)
        assert np.array_equal(np.moveaxis(mx.codes, ax, -1)[1, 2], row.codes)
        assert np.array_equal(np.moveaxis(mx.scales, ax, -1)[1, 2], row.scales)
    # a last, shorter block gets its scale from its own elements only
    mx = mxspec.encode(np.float32([100.0] * 32 + [0.5]), "mxfp8_e4m3")
    assert mx.scales.tolist() == [ref_scale(np.array([100.0]), mx.format.element),
                                  ref_scale(np.array([0.5]), mx.format.element)]


def test_float64_input_and_large_arrays_use_the_same_rule():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(1 << 20) * np.exp(rng.uniform(-20, 20, 1 << 20)))
    big = mxspec.encode(x, "mxfp6_e3m2")                 # specialized kernel
    small = [mxspec.encode(x[i:i + 4096], "mxfp6_e3m2") for i in range(0, x.size, 4096)]
    assert np.array_equal(big.codes, np.concatenate([s.codes for s in small]))
    assert np.array_equal(big.scales, np.concatenate([s.scales for s in small]))
    check(x[:4096], "mxfp6_e3m2")


WHOLE_FORMATS = ("mxfp8_e4m3", "mxfp4_e2m1", "mxint4")  # 8 and 4 bits, float and int


@pytest.mark.parametrize("names", [
    WHOLE_FORMATS,
    pytest.param(tuple(f for f in mxspec.mx_formats() if f not in WHOLE_FORMATS),
                 marks=pytest.mark.slow)], ids=["some", "the rest"])
def test_large_arrays_take_the_whole_block_kernels_with_the_same_result(names):
    """Arrays of 2^20 or more values in one row of whole blocks run kernels with
    the record, the block size and the row frozen in (blocks.py, ``whole``);
    each MX format, unpacked and packed, equals the generic kernel that chunks
    of 4096 take, specials, subnormals and zeros included (float32 input;
    float64 in test_float64_input_and_large_arrays_use_the_same_rule; 6-bit
    packing in test_packed_api.py; every other format with --runslow)."""
    rng = np.random.default_rng(7)
    n = 1 << 20
    x = rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))
    x[rng.integers(0, n, 300)] = 0.0
    x[rng.integers(0, n, 50)] = np.nan
    x[rng.integers(0, n, 50)] = -np.inf
    x[rng.integers(0, n, 300)] = 1e-41            # float32 subnormals
    x = x.astype(np.float32)
    for name in names:
        big = mxspec.encode(x, name)
        small = [mxspec.encode(x[i:i + 4096], name) for i in range(0, n, 4096)]
        assert np.array_equal(big.codes, np.concatenate([s.codes for s in small])), name
        assert np.array_equal(big.scales, np.concatenate([s.scales for s in small])), name
        packed, scales = mxspec.encode_packed(x, name)
        parts = [mxspec.encode_packed(x[i:i + 4096], name) for i in range(0, n, 4096)]
        assert np.array_equal(packed, np.concatenate([p for p, _ in parts])), name
        assert np.array_equal(scales, big.scales), name
    # the other element passes: a directed mode (int32 lanes) and stochastic (int64,
    # rbits); and rne where its per-element check stays (an fn format's NaN profile
    # under ieee, wrapped ints) or goes (FP4 under ieee: core.rne32_declines_only_specials)
    r = rng.integers(0, 1 << 32, n, dtype=np.uint32)
    cases = [(name, kw) for name in ("mxfp6_e2m3", "mxint4")
             for kw in (dict(rounding="rtz"), dict(rounding="stochastic", rbits=r))]
    cases += [("mxfp8_e4m3", dict(overflow="ieee")), ("mxint4", dict(overflow="wrap")),
              ("mxfp4_e2m1", dict(overflow="ieee"))]
    for name, kw in cases if names == WHOLE_FORMATS else ():
        big = mxspec.encode(x, name, **kw)
        small = [mxspec.encode(x[i:i + 4096], name, **{
            **kw, **({"rbits": r[i:i + 4096]} if "rbits" in kw else {})})
            for i in range(0, n, 4096)]
        assert np.array_equal(big.codes, np.concatenate([s.codes for s in small])), (name, kw)
        assert np.array_equal(big.scales, np.concatenate([s.scales for s in small])), (name, kw)


def test_stochastic_blocks_reproducible():
    x = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    a = mxspec.encode(x, "mxint4", axis=0, rounding="stochastic", seed=9)
    b = mxspec.encode(x, "mxint4", axis=0, rounding="stochastic", seed=9)
    assert a.equals(b)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: mxspec.encode(np.ones(4), "mxfp7"), mxspec.FormatError, "valid names: mxfp8_e4m3"),
    (lambda: mxspec.encode(np.ones((2, 4)), "mxint8", axis=2), ValueError, r"axis=2 .*-2..1"),
    (lambda: mxspec.encode(np.ones(4), "mxint8", block_size=0), ValueError, "block_size"),
    (lambda: mxspec.encode(np.arange(4), "mxint8"), TypeError, "float64, float32"),
    (lambda: mxspec.encode(1.0, "mxint8"), ValueError, "at least one dimension"),
    (lambda: mxspec.encode(np.ones(4), "mxint8", scale_rule="round"), ValueError,
     "scale_rule='round'.*floor, ceil, even"),
    (lambda: mxspec.encode(np.ones(4), "mxint8", inf="drop"), ValueError, "nan_scale, element"),
    (lambda: mxspec.decode(np.ones(4)), TypeError, "BlockArray"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name", MX)
def test_high_scale_clamp_with_float64(name):
    """A float64 block whose shared exponent exceeds 127 gets scale 0xFE and its
    elements saturate (float32 data cannot reach this clamp)."""
    x = np.array([2.0 ** 200, -2.0 ** 199, 1.0])
    mx = check(x, name)
    assert mx.scales[0] == 254
    el = mx.format.element
    assert mxspec.decode_elements(mx.codes[0], el) == el.max_normal


def test_one_registry_for_every_family():
    """SPEC.md 0.2: block_format turns every name of every family into one kind of
    record, whose levels say what it holds; block_formats lists the families; the
    dispatch refuses a policy an engine does not take, by name; policies are keywords."""
    names = mxspec.block_formats()
    assert names == (mxspec.block_formats("mx") + mxspec.block_formats("scaled")
                     + mxspec.block_formats("micro") + mxspec.block_formats("affine"))
    assert mxspec.block_formats("micro") == mxspec.micro_formats()
    for name in names + ["mxint2", "bf(int8,float32,32)", "nvfp4:torchao"]:
        f = mxspec.block_format(name)
        assert isinstance(f, mxspec.BlockFormat) and f.engine in ("mx", "scaled", "micro",
                                                                   "affine")
        assert mxspec.block_format(f) is f and mxspec.block_format(f.name) == f
    lv = lambda n: [(v.group, v.scale) for v in mxspec.block_format(n).levels]  # noqa: E731
    assert lv("mxfp8_e4m3") == [(32, "e8m0")]
    assert lv("nvfp4") == [("tensor", "float32"), (16, "ue4m3")]
    assert lv("nvfp4_block_only") == [(16, "ue4m3")]
    assert lv("hif4") == [(64, "e6m2"), (8, "bit"), (4, "bit")]
    assert lv("mx6") == [(16, "e8"), (2, "bit")]
    assert mxspec.block_format("hif4").micro_levels == ((8, 4.0), (4, 2.0))
    assert mxspec.block_format("mx9").unit_bytes == 1 + 1 + 16
    fmts = lambda n: [v.format and v.format.name for v in mxspec.block_format(n).levels]  # noqa: E731
    assert fmts("mxint8") == ["e8m0"] and fmts("nvfp4") == [None, "fp8_e4m3"]
    assert fmts("hif4") == ["e6m2", None, None] and fmts("mx6") == ["e8m0", None]
    x = np.ones(64, np.float32)
    with pytest.raises(ValueError, match=r"rounding='rtz': nvfp4 takes no rounding= \(its recipe"):
        mxspec.encode(x, "nvfp4", rounding="rtz")
    with pytest.raises(ValueError, match="scale_rule='ceil': hif4 takes no scale_rule="):
        mxspec.encode_packed(x, "hif4", scale_rule="ceil")
    with pytest.raises(ValueError, match=r"recipe='torchao' is not an MX recipe \(torchao is a "
                                         r"recipe of the NVFP4 family\); allowed values for "
                                         r"mxfp8_e4m3: gguf"):
        mxspec.encode(x, "mxfp8_e4m3", recipe="torchao")
    with pytest.raises(ValueError, match="recipe='gguf' is defined for mxfp4_e2m1, not mxfp8_e4m3"):
        mxspec.encode(x, "mxfp8_e4m3:gguf")
    with pytest.raises(ValueError, match="rounding='rne': recipe 'gguf' fixes rounding='rnz'"):
        mxspec.encode(x, "mxfp4_e2m1", recipe="gguf", rounding="rne")
    with pytest.raises(ValueError, match="scale_rule='gguf' is the gguf recipe's"):
        mxspec.encode(x, "mxfp4_e2m1", scale_rule="gguf")
    with pytest.raises(ValueError, match="recipe='gguf': hif4 is a micro-exponent format"):
        mxspec.block_format(mxspec.block_format("hif4"), recipe="gguf")
    with pytest.raises(mxspec.FormatError, match="unknown block format 'nvfp5'; valid names: mxfp8_e4m3"):
        mxspec.block_format("nvfp5")
    with pytest.raises(TypeError):
        mxspec.encode(x, "mxint8", -1, 32, "rtz")  # policies are keywords only
    with pytest.raises(ValueError, match="family='nvfp4' is not valid; allowed values: mx, scaled, micro"):
        mxspec.block_formats("nvfp4")
    with pytest.raises(ValueError, match="Slice-and-Scale converts MX anchors"):
        mxspec.slice_and_scale(mxspec.encode(x, "nvfp4"), "mxfp4_e2m1")


def test_transformer_engine_rule_is_ceil_but_where_its_float32_product_rounds():
    """Transformer Engine's MXFP8 scale byte (tests/te_reference.py, from its
    source: fl32(amax * fl32(1 / max)) rounded up to a power of two) is mxspec's
    ``ceil`` on every finite float32 amax but one per element type
    (benchmarks/sweep_te_rceil.py: 1 of 2,139,095,040 for each of E4M3, E5M2, E3M2,
    E2M3, E2M1): amax = 0x04600001 (2.633e-36) in E4M3, whose quotient lies just
    above 2^-127 (ceil: 0x01) but whose float32 product rounds onto it in the
    subnormal range (TE: 0x00).  An Inf amax gives TE 0xFE, where mxspec's
    default gives the NaN scale (SPEC.md 4.2)."""
    from te_reference import te_byte
    rng = np.random.default_rng(4)
    bits = rng.integers(1, 0x7F800000, 200_000, dtype=np.uint32)
    amax = np.concatenate([bits.view(np.float32), np.float32(448 * 2.0 ** np.arange(-130, 120)),
                           np.float32([1.0, 448.0, 449.0, 447.9])])
    for el in ("fp8_e4m3", "fp8_e5m2", "fp4_e2m1"):
        f = mxspec.element_format(el)
        ours = mxspec.encode(amax, "mx" + el, block_size=1, scale_rule="ceil").scales
        te = te_byte(amax, f.max_normal)
        odd = np.flatnonzero(ours != te)
        assert odd.size <= 1, el
    one = np.uint32([0x04600001]).view(np.float32)
    assert mxspec.encode(one, "mxfp8_e4m3", block_size=1, scale_rule="ceil").scales.tolist() == [1]
    assert te_byte(one, 448.0).tolist() == [0]
    assert te_byte(np.float32([np.inf]), 448.0).tolist() == [0xFE]
    assert mxspec.encode(np.float32([np.inf]), "mxfp8_e4m3", scale_rule="ceil").scales.tolist() == [255]


def test_vllm_mxfp4_rule_is_even_on_every_bfloat16_amax():
    """vLLM's qdq_mxfp4_torch (the AMD Quark MXFP4 emulation; tests/vllm_reference.py,
    from its source) picks the scale byte of mxspec's ``even`` rule for every
    positive normal bfloat16 amax (all 32,385 of them: amax rounded to FP4's one
    mantissa bit, then floor), and rounds elements to nearest even as its comments'
    tie table says (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4,
    5 -> 4)."""
    import ml_dtypes
    from vllm_reference import vllm_scale_byte
    bits = np.arange(0x0080, 0x7F80, dtype=np.uint16)  # positive normal bfloat16
    amax = bits.view(ml_dtypes.bfloat16).astype(np.float32)
    ours = mxspec.encode(amax, "mxfp4_e2m1", block_size=1, scale_rule="even").scales
    assert np.array_equal(ours, vllm_scale_byte(bits))
    ties = np.float32([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0])
    codes = mxspec.encode(np.concatenate([ties, -ties]), "mxfp4_e2m1", block_size=16,
                          scale_rule="even")
    assert codes.scales.tolist() == [127]
    assert mxspec.decode(codes)[:8].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0]
