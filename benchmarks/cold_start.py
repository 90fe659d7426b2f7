"""Cold-start figures: what a new user waits for, with an empty Numba cache.

Each step runs in a fresh Python process with ``NUMBA_CACHE_DIR`` pointing at a
new, empty folder (so nothing compiled earlier is reused), as a first call in a
fresh container would:

1. ``import mxspec`` plus the first ``encode``/``decode`` of 1,000 float32
   values in one MX format (cold);
2. in the same process, the first ``encode``/``decode`` of a 2^21-element array
   of that format (its specialized kernels);
3. the same as 1 and 2 in a new process with the cache now filled (warm), and
   step 1 again with scipy made unimportable, as in an install of mxspec alone
   (Numba imports scipy.linalg, where it is installed, to look for a BLAS);
4. the default ``mxspec qat``, cold, in its own empty cache (``--qat``).

  python benchmarks/cold_start.py [--format mxfp6_e2m3] [--qat]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time
if HIDE_SCIPY:  # as in an install of mxspec alone (numpy, numba, ml_dtypes)
    sys.modules["scipy"] = None
t0 = time.perf_counter()
import numpy as np
import mxspec
t1 = time.perf_counter()
x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
mxspec.decode(mxspec.encode(x, FMT))
t2 = time.perf_counter()
X = np.random.default_rng(0).standard_normal(1 << 21).astype(np.float32)
mxspec.decode(mxspec.encode(X, FMT))
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def child(fmt, cache, hide_scipy=False):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    code = CHILD.replace("FMT", repr(fmt)).replace("HIDE_SCIPY", str(hide_scipy))
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--format", default="mxfp6_e2m3")
    ap.add_argument("--qat", action="store_true", help="also time the default `mxspec qat`, cold")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        imp, small, large = child(a.format, cache)
        wimp, wsmall, wlarge = child(a.format, cache)
        nimp, nsmall, _ = child(a.format, cache, hide_scipy=True)
    print(f"{a.format}, {os.cpu_count()} CPUs; seconds (target)")
    print(f"cold: import + first encode/decode of 1,000 values  {imp + small:6.2f}  (< 3)"
          f"   [import {imp:.2f}, encode/decode {small:.2f}]")
    print(f"cold: first encode/decode of 2^21 values after that {large:6.2f}  (< 3)")
    print(f"warm: import + first encode/decode of 1,000 values  {wimp + wsmall:6.2f}  (< 0.5)"
          f"   [import {wimp:.2f}, encode/decode {wsmall:.2f}]")
    print(f"warm: first encode/decode of 2^21 values after that {wlarge:6.2f}")
    # Numba imports scipy.linalg to look for a BLAS when it loads its first cached
    # function, if scipy is installed (the [qat] extra brings it): about 0.18 s
    print(f"warm, scipy not importable (mxspec's own install)   {nimp + nsmall:6.2f}  (< 0.5)"
          f"   [import {nimp:.2f}, encode/decode {nsmall:.2f}]")
    if a.qat:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mxspec", "qat", "--out", out], env=env,
                           check=True, capture_output=True)
            print(f"cold: default `mxspec qat`                          "
                  f"{time.perf_counter() - t0:6.2f}  (< 60)")


if __name__ == "__main__":
    main()
