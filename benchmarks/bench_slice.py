"""Slice-and-Scale throughput against the float path (decode the anchor, encode
it again) and a plain float32 copy (the memory limit), in one run, for every pair
the paper defines: the MXINT8 and MXFP8 anchors to every lower format of their
family.

  python benchmarks/bench_slice.py [--n 16777216] [--repeat 5]
"""
import argparse

import numpy as np

import mxspec
from mxspec._kernel import parallel as _parallel
from timing import best

PAIRS = [("mxint8", t) for t in ("mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2")] + \
    [(a, t) for a in ("mxfp8_e4m3", "mxfp8_e5m2")
     for t in ("mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32)
    copy = a.n / best(lambda: x.copy(), a.repeat) / 1e6
    print(f"{a.n} elements, {_parallel.threads()} threads; M elements/s (best of {a.repeat}); "
          f"float32 copy {copy:.0f}")
    print(f"{'anchor -> target':26s} {'slice':>7s} {'dec+enc':>8s} {'ratio':>6s} "
          f"{'/copy':>6s} same")
    for an, tg in PAIRS:
        A = mxspec.encode(x, an)
        mxspec.slice_and_scale(A, tg)  # compile first
        s = a.n / best(lambda: mxspec.slice_and_scale(A, tg), a.repeat) / 1e6
        f = a.n / best(lambda: mxspec.encode(mxspec.decode(A), tg), a.repeat) / 1e6
        same = mxspec.slice_and_scale(A, tg).equals(mxspec.encode(mxspec.decode(A, np.float64), tg))
        print(f"{an + ' -> ' + tg:26s} {s:7.0f} {f:8.0f} {s / f:5.2f}x {s / copy:5.2f}x {same}")


if __name__ == "__main__":
    main()
