"""The HiF4 paper's comparison, with mxspec alone (docs/hif4.md): the MSE of
MXFP4, NVFP4 (one level, and with the tensor scale), MX4 and HiF4 on Gaussian
data across scales (sigma = 0.01 x 2^k, k = 0..17, as the paper's figure) and on
the QAT demo's trained weights, normalized to HiF4's.  Writes
docs/hif4-study.png and prints the tables.

    python benchmarks/hif4_study.py [--n 262144]
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import mxspec

FORMATS = (("mxfp4_e2m1", "MXFP4 (4.25 bits)"), ("nvfp4_block_only", "NVFP4, one level (4.5)"),
           ("nvfp4", "NVFP4 + tensor scale (4.5)"), ("mx4", "MX4 (4 bits)"),
           ("hif4", "HiF4 (4.5)"))


def mse(fmt, x):
    d = mxspec.decode(mxspec.encode(x, fmt), np.float64)
    return float(np.mean((d - x) ** 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1 << 18)
    p.add_argument("--out", default="docs/hif4-study.png")
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    ks = list(range(18))
    ratios = {f: [] for f, _ in FORMATS}
    for k in tqdm(ks, desc="sigma"):
        x = rng.standard_normal(a.n) * 0.01 * 2.0 ** k
        x = x.astype(np.float32).astype(np.float64)  # every format sees the same float32 data
        h = mse("hif4", x)
        for f, _ in FORMATS:
            ratios[f].append(mse(f, x) / h)
    print("Gaussian data, MSE / HiF4's MSE (mean over sigma = 0.01 x 2^0..17; the paper: "
          "NVFP4 with tensor scale about 1.31, MXFP4 about 1.88):")
    for f, label in FORMATS:
        print(f"  {label:28s} mean {np.mean(ratios[f]):.3f}  (min {min(ratios[f]):.3f}, "
              f"max {max(ratios[f]):.3f})")
    from mxspec.app.qat.pipeline import QATConfig, load_digits_split, train
    cfg = QATConfig(epochs=20, progress=False, out=None)
    model, _ = train(cfg, load_digits_split(0), ())
    w = np.concatenate([W.T.reshape(-1) for W in model.W]).astype(np.float64)
    h = mse("hif4", w)
    print(f"\nthe QAT demo's trained weights ({w.size} values, blocks along the input axis), "
          f"MSE / HiF4's:")
    for f, label in FORMATS:
        print(f"  {label:28s} {mse(f, w) / h:.3f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for f, label in FORMATS:
        ax.plot(ks, ratios[f], marker="o", label=label)
    ax.set_xlabel("Gaussian data: sigma = 0.01 x 2^k")
    ax.set_ylabel("MSE / HiF4's MSE")
    ax.set_title("Quantization error normalized to HiF4 (mxspec)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
