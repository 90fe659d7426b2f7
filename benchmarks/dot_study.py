"""How far each accumulator model lands from `exact` on random MX data, and how
that grows with K (docs/dot.md).  Writes docs/dot-study.png and prints the table.

    python benchmarks/dot_study.py [--out docs/dot-study.png]
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import mxspec

MODELS = ("fp32_sequential", "fp32_pairwise", "fp32_blockwise", "fixed(24,rz,16)",
          "h100_fp8_mma")
KS = (32, 128, 512, 2048, 8192)


def ulps(x, ref):
    """|x - ref| in units of the last place of the float32 ref."""
    x = x.astype(np.float64)
    r = ref.astype(np.float64)
    ulp = np.spacing(np.abs(ref)).astype(np.float64)
    return np.abs(x - r) / ulp


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/dot-study.png")
    p.add_argument("--format", default="mxfp8_e4m3")
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    M = N = 64
    res = {}
    for K in tqdm(KS, desc="K"):
        x = mxspec.encode(rng.standard_normal((M, K)).astype(np.float32), a.format)
        y = mxspec.encode(rng.standard_normal((K, N)).astype(np.float32), a.format, axis=0)
        ex = mxspec.matmul(x, y)
        for m in MODELS:
            res[m, K] = ulps(mxspec.matmul(x, y, accumulator=m), ex).ravel()
    print(f"{a.format}, {M}x{N} outputs per K, error against exact in float32 ulps of the exact "
          "result: median / 99th percentile / max")
    print(f"{'model':>18} " + " ".join(f"{'K=' + str(k):>18}" for k in KS))
    for m in MODELS:
        cells = [f"{np.median(res[m, k]):5.1f}/{np.percentile(res[m, k], 99):6.1f}/"
                 f"{res[m, k].max():6.0f}" for k in KS]
        print(f"{m:>18} " + " ".join(f"{c:>18}" for c in cells))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for m in MODELS:
        ax1.plot(KS, [np.mean(res[m, k]) for k in KS], marker="o", label=m)
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("symlog", linthresh=0.1)
    ax1.set_ylim(0, None)
    ax1.set_xlabel("K")
    ax1.set_ylabel("mean |model - exact| (float32 ulps)")
    ax1.set_title(f"{a.format}: error against exact as K grows")
    ax1.legend(fontsize=8)
    bins = np.concatenate([[0, 0.5], 2.0 ** np.arange(0, 12)])
    for m in MODELS:
        h, _ = np.histogram(np.minimum(res[m, 2048], bins[-1] - 1), bins)
        ax2.step(range(len(h)), h / h.sum(), where="mid", label=m)
    ax2.set_xticks(range(len(bins) - 1))
    ax2.set_xticklabels(["0"] + [f"<{int(b)}" if b >= 1 else "<1" for b in bins[2:]],
                        fontsize=7)
    ax2.set_xlabel("|model - exact| (float32 ulps), K = 2048")
    ax2.set_ylabel("fraction of outputs")
    ax2.set_title("ulp histogram")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
