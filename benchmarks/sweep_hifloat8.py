"""Sweep all 2^32 float32 inputs: mxspec's HiFloat8 encode (rna, overflow to Inf,
NaN kept) against en-dtypes' hifloat8 cast.  Prints the mismatch count and exits
non-zero on any.   python benchmarks/sweep_hifloat8.py
"""
import sys
import time
import warnings

import numpy as np
from tqdm import tqdm

import mxspec

CHUNK = 1 << 24


def main():
    import en_dtypes
    t0 = time.perf_counter()
    bad = 0
    first = []
    for start in tqdm(range(0, 1 << 32, CHUNK), desc="hifloat8", unit="chunk"):
        x = np.arange(start, start + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = x.astype(en_dtypes.hifloat8).view(np.uint8)
        got = mxspec.encode_elements(x, "hifloat8")
        mism = np.flatnonzero(got != ref)
        bad += mism.size
        first += [(hex(int(x.view(np.uint32)[i])), hex(got[i]), hex(ref[i])) for i in mism[:3]]
    print(f"hifloat8: {bad} mismatches of 2^32 float32 inputs against en-dtypes "
          f"({time.perf_counter() - t0:.0f} s){'; first: ' + str(first[:6]) if bad else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
