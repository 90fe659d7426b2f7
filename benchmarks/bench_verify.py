"""`mxspec vectors verify` at a chip's scale: an encode dump of --rows float32
inputs (10^8 by default, 1.5 GB a file) written by ``write_encode_range``, the
design's results from a chip that rounds E4M3 ties away from zero, verified in
one process, on a pool of --workers processes and on a local Dask cluster of as
many workers; rows/s for each, and whether the three reports are identical.
Files go to --dir (default: a temporary folder, removed after).

  python benchmarks/bench_verify.py [--rows 100000000] [--workers N] [--dir DIR]
"""
import argparse
import os
import shutil
import tempfile
import time

from mxspec.app import vectors as V
from mxspec.app.shards import default_workers
from mxspec.app.verify_files import verify_files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10 ** 8)
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--dir", default=None)
    ap.add_argument("--no-dask", action="store_true")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="bench_verify")
    os.makedirs(d, exist_ok=True)
    vec, res = os.path.join(d, "vectors.txt"), os.path.join(d, "results.txt")
    start = 0x3c000000  # 2^-7 upward: the E4M3 normal range, with a tie every 2^20 or so
    try:
        t0 = time.perf_counter()
        V.write_encode_range(vec, "fp8_e4m3", start, start + a.rows)
        V.write_encode_range(res, "fp8_e4m3", start, start + a.rows, rounding="rna", header=False)
        t_w = time.perf_counter() - t0
        size = os.path.getsize(vec) + os.path.getsize(res)
        print(f"{a.rows:,} rows of fp8_e4m3 encode (float32 bits {start:08x}..), "
              f"{size / 1e9:.2f} GB in both files, written in {t_w:.1f} s; "
              f"{default_workers()} cores here")
        runs = [("one process", dict(workers=1)),
                (f"{a.workers} processes", dict(workers=a.workers))]
        if not a.no_dask:
            runs.append((f"Dask local cluster, {a.workers} workers",
                         dict(workers=a.workers, scheduler="local")))
        reports = []
        for name, kw in runs:
            out = []
            t0 = time.perf_counter()
            bad = verify_files(vec, res, out=out.append, progress=False, **kw)
            t = time.perf_counter() - t0
            reports.append(out)
            print(f"  {name:34s} {a.rows / t / 1e6:7.2f} M rows/s  ({t:6.1f} s, "
                  f"{bad:,} mismatches)")
        print(f"  the same report from each: {all(r == reports[0] for r in reports)}; "
              f"its last lines: {reports[0][-2:]}")
    finally:
        if a.dir is None:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
