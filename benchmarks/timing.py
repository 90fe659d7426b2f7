"""The timing helpers the benchmark scripts share."""
import time

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def _copy_into(x, out):
    nt = numba.get_num_threads()
    step = (x.size + nt - 1) // nt
    for t in numba.prange(nt):
        lo = t * step
        hi = min(x.size, lo + step)
        out[lo:hi] = x[lo:hi]


def threaded_copy(x, out=None):
    """``x`` (1-D) copied on as many threads as Numba runs, into ``out`` or a
    fresh array (as ``x.copy()`` and the encoders have): the memory limit of a
    many-thread kernel."""
    out = np.empty_like(x) if out is None else out
    _copy_into(x, out)
    return out


def best(fn, repeat):
    """The fastest of ``repeat`` timed calls, after one untimed warm-up call."""
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def print_rates(rows, n, t_copy, repeat, width=32):
    """Time each (name, fn) of ``rows`` on n values; print M values/s and the
    ratio to the copy's time."""
    for name, fn in rows:
        t = best(fn, repeat)
        print(f"  {name:{width}s}  {n / t / 1e6:8,.0f} M/s  ({t_copy / t:.2f} x copy)")


def gaussian_rows(doc, argv=None, n=1 << 24, repeat=5):
    """The shared set-up of the block-format benchmarks: parse --n and
    --repeat, make n float32 Gaussian values in rows of 4096, print the header
    and the float32 copy's rate.  Returns (args, x, copy seconds)."""
    import argparse

    import numpy as np

    from mxspec._kernel import parallel as _parallel
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--n", type=int, default=n)
    p.add_argument("--repeat", type=int, default=repeat)
    a = p.parse_args(argv)
    x = np.random.default_rng(0).standard_normal((a.n // 4096, 4096)).astype(np.float32)
    print(f"{x.size:,} float32 values, rows of 4096; {_parallel.threads()} threads")
    t_copy = best(lambda: x.copy(), a.repeat)
    return a, x, t_copy
