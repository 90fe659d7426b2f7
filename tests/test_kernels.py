"""The kernel plumbing: the thread split, the cache folder, warmup."""
import numba
import numpy as np
import pytest

import mxspec
from mxspec import _cache, _parallel


@numba.njit(nogil=True)
def _mark(t0, t1, buf, seen):
    """Mark tasks t0..t1-1 and write the part's buffer: returns the task count."""
    for t in range(t0, t1):
        seen[t] += 1
    buf[:] = t0
    return t1 - t0


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("ntasks", [0, 1, 2, 7, 1000])
def test_run_does_every_task_once_and_adds_the_counts(monkeypatch, threads, ntasks):
    monkeypatch.setattr(_parallel, "threads", lambda: threads)
    seen = np.zeros(max(ntasks, 1), np.int64)
    total = _parallel.run(_mark, ntasks, seen, work=1 << 30, scratch=(4, np.int64))
    assert total == ntasks
    assert (seen[:ntasks] == 1).all()


def test_small_work_stays_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(_parallel, "threads", lambda: 4)
    calls = []
    _parallel.run(lambda t0, t1: calls.append((t0, t1)) or 0, 10, work=100)
    assert calls == [(0, 10)]


def test_cache_folder_is_named_by_the_sources_and_skips_unwritable_roots(monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(_cache, "_roots", lambda: [blocked, tmp_path / "ok"])
    path = _cache.cache_dir()
    assert path == tmp_path / "ok" / f"mxspec-{_cache.sources_digest()}"
    monkeypatch.setattr(_cache, "_roots", lambda: [blocked])
    assert _cache.cache_dir() is None


def test_warmup_refuses_a_bad_format_before_compiling():
    with pytest.raises(mxspec.FormatError, match="unknown MX format 'mxfp9'"):
        mxspec.warmup(["mxfp9"], progress=False)
