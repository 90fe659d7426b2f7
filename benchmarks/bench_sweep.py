"""`mxspec sweep` timed: fp8_e4m3 against ml_dtypes' cast on --bits float32
inputs (2^32 by default) with 1, then more worker processes, as M inputs/s and
the speed-up over one worker; the reports must be equal.  One worker's run is
timed on a 16th of the range (its rate is the same on any range of whole
shards; printed as measured).

  python benchmarks/bench_sweep.py [--bits 32] [--workers 1,2] [--against ml_dtypes]
"""
import argparse
import time

from mxspec.app.sweep import sweep


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--format", default="fp8_e4m3")
    ap.add_argument("--against", default="ml_dtypes")
    a = ap.parse_args()
    full = 1 << a.bits
    base = None
    for w in [int(v) for v in a.workers.split(",")]:
        n = full // 16 if w == 1 and a.bits > 28 else full
        out = []
        t0 = time.perf_counter()
        bad = sweep(a.format, a.against, start=0, stop=n, shards=max(16, 4 * w), workers=w,
                    progress=False, out=out.append)
        t = time.perf_counter() - t0
        rate = n / t / 1e6
        base = base or rate
        print(f"  {w:3d} workers  {n:>13,} inputs  {t:7.1f} s  {rate:8.1f} M inputs/s  "
              f"x{rate / base:5.2f}  ({bad} mismatches; 2^32 would take {(1 << 32) / rate / 1e6:.0f} s)")


if __name__ == "__main__":
    main()
