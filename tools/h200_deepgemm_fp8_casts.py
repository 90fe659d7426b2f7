"""Capture DeepGEMM's FP8 casts as torch runs them on the H200 (CUDA) and on
its host CPU: the 128 x 128 weight tiles (``per_block_cast_to_fp8``) and the
1 x 128 token groups (``per_token_cast_to_fp8``), in the variants DeepGEMM's
releases have shipped, written here as the same torch expressions:

    amax = x_view.abs().float().amax(...).clamp(1e-4)
    v1:          codes = (x_view * (448.0 / amax)).to(e4m3fn),  scale = amax / 448.0
    recip:       scale = amax / 448.0,              codes = (x_view * (1.0 / scale)).to(e4m3fn)
    ue8m0:       scale = bits ceiling of amax/448,  codes likewise
    ue8m0_log2:  scale = torch.pow(2, ceil(log2(amax / 448))), codes likewise

``448.0 / t`` is ``t.reciprocal() * 448`` in torch; ``t / 448.0`` is a true
division on the CPU and ``t * fl(1/448)`` on CUDA (ATen's div_true_kernel_cuda
turns a CPU-scalar divisor into a multiplication by its reciprocal): the
capture shows both.  Inputs: bfloat16 and float32 matrices of 384 x 512 whose
128 x 128 tiles (and rows) have magnitudes 2^-30 to 2^30, with a zero tile, a
tile under the clamp, tiles whose amax is 448 x 2^k exactly, directed tiles where
the multipliers round apart, float32 tiles
whose amax/448 lies a few ulps above a power of two, and outliers.  Nothing
in mxspec is used.  Writes $OUT/deepgemm_fp8_casts.npz.
    python3 tools/h200_deepgemm_fp8_casts.py
"""
import os

import numpy as np
import torch

R, C, T = 384, 512, 128


def inputs(dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, C, generator=g, dtype=torch.float64)
    tiles = x.view(R // T, T, C // T, T)
    e = torch.randint(-30, 31, (R // T, 1, C // T, 1), generator=g).to(torch.float64)
    tiles *= torch.exp2(e)
    # within-tile spread: rows of a tile 2^-8..2^8 apart, so 1 x 128 groups differ
    x *= torch.exp2(torch.randint(-8, 9, (R, 1), generator=g).to(torch.float64))
    tiles[0, :, 0, :] = 0.0                                  # a zero tile
    tiles[0, :, 1, :] *= 1e-12 / tiles[0, :, 1, :].abs().max()   # under the clamp
    tiles[1, :, 0, :] *= 1.0 / tiles[1, :, 0, :].abs().max()
    tiles[1, 7, 0, 9] = -448.0                                # amax exactly 448
    tiles[1, :, 1, :] *= 0.5 / tiles[1, :, 1, :].abs().max()
    tiles[1, 0, 1, 0] = 7.0 * 2.0 ** -3                       # amax 448 x 2^-9
    tiles[2, :, 2, :] *= 0.01 / tiles[2, :, 2, :].abs().max()
    tiles[2, 3, 2, 3] = 1e4                                   # an outlier
    # scaled values that straddle an E4M3 rounding boundary under one multiplier
    # and not another (bfloat16 values): v1 against 1/s, and 1/s of the two quotients
    for col, (a, v) in enumerate(((1.3125, 1.078125), (1.5, 1.125), (1.53125, 1.0390625))):
        t = tiles[1, :, 2] if col == 0 else (tiles[1, :, 3] if col == 1 else tiles[2, :, 3])
        t *= 1.0 / t.abs().max()
        t[5 + col, 5], t[5 + col, 6] = a, -v
    x = x.to(dtype)
    if dtype == torch.float32:
        # amax/448 a few float32 ulps above 2^k: where the log2 ceiling can differ
        for i, (k, ulps) in enumerate(((-4, 1), (-7, 2), (3, 1), (-12, 5))):
            t = x.view(R // T, T, C // T, T)[2, :, i, :] if i < 2 else \
                x.view(R // T, T, C // T, T)[0, :, i, :]
            a = torch.tensor(448.0 * 2.0 ** k, dtype=torch.float32)
            target = (a.view(torch.int32) + ulps).view(torch.float32)
            t *= 0.5 * target / t.abs().max()
            t[1, 1] = target
    return x.contiguous()


def ceil_bits(s):
    b = s.abs().float().view(torch.int32)
    e = ((b >> 23) & 0xFF) + (b & 0x7FFFFF).bool().int()
    return (e.clamp(1, 254) << 23).view(torch.float32)


def ceil_log2(s):
    return torch.pow(2.0, torch.ceil(torch.log2(s.abs())))


def cast(x, variant, tile):
    if tile:
        v = x.view(R // T, T, C // T, T)
        amax = v.abs().float().amax(dim=(1, 3), keepdim=True).clamp(1e-4)
    else:
        v = x.view(R, C // T, T)
        amax = v.abs().float().amax(dim=2, keepdim=True).clamp(1e-4)
    if variant == "v1":
        q = v * (448.0 / amax)
        s = amax / 448.0
    else:
        s = amax / 448.0
        if variant == "ue8m0":
            s = ceil_bits(s)
        elif variant == "ue8m0_log2":
            s = ceil_log2(s)
        q = v * (1.0 / s)
    codes = q.to(torch.float8_e4m3fn).view(R, C).view(torch.uint8)
    return codes.cpu().numpy(), s.reshape(-1).view(torch.int32).cpu().numpy()


def main():
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("f32", torch.float32)):
        x = inputs(dtype, seed=11 + len(name))
        out[f"{name}_x"] = x.view(torch.int16 if dtype == torch.bfloat16 else torch.int32).numpy()
        for dev in ("cuda", "cpu"):
            xd = x.to(dev)
            for tile in (True, False):
                for variant in ("v1", "recip", "ue8m0", "ue8m0_log2"):
                    codes, scales = cast(xd, variant, tile)
                    tag = f"{name}_{dev}_{'tile' if tile else 'token'}_{variant}"
                    out[tag + "_codes"] = codes
                    out[tag + "_scales"] = scales
    out["versions"] = np.array([f"torch {torch.__version__}", torch.cuda.get_device_name(),
                                f"cuda {torch.version.cuda}"])
    path = os.path.join(os.environ.get("OUT", "."), "deepgemm_fp8_casts.npz")
    np.savez_compressed(path, **out)
    print(path, os.path.getsize(path), out["versions"])
    for name in ("bf16", "f32"):
        for tile in ("tile", "token"):
            for variant in ("v1", "recip", "ue8m0", "ue8m0_log2"):
                a, b = (out[f"{name}_{d}_{tile}_{variant}_scales"] for d in ("cuda", "cpu"))
                ca, cb = (out[f"{name}_{d}_{tile}_{variant}_codes"] for d in ("cuda", "cpu"))
                print(name, tile, variant, "scales cuda!=cpu:", int((a != b).sum()), "of",
                      a.size, "codes:", int((ca != cb).sum()))
        for tile in ("tile", "token"):
            a, b = (out[f"{name}_cuda_{tile}_{v}_scales"] for v in ("ue8m0", "ue8m0_log2"))
            print(name, tile, "ue8m0 bits vs log2 scales differ:", int((a != b).sum()))


if __name__ == "__main__":
    main()
