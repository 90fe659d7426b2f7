"""Run a serial kernel over a range of tasks on several threads.

mxspec's kernels are plain ``nogil`` Numba functions of the form
``kernel(t0, t1, *args) -> int`` that do tasks ``t0 .. t1-1`` and return a count
(codes out of range, elements declined, ...).  This module splits the task range
into contiguous parts (four per thread, two from eight threads up; taken in turn)
and adds up the counts.

Why threads and not Numba's ``parallel=True``: a ``prange`` loop goes through
Numba's parfor passes and a gufunc wrapper, and in mxspec that was most of a
cold compile (11 s of a 12 s block encoder).  A serial kernel compiles in a
fraction of that, and releasing the GIL lets Python threads run it on every
core with the same speed.

>>> import numba, numpy as np
>>> @numba.njit(nogil=True)
... def count(t0, t1, x):
...     return np.int64((x[t0:t1] > 0).sum())
>>> run(count, 10, np.arange(-4, 6), work=10)
5
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Below this many elements of work a call runs on the calling thread alone: a
# hand-off to the pool costs tens of microseconds.
PARALLEL_MIN = 1 << 16

# Parts of a large call per thread (see run): four on a few threads, where one
# slow core is a large share; two on more, where each part's hand-off under the
# GIL costs more than the balance gains.  On the H200 machine's 16-core host, a
# 2^24-value MX encode ran at 0.92-1.03 of a 16-thread copy with two parts and
# 0.79-1.03 with four, decode at 0.67-0.84 and 0.65-0.77 (docs/verification.md).
PARTS_PER_THREAD = 4
PARTS_PER_THREAD_MANY = 2
MANY_THREADS = 8

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _after_fork_in_child():
    """A forked child (multiprocessing's default start method on Linux, DataLoader
    workers) inherits the pool object but not its threads, and the lock perhaps
    held: start over, so that its first large call makes a pool of its own."""
    global _lock, _pool, _pool_size
    _lock = threading.Lock()
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def threads() -> int:
    """Threads a large call uses: ``NUMBA_NUM_THREADS`` if set, else the CPUs
    this process may run on."""
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _get_pool(n: int) -> ThreadPoolExecutor:
    """A pool of at least ``n`` threads.  A pool that is too small is replaced,
    not shut down: another thread may be about to submit to it, and a pool
    shut down under it refuses the work ("cannot schedule new futures after
    shutdown").  The old pool's threads end once its last user drops it."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="mxspec")
            _pool_size = n
        return _pool


# Claimed tasks: each thread takes about this many ranges of them.
CLAIMS_PER_THREAD = 8


def run(kernel, ntasks: int, *args, work: int, scratch=None, claims: bool = False) -> int:
    """``kernel(t0, t1, *args)`` over tasks ``0 .. ntasks-1``, split across
    threads when ``work`` (elements) is large enough; the sum of the counts.

    ``scratch``: (size, dtype) of a work buffer that each part gets to itself,
    passed as ``kernel(t0, t1, buffer, *args)``.  (A buffer made inside a
    kernel with ``np.empty`` made its stores several times slower: LLVM could
    not tell it from the input.)

    ``claims``: the kernel takes its tasks itself, ``kernel(0, ntasks, counter,
    [buffer,] *args)`` once per thread, each range from the shared ``counter``
    by :func:`mxspec._kernel.jit.claim` (an atomic add, no GIL).  Python
    threads start one after another, each once it holds the GIL: on 16 cores
    the last began 0.6-1.0 ms into calls of 2-4 ms (benchmarks/threads_study.py),
    and parts fixed in advance then finish that much later; claimed ranges go
    to whichever thread is running."""
    if ntasks <= 0:
        return 0
    n = min(threads(), ntasks) if work >= PARALLEL_MIN else 1
    bufs = [()] * n if scratch is None else [(b,) for b in np.empty((n,) + (scratch[0],),
                                                                    scratch[1])]
    if claims:
        counter = np.zeros(8, np.int64)  # the next task, the range's size (a cache line)
        counter[1] = max(1, ntasks // (n * CLAIMS_PER_THREAD))
        bufs = [(counter,) + b for b in bufs]
        if n == 1:
            return int(kernel(0, ntasks, *bufs[0], *args))
        pool = _get_pool(n - 1)
        futures = [pool.submit(kernel, 0, ntasks, *bufs[k], *args) for k in range(1, n)]
        total = int(kernel(0, ntasks, *bufs[0], *args))
        return total + sum(int(f.result()) for f in futures)
    if n == 1:
        return int(kernel(0, ntasks, *bufs[0], *args))
    # Parts several times the thread count, taken in turn from a shared counter:
    # on a shared machine one core often runs slower for a while, and fixed halves
    # then wait for it; here the other thread takes more parts.
    parts = min(ntasks, n * (PARTS_PER_THREAD if n < MANY_THREADS else PARTS_PER_THREAD_MANY))
    bounds = [ntasks * k // parts for k in range(parts + 1)]
    counter = itertools.count()
    take = threading.Lock()  # next() on a count is atomic under the GIL, not without one

    def worker(buf):
        total = 0
        while True:
            with take:
                k = next(counter)
            if k >= parts:
                return total
            total += int(kernel(bounds[k], bounds[k + 1], *buf, *args))

    pool = _get_pool(n - 1)
    futures = [pool.submit(worker, bufs[k]) for k in range(1, n)]
    total = worker(bufs[0])  # the caller works too
    return total + sum(f.result() for f in futures)
