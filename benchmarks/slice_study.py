"""How often and how far Slice-and-Scale differs from direct quantization.

For each anchor -> target pair and data distribution (float32, 2^20 values,
blocks of 32 along the last axis, rne, floor scales):

  sliced = slice_and_scale(encode(x, anchor), target)      # two roundings
  direct = encode(x, target)                                # one rounding

and reports the fraction of elements whose values differ, the mean and max
difference in units of the target's step (ulp) at the direct value, and the
mean squared error of each against x.

  python benchmarks/slice_study.py [--n 1048576] [--out docs/slice-study.md]
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

import mxspec

PAIRS = [("mxint8", f"mxint{k}") for k in (7, 6, 5, 4, 3, 2)] + \
    [(a, t) for a in ("mxfp8_e4m3", "mxfp8_e5m2") for t in ("mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1")]


def data(kind, n, rng):
    if kind == "normal":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "laplace":
        return rng.laplace(size=n).astype(np.float32)
    if kind == "uniform":
        return rng.uniform(-1, 1, n).astype(np.float32)
    raise ValueError(kind)


def ulp_of(direct: mxspec.MXArray):
    """The target's step at each direct value, in absolute terms."""
    el = direct.format.element
    bs = direct.block_size
    s = np.repeat(direct.scales.astype(np.int64) - 127, bs)[:direct.codes.size]
    v = np.abs(el.values[direct.codes])
    if el.kind == "int":
        q = np.full(v.shape, el.qmin)
    else:
        with np.errstate(divide="ignore"):
            e = np.floor(np.log2(np.where(v > 0, v, 1.0))).astype(np.int64)
        q = np.maximum(np.where(v > 0, e, el.emin), el.emin) - el.mbits
    return np.ldexp(1.0, q + s)


def study(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    kinds = ["normal", "laplace", "uniform"]
    for kind in tqdm(kinds, desc="distributions"):
        x = data(kind, n, rng)
        x64 = x.astype(np.float64)
        for anchor, target in PAIRS:
            A = mxspec.encode(x, anchor)
            S = mxspec.slice_and_scale(A, target)
            P = mxspec.slice_and_scale(A, target, rule="paper")
            D = mxspec.encode(x, target)
            vs, vd = mxspec.decode(S, np.float64), mxspec.decode(D, np.float64)
            diff = vs != vd
            ulps = np.abs(vs - vd) / ulp_of(D)
            rows.append(dict(
                data=kind, anchor=anchor, target=target, differ=diff.mean(),
                mean_ulp=float(ulps[diff].mean()) if diff.any() else 0.0,
                max_ulp=float(ulps.max()), mse_sliced=float(np.mean((vs - x64) ** 2)),
                mse_direct=float(np.mean((vd - x64) ** 2)),
                paper_differs=float(np.mean(mxspec.decode(P, np.float64) != vs))))
    return rows


def table(rows, n):
    out = [f"n = {n} float32 values per distribution, blocks of 32, rne, floor scales.",
           "`differ`: fraction of elements whose sliced value differs from the direct one; "
           "`ulp`: that difference in steps of the target at the direct value; "
           "`mse` against x; `paper≠req`: fraction where the paper rule's value differs "
           "from requantize.", "",
           "| data | anchor | target | differ | mean ulp (of differing) | max ulp | "
           "mse sliced | mse direct | ratio | paper≠req |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['data']} | {r['anchor']} | {r['target']} | {r['differ']:.4f} | "
                   f"{r['mean_ulp']:.3f} | {r['max_ulp']:.3f} | {r['mse_sliced']:.3e} | "
                   f"{r['mse_direct']:.3e} | {r['mse_sliced'] / r['mse_direct']:.4f} | "
                   f"{r['paper_differs']:.4f} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="also write the table to this markdown file")
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows = study(a.n, a.seed)
    text = table(rows, a.n)
    print(text)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
