"""Compile mxspec's kernels ahead of time, into the on-disk cache.

A fresh container or CI run pays Numba's compile on its first call of each
kernel; ``mxspec warmup`` (or :func:`warmup`) pays it once, for example while a
container image is built, so that later processes load the kernels from the
cache (``NUMBA_CACHE_DIR`` chooses where; see :mod:`mxspec._cache`).

It calls the public API with the default policies, the calls a user makes
first: on small float32 and float64 arrays for the generic kernels (shared by
every format), and on float32 arrays of 2^20 elements for the kernels
specialized to each format.

>>> [name for name, seconds in warmup(["mxint8"], large=False, progress=False)][:4]
['generic kernels', 'mxint8', 'dot engine (every accumulator model)', 'nvfp4 engine (every recipe)']
>>> [name for name, seconds in warmup(["mxint8"], large=False, progress=False)][4:]
['micro-exponent engine (MX4/6/9, HiF4)', 'hifloat8 (every mode)']
"""
from __future__ import annotations

import time

import numpy as np

from ..block.api import decode, decode_packed, encode, encode_packed
from ..block.mx import SPECIALIZE_MIN
from ..codec.elements import decode_elements, encode_elements
from ..tables.block import mx_format, mx_formats

__all__ = ["warmup"]


def _exercise(name, x):
    el = mx_format(name).element
    mx = encode(x, name)
    decode(mx)
    packed, scales = encode_packed(x, name)
    decode_packed(packed, scales, name, x.shape)
    decode_elements(encode_elements(x, el), el)


def _exercise_dot():
    from .dot import dot
    x = encode(np.ones(64, np.float32), "mxfp8_e4m3")
    dot(x, x)  # one kernel serves every model: its record is a run-time value


def _exercise_nvfp4(big=None):
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    decode(encode(x, "nvfp4"))  # one kernel serves every recipe: its record is a run-time value
    if big is not None:  # large tensors: the default recipe's frozen kernels
        decode(encode(big, "nvfp4"))


def _exercise_micro():
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    for name in ("hif4", "mx4"):  # one engine: the row is a run-time value
        decode(encode(x, name))
        encode_packed(x, name)


def _exercise_hifloat8():
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    for v in (x, x.astype(np.float64)):  # the float32 tables and the search
        decode_elements(encode_elements(v, "hifloat8"), "hifloat8")
        encode_elements(v, "hifloat8", rounding="hybrid", seed=0)


def warmup(formats=None, large: bool = True, progress: bool = True) -> list:
    """Compile the kernels for ``formats`` (MX format names; default: every
    standard one) into the cache: the generic kernels once, then each format's
    specialized kernels (``large``).  Returns [(what, seconds)]."""
    names = list(mx_formats() if formats is None else formats)
    for name in names:
        mx_format(name)  # refuse a bad name before any work
    rng = np.random.default_rng(0)
    small = rng.standard_normal(1000).astype(np.float32)
    big = rng.standard_normal(SPECIALIZE_MIN).astype(np.float32) if large else None
    steps = [("generic kernels", lambda: [_exercise(names[0], s)
                                          for s in (small, small.astype(np.float64))])]
    steps += [(n, (lambda n=n: _exercise(n, big)) if large else (lambda n=n: _exercise(n, small)))
              for n in names]
    steps.append(("dot engine (every accumulator model)", _exercise_dot))
    steps.append(("nvfp4 engine (every recipe)", lambda: _exercise_nvfp4(big)))
    steps.append(("micro-exponent engine (MX4/6/9, HiF4)", _exercise_micro))
    steps.append(("hifloat8 (every mode)", _exercise_hifloat8))
    done = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(steps), desc="mxspec warmup", unit="step")
    for what, step in steps:
        t0 = time.perf_counter()
        step()
        done.append((what, time.perf_counter() - t0))
        if bar is not None:
            bar.set_postfix_str(what)
            bar.update()
    if bar is not None:
        bar.close()
    return done
