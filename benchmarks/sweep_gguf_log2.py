"""Every positive finite float32 (2^31 - 2^23 - 1 values): the gguf rule's exponent
(SPEC.md 4.5: the exact floor(log2 x), plus one at or past the binade's threshold in
mxspec.codec.e8m0.LOG2F_T32) against floor(np.log2(x)) in float32, the call gguf-py
makes.  Prints how many inputs the rounding of log2 moves (7,456 with numpy 2.4 on
x86-64) and how many disagree (0).  About a minute on one core.

    python benchmarks/sweep_gguf_log2.py
"""
import time

import numpy as np

from mxspec.codec import e8m0


def main():
    t0 = time.perf_counter()
    moved = bad = 0
    step = 1 << 24
    end = 0x7F800000
    for s in range(1, end, step):
        b = np.arange(s, min(s + step, end), dtype=np.uint32)
        x = b.view(np.float32)
        want = np.floor(np.log2(x)).astype(np.int64)
        ex = (b >> 23).astype(np.int64) - 127
        sub = ex == -127
        ex[sub] = np.floor(np.log2(x[sub].astype(np.float64))).astype(np.int64)
        got = ex + (b.astype(np.int64) >= e8m0.LOG2F_T32[ex + 1 + 149])
        moved += int((want != ex).sum())
        bad += int((got != want).sum())
    print(f"{end - 1:,} float32 inputs in {time.perf_counter() - t0:.0f} s: numpy {np.__version__}'s "
          f"float32 log2 moves {moved:,} past the exact floor; the table disagrees on {bad}")
    return bad


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
