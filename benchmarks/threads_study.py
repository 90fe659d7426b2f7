"""Where a many-thread MX encode or decode loses time against a copy on as many
threads: one call split into its parts, each part's start and end on its thread.

For each format and direction, at ``--n`` values and the thread count of
``NUMBA_NUM_THREADS`` (or every CPU): the whole call (best of ``--repeat``); the
same kernel again into the output it has already written (no fresh pages); a
timeline of one call (when each thread started its first part, how long its
kernels ran, the idle time to the call's end); and the call with one, two and
four parts per thread (2, 8 and 32 ranges where the kernel claims its tasks).  Beside them, a copy on as many threads into a fresh and
into a reused output.  No GPU needed: it measures the host's cores.

  NUMBA_NUM_THREADS=16 python benchmarks/threads_study.py [--n 16777216]
"""
import argparse
import threading
import time

import numba
import numpy as np

import mxspec
from mxspec._kernel import parallel as _parallel
from timing import best, threaded_copy


class _Spy:
    """Wraps parallel.run: keeps the last call's arguments, and with ``trace``
    on, each part's (thread, start, end) from the call's start."""

    def __init__(self):
        self.orig = _parallel.run
        self.last = None
        self.trace = None

    def __call__(self, kernel, ntasks, *args, work, scratch=None, claims=False):
        self.last = (kernel, ntasks, args, work, scratch, claims)
        if self.trace is None:
            return self.orig(kernel, ntasks, *args, work=work, scratch=scratch, claims=claims)
        t0 = time.perf_counter()
        marks = self.trace

        def timed(a, b, *rest):
            s = time.perf_counter()
            r = kernel(a, b, *rest)
            marks.append((threading.get_ident(), s - t0, time.perf_counter() - t0))
            return r
        r = self.orig(timed, ntasks, *args, work=work, scratch=scratch, claims=claims)
        marks.append(("end", 0.0, time.perf_counter() - t0))
        return r


def _timeline(marks):
    end = [m for m in marks if m[0] == "end"][0][2]
    per = {}
    for tid, s, e in marks:
        if tid != "end":
            per.setdefault(tid, []).append((s, e))
    first = sorted(min(s for s, _ in v) for v in per.values())
    busy = [sum(e - s for s, e in v) for v in per.values()]
    return (f"call {end * 1e3:.2f} ms; {len(per)} threads; first part starts "
            f"{first[0] * 1e3:.2f}-{first[-1] * 1e3:.2f} ms; kernel time per thread "
            f"{min(busy) * 1e3:.2f}-{max(busy) * 1e3:.2f} ms; idle "
            f"{100 * (1 - sum(busy) / (len(per) * end)):.0f}% of threads x call")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--formats", default="mxfp8_e4m3,mxfp6_e2m3,mxfp4_e2m1,mxint8")
    a = ap.parse_args()
    spy = _Spy()
    _parallel.run = spy
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32)
    nt = _parallel.threads()
    numba.set_num_threads(min(nt, numba.config.NUMBA_NUM_THREADS))
    out = np.empty_like(x)
    threaded_copy(x, out)
    fresh = a.n / best(lambda: threaded_copy(x), a.repeat) / 1e6
    reused = a.n / best(lambda: threaded_copy(x, out), a.repeat) / 1e6
    one = a.n / best(lambda: x.copy(), a.repeat) / 1e6
    print(f"{a.n} values, {nt} threads; M values/s, best of {a.repeat}")
    print(f"copy on {nt} threads: fresh output {fresh:.0f}, reused output {reused:.0f}; "
          f"x.copy() {one:.0f}")
    for fmt in a.formats.split(","):
        for what in ("encode", "decode", "encode_packed", "decode_packed"):
            if what == "encode":
                call = lambda: mxspec.encode(x, fmt)  # noqa: E731
            elif what == "encode_packed":
                call = lambda: mxspec.encode_packed(x, fmt)  # noqa: E731
            elif what == "decode":
                A = mxspec.encode(x, fmt)
                call = lambda: mxspec.decode(A)  # noqa: E731
            else:
                P = mxspec.encode_packed(x, fmt)
                call = lambda: mxspec.decode_packed(P[0], P[1], fmt, x.shape)  # noqa: E731
            call()
            whole = a.n / best(call, a.repeat) / 1e6
            kernel, ntasks, args, work, scratch, claims = spy.last
            again = a.n / best(lambda: spy.orig(kernel, ntasks, *args, work=work,
                                                  scratch=scratch, claims=claims),
                               a.repeat) / 1e6
            # parts handed out under the GIL, or ranges the kernel claims itself
            names = ("CLAIMS_PER_THREAD",) if claims else ("PARTS_PER_THREAD",
                                                           "PARTS_PER_THREAD_MANY")
            parts = []
            for p in ((2, 8, 32) if claims else (1, 2, 4)):
                old = [getattr(_parallel, k) for k in names]
                for k in names:
                    setattr(_parallel, k, p)
                parts.append(f"{p}: {a.n / best(call, a.repeat) / 1e6:.0f}")
                for k, v in zip(names, old):
                    setattr(_parallel, k, v)
            spy.trace = []
            call()
            line = _timeline(spy.trace)
            spy.trace = None
            print(f"{fmt:11s} {what:13s} call {whole:6.0f} ({whole / max(fresh, one):.2f} of the "
                  f"copy) | its kernel again, output written: {again:6.0f} | "
                  f"{'claimed ranges' if claims else 'parts'} per thread "
                  f"{', '.join(parts)} | {line}")


if __name__ == "__main__":
    main()
