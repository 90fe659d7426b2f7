"""The one timing helper the benchmark scripts share."""
import time


def best(fn, repeat):
    """The fastest of ``repeat`` timed calls, after one untimed warm-up call."""
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)
