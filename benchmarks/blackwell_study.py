"""How far Blackwell's block-scaled MMA lands from `exact` as K grows, for NVFP4 x NVFP4
(`b200_mxf4nvf4`) and MXFP8 x MXFP8 (`b200_mxf8f6f4`), beside the H100 recipes on the
same MXFP8 operands (docs/dot.md, "Blackwell and the H100 as K grows").

    python benchmarks/blackwell_study.py [--ks 64,256,1024,4096,16384]

N(0, 1) operands, (64 x K) @ (K x 64), encoded to NVFP4 (mxspec's exact recipe, a float32
tensor scale, UE4M3 scales per 16) and MXFP8 E4M3 (E8M0 per 32). The error is each output's
relative distance from the exact product of the same encoded operands, rounded once to
float32: what the accumulator adds, not what quantization costs."""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import mxspec

ROWS = (("nvfp4", "b200_mxf4nvf4"), ("mxfp8_e4m3", "b200_mxf8f6f4"),
        ("mxfp8_e4m3", "h100_fp8_wgmma"), ("mxfp8_e4m3", "cublas_fp8"),
        ("mxfp8_e4m3", "h100_fp8_mma"), ("mxfp8_e4m3", "fp32_sequential"))
M = N = 64


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="64,256,1024,4096,16384")
    a = p.parse_args(argv)
    ks = [int(k) for k in a.ks.split(",")]
    rng = np.random.default_rng(0)
    res = {}
    with tqdm(total=len(ks) * len(ROWS), desc="study") as bar:
        for K in ks:
            x = rng.standard_normal((M, K)).astype(np.float32)
            y = rng.standard_normal((K, N)).astype(np.float32)
            ops = {f: (mxspec.encode(x, f), mxspec.encode(y, f, axis=0))
                   for f in {f for f, _ in ROWS}}
            exact = {f: mxspec.matmul(*ops[f]).astype(np.float64) for f in ops}
            for f, row in ROWS:
                r = mxspec.matmul(*ops[f], accumulator=row).astype(np.float64)
                ex = exact[f]
                nz = ex != 0
                res[f, row, K] = np.abs(r[nz] - ex[nz]) / np.abs(ex[nz])
                bar.update(1)
    print(f"\nrelative error against exact, {M}x{N} outputs per K: median / 99th percentile")
    print(f"{'operands, row':>32} " + " ".join(f"{'K=' + str(k):>17}" for k in ks))
    for f, row in ROWS:
        cells = [f"{np.median(res[f, row, k]):.1e}/{np.percentile(res[f, row, k], 99):.1e}"
                 for k in ks]
        print(f"{f + ', ' + row:>32} " + " ".join(f"{c:>17}" for c in cells))


if __name__ == "__main__":
    main()
