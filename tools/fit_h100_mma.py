"""Find h100_fp8_mma's parameters from the H100 capture, using only the fit
half (even-numbered tiles of tests/data/h100/mma_sync.npz), then report the
chosen model on the held-out half (odd tiles).  Run from the repository root:

    python tools/fit_h100_mma.py

Stage 1 uses the distinguishing generators alone (single, two, few, cancel,
narrow, c_big, c_cancel, c_tiny); stage 2 adds the random tiles.  Every
candidate is a row of mxspec's accumulator table, run by the one engine."""
from __future__ import annotations

import itertools

import numpy as np

import mxspec
from mxspec.tables.accumulators import AccumulatorModel

GENS = ["random", "narrow", "single", "two", "few", "cancel", "c_big", "c_cancel", "c_tiny",
        "special"]
DISTINGUISHING = [GENS.index(g) for g in ("single", "two", "few", "cancel", "narrow", "c_big",
                                          "c_cancel", "c_tiny")]
PAIRS = ["e4m3_e4m3", "e4m3_e5m2", "e5m2_e4m3", "e5m2_e5m2"]
FP8 = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}


def candidates():
    """The family searched: datapath bits below the largest exponent, truncation
    or rounding, how the 32 products of one instruction are grouped, and the
    operand exponents the alignment sees (through FP16, or the FP8 format's own)."""
    for frac, rnd, (grp, order), emin in itertools.product(
            range(21, 30), ("rz", "rne"), ((16, "h100_mma"), (16, "natural"), (32, "natural"),
                                           (8, "natural")), (-14, None)):
        yield AccumulatorModel(
            f"F={frac} {rnd} group={grp} order={order} emin={emin}", "blockfma", group=grp,
            frac_bits=frac, rounding=rnd, inst_k=32, k_order=order, input_emin=emin,
            nan_bits=0x7FFFFFFF)  # every NaN the capture holds has these bits (main checks)


def agreement(d, model, half, gens=None):
    ok = n = 0
    for pair in PAIRS:
        ta, tb = pair.split("_")
        T = d[pair + "_A"].shape[0]
        sel = np.arange(T) % 2 == half
        if gens is not None:
            sel &= np.isin(d[pair + "_cat"], gens)
        A, B = d[pair + "_A"][sel], d[pair + "_B"][sel]
        C, D = d[pair + "_C"][sel].view(np.float32), d[pair + "_D"][sel]
        got = mxspec.dot_elements(A[:, :, None, :], B[:, None, :, :], FP8[ta], FP8[tb],
                                  accumulator=model, c=C).view(np.uint32)
        ok += int((got == D).sum())
        n += D.size
    return ok, n


def main():
    d = np.load("tests/data/h100/mma_sync.npz")
    nan_bits = set()
    for pair in PAIRS:
        D = d[pair + "_D"][::2]
        nan_bits |= {hex(int(b)) for b in D[np.isnan(D.view(np.float32))]}
    print("NaN results in the fit half have the bits", sorted(nan_bits))
    rows = []
    for m in candidates():
        ok, n = agreement(d, m, 0, DISTINGUISHING)
        rows.append((ok / n, m))
    rows.sort(key=lambda r: -r[0])
    print("stage 1, distinguishing tiles of the fit half: the best 8 of", len(rows))
    for frac, m in rows[:8]:
        print(f"  {frac:.5f}  {m.name}")
    print("stage 2, every fit tile, for the stage-1 candidates within 1% of the best:")
    best = [m for f, m in rows if f >= rows[0][0] - 0.01]
    scored = []
    for m in best:
        ok, n = agreement(d, m, 0)
        scored.append((ok / n, m))
        print(f"  {ok / n:.5f} ({ok:,} of {n:,})  {m.name}")
    top = max(scored, key=lambda r: r[0])[1]
    table = mxspec.accumulator("h100_fp8_mma")
    same = all(getattr(top, f) == getattr(table, f)
               for f in ("group", "frac_bits", "rounding", "inst_k", "k_order", "input_emin"))
    ok, n = agreement(d, table, 1)
    print(f"chosen: {top.name}; the table's h100_fp8_mma has these parameters: {same}")
    print(f"held-out half (odd tiles, not used above): {ok:,} of {n:,} equal "
          f"({100 * ok / n:.3f}%)")


if __name__ == "__main__":
    main()
