"""The B200's tcgen05.mma kind::f8f6f4 and kind::mxf8f6f4 rows (SPEC.md 8.7),
against MMA-Sim (mmasim 2.1.1, the published simulator of B200 silicon;
torch on the CPU) and the fractions reference of tests/dot_reference.py."""
import dataclasses
import itertools

import numpy as np
import pytest

import mxspec
from dot_reference import blockfma_model

TYPES = ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1")
PTX = {"fp8_e4m3": "e4m3", "fp8_e5m2": "e5m2", "fp6_e3m2": "e3m2", "fp6_e2m3": "e2m3",
       "fp4_e2m1": "e2m1"}
MX = {"fp8_e4m3": "mxfp8_e4m3", "fp8_e5m2": "mxfp8_e5m2", "fp6_e3m2": "mxfp6_e3m2",
      "fp6_e2m3": "mxfp6_e2m3", "fp4_e2m1": "mxfp4_e2m1"}


def _values(f):
    return mxspec.decode_elements(np.arange(1 << mxspec.element_format(f).bits), f)


def _codes(rng, f, shape, gen):
    """Codes of generator gen: random finite codes with zeros; subnormals only;
    products that cancel in pairs (for rows of K); Inf and NaN among them (FP8)."""
    v = _values(f)
    fin = np.flatnonzero(np.isfinite(v))
    c = rng.choice(fin, shape)
    if gen == "subnormal":
        ef = mxspec.element_format(f)
        sub = np.flatnonzero(np.isfinite(v) & (np.abs(v) < 2.0 ** ef.emin))
        c = rng.choice(sub, shape)
    c[rng.random(shape) < 0.1] = 0
    if gen == "special" and f.startswith("fp8"):
        spec = np.flatnonzero(~np.isfinite(v))
        c[rng.random(shape) < 0.02] = rng.choice(spec)
    return c.astype(np.uint8)


