"""The B200's tcgen05.mma kind::f8f6f4 and kind::mxf8f6f4 rows (SPEC.md 8.7),
against MMA-Sim (mmasim 2.1.1, the published simulator of B200 silicon;
torch on the CPU) and the fractions reference of tests/dot_reference.py."""
import dataclasses
import itertools
import zlib

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
    rng = np.random.default_rng(zlib.crc32(repr((fa, fb)).encode()))
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
    the zero floor, saturating instead of Inf, or one bit fewer, outputs move
    (scales 55..75 put products at the floor, 2^-133)."""
    rng = np.random.default_rng(5)
    base = mxspec.accumulator("b200_mxf8f6f4")
    A, B, C = _inputs(rng, "fp8_e4m3", "fp8_e4m3", 8, 8, 128, "random")
    moved = {}
    for lo, hi in ((0, 12), (240, 255), (110, 140), (55, 75)):  # 55-75: near the floor
        sa = rng.integers(lo, hi, (8, 4)).astype(np.uint8)
        sb = rng.integers(lo, hi, (4, 8)).astype(np.uint8)
        a = mxspec.BlockArray(A, sa, mxspec.block_format("mxfp8_e4m3"), 32, 1)
        b = mxspec.BlockArray(B, sb, mxspec.block_format("mxfp8_e4m3"), 32, 0)
        ref = mxspec.matmul(a, b, base, c=C)
        for name, kw in (("overflow", dict(overflow="saturate")), ("frac_bits", dict(frac_bits=24))):
            alt = mxspec.matmul(a, b, dataclasses.replace(base, name=name, **kw), c=C)
            moved[name] = moved.get(name, False) or not _same(alt, ref).all()
    assert all(moved.values()), moved
    # The floor shows only in a directed group (a sign of a zero no longer tells, every
    # zero being +0): 256 x 256 and 0.125 x -0.125 under 2^-156, 30 zero products: with
    # the floor at 2^-133 the cut is at 2^-158 and -2^-162 vanishes (2^-140, as MMA-Sim
    # gives); without it the cut is at 2^-165 and the sum truncates below 2^-140.
    x = np.zeros((1, 32), np.uint8)
    y = np.zeros((32, 1), np.uint8)
    x[0, :2], y[:2, 0] = [0x78, 0x20], [0x78, 0xA0]
    s49 = np.uint8([[49]])
    a = mxspec.BlockArray(x, s49, mxspec.block_format("mxfp8_e4m3"), 32, 1)
    b = mxspec.BlockArray(y, s49, mxspec.block_format("mxfp8_e4m3"), 32, 0)
    assert float(mxspec.matmul(a, b, base)[0, 0]) == 2.0 ** -140
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    op = sim.TCGen05MMABlockScale("Blackwell", "m128n8k32.kind::mxf8f6f4.block32.f32.e4m3.e4m3.ue8m0")
    e8 = torch.from_numpy(s49).view(torch.float8_e8m0fnu)
    want = op(_torch_operand(torch, x, "fp8_e4m3"), _torch_operand(torch, y, "fp8_e4m3"),
              torch.zeros((1, 1)), e8, e8).numpy()
    assert float(want[0, 0]) == 2.0 ** -140
    nofloor = dataclasses.replace(base, name="nofloor", zero_exp=None)
    assert mxspec.matmul(a, b, nofloor)[0, 0] == np.nextafter(np.float32(2.0 ** -140), np.float32(0))


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
    with pytest.raises(ValueError, match="takes E8M0 scales per 32; a is mxfp8_e4m3 with E8M0 scales per 16"):
        mxspec.matmul(x16, w16, "b200_mxf8f6f4")
    with pytest.raises(ValueError, match="takes element formats fp8_e4m3, fp8_e5m2, fp6_e3m2"):
        mxspec.dot_elements([1, 2], [1, 2], "fp8_e4m3fnuz", "fp8_e4m3", "b200_f8f6f4")
    assert mxspec.accumulator("sm120_mxf8f6f4") is mxspec.accumulator("b200_mxf8f6f4")


# ---- kind::mxf4 and kind::mxf4nvf4 (SPEC.md 8.7): E2M1, K = 64 per instruction -------------

FP4_KINDS = (("b200_mxf4", "mxf4", 32, "ue8m0"), ("b200_mxf4nvf4", "mxf4nvf4", 32, "ue8m0"),
             ("b200_mxf4nvf4", "mxf4nvf4", 16, "ue8m0"), ("b200_mxf4nvf4", "mxf4nvf4", 16, "ue4m3"))
E2M1 = mxspec.decode_elements(np.arange(16), "fp4_e2m1")


def _fp4_scales(rng, st, shape, gen):
    """Scale codes of generator gen: all of the type's range; UE8M0 tiny
    (under the 2^-139 floor), at the floor (products near 2^-139) or huge
    (past float32); UE4M3 near 448, subnormal
    (codes 1..7) and zero; a NaN scale; sign bits set on UE4M3 (ignored)."""
    if st == "ue8m0":
        lo, hi = {"wide": (0, 255), "tiny": (0, 16), "huge": (235, 255), "nan": (100, 150),
                  "cancel": (110, 140), "floor": (50, 75)}.get(gen, (0, 255))
        s = rng.integers(lo, hi, shape)
    else:
        s = {"wide": lambda: rng.integers(0, 0x7F, shape),
             "tiny": lambda: rng.integers(0, 8, shape),          # subnormal UE4M3 and zero
             "huge": lambda: rng.integers(0x70, 0x7F, shape),     # 2^7 .. 448
             "nan": lambda: rng.integers(0x30, 0x48, shape),
             "floor": lambda: rng.integers(0, 0x7F, shape),
             "cancel": lambda: rng.integers(0x30, 0x48, shape),
             "signed": lambda: rng.integers(0, 256, shape) & ~np.uint8(0x7F) | rng.integers(0, 0x7F, shape)}[gen]()
    s = np.asarray(s).astype(np.uint8)
    if gen == "nan":
        s.flat[1] = 0xFF if st == "ue8m0" else 0x7F
    return s


def _fp4_case(rng, st, bs, M, N, K, gen):
    A = rng.integers(0, 16, (M, K)).astype(np.uint8)
    B = rng.integers(0, 16, (K, N)).astype(np.uint8)
    A[rng.random(A.shape) < 0.15] = 0
    B[:, ::5][rng.random(B[:, ::5].shape) < 0.5] = 8  # -0
    if gen == "cancel":  # each group of 16: its second half undoes its first
        A4 = A.reshape(M, K // 16, 16)
        A4[:, :, 8:] = A4[:, :, :8] ^ 8
        B4 = B.reshape(K // 16, 16, N)
        B4[:, 8:] = B4[:, :8]
    A[0, :16] = 0  # an all-zero group
    sa = _fp4_scales(rng, st, (M, K // bs), gen)
    sb = _fp4_scales(rng, st, (K // bs, N), gen)
    C = (rng.uniform(1, 2, (M, N)) * np.exp2(rng.integers(-149, 127, (M, N)))).astype(np.float32)
    C[rng.random((M, N)) < 0.5] *= -1
    C[::3] = 0
    C[1::4, 0] = np.float32(-3e-41)
    return A, B, sa, sb, C


def _sim_fp4(torch, sim, kind, bs, st, A, B, sa, sb, C):
    op = sim.TCGen05MMABlockScale("Blackwell", f"m128n8k64.kind::{kind}.block{bs}.f32.e2m1.e2m1.{st}")
    dt = torch.float8_e8m0fnu if st == "ue8m0" else torch.float8_e4m3fn
    return op(torch.from_numpy(E2M1[A]).half(), torch.from_numpy(E2M1[B]).half(),
              torch.from_numpy(C), torch.from_numpy(sa).view(dt),
              torch.from_numpy(np.ascontiguousarray(sb)).view(dt)).numpy()


def _fp4_arrays(A, B, sa, sb, bs, st):
    fmt = mxspec.block_format("mxfp4_e2m1" if st == "ue8m0" else "nvfp4_block_only")
    return mxspec.BlockArray(A, sa, fmt, bs, 1), mxspec.BlockArray(B, sb, fmt, bs, 0)


@pytest.mark.parametrize("row, kind, bs, st", FP4_KINDS)
@pytest.mark.parametrize("gen", ["wide", "tiny", "floor", "huge", "nan", "cancel", "signed"])
def test_fp4_kinds_equal_mmasim(row, kind, bs, st, gen):
    """Every scale form the kinds take, each generator, K from one instruction
    to eight (each result the next one's C), C from 2^-149 to 2^127."""
    if gen == "signed" and st == "ue8m0":
        pytest.skip("UE8M0 has no sign bit")
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    rng = np.random.default_rng(zlib.crc32(repr((row, bs, st, gen)).encode()))
    n = 0
    for K in (64, 192, 512):
        A, B, sa, sb, C = _fp4_case(rng, st, bs, 8, 8, K, gen)
        want = _sim_fp4(torch, sim, kind, bs, st, A, B, sa, sb, C)
        a, b = _fp4_arrays(A, B, sa, sb, bs, st)
        got = mxspec.matmul(a, b, row, c=C)
        assert _same(got, want).all(), (K, np.argwhere(~_same(got, want))[:3])
        n += got.size
    assert n == 3 * 64


def test_fp4_dot_and_matmul_agree():
    """dot (leading axes broadcast) runs the same engine as matmul."""
    rng = np.random.default_rng(3)
    A, B, sa, sb, C = _fp4_case(rng, "ue4m3", 16, 4, 5, 128, "wide")
    a, b = _fp4_arrays(A, B, sa, sb, 16, "ue4m3")
    bt = mxspec.BlockArray(np.ascontiguousarray(B.T), np.ascontiguousarray(sb.T),
                           b.format, 16, 1)
    d = mxspec.dot(a.__class__(A[:, None], sa[:, None], a.format, 16, 2), bt, "b200_mxf4nvf4",
                   c=C)
    assert _same(d, mxspec.matmul(a, b, "b200_mxf4nvf4", c=C)).all()


def test_fp4_rows_equal_the_fractions_reference():
    """The engine against SPEC.md 8.7's words (tests/dot_reference.py), on
    scales that reach the floor and past float32, and cancelling groups."""
    from dot_reference import group_sums_model
    rng = np.random.default_rng(11)
    for row, _, bs, st in FP4_KINDS:
        m = mxspec.accumulator(row)
        for gen in ("wide", "tiny", "floor", "cancel"):
            A, B, sa, sb, C = _fp4_case(rng, st, bs, 3, 3, 128, gen)
            a, b = _fp4_arrays(A, B, sa, sb, bs, st)
            got = mxspec.matmul(a, b, row, c=C)
            for i in range(3):
                for j in range(3):
                    want = group_sums_model(
                        [float(v) for v in E2M1[A[i]]], [float(v) for v in E2M1[B[:, j]]],
                        [_ref_scale(s, st) for s in sa[i]], [_ref_scale(s, st) for s in sb[:, j]],
                        bs, float(C[i, j]), m)
                    assert _same(got[i, j], want), (row, bs, st, gen, i, j, got[i, j], want)


def _ref_scale(code, st):
    """(significand, exponent) of a scale code from its format's own table
    (the element table's E4M3 row, the sign bit cleared; E8M0's)."""
    code = int(code)
    if st == "ue8m0":
        return None if code == 255 else (1, code - 127)
    v = float(mxspec.decode_elements(np.array([code & 0x7F]), "fp8_e4m3")[0])
    if np.isnan(v):
        return None
    if v == 0:
        return (0, -6)
    e = max(int(np.floor(np.log2(v))), -6)
    return (v / 2.0 ** e, e)


def test_fp4_each_parameter_is_seen():
    """On the inputs above, the row's neighbours each move outputs: 34 bits kept
    instead of 35, the zero floor at -133 (the other kinds') instead of -139,
    groups of 8 summed instead of 16."""
    rng = np.random.default_rng(12)
    base = mxspec.accumulator("b200_mxf4nvf4")
    moved = dict.fromkeys(("frac_bits", "sum_group"), False)
    for st, gen in (("ue4m3", "wide"), ("ue4m3", "cancel"), ("ue8m0", "floor")):
        A, B, sa, sb, C = _fp4_case(rng, st, 16, 16, 16, 256, gen)
        C[:] = 0
        a, b = _fp4_arrays(A, B, sa, sb, 16, st)
        ref = mxspec.matmul(a, b, base, c=C)
        for name, kw in (("frac_bits", dict(frac_bits=34)), ("sum_group", dict(sum_group=8))):
            alt = mxspec.matmul(a, b, dataclasses.replace(base, name=name, **kw), c=C)
            moved[name] |= not _same(alt, ref).all()
    # The floor shows only under tiny scales and a zero C: +1 x 2^-140 (group 0)
    # and -0.25 x 2^-170 (group 1) sum to just under 2^-140 where the cut is at
    # 2^(-139-35), and to 2^-140 where it is at 2^(-133-35).
    A = np.zeros((1, 64), np.uint8)
    A[0, 0], A[0, 16] = 2, 1         # 1.0, 0.5
    B = np.zeros((64, 1), np.uint8)
    B[0, 0], B[16, 0] = 2, 9         # 1.0, -0.5
    a, b = _fp4_arrays(A, B, np.uint8([[57, 42, 127, 127]]), np.uint8([[57], [42], [127], [127]]),
                       16, "ue8m0")
    got = mxspec.matmul(a, b, base)[0, 0]
    assert got == np.nextafter(np.float32(2.0 ** -140), np.float32(0))
    assert mxspec.matmul(a, b, dataclasses.replace(base, zero_exp=-133))[0, 0] == 2.0 ** -140
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    assert _same(got, _sim_fp4(torch, sim, "mxf4nvf4", 16, "ue8m0", A, B, a.scales, b.scales,
                               np.zeros((1, 1), np.float32)))
    assert all(moved.values()), moved


def test_nvfp4_with_tensor_scales_applies_them_in_the_epilogue():
    """NVFP4 operands with tensor scales: the MMA runs on the codes and UE4M3
    block scales from C = 0 (MMA-Sim), and the epilogue returns
    fl32(fl32(ts_a * ts_b) * acc), or with C one rounding of alpha * acc + C
    (fma, CUTLASS's linear combination), computed here with fractions."""
    from fractions import Fraction

    from dot_reference import F32, round_fraction
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((8, 128)) * 30).astype(np.float32)
    w = (rng.standard_normal((128, 8)) * 1e-3).astype(np.float32)
    a, b = mxspec.encode(x, "nvfp4"), mxspec.encode(w, "nvfp4", axis=0)
    acc = _sim_fp4(torch, sim, "mxf4nvf4", 16, "ue4m3", a.codes, b.codes, a.scales, b.scales,
                   np.zeros((8, 8), np.float32))
    alpha = np.float32(a.tensor_scale * b.tensor_scale)
    got = mxspec.matmul(a, b, "b200_mxf4nvf4")
    assert _same(got, (acc.astype(np.float64) * np.float64(alpha)).astype(np.float32)).all()
    C = (rng.standard_normal((8, 8)) * 10).astype(np.float32)
    got = mxspec.matmul(a, b, "b200_mxf4nvf4", c=C)
    for i in range(8):
        for j in range(8):
            want = round_fraction(Fraction(float(alpha)) * Fraction(float(acc[i, j]))
                                  + Fraction(float(C[i, j])), "rne", *F32)
            assert got[i, j] == np.float32(want)
    # the whole product stays close to the exact one of the decoded operands
    ex = mxspec.matmul(a, b, "exact")
    assert np.allclose(mxspec.matmul(a, b, "b200_mxf4nvf4"), ex, rtol=1e-5, atol=1e-6)


