"""Hostile conditions: forked children, many threads at once, no writable cache,
two source trees sharing a cache, bad arguments.  Each test reproduces a defect
that was found by a fault campaign (issue 26) and fails on the code before its fix."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mxspec
from mxspec import _parallel

ROOT = Path(__file__).resolve().parents[1]


def _python(code, timeout=120, **env):
    """Run ``code`` in a fresh interpreter that imports this checkout's mxspec."""
    e = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, timeout=timeout,
                          capture_output=True, text=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_runs_large_calls():
    """After a call large enough to start the thread pool, a forked child's
    first large call used to wait forever on the pool's threads, which a child
    does not inherit."""
    r = _python("""
        import os, signal, sys
        import numpy as np, mxspec
        x = np.linspace(-1, 1, 1 << 17).astype(np.float32)
        want = mxspec.decode(mxspec.encode(x, "mxfp8_e4m3"))    # starts the pool
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a hung child ends itself (the parent waits for it)
            got = mxspec.decode(mxspec.encode(x, "mxfp8_e4m3"))
            codes = mxspec.encode_elements(x, "fp8_e4m3")
            os._exit(0 if np.array_equal(got, want) and codes.size == x.size else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """, NUMBA_NUM_THREADS="2")
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])


def test_threads_whose_first_calls_need_different_pools():
    """16 threads whose first calls need pools of 1 to 15 threads: growing the
    pool shut down the one another thread was submitting to ("cannot schedule
    new futures after shutdown")."""
    r = _python("""
        import threading, numba, numpy as np
        from mxspec import _parallel

        @numba.njit(nogil=True)
        def count(t0, t1, x):
            return np.int64((x[t0:t1] > 0).sum())

        x = np.ones(64)
        count(0, 1, x)
        failures = []
        for trial in range(40):
            _parallel._pool, _parallel._pool_size = None, 0   # a fresh process each trial
            go = threading.Barrier(16)

            def work(k):
                go.wait()
                try:
                    for _ in range(5):
                        assert _parallel.run(count, k, x, work=1 << 16) == k
                except Exception as e:  # noqa: BLE001 - any error is the defect
                    failures.append(repr(e))

            ts = [threading.Thread(target=work, args=(2 + i % 15,)) for i in range(16)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        print(len(failures), failures[:1])
        raise SystemExit(1 if failures else 0)
    """, NUMBA_NUM_THREADS="16")
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_import_runs_uncached_where_no_cache_folder_can_be_written(tmp_path):
    """With no writable cache folder, ``import mxspec`` raised "cannot cache
    function 'bit_length': no locator available"; it now compiles in-process,
    with one warning."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = _python("""
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import numpy as np, mxspec
            from mxspec import _cache
            mx = mxspec.encode(np.float32([1.0, -2.0, 3.0]), "mxfp4_e2m1")
            assert mxspec.decode(mx).tolist() == [1.0, -2.0, 3.0]
        ours = [str(x.message) for x in w if "cache folder" in str(x.message)]
        assert len(ours) == 1 and not _cache.ENABLED, ours
        print("ok")
    """, NUMBA_CACHE_DIR=str(blocker / "cache"))  # under a file: nothing can be made there
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]


def test_cache_folders_of_other_source_trees_are_kept_until_unused(tmp_path):
    """Two source trees sharing one NUMBA_CACHE_DIR deleted each other's folder
    on every import; a folder is now removed only after PRUNE_AFTER_DAYS unused."""
    from mxspec import _cache
    mine, theirs, old = (tmp_path / f"mxspec-{d}" for d in ("mine", "theirs", "old"))
    for p in (mine, theirs, old):
        p.mkdir()
        (p / "k.nbi").write_bytes(b"x")
    now = 1_800_000_000.0
    os.utime(theirs, (now - 86400, now - 86400))                  # used yesterday
    stale = now - (_cache.PRUNE_AFTER_DAYS + 1) * 86400
    os.utime(old, (stale, stale))
    _cache._prune(mine, now)
    assert mine.exists() and theirs.exists() and not old.exists()
    assert mine.stat().st_mtime == now  # marked used


def test_import_mxspec_does_not_import_ml_dtypes():
    """ml_dtypes 0.7 takes about half a second to import; mxspec needs it only
    when the caller uses one of its dtypes (and has then imported it)."""
    r = _python("""
        import sys, numpy as np, mxspec
        x = np.linspace(-3, 3, 64).astype(np.float32)
        mxspec.decode(mxspec.encode(x, "mxfp8_e4m3"))
        mxspec.decode_elements(mxspec.encode_elements(x, "fp4_e2m1"), "fp4_e2m1")
        assert "ml_dtypes" not in sys.modules, "imported"
        import ml_dtypes
        y = mxspec.encode_elements(x.astype(ml_dtypes.bfloat16), "fp8_e4m3")  # seen then
        assert (y == mxspec.encode_elements(x.astype(ml_dtypes.bfloat16).astype(np.float32),
                                            "fp8_e4m3")).all()
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]