def _inputs(rng, fa, fb, M, N, K, gen):
    A = _codes(rng, fa, (M, K), gen)
    B = _codes(rng, fb, (K, N), gen)
    if gen == "cancel":  # the second half of each row undoes the first
        A[:, K // 2:] = A[:, :K // 2] ^ (1 << (mxspec.element_format(fa).bits - 1))
        B[K // 2:] = B[:K // 2]
    C = (rng.standard_normal((M, N)) * np.exp2(rng.integers(-40, 40, (M, N)))).astype(np.float32)
    C[::3] = 0
    C[1::5] = np.float32(3e-39)  # a float32 subnormal C
    return A, B, C


def _torch_operand(torch, codes, f):
    t = torch.from_numpy(np.ascontiguousarray(codes, np.uint8))
    if f == "fp8_e4m3":
        return t.view(torch.float8_e4m3fn)
    if f == "fp8_e5m2":
        return t.view(torch.float8_e5m2)
    return t << 2 if f == "fp4_e2m1" else t  # MMA-Sim holds FP4 in bits 5:2 of a byte


def _same(x, y):
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return (x.view(np.uint32) == y.view(np.uint32)) | (np.isnan(x) & np.isnan(y))


@pytest.mark.parametrize("fa, fb", list(itertools.product(TYPES, TYPES)))
def test_f8f6f4_equals_mmasim_on_all_25_pairs(fa, fb):
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    rng = np.random.default_rng(hash((fa, fb)) % 2 ** 32)
    op = sim.TCGen05MMA("Blackwell", f"m64n8k32.kind::f8f6f4.f32.{PTX[fa]}.{PTX[fb]}")
    n = 0
    for gen, K in (("random", 256), ("subnormal", 64), ("cancel", 64), ("special", 96)):
        A, B, C = _inputs(rng, fa, fb, 16, 8, K, gen)
        want = op(_torch_operand(torch, A, fa), _torch_operand(torch, B, fb),
                  torch.from_numpy(C)).numpy()
        got = mxspec.matmul_elements(A, B, fa, fb, "b200_f8f6f4", c=C)
        assert _same(got, want).all(), (gen, np.argwhere(~_same(got, want))[:3])
        n += want.size
    assert n == 4 * 128


@pytest.mark.parametrize("gen", ["wide", "tiny", "huge", "nan_scale"])
def test_mxf8f6f4_equals_mmasim(gen):
    """Block-scaled: scales over all of UE8M0, scales that push products below
    the 2^-133 floor, scales that overflow float32, a NaN scale; one instruction
    per 32 products, each result the next one's C (as a kernel chains them)."""
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    rng = np.random.default_rng(["wide", "tiny", "huge", "nan_scale"].index(gen))
    lo, hi = {"wide": (0, 255), "tiny": (0, 12), "huge": (240, 255), "nan_scale": (100, 150)}[gen]
    for fa, fb in itertools.product(TYPES, TYPES):
        M, N, K = 8, 8, 128
        A, B, C = _inputs(rng, fa, fb, M, N, K, "random")
        sa = rng.integers(lo, hi, (M, K // 32)).astype(np.uint8)
        sb = rng.integers(lo, hi, (K // 32, N)).astype(np.uint8)
        if gen == "nan_scale":
            sa[0, 1], sb[2, 3] = 255, 255
        op = sim.TCGen05MMABlockScale(
            "Blackwell", f"m128n8k32.kind::mxf8f6f4.block32.f32.{PTX[fa]}.{PTX[fb]}.ue8m0")
        want = torch.from_numpy(C)
        for i in range(K // 32):
            want = op(_torch_operand(torch, A[:, 32 * i:32 * i + 32], fa),
                      _torch_operand(torch, B[32 * i:32 * i + 32], fb), want,
                      torch.from_numpy(np.ascontiguousarray(sa[:, i:i + 1])).view(torch.float8_e8m0fnu),
                      torch.from_numpy(np.ascontiguousarray(sb[i:i + 1])).view(torch.float8_e8m0fnu))
        a = mxspec.BlockArray(A, sa, mxspec.block_format(MX[fa]), 32, 1)
        b = mxspec.BlockArray(B, sb, mxspec.block_format(MX[fb]), 32, 0)
        got = mxspec.matmul(a, b, "b200_mxf8f6f4", c=C)
        assert _same(got, want.numpy()).all(), (fa, fb)


def test_each_parameter_is_seen_by_the_capture_inputs():
    """The block-scaled inputs above tell the row from its neighbours: without
    the zero floor, saturating instead of Inf, or one bit fewer, outputs move."""
    rng = np.random.default_rng(5)
    base = mxspec.accumulator("b200_mxf8f6f4")
    A, B, C = _inputs(rng, "fp8_e4m3", "fp8_e4m3", 8, 8, 128, "random")
    moved = {}
    for lo, hi in ((0, 12), (240, 255), (110, 140)):
        sa = rng.integers(lo, hi, (8, 4)).astype(np.uint8)
        sb = rng.integers(lo, hi, (4, 8)).astype(np.uint8)
        a = mxspec.BlockArray(A, sa, mxspec.block_format("mxfp8_e4m3"), 32, 1)
        b = mxspec.BlockArray(B, sb, mxspec.block_format("mxfp8_e4m3"), 32, 0)
        ref = mxspec.matmul(a, b, base, c=C)
        for name, kw in (("zero_exp", dict(zero_exp=None)), ("overflow", dict(overflow="saturate")),
                         ("frac_bits", dict(frac_bits=24))):
            alt = mxspec.matmul(a, b, dataclasses.replace(base, name=name, **kw), c=C)
            moved[name] = moved.get(name, False) or not _same(alt, ref).all()
    assert all(moved.values()), moved


def test_rows_equal_the_fractions_reference():
    """The engine against SPEC.md 8.3's words as tests/dot_reference.py writes
    them, with the floor and the overflow rule, on scaled and unscaled inputs."""
    rng = np.random.default_rng(8)
    for fa, fb in (("fp8_e4m3", "fp4_e2m1"), ("fp6_e3m2", "fp8_e5m2"), ("fp6_e2m3", "fp6_e2m3")):
        A, B, C = _inputs(rng, fa, fb, 4, 4, 64, "random")
        sa = rng.integers(0, 255, (4, 2)).astype(np.uint8)
        sb = rng.integers(0, 255, (2, 4)).astype(np.uint8)
        sa[0] = [2, 3]  # products near 2^-250: under the floor
        sb[:, 0] = [250, 249]  # past float32: Inf
        a = mxspec.BlockArray(A, sa, mxspec.block_format(MX[fa]), 32, 1)
        b = mxspec.BlockArray(B, sb, mxspec.block_format(MX[fb]), 32, 0)
        got = mxspec.matmul(a, b, "b200_mxf8f6f4", c=C)
        m = mxspec.accumulator("b200_mxf8f6f4")
        va, vb = _values(fa), _values(fb)
        for i in range(4):
            for j in range(4):
                want = blockfma_model([float(v) for v in va[A[i]]], [float(v) for v in vb[B[:, j]]],
                                      [int(s) - 127 for s in sa[i]], [int(s) - 127 for s in sb[:, j]],
                                      32, float(C[i, j]), m, mxspec.element_format(fa),
                                      mxspec.element_format(fb))
                assert _same(got[i, j], want), (fa, fb, i, j, got[i, j], want)


def test_worked_example_the_zero_floor():
    """SPEC.md 8.7: one product 2^-140 (scales 2^-70 each, elements 1 x 1) and 31
    zeros: the zero products count at 2^-133, so 25 bits below it reach 2^-158
    and the product survives; with scales of 2^-80 the product, 2^-160, is cut
    to 0."""
    a_codes = np.zeros((1, 32), np.uint8)
    a_codes[0, 0] = 0x38  # 1.0
    b_codes = a_codes.T.copy()
    for s, want in ((127 - 70, 2.0 ** -140), (127 - 80, 0.0)):
        a = mxspec.BlockArray(a_codes, np.array([[s]], np.uint8), mxspec.block_format("mxfp8_e4m3"), 32, 1)
        b = mxspec.BlockArray(b_codes, np.array([[s]], np.uint8), mxspec.block_format("mxfp8_e4m3"), 32, 0)
        assert float(mxspec.matmul(a, b, "b200_mxf8f6f4")[0, 0]) == np.float32(want)
        assert float(mxspec.matmul(a, b, "exact")[0, 0]) == np.float32(2.0 ** (2 * (s - 127)))


def test_bad_input_names_the_row():
    x = mxspec.encode(np.ones((2, 64)), "mxfp8_e4m3")
    w = mxspec.encode(np.ones((64, 2)), "mxfp8_e4m3", axis=0)
    with pytest.raises(ValueError, match="element codes only"):
        mxspec.matmul(x, w, "b200_f8f6f4")
    x16 = mxspec.encode(np.ones((2, 64)), "mxfp8_e4m3", block_size=16)
    w16 = mxspec.encode(np.ones((64, 2)), "mxfp8_e4m3", axis=0, block_size=16)
    with pytest.raises(ValueError, match="MX blocks of 32; a and b have block_size=16"):
        mxspec.matmul(x16, w16, "b200_mxf8f6f4")
    with pytest.raises(ValueError, match="takes element formats fp8_e4m3, fp8_e5m2, fp6_e3m2"):
        mxspec.dot_elements([1, 2], [1, 2], "fp8_e4m3fnuz", "fp8_e4m3", "b200_f8f6f4")
    assert mxspec.accumulator("sm120_mxf8f6f4") is mxspec.accumulator("b200_mxf8f6f4")
