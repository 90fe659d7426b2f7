"""How far the H100's FP8 GEMM recipes land from `exact` as K grows from 32 to
16384, on random data and on the QAT demo's weights and activations
(docs/wgmma.md).  Writes docs/wgmma-study.png and prints the tables.

    python benchmarks/wgmma_study.py [--out docs/wgmma-study.png]

Random: N(0, 1) operands.  Realistic: the second layer of the QAT demo's MLP
trained in float32 (mxspec.qat): K-long rows drawn with replacement from its
ReLU activations on the test digits (non-negative) and from its weights.  Both
are encoded to MXFP8 E4M3 (scales per 32 along K) and multiplied (64 x K) @
(K x 64) under each recipe."""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import mxspec

RECIPES = (("h100_fp8_wgmma", "wgmma, no promotion (cuBLAS fast accum., Triton default)"),
           ("triton_fp8(32)", "promotion every 32 (Triton max_num_imprecise_acc=32)"),
           ("cublas_fp8", "promotion every 128 (cuBLAS default, DeepSeek N_C=128)"),
           ("h100_fp8_wgmma(promote=512)", "promotion every 512"),
           ("h100_fp8_mma", "mma.sync (float32-wide, for comparison)"),
           ("fp32_sequential", "float32 fma loop"))
KS = (32, 128, 512, 2048, 8192, 16384)
M = N = 64


def realistic_pools(seed=0):
    """Hidden-layer activations and second-layer weights of the trained QAT MLP."""
    from mxspec.app.qat.pipeline import QATConfig, load_digits_split, train
    cfg = QATConfig(epochs=20, progress=False, out=None, seed=seed)
    data = load_digits_split(seed)
    model, _ = train(cfg, data, ())
    h = np.maximum(data[2] @ model.W[0] + model.b[0], 0.0)
    return h.ravel().astype(np.float32), model.W[1].ravel().astype(np.float32)


def rel_err(x, ref):
    x, r = x.astype(np.float64), ref.astype(np.float64)
    nz = r != 0
    return np.abs(x[nz] - r[nz]) / np.abs(r[nz])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/wgmma-study.png")
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    acts, weights = realistic_pools()
    data = {
        "random": lambda K: (rng.standard_normal((M, K)), rng.standard_normal((K, N))),
        "realistic": lambda K: (rng.choice(acts, (M, K)), rng.choice(weights, (K, N))),
    }
    res = {}
    with tqdm(total=len(data) * len(KS), desc="study") as bar:
        for dname, make in data.items():
            for K in KS:
                x, y = make(K)
                xa = mxspec.encode(x.astype(np.float32), "mxfp8_e4m3")
                ya = mxspec.encode(y.astype(np.float32), "mxfp8_e4m3", axis=0)
                ex = mxspec.matmul(xa, ya)
                for r, _ in RECIPES:
                    res[dname, r, K] = rel_err(mxspec.matmul(xa, ya, accumulator=r), ex)
                bar.update(1)
    for dname in data:
        print(f"\n{dname}: relative error against exact (rounded once to float32), "
              f"{M}x{N} outputs per K: median / 99th percentile")
        print(f"{'recipe':>28} " + " ".join(f"{'K=' + str(k):>17}" for k in KS))
        for r, _ in RECIPES:
            cells = [f"{np.median(res[dname, r, k]):.1e}/{np.percentile(res[dname, r, k], 99):.1e}"
                     for k in KS]
            print(f"{r:>28} " + " ".join(f"{c:>17}" for c in cells))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, dname in zip(axes, data):
        for r, label in RECIPES:
            ax.plot(KS, [np.mean(res[dname, r, k]) for k in KS], marker="o", label=label)
        ax.axhline(2.0 ** -24, color="grey", lw=0.8, ls=":")
        ax.text(KS[0], 2.0 ** -24 * 1.3, "half a float32 ulp", fontsize=7, color="grey")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("K")
        ax.set_title(f"{dname} data, MXFP8 E4M3")
    axes[0].set_ylabel("mean |recipe - exact| / |exact|")
    axes[0].legend(fontsize=7, loc="center left")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
