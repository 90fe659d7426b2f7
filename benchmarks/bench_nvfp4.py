"""NVFP4 quantize and dequantize speed (issue #12's target: 2^24 float32 values
at least as fast as mxfp4_e2m1, and faster than torchao's NVFP4 quantization on
the CPU), with a float32 copy as the memory reference, in one run.

    python benchmarks/bench_nvfp4.py [--n 16777216]
"""
from __future__ import annotations

from timing import best, gaussian_rows

import mxspec


def main(argv=None):
    a, x, t_copy = gaussian_rows(__doc__, argv)
    n = x.size
    print(f"  float32 copy                 {n / t_copy / 1e6:8,.0f} M/s")
    mxspec.encode(x[:2], "mxfp4_e2m1")
    t_mx = best(lambda: mxspec.encode(x, "mxfp4_e2m1"), a.repeat)
    print(f"  mxfp4_e2m1 encode            {n / t_mx / 1e6:8,.0f} M/s  "
          f"({t_copy / t_mx:.2f} x copy)")
    t_tao = None
    try:
        import torch
        from torchao.prototype.mx_formats.nvfp4_tensor import (nvfp4_quantize,
                                                               per_tensor_amax_to_scale)
        t = torch.from_numpy(x)

        def tao():
            return nvfp4_quantize(t, 16, per_tensor_amax_to_scale(torch.max(torch.abs(t))))
        tao()
        t_tao = best(tao, a.repeat)
        print(f"  torchao nvfp4_quantize       {n / t_tao / 1e6:8,.0f} M/s")
    except ImportError:
        print("  torchao: not installed")
    for r in mxspec.tables.block.RECIPES:
        mxspec.encode(x[:2], "nvfp4", recipe=r)
        t_nv = best(lambda: mxspec.encode(x, "nvfp4", recipe=r), a.repeat)
        extra = f", {t_tao / t_nv:.1f} x torchao" if t_tao else ""
        print(f"  nvfp4 encode, {r:15s}{n / t_nv / 1e6:8,.0f} M/s  ({t_mx / t_nv:.2f} x "
              f"mxfp4_e2m1{extra}, {t_copy / t_nv:.2f} x copy)")
    mxa = mxspec.encode(x, "mxfp4_e2m1")
    t_mxd = best(lambda: mxspec.decode(mxa), a.repeat)
    print(f"  mxfp4_e2m1 decode            {n / t_mxd / 1e6:8,.0f} M/s  "
          f"({t_copy / t_mxd:.2f} x copy)")
    for r in mxspec.tables.block.RECIPES:
        mx = mxspec.encode(x, "nvfp4", recipe=r)
        t_dec = best(lambda: mxspec.decode(mx), a.repeat)
        print(f"  nvfp4 decode, {r:15s}{n / t_dec / 1e6:8,.0f} M/s  ({t_mxd / t_dec:.2f} x "
              f"mxfp4_e2m1, {t_copy / t_dec:.2f} x copy)")


if __name__ == "__main__":
    main()
