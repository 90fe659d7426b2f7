"""Run independent shards of a job (rows of a vector file, ranges of a sweep) on
this process, on a pool of local processes, or on a Dask distributed cluster,
and hand back their results in shard order, so that every way of running a job
gives the same report.

>>> list(run_shards(pow, [(2, 3), (3, 2)], workers=1, progress=False))
[8, 9]

A Dask run (``scheduler="local"`` starts a local cluster of ``workers``
processes; an address such as ``"tcp://10.0.0.5:8786"`` joins a running one)
needs the ``dask`` extra (``pip install mxspec[dask]``); every worker must see the
files at the same paths (a shared file system).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _check_workers(workers):
    if workers is None:
        return default_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers={workers!r}; allowed: a positive integer, or None for every "
                         f"core ({default_workers()} here)")
    return workers


def _one_thread():
    """A pool worker's kernels run on one thread: the pool is the parallelism."""
    os.environ["NUMBA_NUM_THREADS"] = "1"


def _bar(total, desc, progress):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="shard", disable=not progress)


def run_shards(fn: Callable, args: Sequence[tuple], workers: int | None = None,
               scheduler: str | None = None, progress: bool = True,
               desc: str = "shards") -> Iterator:
    """``fn(*a)`` for each ``a`` in ``args``, yielded in order.  ``workers``: processes
    (None: every core; 1: this process).  ``scheduler``: None for local processes,
    ``"local"`` for a local Dask cluster, or a Dask scheduler's address.  The first
    shard (in order) that raises re-raises its exception here."""
    workers = _check_workers(workers)
    args = list(args)
    if scheduler is not None:
        yield from _run_dask(fn, args, workers, scheduler, progress, desc)
        return
    if workers == 1 or len(args) <= 1:
        with _bar(len(args), desc, progress) as bar:
            for a in args:
                yield fn(*a)
                bar.update()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # spawn, not fork: a forked child of a process whose kernels run threads can
    # hang on a lock another thread held at the fork.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(args)), mp_context=ctx,
                             initializer=_one_thread) as pool, _bar(len(args), desc, progress) as bar:
        futs = [pool.submit(fn, *a) for a in args]
        for f in futs:
            f.add_done_callback(lambda _f: bar.update())
        try:
            for f in futs:
                yield f.result()
        finally:
            for f in futs:
                f.cancel()


def _client(scheduler, workers):
    if not isinstance(scheduler, str) or scheduler != "local" and ":" not in scheduler:
        raise ValueError(f"scheduler={scheduler!r}; allowed: 'local', or a Dask scheduler's "
                         "address such as 'tcp://10.0.0.5:8786'")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("scheduler= needs Dask distributed: pip install 'mxspec[dask]' "
                          "(or drop --scheduler to use this machine's cores)") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    return Client(scheduler), None


def _on_worker(fn, a):
    import sys
    _one_thread()
    if "numba" in sys.modules:  # the worker imported the kernels with its own count
        sys.modules["numba"].set_num_threads(1)
    return fn(*a)


def _run_dask(fn, args, workers, scheduler, progress, desc):
    client, cluster = _client(scheduler, workers)
    try:
        from distributed import as_completed
        futs = client.map(_on_worker, [fn] * len(args), args, pure=False)
        with _bar(len(args), desc, progress) as bar:
            for _ in as_completed(futs, raise_errors=False):
                bar.update()
        for f in futs:
            yield f.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
