"""Capture DeepSeek-V3's FP8 activation quantizer as Triton compiles it on the
H200: the act_quant kernel's arithmetic (inference/kernel.py: per group of 128
the float32 amax, clamped below at 1e-4, s = amax / 448, with scale_fmt "ue8m0"
s = 2^ceil(log2 s), y = x / s cast to float8_e4m3fn; s stored as float32),
written here as a small kernel of the same operations.  Inputs: bfloat16 and
float32 groups whose magnitudes run from 2^-30 to 2^30, all-zero groups and
groups under the 1e-4 clamp.  Writes $OUT/deepseek_act_quant.npz (the inputs'
bits, the codes and the scales' bits for each input dtype and scale format) and
the Triton and torch versions.   python3 tools/h200_deepseek_act_quant.py
"""
import os

import numpy as np
import torch
import triton
import triton.language as tl


@triton.jit
def act_quant_kernel(x_ptr, y_ptr, s_ptr, BLOCK: tl.constexpr, UE8M0: tl.constexpr):
    pid = tl.program_id(axis=0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs).to(tl.float32)
    amax = tl.max(tl.abs(x))
    amax = tl.maximum(amax, 1e-4)
    s = amax / 448.
    if UE8M0:
        s = tl.math.exp2(tl.math.ceil(tl.math.log2(s)))
    y = x / s
    y = y.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + offs, y)
    tl.store(s_ptr + pid, s)


def inputs(dtype, groups=2048, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(groups, 128, generator=g, dtype=torch.float64)
    e = torch.randint(-30, 31, (groups, 1), generator=g).to(torch.float64)
    x = x * torch.exp2(e)
    x[0] = 0.0
    x[1] *= 1e-9           # under the clamp
    x[2, :] = 0.0
    x[2, 5] = -448.0       # amax exactly 448
    x[3] = torch.linspace(-1, 1, 128, dtype=torch.float64) * 2.0 ** -13
    return x.to(dtype).contiguous()


def main():
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("f32", torch.float32)):
        x = inputs(dtype, seed=len(name))
        out[f"{name}_x"] = x.view(torch.int16 if dtype == torch.bfloat16 else torch.int32).numpy()
        xd = x.cuda().reshape(-1)
        for fmt in (0, 1):
            y = torch.empty(xd.shape, dtype=torch.float8_e4m3fn, device="cuda")
            s = torch.empty(x.shape[0], dtype=torch.float32, device="cuda")
            act_quant_kernel[(x.shape[0],)](xd, y, s, BLOCK=128, UE8M0=bool(fmt))
            torch.cuda.synchronize()
            tag = f"{name}_{'ue8m0' if fmt else 'f32'}"
            out[tag + "_codes"] = y.view(torch.uint8).cpu().numpy().reshape(x.shape)
            out[tag + "_scales"] = s.view(torch.int32).cpu().numpy()
    out["versions"] = np.array([f"triton {triton.__version__}", f"torch {torch.__version__}",
                                torch.cuda.get_device_name()])
    path = os.path.join(os.environ.get("OUT", "."), "deepseek_act_quant.npz")
    np.savez_compressed(path, **out)
    print(path, {k: v.shape for k, v in out.items()})
    # the PTX: how the division by 448 and x / s were compiled
    k = act_quant_kernel.warmup(torch.empty(128, device="cuda"), torch.empty(128, device="cuda",
                                dtype=torch.float8_e4m3fn), torch.empty(1, device="cuda"),
                                BLOCK=128, UE8M0=True, grid=(1,))
    ptx = k.asm["ptx"]
    for line in ptx.splitlines():
        if any(op in line for op in ("div.", "mul.f32", "rcp", "lg2", "ex2", "cvt.rn.satfinite",
                                     "cvt.rn.f32", "max.f32", "cvt.rpi", "cvt.rmi")):
            print(line.strip())


if __name__ == "__main__":
    main()