def test_fp4_bad_input_names_the_argument():
    x = mxspec.encode(np.ones((2, 64)), "mxfp4_e2m1")
    w8 = mxspec.encode(np.ones((64, 2)), "mxfp8_e4m3", axis=0)
    with pytest.raises(ValueError, match="takes element formats fp4_e2m1; b is fp8_e4m3"):
        mxspec.matmul(x, w8, "b200_mxf4nvf4")
    n = mxspec.encode(np.ones((2, 64)), "nvfp4")
    with pytest.raises(ValueError, match="'b200_mxf4' takes E8M0 scales per 32; a is nvfp4 with UE4M3"):
        mxspec.matmul(n, mxspec.encode(np.ones((64, 2)), "nvfp4", axis=0), "b200_mxf4")
    x16 = mxspec.encode(np.ones((2, 64)), "mxfp4_e2m1", block_size=16)
    w32 = mxspec.encode(np.ones((64, 2)), "mxfp4_e2m1", axis=0)
    with pytest.raises(ValueError, match="block_size=16 and b has block_size=32"):
        mxspec.matmul(x16, w32, "b200_mxf4nvf4")
    with pytest.raises(ValueError, match="E8M0 scales per 32, E8M0 scales per 16, UE4M3 scales "
                                         "per 16; a is mxfp4_e2m1 with E8M0 scales per 8"):
        mxspec.matmul(mxspec.encode(np.ones((2, 64)), "mxfp4_e2m1", block_size=8),
                      mxspec.encode(np.ones((64, 2)), "mxfp4_e2m1", axis=0, block_size=8),
                      "b200_mxf4nvf4")
    with pytest.raises(ValueError, match="a has UE4M3 block scales and b has E8M0"):
        mxspec.matmul(mxspec.encode(np.ones((2, 64)), "nvfp4_block_only"),
                      mxspec.encode(np.ones((64, 2)), "mxfp4_e2m1", axis=0, block_size=16),
                      "b200_mxf4nvf4")
    with pytest.raises(ValueError, match="K=48 is not a whole number of blocks of 32"):
        mxspec.matmul(mxspec.encode(np.ones((2, 48)), "mxfp4_e2m1"),
                      mxspec.encode(np.ones((48, 2)), "mxfp4_e2m1", axis=0), "b200_mxf4")
    with pytest.raises(ValueError, match="sum_group=5; allowed: a divisor of group=64"):
        dataclasses.replace(mxspec.accumulator("b200_mxf4"), sum_group=5)
    for alias, row in (("sm120_mxf4", "b200_mxf4"), ("sm120_mxf4nvf4", "b200_mxf4nvf4")):
        assert mxspec.accumulator(alias) is mxspec.accumulator(row)


