"""mxspec.rht, the random Hadamard transform of the NVFP4 training recipes
(SPEC.md 13): its laws, a fractions reference on every rounding path, and
torch's bfloat16 matmul on the CPU as an independent implementation."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import mxspec
from mxspec.tables.transforms import TE_RHT_SIGNS, hadamard

import rht_reference

BF16 = ml_dtypes.bfloat16


def _reference(x):
    """Each group's outputs in exact rationals, sum_i x_i s_i H[i, j] / 4, rounded
    once (tests/rht_reference.py, its own Hadamard matrix)."""
    return rht_reference.transform_bits(x, [int(v) for v in TE_RHT_SIGNS])


def test_the_matrix_is_orthogonal_and_its_entries_are_exact_in_bfloat16():
    m = mxspec.rht_matrix()
    assert np.array_equal(m @ m.T, np.eye(16))
    assert np.array_equal(m.astype(BF16).astype(np.float64), m)
    assert set(np.abs(m).ravel()) == {0.25}
    assert np.array_equal(np.sign(m[:, 0]), TE_RHT_SIGNS)  # rows carry the signs


def test_rows_equal_the_fractions_reference():
    """Gaussian bfloat16 rows (the float64 path), rows whose magnitudes span 2^-120
    to 2^100 (the rational path), ties of the final rounding, signed zeros."""
    rng = np.random.default_rng(0)
    narrow = rng.standard_normal((8, 16))
    wide = rng.standard_normal((8, 16)) * np.exp2(rng.integers(-120, 100, (8, 16)))
    big = np.zeros((1, 16))  # 5 x max / 4 overflows to Inf; 3 x max / 4 does not
    big[0, [5, 6, 11, 12, 13]] = -float(ml_dtypes.finfo(BF16).max)
    tie = np.zeros((1, 16))
    tie[0, :2] = [512.0, 2.0]  # outputs (512 + 2)/4 = 128.5: halfway between 128 and 129
    zeros = np.array([[0.0, -0.0] * 8])
    x = np.concatenate([narrow, wide, tie, zeros, big]).astype(BF16)
    got = mxspec.rht(x).view(np.uint16).ravel()
    assert np.array_equal(got, _reference(x))
    assert mxspec.rht(x[16:17]).astype(np.float32)[0, :2].tolist() == [128.0, 127.5]
    assert np.isinf(mxspec.rht(x[18:19]).astype(np.float32)).any()


@settings(max_examples=60, deadline=None)
@example([0] * 5 + [-129, -129] + [0] * 4 + [-129] * 3 + [0, 0])  # -max x 5: an output overflows
@given(st.lists(st.integers(-2 ** 15, 2 ** 15 - 1).filter(lambda b: (b & 0x7F80) != 0x7F80),
                min_size=16, max_size=16))
def test_any_bfloat16_group_equals_the_reference(bits):
    x = np.array(bits, np.int16).view(np.uint16).view(BF16)
    assert np.array_equal(mxspec.rht(x).view(np.uint16), _reference(x))


def test_inverse_and_the_product_law_where_the_transform_is_exact():
    """Integer inputs whose transforms are exact: rht then its inverse gives x
    back, and a dot product of two transformed operands is the original's."""
    rng = np.random.default_rng(1)
    x = (4 * rng.integers(-8, 9, (5, 64))).astype(np.float32)
    w = (4 * rng.integers(-8, 9, (7, 64))).astype(np.float32)
    tx, tw = mxspec.rht(x), mxspec.rht(w)
    assert np.array_equal(mxspec.rht(tx, inverse=True).astype(np.float32), x)
    assert np.array_equal(tx.astype(np.float64) @ tw.astype(np.float64).T,
                          x.astype(np.float64) @ w.astype(np.float64).T)
    # along axis 0, as for the K axis of a (K, N) operand
    assert np.array_equal(mxspec.rht(x.T, axis=0).astype(np.float32), tx.T.astype(np.float32))


def test_torch_bfloat16_matmul_on_the_cpu_agrees():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((512, 64)).astype(BF16)
    h = torch.from_numpy(mxspec.rht_matrix().astype(np.float32)).bfloat16()
    t = torch.from_numpy(x.astype(np.float32)).bfloat16().reshape(-1, 16) @ h
    want = t.float().numpy().astype(BF16).reshape(512, 64).view(np.uint16)
    assert np.array_equal(mxspec.rht(x).view(np.uint16), want)


