"""Transformer Engine's MXFP8 scale byte (common/utils.cuh float_to_e8m0 of
fl32(amax * fl32(1 / max_norm)): the float32 exponent rounded up, saturating at
254) against mxspec's ``ceil`` rule (= torchao's RCEIL: the byte of amax / max
rounded up to a power of two) on every positive finite float32 amax, for the
MX element types TE quantizes (E4M3, E5M2) and the others: against SPEC.md 4.2's
``ceil`` formula in numpy on all of them, and against mxspec's encoder on every
256th.  SPEC.md 4.2 cites the result.  About two minutes on 2 cores.

    python benchmarks/sweep_te_rceil.py
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import mxspec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from te_reference import te_byte  # noqa: E402  (TE's rule, written from its source)


def spec_ceil(a, f):
    """SPEC.md 4.2's ceil: s = E - emax, plus 1 where amax's significand exceeds
    max's (amax / 2^s would not fit), clamped to [-127, 127]; 0x00 for amax 0."""
    m, e = np.frexp(a.astype(np.float64))  # a = m 2^e, 0.5 <= m < 1
    mmax, _ = np.frexp(f.max_normal)
    s = (e - 1) - f.emax + (m > mmax)
    return np.where(a == 0, 0, np.clip(s, -127, 127) + 127)


def main():
    t0 = time.perf_counter()
    for el in ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1"):
        f = mxspec.element_format(el)
        bad = 0
        for hi in range(0, 0x7F8, 8):  # positive finite float32: exponent fields 0..254
            bits = (np.arange(8 << 20, dtype=np.uint32) + np.uint32(hi << 20))
            a = bits.view(np.float32)
            te = te_byte(a, f.max_normal)
            bad += int((te != spec_ceil(a, f)).sum())
            sub = a[::256]
            ours = mxspec.encode(sub, "mx" + el, block_size=1, scale_rule="ceil").scales
            assert np.array_equal(ours, spec_ceil(sub, f)), el  # mxspec is its SPEC formula
        print(f"{el}: TE's byte differs from mxspec's ceil on {bad} of 2,139,095,040 finite "
              f"amax ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
