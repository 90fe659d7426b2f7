"""Slice-and-Scale throughput: the code-domain conversion against decode +
re-encode of the same blocks (the float path), ratio printed in one run.

  python benchmarks/bench_slice.py [--n 16777216] [--repeat 5]
"""
import argparse

import numba
import numpy as np

import mxspec
from timing import best

PAIRS = [("mxint8", "mxint4"), ("mxint8", "mxint2"), ("mxfp8_e4m3", "mxfp6_e3m2"),
         ("mxfp8_e4m3", "mxfp4_e2m1"), ("mxfp8_e5m2", "mxfp6_e2m3")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32)
    print(f"{a.n} elements, {numba.get_num_threads()} threads; M elements/s (best of {a.repeat})")
    print(f"{'anchor -> target':26s} {'slice':>7s} {'float path':>10s} {'ratio':>6s} same")
    for an, tg in PAIRS:
        A = mxspec.encode(x, an)
        s = a.n / best(lambda: mxspec.slice_and_scale(A, tg), a.repeat) / 1e6
        f = a.n / best(lambda: mxspec.encode(mxspec.decode(A, np.float64), tg), a.repeat) / 1e6
        same = mxspec.slice_and_scale(A, tg).equals(mxspec.encode(mxspec.decode(A, np.float64), tg))
        print(f"{an + ' -> ' + tg:26s} {s:7.0f} {f:10.0f} {s / f:5.1f}x {same}")


if __name__ == "__main__":
    main()