def test_other_dtypes_signs_and_sizes():
    x = np.arange(32, dtype=np.float32) - 7.5
    y16 = mxspec.rht(x, dtype="float16")
    assert y16.dtype == np.float16
    plain = mxspec.rht(x, signs="none", dtype="float32")
    assert np.array_equal(plain[:16], (hadamard(16) @ x[:16].astype(np.float64) / 4)
                          .astype(np.float32))
    y4 = mxspec.rht(x, size=4, signs=[1, -1, 1, 1], dtype="float32")
    m4 = np.diag([1, -1, 1, 1]) @ hadamard(4) / 2
    assert np.array_equal(y4, (x.reshape(-1, 4).astype(np.float64) @ m4).astype(np.float32)
                          .ravel())


def test_bad_input_names_the_argument():
    x = np.zeros((2, 32), np.float32)
    with pytest.raises(ValueError, match="x's axis 0 has 2 values, not a multiple of size=16"):
        mxspec.rht(x, axis=0)
    with pytest.raises(ValueError, match="axis=2; allowed: -2 .. 1"):
        mxspec.rht(x, axis=2)
    with pytest.raises(ValueError, match="size=12; allowed: a power of two"):
        mxspec.rht(x, size=12, signs="none")
    with pytest.raises(ValueError, match="signs='te' has 16 entries; size=8"):
        mxspec.rht(x, size=8)
    with pytest.raises(ValueError, match="signs: 16 values, each \\+1 or -1"):
        mxspec.rht(x, signs=[1] * 15)
    with pytest.raises(ValueError, match="signs='rand'; allowed: 'te', 'none'"):
        mxspec.rht(x, signs="rand")
    with pytest.raises(ValueError, match="dtype='float64'; allowed: bfloat16, float16, float32"):
        mxspec.rht(x, dtype="float64")


# encode(..., rht=): the transform applied along the blocked axis before encoding
# (SPEC.md 13.2)

@pytest.mark.parametrize("fmt", ["nvfp4", "nvfp4:4over6", "mxfp4_e2m1", "mxint8", "mx6",
                                 "int4_g128", "if4"])
@pytest.mark.parametrize("axis", [0, -1])
def test_encode_with_rht_is_encode_of_the_transform(fmt, axis):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((128, 256)).astype(np.float32)
    a = mxspec.encode(x, fmt, axis=axis, rht="te")
    b = mxspec.encode(mxspec.rht(x, axis=axis), fmt, axis=axis)
    assert a.rht is mxspec.tables.transforms.RHT_PROFILES["te"] and b.rht is None
    assert np.array_equal(a.codes, b.codes) and np.array_equal(
        np.asarray(a.scales).view(np.uint8), np.asarray(b.scales).view(np.uint8))
    assert not a.equals(b)  # the record says the values are transformed
    assert a.equals(mxspec.encode(x, fmt, axis=axis, rht=True))
    data, scales = mxspec.encode_packed(x, fmt, axis=axis, rht="te")
    assert np.array_equal(data, mxspec.pack(a)[0])


def test_encode_with_a_custom_rht():
    x = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    spec = {"size": 8, "signs": "none", "dtype": "float32"}
    a = mxspec.encode(x, "mxfp8_e4m3", rht=spec)
    assert a.rht.name == "custom" and a.rht.size == 8 and a.rht.signs is None
    assert np.array_equal(a.codes, mxspec.encode(mxspec.rht(x, size=8, signs="none",
                                                            dtype="float32"), "mxfp8_e4m3").codes)
    signs = (1, -1) * 4
    b = mxspec.encode(x, "mxfp8_e4m3", rht={"size": 8, "signs": signs, "dtype": "float32"})
    assert b.rht.signs == signs and not np.array_equal(a.codes, b.codes)


