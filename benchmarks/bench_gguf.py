"""GGUF MXFP4 speed (issue #30's target: encode to ggml's block_mxfp4 bytes at 0.5x
a float32 copy or more, 2^24 values), beside gguf-py's numpy quantizer and
dequantizer and mxspec's own MXFP4 packed encode, in one run.  Also prints the
first-call compile cost of the recipe's kernels (an empty cache: run with
NUMBA_CACHE_DIR pointing at an empty folder).

    python benchmarks/bench_gguf.py [--n 16777216] [--repeat 5]
"""
from __future__ import annotations

import time
import warnings

from timing import best, gaussian_rows, print_rates

import numpy as np

import mxspec


def main(argv=None):
    t0 = time.perf_counter()
    mxspec.encode_packed(np.ones((1, 64), np.float32), "mxfp4_e2m1:gguf", layout="gguf")
    print(f"first call (import done, compile or cache load): {time.perf_counter() - t0:.2f} s")
    a, x, t_copy = gaussian_rows(__doc__, argv)
    n = x.size
    print(f"  float32 copy                      {n / t_copy / 1e6:8,.0f} M/s")
    rows = [("mxfp4_e2m1 encode_packed", lambda: mxspec.encode_packed(x, "mxfp4_e2m1")),
            ("gguf recipe, block_mxfp4 bytes",
             lambda: mxspec.encode_packed(x, "mxfp4_e2m1:gguf", layout="gguf")),
            ("gguf recipe, BlockArray", lambda: mxspec.encode(x, "mxfp4_e2m1:gguf"))]
    q, _ = rows[1][1]()
    rows.append(("gguf decode_packed", lambda: mxspec.decode_packed(
        q, None, "mxfp4_e2m1:gguf", x.shape, layout="gguf")))
    print_rates(rows, n, t_copy, a.repeat, 32)
    try:
        from gguf import GGMLQuantizationType, quants
    except ImportError:
        print("  gguf-py: not installed")
        return
    from importlib.metadata import version
    sub = x[: max(1, x.shape[0] // 16)]  # gguf-py is slow: a sixteenth, per value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_q = best(lambda: quants.quantize(sub, GGMLQuantizationType.MXFP4), 1)
        qq = quants.quantize(sub, GGMLQuantizationType.MXFP4)
        t_d = best(lambda: quants.dequantize(qq, GGMLQuantizationType.MXFP4), 1)
    t_m = best(lambda: mxspec.encode_packed(x, "mxfp4_e2m1:gguf", layout="gguf"), a.repeat)
    print(f"  gguf-py {version('gguf')} quantize          {sub.size / t_q / 1e6:8,.0f} M/s  "
          f"(mxspec's block_mxfp4 bytes: {(n / t_m) / (sub.size / t_q):.0f} x as fast)")
    print(f"  gguf-py {version('gguf')} dequantize        {sub.size / t_d / 1e6:8,.0f} M/s")
    assert np.array_equal(q[: sub.shape[0]], qq), "the bytes differ from gguf-py's"


if __name__ == "__main__":
    main()