def read_dot_files(pattern):
    """[(path, header, rows of ints)] of the committed dot vector files matching
    ``pattern`` (a glob under conformance/vectors/dot)."""
    import glob
    import os
    root = os.path.join(os.path.dirname(__file__), "..", "conformance", "vectors", "dot")
    out = []
    for path in sorted(glob.glob(os.path.join(root, pattern))):
        head, data = {}, []
        for line in open(path):
            if line.startswith("# ") and ": " in line:
                k, v = line[2:].rstrip("\n").split(": ", 1)
                head[k] = v
            elif line.strip() and not line.startswith("#"):
                data.append([int(f, 16) for f in line.split("#")[0].split()])
        out.append((path, head, data))
    return out


def test_conformance_files_equal_mmasim():
    """Every row of the committed b200_* dot vector files, recomputed by MMA-Sim
    (one instruction per 32 or 64 products, each result the next one's C)."""
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    files = read_dot_files("*.b200_*.txt")
    assert len(files) == 17
    rows = 0
    for path, head, data in files:
        fa, fb, K, bs = head["format_a"], head["format_b"], int(head["k"]), int(head["block_size"])
        scale = head.get("scale", "e8m0")
        dt = torch.float8_e4m3fn if scale == "ue4m3" else torch.float8_e8m0fnu
        n = K // bs
        kind = head["accumulator"].removeprefix("b200_")
        for v in data:
            sa, ca = v[:n], np.uint8(v[n:n + K])
            sb, cb = v[n + K:2 * n + K], np.uint8(v[2 * n + K:2 * n + 2 * K])
            c = torch.from_numpy(np.uint32([[v[-2]]]).view(np.float32))
            ta = torch.from_numpy(np.uint8([sa])).view(dt)
            tb = torch.from_numpy(np.uint8([sb]).T.copy()).view(dt)
            if kind == "f8f6f4":
                assert set(sa) | set(sb) == {127}
                op = sim.TCGen05MMA("Blackwell", f"m64n8k32.kind::f8f6f4.f32.{PTX[fa]}.{PTX[fb]}")
                for i in range(0, K, 32):
                    c = op(_torch_operand(torch, ca[None, i:i + 32], fa),
                           _torch_operand(torch, cb[i:i + 32, None], fb), c)
            elif kind == "mxf8f6f4":
                op = sim.TCGen05MMABlockScale(
                    "Blackwell", f"m128n8k32.kind::mxf8f6f4.block32.f32.{PTX[fa]}.{PTX[fb]}.ue8m0")
                for i in range(K // 32):
                    c = op(_torch_operand(torch, ca[None, 32 * i:32 * i + 32], fa),
                           _torch_operand(torch, cb[32 * i:32 * i + 32, None], fb), c,
                           ta[:, i:i + 1], tb[i:i + 1])
            else:
                st = "ue4m3" if scale == "ue4m3" else "ue8m0"
                op = sim.TCGen05MMABlockScale(
                    "Blackwell", f"m128n8k64.kind::{kind}.block{bs}.f32.e2m1.e2m1.{st}")
                per = 64 // bs
                for j, i in enumerate(range(0, K, 64)):
                    c = op(torch.from_numpy(E2M1[ca[i:i + 64]][None]).half(),
                           torch.from_numpy(E2M1[cb[i:i + 64]][:, None]).half(), c,
                           ta[:, per * j:per * j + per], tb[per * j:per * j + per])
            got = np.uint32(v[-1]).view(np.float32)
            assert _same(got, c.numpy()[0, 0]), (path, v[-2:])
            rows += 1
    assert rows >= 550


def test_a_result_that_truncates_to_zero_is_plus_zero():
    """A negative sum far below float32's range (block scales 2^-175 and 2^-198,
    C = +0): MMA-Sim returns +0 on every Blackwell kind, and so does the row
    (found by a randomly seeded run; SPEC.md 8.7)."""
    torch = pytest.importorskip("torch")
    sim = pytest.importorskip("mmasim.nv_ptx.sim")
    A = np.zeros((1, 64), np.uint8)
    B = np.zeros((64, 1), np.uint8)
    A[0, :2], B[:2, 0] = [0x6, 0x6], [0xE, 0x2]  # 4 x -4 + 4 x 1 = -12
    sa, sb = np.uint8([[6, 4]]), np.uint8([[73], [52]])
    C = np.zeros((1, 1), np.float32)
    want = _sim_fp4(torch, sim, "mxf4", 32, "ue8m0", A, B, sa, sb, C)
    a, b = _fp4_arrays(A, B, sa, sb, 32, "ue8m0")
    got = mxspec.matmul(a, b, "b200_mxf4", c=C)
    assert got.view(np.uint32)[0, 0] == want.view(np.uint32)[0, 0] == 0
    signed = dataclasses.replace(mxspec.accumulator("b200_mxf4"), name="signed",
                                 zero_result="signed")
    assert mxspec.matmul(a, b, signed, c=C).view(np.uint32)[0, 0] == 0x80000000
    # the same in kind::mxf8f6f4: E4M3 products under scales 2^-127 x 2^-127
    x = np.zeros((1, 32), np.uint8)
    y = np.zeros((32, 1), np.uint8)
    x[0, 0], y[0, 0] = 0x38, 0xB8  # 1 x -1
    s0 = np.uint8([[0]])
    a8 = mxspec.BlockArray(x, s0, mxspec.block_format("mxfp8_e4m3"), 32, 1)
    b8 = mxspec.BlockArray(y, s0, mxspec.block_format("mxfp8_e4m3"), 32, 0)
    op = sim.TCGen05MMABlockScale("Blackwell", "m128n8k32.kind::mxf8f6f4.block32.f32.e4m3.e4m3.ue8m0")
    w8 = op(_torch_operand(torch, x, "fp8_e4m3"), _torch_operand(torch, y, "fp8_e4m3"),
            torch.from_numpy(C), torch.from_numpy(s0).view(torch.float8_e8m0fnu),
            torch.from_numpy(s0).view(torch.float8_e8m0fnu)).numpy()
    g8 = mxspec.matmul(a8, b8, "b200_mxf8f6f4", c=C)
    assert g8.view(np.uint32)[0, 0] == w8.view(np.uint32)[0, 0] == 0
