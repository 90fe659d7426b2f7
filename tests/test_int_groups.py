"""Integer groups (SPEC.md 12): the ``exact`` recipe against exact rationals
(tests/int_group_reference.py), the ``compressed_tensors`` recipe and the int32
packing against compressed-tensors 0.20.1 (its capture, and the library itself
where it is installed), GPTQ's and AWQ's word layouts against their published
dequantizers' arithmetic, g_idx, and the refusals."""
import importlib.util
import os

import ml_dtypes
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import mxspec
import int_group_reference as ref

HERE = os.path.dirname(__file__)
CAPTURE = os.path.join(HERE, "data", "compressed_tensors", "int-groups-0.20.1.npz")
NP_DTYPE = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}


def _signed(codes, bits):
    c = codes.astype(np.int16)
    return np.where(c >= 1 << (bits - 1), c - (1 << bits), c)


def _name(bits, dtype, group, sym, recipe=None):
    n = f"bf(int{bits},{dtype},{group},{'symmetric' if sym else 'zero_point'})"
    return n if recipe is None else f"{n}:{recipe}"


# ---- the exact recipe: exact rationals -----------------------------------------------------

def _check_exact(x, bits, dtype, group, sym):
    a = mxspec.encode(x, _name(bits, dtype, group, sym))
    vals = mxspec.decode(a, np.float64)
    q = _signed(a.codes, bits)
    for r in range(x.shape[0]):
        for g in range(-(-x.shape[1] // group)):
            xs = x[r, g * group:(g + 1) * group].tolist()
            s, z, qs, vs = ref.group(xs, bits, dtype, not sym)
            assert float(a.scales[r, g]) == float(s), (r, g)
            if not sym:
                assert int(a.zero_points[r, g]) == z, (r, g)
            assert q[r, g * group:(g + 1) * group].tolist() == qs, (r, g)
            assert vals[r, g * group:(g + 1) * group].tolist() == [float(v) for v in vs]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("bits,group,sym", [(4, 32, False), (4, 128, False), (4, 64, True),
                                            (8, 32, False), (8, 128, True), (2, 16, False),
                                            (3, 32, True)])
def test_exact_recipe_is_the_rational_reference(dtype, bits, group, sym):
    """Scales rounded once to their dtype, zero points and codes the nearest
    integers (ties to even), values (q - zp) s: on Gaussian values, a wide
    exponent range, exact ties (multiples of 1/16), one-signed groups, an
    all-zero row and a last group shorter than the rest."""
    rng = np.random.default_rng(bits * 100 + group + sym)
    wide = 8 if dtype == "float16" else 40
    xs = [rng.standard_normal((3, 200)),
          rng.standard_normal((3, 200)) * np.exp2(rng.integers(-wide, wide, (3, 200))),
          rng.integers(-64, 64, (3, 200)) / 16]
    one = np.abs(rng.standard_normal((3, 200)))
    one[1] *= -1
    one[2] = 0.0
    for x in xs + [one]:
        _check_exact(x.astype(np.float32), bits, dtype, group, sym)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_exact_recipe_with_scales_past_float32_reciprocals(dtype):
    """Scales below 2^-127 (subnormal bfloat16 and float32 scales) have no
    finite float32 reciprocal: codes, scales and values still equal the exact
    rationals, for float32 and float64 inputs."""
    rng = np.random.default_rng(7)
    for e in (-126, -128, -133, -140):
        x = rng.standard_normal((2, 64)) * 2.0 ** e
        x[1, :16] = np.abs(x[1, :16])
        x[1, 16] = 0.0
        for bits, sym in ((4, False), (4, True), (8, False)):
            _check_exact(x.astype(np.float32), bits, dtype, 16, sym)
            _check_exact(x, bits, dtype, 16, sym)


def test_exact_recipe_takes_float64_exactly():
    """float64 inputs are not rounded to float32 first: a value a float32 cannot
    hold lands on the code the exact quotient gives, including at a midpoint
    broken only by the bits below float32's."""
    s = 0.25  # the group [0, 3.75] has scale 3.75 / 15 = 0.25 and zero point -8
    x = np.array([[0.0, 3.75, 0.125, 0.125 + 2.0 ** -40, 0.375 - 2.0 ** -40]])
    a = mxspec.encode(x, "bf(int4,float32,5,zero_point)")
    assert float(a.scales[0, 0]) == s and int(a.zero_points[0, 0]) == -8
    assert _signed(a.codes, 4).tolist() == [[-8, 7, -8, -7, -7]]  # 0.5 -> 0 (even), past it 1
    _check_exact(x, 4, "float32", 5, False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=70),
       st.sampled_from([(4, False), (4, True), (8, False), (3, False)]),
       st.sampled_from(["float16", "bfloat16", "float32"]))
# found by CI: a subnormal bfloat16 scale (1.56e-39) whose reciprocal is no float32
@example([0.0, 2.350988701644575e-38], (4, False), "bfloat16")
def test_each_value_decodes_to_its_nearest_grid_point(xs, kind, dtype):
    """Nearest-ness: within its group every value decodes to the grid point
    (q - zp) s nearest to it among q in qmin..qmax, and codes are monotonic in
    the value."""
    bits, sym = kind
    x = np.float32(xs)[None]
    a = mxspec.encode(x, _name(bits, dtype, 16, sym))
    v = mxspec.decode(a, np.float64)[0]
    q = _signed(a.codes, bits)[0]
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for i, xv in enumerate(x[0].astype(np.float64)):
        g = i // 16
        s = float(a.scales[0, g])
        z = 0 if sym else int(a.zero_points[0, g])
        grid = (np.arange(qmin, qmax + 1) - z) * s
        assert abs(v[i] - xv) == np.abs(grid - xv).min(), (i, xv, v[i])
    for g in range(-(-x.shape[1] // 16)):
        seg = slice(g * 16, (g + 1) * 16)
        order = np.argsort(x[0, seg], kind="stable")
        assert (np.diff(q[seg][order]) >= 0).all()


# ---- compressed-tensors: its capture and the library ----------------------------------------

def _capture():
    return np.load(CAPTURE)


CASES = [(dt, b, g, s, k) for dt in ("float16", "bfloat16", "float32") for b in (4, 8)
         for g in (32, 64, 128) for s in ("asym", "sym") for k in range(4)]


def _compare_ct(x, dtype, bits, group, sym, want):
    name = _name(bits, dtype, group, sym, "compressed_tensors")
    a = mxspec.encode(x, name)
    assert np.array_equal(a.scales.astype(np.float32).view(np.uint32), want["scale"])
    assert np.array_equal(_signed(a.codes, bits), want["q"].astype(np.int16))
    if not sym:
        assert np.array_equal(a.zero_points, want["zero_point"])
    assert np.array_equal(mxspec.decode(a).view(np.uint32), want["dequant"])
    data, (sc, zp) = mxspec.pack(a, "compressed-tensors")
    assert np.array_equal(data, want["packed"])
    if not sym:
        assert np.array_equal(zp, want["packed_zero_point"])
    back = mxspec.unpack(data, (sc, zp), name, x.shape, layout="compressed-tensors")
    assert back.equals(a)


@pytest.mark.parametrize("case", CASES, ids=["/".join(map(str, c)) for c in CASES])
def test_compressed_tensors_recipe_equals_its_capture(case):
    """compressed-tensors 0.20.1's calculate_qparams, quantize, dequantize and
    pack_to_int32 (tools/capture_compressed_tensors_groups.py): the scales, zero
    points, codes and dequantized values bit for bit, and the int32 words of the
    codes and the zero points; every weight dtype, 4 and 8 bits, groups of 32,
    64 and 128, symmetric and not, ties and an all-zero row (where torch turns
    the zero point 0 / 0 into 0)."""
    dtype, bits, group, sym, k = case
    cap = _capture()
    key = f"{dtype}/{bits}/{group}/{sym}/{k}"
    want = {n: cap[f"{key}/{n}"] for n in ("scale", "zero_point", "q", "dequant", "packed",
                                           "packed_zero_point") if f"{key}/{n}" in cap}
    _compare_ct(cap["x"][k], dtype, bits, group, sym == "sym", want)


def test_compressed_tensors_live_on_new_tensors():
    """Where compressed-tensors imports: the same comparison on tensors of a new
    seed, run through the library itself (the capture tool's own function)."""
    if importlib.util.find_spec("compressed_tensors") is None:
        pytest.skip("compressed-tensors is not installed (its capture is checked above)")
    spec = importlib.util.spec_from_file_location(
        "cap", os.path.join(HERE, "..", "tools", "capture_compressed_tensors_groups.py"))
    cap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cap)
    x = cap.inputs(seed=12345)
    for dtype in ("bfloat16", "float16", "float32"):
        for bits, group, sym in ((4, 128, False), (4, 32, True), (8, 64, False)):
            for k in range(len(x)):
                _compare_ct(x[k], dtype, bits, group, sym, cap.run(x[k], dtype, bits, group, sym))


def test_recipes_differ_where_compressed_tensors_rounds_twice():
    """An input that tells the recipes apart.  Group [0, 1, x] in bfloat16: s =
    fl(1 / 15) = 0.06689453125, zp = -8.  The exact recipe rounds x / s + zp once;
    compressed-tensors rounds x / s to bfloat16, then adds zp and rounds to
    bfloat16 again, then to an integer: x = 0.50354 gives x / s = 7.5274 and
    -0.4726 -> 0 exactly, but bfloat16 holds 7.5274 as 7.53125 and then -0.46875
    as -0.46875... while x = 0.5035463876 (float32) gives 0.50390625 after its own
    rounding to bfloat16 and -7.49609 -> -7.5 (bfloat16's grid is 1/32 there) -> -8.
    Over 4001 values of x the two recipes part on some, and each of
    compressed-tensors' codes is the one the two roundings give (ml_dtypes'
    bfloat16 casts, an independent implementation of the rounding)."""
    xs = np.float32(np.linspace(0.001, 0.999, 4001))
    grid = np.concatenate([np.zeros((4001, 1), np.float32), np.ones((4001, 1), np.float32),
                           xs[:, None]], axis=1)
    e = _signed(mxspec.encode(grid, "bf(int4,bfloat16,3,zero_point)").codes, 4)
    c = mxspec.encode(grid, "bf(int4,bfloat16,3,zero_point):compressed_tensors")
    assert (c.scales.astype(np.float32) == np.float32(0.06689453125)).all()
    assert (c.zero_points == -8).all()
    bf = (lambda v: np.asarray(v, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32))
    s = np.float32(0.06689453125)
    t1 = bf(bf(xs) / s)
    t2 = bf(t1 + np.float32(-8))
    want = np.clip(np.rint(t2), -8, 7)
    assert np.array_equal(_signed(c.codes, 4)[:, 2], want)
    differ = np.flatnonzero(e[:, 2] != want)
    assert differ.size == 94  # SPEC.md 12.2: different rows, and inputs that show it
    g = np.float32([[0.0, 1.0, 0.1]])  # SPEC.md 12.2's example
    assert _signed(mxspec.encode(g, "int4_g3_bf16").codes, 4).tolist() == [[-8, 7, -7]]
    assert _signed(mxspec.encode(g, "int4_g3_bf16:compressed_tensors").codes, 4).tolist() == \
        [[-8, 7, -6]]


# ---- GPTQ and AWQ words ----------------------------------------------------------------------

def _gptq_dequant(qweight, qzeros, scales, g_idx, bits):
    """AutoGPTQ's dequantization, transcribed: unsigned codes from qweight along
    in (bits b*j of word), zeros from qzeros along out plus one (the v1 format),
    W[:, i] = scales[g_idx[i]] * (q - zeros[g_idx[i]]), transposed to (out, in)."""
    per = 32 // bits
    mask = (1 << bits) - 1
    qw = qweight.astype(np.int64) & 0xFFFFFFFF
    q = np.stack([(qw >> (bits * j)) & mask for j in range(per)], axis=1).reshape(-1, qw.shape[1])
    qz = qzeros.astype(np.int64) & 0xFFFFFFFF
    z = np.stack([(qz >> (bits * j)) & mask for j in range(per)], axis=2).reshape(qz.shape[0], -1)
    z = z + 1
    w = scales[g_idx].astype(np.float64) * (q - z[g_idx])
    return w.T


def _awq_dequant(qweight, qzeros, scales, group):
    """vLLM's awq_dequantize_torch, transcribed: nibbles at shifts 0, 4, ..., 28,
    AWQ's reverse order [0, 4, 1, 5, 2, 6, 3, 7] within each eight, then
    (q - z) * s per group along in; (in, out) transposed to (out, in)."""
    rev = [0, 4, 1, 5, 2, 6, 3, 7]

    def nibbles(t):
        t = t.astype(np.int64) & 0xFFFFFFFF
        n = np.stack([(t >> s) & 0xF for s in range(0, 32, 4)], axis=2).reshape(t.shape[0], -1)
        idx = np.arange(n.shape[1]).reshape(-1, 8)[:, rev].reshape(-1)
        return n[:, idx]
    q, z = nibbles(qweight), nibbles(qzeros)
    z = np.repeat(z, group, axis=0)
    s = np.repeat(scales.astype(np.float64), group, axis=0)
    return ((q - z) * s).T


@pytest.mark.parametrize("fmt", ["int4_g128", "int4_g32", "int8_g128", "int4_g128_sym",
                                 "bf(int2,float16,64,zero_point)"])
def test_gptq_words_decode_as_gptq_does(fmt):
    x = np.random.default_rng(7).standard_normal((64, 256)).astype(np.float32)
    a = mxspec.encode(x, fmt)
    qweight, (scales, qzeros, g_idx) = mxspec.pack(a, "gptq")
    f = mxspec.block_format(fmt)
    b = f.element.bits
    assert qweight.dtype == np.int32 and qweight.shape == (256 * b // 32, 64)
    assert scales.shape == (256 // f.block_size, 64) and scales.dtype == np.float16
    assert g_idx.tolist() == (np.arange(256) // f.block_size).tolist()
    got = _gptq_dequant(qweight, qzeros, scales, g_idx, b)
    assert np.array_equal(got, mxspec.decode(a, np.float64))
    if fmt == "int4_g128_sym":  # zero point 8, stored as 7 in every nibble
        assert (qzeros.view(np.uint32) == 0x77777777).all()
    assert mxspec.unpack(qweight, (scales, qzeros, g_idx), fmt, x.shape, layout="gptq").equals(a)


@pytest.mark.parametrize("fmt", ["int4_g128", "int4_g64", "bf(int4,bfloat16,32,zero_point)"])
def test_awq_words_decode_as_awq_does(fmt):
    x = np.random.default_rng(8).standard_normal((32, 256)).astype(np.float32)
    a = mxspec.encode(x, fmt)
    qweight, (scales, qzeros) = mxspec.pack(a, "awq")
    g = mxspec.block_format(fmt).block_size
    assert qweight.shape == (256, 4) and qzeros.shape == (256 // g, 4)
    assert np.array_equal(_awq_dequant(qweight, qzeros, scales, g), mxspec.decode(a, np.float64))
    assert mxspec.unpack(qweight, (scales, qzeros), fmt, x.shape, layout="awq").equals(a)


def test_awq_word_order():
    """Nibble k of an AWQ qweight word holds output [0, 2, 4, 6, 1, 3, 5, 7][k] of its
    eight, and a GPTQ qweight word holds its output's inputs in order: codes set by
    hand (output o's input 0 is o - 8, unsigned o; input i of output 0 is i - 8)."""
    q = np.zeros((8, 8), np.int16)
    q[:, 0] = np.arange(8) - 8
    q[0, :] = np.arange(8) - 8
    f = mxspec.block_format("bf(int4,float16,8,zero_point)")
    a = mxspec.BlockArray((q & 15).astype(np.uint8), np.ones((8, 1), np.float16), f, 8, 1,
                          zero_points=np.full((8, 1), -8))
    qweight, _ = mxspec.pack(a, "awq")
    assert hex(int(qweight[0, 0]) & 0xFFFFFFFF) == "0x75316420"  # input 0: outputs 0,2,4,6,1,3,5,7
    gw, _ = mxspec.pack(a, "gptq")
    assert hex(int(gw[0, 0]) & 0xFFFFFFFF) == "0x76543210"       # output 0: inputs 0..7
    assert hex(int(gw[0, 1]) & 0xFFFFFFFF) == "0x88888881"  # output 1: 1, then code 0 = 8


# ---- g_idx (GPTQ act-order) ------------------------------------------------------------------

def test_g_idx_groups_are_the_permuted_contiguous_groups():
    """Encoding with g_idx (element i in group g_idx[i]) is encoding the columns
    sorted by group in contiguous groups: the same scales and zero points, the
    codes in the permuted places; decode puts each value back."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    perm = rng.permutation(256)
    g_idx = np.empty(256, np.int32)
    g_idx[perm] = np.arange(256) // 64  # act-order: the i-th column of the order is in i // 64
    a = mxspec.encode(x, "int4_g64", g_idx=g_idx)
    c = mxspec.encode(x[:, perm], "int4_g64")
    assert np.array_equal(a.scales, c.scales) and np.array_equal(a.zero_points, c.zero_points)
    assert np.array_equal(a.codes[:, perm], c.codes)
    assert np.array_equal(mxspec.decode(a)[:, perm], mxspec.decode(c))
    qweight, (scales, qzeros, gi) = mxspec.pack(a, "gptq")
    assert np.array_equal(gi, g_idx)
    assert np.array_equal(_gptq_dequant(qweight, qzeros, scales, gi, 4),
                          mxspec.decode(a, np.float64))
    back = mxspec.unpack(qweight, (scales, qzeros, gi), "int4_g64", x.shape, layout="gptq")
    assert back.equals(a)
    d, s = mxspec.pack(a)
    assert mxspec.unpack(d, s, "int4_g64", x.shape).equals(a)
    assert np.array_equal(mxspec.decode_packed(d, s, "int4_g64", x.shape), mxspec.decode(a))


# ---- names, worked examples, refusals --------------------------------------------------------

def test_names_and_rows():
    f = mxspec.block_format("int4_g128")
    assert (f.engine, f.element.name, f.block_size, f.scale_kind, f.zero_point) == \
        ("affine", "int4", 128, "float16", True)
    assert mxspec.block_format("int8_g64_sym_bf16").scale_kind == "bfloat16"
    assert not mxspec.block_format("int8_g64_sym_bf16").zero_point
    g = mxspec.block_format("bf(int4,float32,128,zero_point)")
    assert g.name == "int4_g128_fp32" and g.recipe.name == "exact"
    assert g == mxspec.block_format("int4_g128_fp32")
    ct = mxspec.block_format("int4_g128", recipe="compressed_tensors")
    assert ct.name == "int4_g128:compressed_tensors" and ct.recipe.arithmetic == "scale dtype"
    assert mxspec.block_format("int4_g128:compressed_tensors") == ct
    assert mxspec.block_formats("affine") == mxspec.int_formats()


def test_worked_example_of_spec_12():
    """SPEC.md 12.3's worked example."""
    x = np.float32([-1.0, 0.0, 0.5, 2.0])
    a = mxspec.encode(x, "bf(int4,float32,4,zero_point)")
    assert a.scales.tolist() == [np.float32(0.2)] and a.zero_points.tolist() == [-3]
    assert _signed(a.codes, 4).tolist() == [-8, -3, -1, 7]
    assert mxspec.decode(a).tolist() == [-1.0, 0.0, float(np.float32(0.4)), 2.0]
    s = mxspec.encode(x, "bf(int4,float16,4,symmetric)")
    assert float(s.scales[0]) == float(np.float16(2 / 7.5))
    assert _signed(s.codes, 4).tolist() == [-4, 0, 2, 7]


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match="no code for a NaN"):
        mxspec.encode(np.float32([1.0, np.nan]), "int4_g128")
    with pytest.raises(ValueError, match="no code for a NaN or an Inf"):
        mxspec.encode(np.float32([1.0, np.inf]), "int4_g128")
    with pytest.raises(ValueError, match="past float16's largest value"):
        mxspec.encode(np.float32([1e6, 1.0]), "int4_g128")  # 1e6 / 15 > 65504
    with pytest.raises(ValueError, match="past float16's largest"):
        mxspec.encode(np.float32([1e5, 1.0]), "int4_g128:compressed_tensors")
    with pytest.raises(ValueError, match=r"g_idx has shape \(3,\)"):
        mxspec.encode(np.zeros((2, 4), np.float32), "int4_g128", g_idx=[0, 0, 0])
    with pytest.raises(ValueError, match="the groups are 0..0"):
        mxspec.encode(np.zeros(4, np.float32), "int4_g128", g_idx=[0, 1, 0, 0])
    with pytest.raises(ValueError, match="only integer groups"):
        mxspec.encode(np.zeros(4, np.float32), "mxfp8_e4m3", g_idx=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="takes no rounding"):
        mxspec.encode(np.zeros(4, np.float32), "int4_g128", rounding="rtz")
    with pytest.raises(ValueError, match="allowed values: exact, compressed_tensors"):
        mxspec.block_format("int4_g128", recipe="gguf")
    with pytest.raises(ValueError, match="scale one of float16, bfloat16, float32"):
        mxspec.block_format("bf(int4,float64,128,zero_point)")
    a = mxspec.encode(np.ones((8, 16), np.float32), "int4_g128")
    with pytest.raises(ValueError, match="holds integer groups"):
        mxspec.pack(mxspec.encode(np.ones(32, np.float32), "mxfp4_e2m1"), "gptq")
    with pytest.raises(ValueError, match="awq' stores 4-bit codes with zero points"):
        mxspec.pack(mxspec.encode(np.ones((8, 16), np.float32), "int8_g128"), "awq")
    with pytest.raises(ValueError, match="2-D weight"):
        mxspec.pack(mxspec.encode(np.ones(16, np.float32), "int4_g128"), "gptq")
    d, s = mxspec.pack(a, "compressed-tensors")
    with pytest.raises(ValueError, match="weight_packed has shape"):
        mxspec.unpack(d[:, :1], s, "int4_g128", a.shape, layout="compressed-tensors")
    with pytest.raises(TypeError, match="weight_scale must be float16"):
        mxspec.unpack(d, (s[0].astype(np.float32), s[1]), "int4_g128", a.shape,
                      layout="compressed-tensors")
    with pytest.raises(ValueError, match="zero_points hold 9"):
        mxspec.BlockArray(a.codes, a.scales, a.format, 128, 1, zero_points=np.full((8, 1), 9))
    with pytest.raises(ValueError, match="needs zero_points"):
        mxspec.BlockArray(a.codes, a.scales, a.format, 128, 1)


# ---- compressed-tensors' pack-quantized checkpoints ------------------------------------------

def _ct_file_tensors(cap, key, dtype, bits, sym):
    """The tensors compressed-tensors' PackedQuantizationCompressor writes for one
    weight, from its capture: weight_packed, weight_scale (the weight's dtype),
    weight_zero_point (packed along the output axis; asymmetric only), weight_shape."""
    sc = cap[f"{key}/scale"].view(np.float32).astype(NP_DTYPE[dtype])
    t = {"layer.weight_packed": cap[f"{key}/packed"], "layer.weight_scale": sc,
         "layer.weight_shape": np.array(cap["x"].shape[1:], np.int64)}
    if not sym:
        t["layer.weight_zero_point"] = cap[f"{key}/packed_zero_point"]
    return t


@pytest.mark.parametrize("dtype,bits,group,sym", [("bfloat16", 4, 128, False),
                                                  ("float16", 4, 32, True),
                                                  ("float32", 8, 64, False)])
def test_pack_quantized_checkpoints_read_and_write_byte_for_byte(tmp_path, dtype, bits, group,
                                                                  sym):
    """A file of compressed-tensors' pack-quantized tensors (from its capture)
    loads as the compressed_tensors recipe's BlockArray, decoding to its
    dequantized values; mxspec.save writes the same tensors, byte for byte."""
    from safetensors.numpy import load_file, save_file
    cap = _capture()
    key = f"{dtype}/{bits}/{group}/{'sym' if sym else 'asym'}/0"
    tensors = _ct_file_tensors(cap, key, dtype, bits, sym)
    p = tmp_path / "ct.safetensors"
    save_file(tensors, str(p))
    assert mxspec.layout(p) == "compressed-tensors"
    w = mxspec.load(p)["layer.weight"]
    mine = mxspec.encode(cap["x"][0], _name(bits, dtype, group, sym, "compressed_tensors"))
    assert w.equals(mine)
    assert np.array_equal(mxspec.decode(w).view(np.uint32), cap[f"{key}/dequant"])
    q = tmp_path / "mine.safetensors"
    mxspec.save(q, {"layer.weight": mine}, layout="compressed-tensors")
    back = load_file(str(q))
    assert sorted(back) == sorted(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].tobytes() == v.tobytes(), k


def test_pack_quantized_checkpoints_refused_with_reasons(tmp_path):
    from safetensors.numpy import save_file
    cap = _capture()
    t = _ct_file_tensors(cap, "bfloat16/4/128/asym/0", "bfloat16", 4, False)
    cases = {
        "scale shape": dict(t, **{"layer.weight_scale": t["layer.weight_scale"][:, :1]}),
        "packed dtype": dict(t, **{"layer.weight_packed": t["layer.weight_packed"].view(np.uint32)}),
        "zp dtype": dict(t, **{"layer.weight_zero_point": t["layer.weight_zero_point"].astype(np.int64)}),
        "shape": dict(t, **{"layer.weight_shape": np.array([8, 200], np.int64)}),
    }
    messages = {"scale shape": "weight_(scale|zero_point) has shape", "packed dtype": "cannot tell|must be int32",
                "zp dtype": "must be int32", "shape": "has shape|nonzero bits"}
    for what, tensors in cases.items():
        p = tmp_path / f"{what.replace(' ', '_')}.safetensors"
        save_file(tensors, str(p))
        with pytest.raises(ValueError, match=messages[what]):
            w = mxspec.load(p)
            assert "layer.weight" in w, what  # a file it cannot read as groups is no pass
    a = mxspec.encode(np.ones(16, np.float32), "int4_g128")
    with pytest.raises(ValueError, match="at least two"):
        mxspec.save(tmp_path / "x.safetensors", {"l.weight": a}, layout="compressed-tensors")
    with pytest.raises(ValueError, match="'<layer>.weight'"):
        mxspec.save(tmp_path / "x.safetensors", {"l.w": mxspec.encode(np.ones((8, 16), np.float32),
                                                                      "int4_g128")},
                    layout="compressed-tensors")


def test_pack_quantized_live_compressor(tmp_path):
    """Where compressed-tensors imports: its PackedQuantizationCompressor's
    compress output equals what mxspec.save writes, tensor for tensor, and its
    decompress equals mxspec.decode of the file mxspec.load reads."""
    if importlib.util.find_spec("compressed_tensors") is None:
        pytest.skip("compressed-tensors is not installed (its capture is checked above)")
    import torch
    from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    from compressed_tensors.quantization.utils import calculate_qparams
    from safetensors.numpy import load_file
    x = np.random.default_rng(21).standard_normal((16, 256)).astype(np.float32)
    for sym in (False, True):
        w = torch.from_numpy(x).to(torch.bfloat16)
        args = QuantizationArgs(num_bits=4, type="int", strategy="group", group_size=64,
                                symmetric=sym)
        g = w.unflatten(-1, (4, 64))
        s, z = calculate_qparams(g.amin(-1), g.amax(-1), args)
        scheme = QuantizationScheme(targets=["Linear"], weights=args)
        sd = PackedQuantizationCompressor.compress(
            {"weight": w, "weight_scale": s, "weight_zero_point": z}, scheme)
        mine = mxspec.encode(x, _name(4, "bfloat16", 64, sym, "compressed_tensors"))
        p = tmp_path / f"m{sym}.safetensors"
        mxspec.save(p, {"l.weight": mine}, layout="compressed-tensors")
        got = load_file(str(p))
        assert sorted(got) == sorted("l." + k for k in sd)
        for k, v in sd.items():
            want = v.view(torch.int16).numpy() if v.dtype == torch.bfloat16 else v.numpy()
            have = got["l." + k]
            have = have.view(np.int16) if have.dtype == NP_DTYPE["bfloat16"] else have
            assert have.tobytes() == want.tobytes(), k
        dec = PackedQuantizationCompressor.decompress(dict(sd), scheme)["weight"]
        assert np.array_equal(mxspec.decode(mxspec.load(p)["l.weight"]),
                              dec.float().numpy())
