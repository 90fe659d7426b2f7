"""scaled_mm and identify speed (issue #33's targets: scaled_mm at (512, 4096, 512)
at 500 M multiply-adds/s or more on 2 cores; identify on a 64 x 64 x 512 GEMM
within a minute).

Prints, in one run: scaled_mm per mode and scale kind, torch's own CPU
_scaled_mm where torch is installed (its arithmetic is not cuBLAS's: a speed
reference only), numpy's float32 matmul of the decoded operands, a float32 copy
of A as the memory reference, and identify's time with an empty and a warm
cache of candidates.  Usage: python benchmarks/bench_scaled_mm.py [M K N]
"""
from __future__ import annotations

import argparse
import time

import ml_dtypes
import numpy as np
from timing import best

import mxspec
from mxspec._kernel import parallel as _parallel


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shape", nargs="*", type=int, default=[512, 4096, 512])
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args(argv)
    M, K, N = a.shape
    rng = np.random.default_rng(0)
    macs = M * K * N
    e4 = ml_dtypes.float8_e4m3fn
    A = rng.standard_normal((M, K)).astype(e4)
    B = rng.standard_normal((K, N)).astype(e4)
    print(f"(M, K, N) = ({M}, {K}, {N}): {macs / 1e6:.0f} M multiply-adds; "
          f"{_parallel.threads()} threads")
    Af, Bf = A.astype(np.float32), B.astype(np.float32)
    t_np = best(lambda: Af @ Bf, a.repeat)
    t_copy = best(lambda: Af.copy(), a.repeat)
    print(f"numpy float32 matmul {macs / t_np / 1e6:,.0f} M/s; copy of A "
          f"{Af.size / t_copy / 1e6:,.0f} M elements/s")
    sa, sb = np.float32(0.37), np.float32(1.9)
    ra = rng.uniform(0.5, 2, (M, 1)).astype(np.float32)
    rb = rng.uniform(0.5, 2, (1, N)).astype(np.float32)
    for fast in (False, True):
        for kind, s_a, s_b in (("per tensor", sa, sb), ("row-wise", ra, rb)):
            t = best(lambda: mxspec.scaled_mm(A, B, s_a, s_b, out_dtype="bfloat16",
                                              use_fast_accum=fast), a.repeat)
            print(f"  scaled_mm {kind:10s} fast={fast!s:5s}: {macs / t / 1e6:8,.0f} M multiply-adds/s"
                  f"  ({t:.2f} s; {t_np / t:.3f} x numpy float32)")
    try:
        import torch
        ta = torch.from_numpy(A.view(np.uint8)).view(torch.float8_e4m3fn)
        tb = torch.from_numpy(np.ascontiguousarray(B.T).view(np.uint8)).view(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0)
        t = best(lambda: torch._scaled_mm(ta, tb, one, one, out_dtype=torch.bfloat16), a.repeat)
        print(f"  torch {torch.__version__} CPU _scaled_mm: {macs / t / 1e6:8,.0f} M multiply-adds/s"
              f" (not cuBLAS's arithmetic)")
    except Exception as e:  # noqa: BLE001
        print(f"  torch CPU _scaled_mm: not run ({e})")
    # identify on a 64 x 64 x 512 GEMM of cuBLAS's default mode
    a64 = rng.integers(0, 0x7F, (64, 512)).astype(np.uint8)
    b64 = rng.integers(0, 0x7F, (512, 64)).astype(np.uint8)
    d = mxspec.matmul_elements(a64, b64, "fp8_e4m3", "fp8_e4m3", "cublas_fp8")
    t0 = time.perf_counter()
    r = mxspec.identify(a64, b64, "fp8_e4m3", "fp8_e4m3", d, progress=False)
    t = time.perf_counter() - t0
    print(f"identify 64 x 64 x 512: {t:.1f} s over {r.tried:,} models; best {r.best.name} "
          f"({r.best.fraction:.3f}), {len(r.tied)} tied, {len(r.probes)} probes")


if __name__ == "__main__":
    main()
