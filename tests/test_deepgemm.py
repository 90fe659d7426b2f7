"""DeepSeek-V3's FP8 weight form (SPEC.md 9.13): one float32 scale per 128 x 128
tile (``deepseek_fp8_2d``, ``deepseek_fp8_2d_ue8m0``) and DeepGEMM's casts as
recipes (``deepgemm``, ``deepgemm_recip`` and their ``_cpu`` forms,
``deepgemm_ue8m0_cpu``), against torch running DeepGEMM's expressions (the CPU
here; the CUDA forms written with the reciprocal ATen multiplies by), the
transposition law, zero padding and refusals."""
import ml_dtypes
import numpy as np
import pytest

import mxspec

F32 = np.float32
T = 128

# (recipe, DeepGEMM's variant, the division as CUDA runs it)
ROWS = [("deepgemm", "v1", True), ("deepgemm_cpu", "v1", False),
        ("deepgemm_recip", "recip", True), ("deepgemm_recip_cpu", "recip", False),
        ("deepseek_ue8m0", "ue8m0", True), ("deepgemm_ue8m0_cpu", "ue8m0", False)]


def _matrix(rows=384, cols=512, seed=0):
    """Tiles of magnitudes 2^-30..2^30, rows 2^-8..2^8 apart inside a tile, and the
    edges: a zero tile, one under the 1e-4 clamp, amax exactly 448 and 448 x 2^-9,
    an outlier."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols))
    t = x.reshape(rows // T, T, cols // T, T)
    t *= np.exp2(rng.integers(-30, 31, (rows // T, 1, cols // T, 1)))
    x *= np.exp2(rng.integers(-8, 9, (rows, 1)))
    t[0, :, 0] = 0.0
    t[0, :, 1] *= 1e-12 / np.abs(t[0, :, 1]).max()
    t[1, :, 0] *= 1.0 / np.abs(t[1, :, 0]).max()
    t[1, 7, 0, 9] = -448.0
    t[1, :, 1] *= 0.5 / np.abs(t[1, :, 1]).max()
    t[1, 0, 1, 0] = 7.0 * 2.0 ** -3
    t[2, :, 2] *= 0.01 / np.abs(t[2, :, 2]).max()
    t[2, 3, 2, 3] = 1e4
    # elements whose scaled values straddle an E4M3 rounding boundary under one
    # multiplier and not the other (found by search over bfloat16 values): amax 1.3125
    # and 1.5 separate v1's fl(fl(1/a) x 448) from fl(1/s); 1.53125 separates the CUDA
    # quotient's fl(1/s) from the CPU's
    for col, (a, v) in enumerate(((1.3125, 1.078125), (1.5, 1.125), (1.53125, 1.0390625))):
        tile = t[2, :, (0, 1, 3)[col]]
        tile *= 1.0 / np.abs(tile).max()
        tile[5 + col, 5], tile[5 + col, 6] = a, -v
    return x


def _torch_cast(x, variant, cuda_div, tile):
    """DeepGEMM's cast in torch (CPU).  ``cuda_div``: ``amax / 448.0`` as ATen's CUDA
    kernel computes it, amax x fl(1/448); else the CPU's true division."""
    torch = pytest.importorskip("torch")
    R, C = x.shape
    v = x.view(R // T, T, C // T, T) if tile else x.view(R, C // T, T)
    dims = (1, 3) if tile else (2,)
    amax = v.abs().float().amax(dim=dims, keepdim=True).clamp(1e-4)
    s = amax * torch.tensor(1 / 448, dtype=torch.float32) if cuda_div else amax / 448.0
    if variant == "ue8m0":
        b = s.view(torch.int32)
        e = ((b >> 23) & 0xFF) + (b & 0x7FFFFF).bool().int()
        s = (e.clamp(1, 254) << 23).view(torch.float32)
    q = v * (448.0 / amax) if variant == "v1" else v * (1.0 / s)
    codes = q.to(torch.float8_e4m3fn).reshape(R, C).view(torch.uint8).numpy()
    return codes, s.reshape(-1).numpy()


def _tile_scales(a):
    """One scale per tile from the per-row copies mxspec keeps."""
    R, nb = a.scales.shape
    s = a.scales.reshape(R // T, T, nb)
    assert (s == s[:, :1]).all()  # every row of a tile holds its tile's scale
    return s[:, 0].reshape(-1)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("recipe, variant, cuda_div", ROWS)
def test_tiles_equal_deepgemms_cast_in_torch(dtype, recipe, variant, cuda_div):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_matrix(seed=1)).to(getattr(torch, dtype))
    codes, scales = _torch_cast(x, variant, cuda_div, tile=True)
    fmt = "deepseek_fp8_2d" + ("_ue8m0" if recipe == "deepseek_ue8m0" else f":{recipe}")
    a = mxspec.encode(x.float().numpy(), fmt)
    assert np.array_equal(_tile_scales(a).view(np.uint32), scales.view(np.uint32))
    assert np.array_equal(a.codes, codes)
    # DeepSeek's weight_dequant: fl(code x s), s broadcast over its tile
    s = np.repeat(np.repeat(scales.reshape(3, 4), T, 0), T, 1)
    want = (codes.view(ml_dtypes.float8_e4m3fn).astype(F32) * s).astype(F32)
    assert np.array_equal(mxspec.decode(a).view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("recipe, variant, cuda_div", ROWS[:4])
def test_token_groups_equal_deepgemms_cast_in_torch(dtype, recipe, variant, cuda_div):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_matrix(seed=2)).to(getattr(torch, dtype))
    codes, scales = _torch_cast(x, variant, cuda_div, tile=False)
    a = mxspec.encode(x.float().numpy(), f"deepseek_fp8:{recipe}")
    assert np.array_equal(a.scales.reshape(-1).view(np.uint32), scales.view(np.uint32))
    assert np.array_equal(a.codes, codes)


def test_the_rows_are_distinguished_by_these_inputs():
    """Each pair of readings differs on the test matrix, so the tests above can fail:
    the CUDA quotient against the CPU's in scales, v1's multiplier against 1 / s in
    codes, the 1e-4 clamp and amax = 448 tiles as stated."""
    x = _matrix(seed=1).astype(F32)
    enc = {r: mxspec.encode(x, f"deepseek_fp8:{r}") for r, _, _ in ROWS}
    ne = lambda a, b, f: int((getattr(enc[a], f).view(np.uint8) !=  # noqa: E731
                              getattr(enc[b], f).view(np.uint8)).sum())
    assert ne("deepgemm", "deepgemm_cpu", "scales") > 100
    assert ne("deepgemm", "deepgemm_recip", "codes") >= 2
    assert ne("deepgemm_recip", "deepgemm_recip_cpu", "codes") >= 1
    tiles = {r: mxspec.encode(x, f"deepseek_fp8_2d:{r}") for r in ("deepgemm", "deepgemm_recip",
                                                                  "deepgemm_recip_cpu")}
    assert (tiles["deepgemm"].codes != tiles["deepgemm_recip"].codes).sum() >= 2
    assert (tiles["deepgemm_recip"].codes != tiles["deepgemm_recip_cpu"].codes).sum() >= 1
    t = mxspec.encode(x, "deepseek_fp8_2d")
    s = _tile_scales(t).reshape(3, 4)
    assert s[0, 0] == s[0, 1] == F32(F32(1e-4) * (F32(1) / F32(448)))  # zero and clamped
    assert s[1, 0] == 1.0  # amax 448: 448 x fl(1/448) rounds back to 1
    u = _tile_scales(mxspec.encode(x, "deepseek_fp8_2d_ue8m0")).reshape(3, 4)
    assert u[1, 0] == 1.0 and u[1, 1] == 2.0 ** -9  # 448 x 2^k: exact powers of two
    m, _ = np.frexp(u.astype(np.float64))
    assert (m == 0.5).all() and (u >= s).all() and (u < 2 * s).all()


def test_worked_example():
    """SPEC.md 9.13: a tile of amax 3 has s = fl(3 x fl(1/448)) (0.0066964291...) and
    elements x x fl(fl(1/3) x 448) = x x 149.33334; 3 scales to 448.00003 (one ulp
    above 448; deepgemm_recip's fl(1/s) gives 448 exactly, act_quant's x / s
    447.99998) -> 448, -1.5 to
    -224.00002 -> -224, 1 to 149.33334 -> 144."""
    x = np.zeros((128, 128), F32)
    x[0, :3] = [3.0, -1.5, 1.0]
    a = mxspec.encode(x, "deepseek_fp8_2d")
    s = F32(a.scales[0, 0])
    assert s == F32(F32(3) * (F32(1) / F32(448))) == np.nextafter(F32(3) / F32(448), F32(1))
    m = F32(F32(F32(1) / F32(3)) * F32(448))
    assert m == F32(149.33334) and F32(3 * m) == np.nextafter(F32(448), F32(1e9))
    assert F32(F32(3) * (F32(1) / s)) == 448.0 and F32(F32(3) / s) == np.nextafter(F32(448), F32(0))
    assert a.codes[0, :3].tolist() == [0x7E, 0xF6, 0x71]
    assert (a.scales == s).all() and a.scales.shape == (128, 1)
    assert mxspec.decode(a)[0, :3].tolist() == [float(F32(448 * s)), float(F32(-224 * s)),
                                               float(F32(144 * s))]


@pytest.mark.parametrize("fmt", ["deepseek_fp8_2d", "deepseek_fp8_2d_ue8m0",
                                 "deepseek_fp8_2d:deepgemm_recip_cpu"])
def test_w_and_its_transpose_quantize_alike(fmt):
    """A 128 x 128 tile holds the same values in W and W^T, so the scale and every
    code move with the transposition (DeepGEMM's reason for square weight tiles)."""
    w = _matrix(seed=3)[:256, :384].astype(F32)
    a = mxspec.encode(w, fmt)
    b = mxspec.encode(np.ascontiguousarray(w.T), fmt)
    c = mxspec.encode(w, fmt, axis=0)  # blocks down the columns: the same tiles
    assert np.array_equal(a.codes, b.codes.T) and np.array_equal(a.codes, c.codes)
    assert np.array_equal(mxspec.decode(a).view(np.uint32), mxspec.decode(b).T.view(np.uint32))
    assert np.array_equal(_tile_scales(a).reshape(2, 3), _tile_scales(b).reshape(3, 2).T)


def test_zero_padding_is_deepgemms_partial_tile():
    """DeepGEMM pads a shape to whole tiles with zeros and slices the codes back; a
    zero never raises a tile's amax, so padding with np.pad and slicing gives its
    result, and mxspec asks for that explicitly rather than inventing partial tiles."""
    torch = pytest.importorskip("torch")
    w = _matrix(384, 512, seed=4)[:300, :450].astype(F32)
    padded = np.pad(w, ((0, 84), (0, 62)))
    a = mxspec.encode(padded, "deepseek_fp8_2d")
    codes, scales = _torch_cast(torch.from_numpy(padded), "v1", True, tile=True)
    assert np.array_equal(a.codes[:300, :450], codes[:300, :450])
    with pytest.raises(ValueError, match=r"x of shape \(300, 450\) along axis 1: "
                                         r"deepseek_fp8_2d scales 128 x 128 tiles of a matrix, "
                                         r"so x must be 2-D, its other axis a multiple of 128"):
        mxspec.encode(w, "deepseek_fp8_2d")


def test_names_and_refusals():
    f = mxspec.block_format("deepseek_fp8_2d")
    assert (f.block_size, f.tile_rows, f.scale_kind, f.recipe.name) == (128, 128, "float32",
                                                                       "deepgemm")
    assert mxspec.block_format("deepseek_fp8_2d:deepgemm_cpu").name == \
        "deepseek_fp8_2d:deepgemm_cpu"
    assert mxspec.block_format("deepseek_fp8:deepgemm").recipe.name == "deepgemm"
    assert "deepseek_fp8_2d" in mxspec.block_formats()
    with pytest.raises(ValueError, match="deepseek_fp8_2d is the 'deepgemm' recipe's row; "
                                         "recipe='modelopt' is another"):
        mxspec.block_format("deepseek_fp8_2d:modelopt")
    with pytest.raises(ValueError, match="must be 2-D"):
        mxspec.encode(np.ones(128 * 128, F32), "deepseek_fp8_2d")
    with pytest.raises(ValueError, match="its other axis a multiple of 128"):
        mxspec.encode(np.ones((64, 128), F32), "deepseek_fp8_2d")
