"""MX matmul speed under each accumulator model (the target of issues #11 and
#18: an (M, K, N) = (512, 4096, 512) MXFP8 matmul at 500 M multiply-adds/s or more).

Prints M multiply-adds/s per model, the ratio to numpy's float32 matmul of the
decoded operands, and a float32 copy of A's decoded values as the memory
reference, all in one run.  Usage: python benchmarks/bench_dot.py [M K N] [--models a,b]
"""
from __future__ import annotations

import argparse

import numpy as np
from timing import best

import mxspec
from mxspec._kernel import parallel as _parallel


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shape", nargs="*", type=int, default=[512, 4096, 512])
    p.add_argument("--formats", default="mxfp8_e4m3,mxfp8_e5m2,nvfp4,mxfp4_e2m1")
    p.add_argument("--models", default="exact;h100_fp8_mma;h100_fp8_wgmma;cublas_fp8;"
                                       "triton_fp8(32);fp32_sequential;fp32_pairwise;"
                                       "fp32_blockwise;fixed(24,rz,16);b200_mxf8f6f4;"
                                       "b200_mxf4;b200_mxf4nvf4",
                   help="accumulator models, separated by ';'")
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args(argv)
    M, K, N = a.shape
    rng = np.random.default_rng(0)
    macs = M * K * N
    print(f"(M, K, N) = ({M}, {K}, {N}): {macs / 1e6:.0f} M multiply-adds; "
          f"{_parallel.threads()} threads")
    for fmt in a.formats.split(","):
        x = mxspec.encode(rng.standard_normal((M, K)).astype(np.float32), fmt)
        y = mxspec.encode(rng.standard_normal((K, N)).astype(np.float32), fmt, axis=0)
        xd, yd = mxspec.decode(x), mxspec.decode(y)
        t_np = best(lambda: xd @ yd, a.repeat)
        t_copy = best(lambda: xd.copy(), a.repeat)
        print(f"{fmt}: numpy float32 matmul {macs / t_np / 1e6:,.0f} M/s; "
              f"copy of A {xd.size / t_copy / 1e6:,.0f} M elements/s")
        small_x = mxspec.encode(np.ones((2, 64), np.float32), fmt)
        small_y = mxspec.encode(np.ones((64, 2), np.float32), fmt, axis=0)
        models = a.models.split(";")
        if "fp4" in fmt:  # the value-reading models on FP4 repeat the FP8 figures' story
            models = [m for m in models if m == "exact" or m.startswith("b200_mxf4")]
        for model in models:
            try:
                mxspec.matmul(small_x, small_y, accumulator=model)  # does the model take fmt?
            except ValueError:
                continue  # the model does not take the format
            t = best(lambda: mxspec.matmul(x, y, accumulator=model), a.repeat)
            print(f"  {model:>18}: {macs / t / 1e6:8,.0f} M multiply-adds/s  "
                  f"({t:.2f} s; {t_np / t:.3f} x numpy float32)")


if __name__ == "__main__":
    main()
