"""Does the accumulator change the QAT demo's accuracy?  Trains the demo's MLP
with multi-format QAT (mxspec.qat, the public API), then runs its forward pass
with every matrix product through mxspec.matmul: activations and weights
encoded to an MX format (blocks of 32 along K), each product under a named
accumulator model.  Prints test accuracy per (format, model); docs/dot.md
holds a run.

    python benchmarks/qat_accumulators.py [--epochs 40]
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import mxspec
from mxspec.app.qat.pipeline import QATConfig, load_digits_split, train

FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxint8", "mxfp4_e2m1")
MODELS = ("exact", "fp32_sequential", "h100_fp8_mma", "h100_fp8_wgmma", "cublas_fp8",
          "fixed(6,rz,32)", "fixed(3,rz,32)")


def forward(model, x, fmt, acc):
    """Logits with each layer's product computed by mxspec.matmul under ``acc``."""
    h = x
    for i, (W, b) in enumerate(zip(model.W, model.b)):
        a = mxspec.encode(h.astype(np.float32), fmt)              # blocks along K (axis 1)
        w = mxspec.encode(W, fmt, axis=0)                         # blocks along K (axis 0)
        h = mxspec.matmul(a, w, accumulator=acc) + b
        if i < len(model.W) - 1:
            h = np.maximum(h, 0)
    return h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    a = p.parse_args(argv)
    cfg = QATConfig(epochs=a.epochs, progress=False, out=None)
    data = load_digits_split(cfg.seed)
    with tqdm(total=cfg.epochs, desc="MF-QAT training") as bar:
        model, _ = train(cfg, data, cfg.formats, bar)
    xte, yte = data[2], data[3]
    print(f"MLP {[model.W[0].shape[0]] + [W.shape[1] for W in model.W]}, trained with "
          f"MF-QAT on {', '.join(cfg.formats)} ({cfg.epochs} epochs); test accuracy "
          f"({len(yte)} digits) with activations and weights in the format and every "
          f"product under the model:")
    print(f"{'format':>12} " + " ".join(f"{m:>16}" for m in MODELS))
    for fmt in FORMATS:
        cells = []
        for m in MODELS:
            try:
                logits = forward(model, xte, fmt, m)
            except ValueError:  # the model does not take the format (FP8 hardware models)
                cells.append("-")
                continue
            cells.append(f"{100 * (logits.argmax(1) == yte).mean():.2f}%")
        print(f"{fmt:>12} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
