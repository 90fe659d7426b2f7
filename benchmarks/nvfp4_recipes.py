"""How often the NVFP4 recipes disagree (docs/nvfp4.md): 2^20 float32 values in
rows of 256 whose magnitudes span e^-8..e^8 (one magnitude per row), encoded
under each recipe; the share of element codes and block scales that differ,
pair by pair, and each recipe's relative RMS error.

    python benchmarks/nvfp4_recipes.py
"""
from __future__ import annotations

import numpy as np

import mxspec


def main():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4096, 256)) * np.exp(rng.uniform(-8, 8, (4096, 1))))
    x = x.astype(np.float32)
    names = list(mxspec.tables.block.RECIPES)
    enc = {r: mxspec.encode(x, "nvfp4", recipe=r) for r in names}
    print("element codes / block scales that differ, pair by pair:\n")
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for a in names:
        cells = [f"{100 * (enc[a].codes != enc[b].codes).mean():.1f}% / "
                 f"{100 * (enc[a].scales != enc[b].scales).mean():.1f}%" for b in names]
        print(f"| {a} | " + " | ".join(cells) + " |")
    print("\nrelative RMS error of the decoded tensor:\n")
    x64 = x.astype(np.float64)
    for r in names:
        d = mxspec.decode(enc[r]).astype(np.float64)
        print(f"- {r}: {np.sqrt(((d - x64) ** 2).sum() / (x64 ** 2).sum()):.6f}")


if __name__ == "__main__":
    main()