def test_product_of_transformed_operands_is_the_product():
    """x . w = rht(x) . rht(w) (the matrix is orthogonal): with entries -1, 0, 1
    every transformed value is a multiple of 1/4 of at most 4, which MXINT8 holds
    exactly, so the exact accumulator gives x @ w itself."""
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, (8, 64)).astype(np.float32)
    w = rng.integers(-1, 2, (64, 5)).astype(np.float32)
    a = mxspec.encode(x, "mxint8", rht="te")
    b = mxspec.encode(w, "mxint8", axis=0, rht="te")
    assert not np.array_equal(mxspec.decode(a), x)  # transformed
    assert np.array_equal(mxspec.matmul(a, b), x @ w)
    assert np.array_equal(mxspec.dot(a, mxspec.encode(x, "mxint8", rht="te")),
                          (x * x).sum(-1))
    # the inverse on the decoded values gives x back
    assert np.array_equal(mxspec.rht(mxspec.decode(a), inverse=True, dtype="float32"), x)


def test_mismatched_transforms_are_refused():
    x = np.ones((2, 32), np.float32)
    a = mxspec.encode(x, "mxint8", rht="te")
    with pytest.raises(ValueError, match=r"a.rht='te' but b.rht=none"):
        mxspec.matmul(a, mxspec.encode(x.T, "mxint8", axis=0))
    with pytest.raises(ValueError, match=r"b.rht='te'"):
        mxspec.dot(mxspec.encode(x, "mxint8"), a)
    custom = mxspec.encode(x, "mxint8", rht={"size": 16, "signs": "none"})
    with pytest.raises(ValueError, match=r"a.rht='te' but b.rht=RHTSpec"):
        mxspec.dot(a, custom)


def test_rht_travels_with_slicing_and_checkpoints(tmp_path):
    x = np.random.default_rng(4).standard_normal((4, 64)).astype(np.float32)
    a = mxspec.encode(x, "mxint8", rht="te")
    assert mxspec.slice_and_scale(a, "mxint4").rht is a.rht
    c = mxspec.encode(x, "mxfp8_e4m3", rht={"size": 4, "signs": (1, -1, -1, 1),
                                            "dtype": "float16"})
    m = mxspec.encode(x, "mx6", rht="te")
    path = tmp_path / "t.safetensors"
    mxspec.save(path, {"a": a, "c": c, "m": m, "plain": mxspec.encode(x, "nvfp4")})
    back = mxspec.load(path)
    assert back["a"].equals(a) and back["a"].rht is a.rht
    assert back["c"].equals(c) and back["c"].rht.signs == (1, -1, -1, 1)
    assert back["m"].equals(m) and back["plain"].rht is None
    with pytest.raises(ValueError, match=r"tensor 'a' went through a Hadamard transform"):
        mxspec.save(tmp_path / "u.safetensors", {"a": a}, layout="gguf")


@pytest.mark.parametrize("rht, match", [
    ("tee", r"rht='tee'; allowed: 'te', True"),
    (3, r"rht= must be None, True, a profile name"),
    ({"size": 16, "sign": "te"}, r"unknown keys \['sign'\]"),
    ({"size": 12}, r"size=12; allowed: a power of two"),
    ({"size": 8}, r"rht signs: 8 values, each \+1 or -1; got 16"),
    ({"size": 4, "signs": (1, 2, 1, 1)}, r"rht signs: 4 values"),
    ({"dtype": "float64"}, r"rht dtype='float64'; allowed: bfloat16, float16, float32"),
])
def test_bad_rht_names_the_argument(rht, match):
    with pytest.raises((ValueError, TypeError), match=match):
        mxspec.encode(np.ones(64, np.float32), "nvfp4", rht=rht)


def test_rht_size_must_divide_the_blocked_axis():
    with pytest.raises(ValueError, match=r"rht='te' \(size 16\): x's axis 0 has 40 values, "
                                         r"not a multiple of size=16"):
        mxspec.encode(np.ones((40, 32), np.float32), "nvfp4", axis=0, rht="te")
    a = mxspec.encode(np.ones(32, np.float32), "mxint8")
    with pytest.raises(ValueError, match=r"rht size 64 does not divide the blocked axis's 32"):
        mxspec.BlockArray(a.codes, a.scales, a.format, 32, 0,
                          rht=mxspec.tables.transforms.rht_spec({"size": 64, "signs": "none"}))
