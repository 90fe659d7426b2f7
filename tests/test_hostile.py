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
        from mxspec._kernel import parallel as _parallel

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
            from mxspec._kernel import cache as _cache
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
    from mxspec._kernel import cache as _cache
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


def test_decode_into_an_out_that_overlaps_the_input_is_refused():
    """decode/decode_packed with out= sharing memory with the codes returned zeros."""
    x = np.linspace(-4, 4, 64).astype(np.float32)
    mx = mxspec.encode(x, "mxint8")
    buf = np.zeros(64, np.float32)
    codes_view = buf.view(np.uint8)[:64]                 # codes living inside out's memory
    codes_view[:] = mx.codes
    alias = mxspec.MXArray(codes_view, mx.scales, mx.format, 32, 0)
    with pytest.raises(ValueError, match="out shares memory with mx.codes"):
        mxspec.decode(alias, out=buf)
    packed, scales = mxspec.encode_packed(x, "mxint8")
    pbuf = np.zeros(16, np.float32)
    pbuf.view(np.uint8)[:] = packed
    out = np.zeros(64, np.float32)
    packed_in_out = out.view(np.uint8)[:64]       # the packed bytes inside out's memory
    packed_in_out[:] = packed
    with pytest.raises(ValueError, match="out shares memory with packed"):
        mxspec.decode_packed(packed_in_out, scales, "mxint8", (64,), out=out)
    assert mxspec.decode_packed(packed, scales, "mxint8", (64,)).tolist() == \
        mxspec.decode(mx).tolist()


def test_hand_built_mxarrays_are_checked():
    """A hand-built MXArray with scales of the wrong shape made matmul read past
    its arrays, and int64 scales wrapped mod 256; both are refused by name."""
    mx = mxspec.encode(np.ones((2, 64), np.float32), "mxfp8_e4m3")
    with pytest.raises(ValueError, match="scales have shape"):
        mxspec.MXArray(mx.codes, mx.scales[:, :1], mx.format, 32, 1)
    with pytest.raises(ValueError, match="scales holds 300"):
        mxspec.MXArray(mx.codes, np.full((2, 2), 300, np.int64), mx.format, 32, 1)
    with pytest.raises(ValueError, match="codes holds 16"):
        mxspec.MXArray(np.full((2, 64), 16, np.uint8), mx.scales, mxspec.mx_format("mxfp4"),
                       32, 1)
    with pytest.raises(ValueError, match="axis=5 is out of range"):
        mxspec.MXArray(mx.codes, mx.scales, mx.format, 32, 5)
    with pytest.raises(ValueError, match="needs tensor_scale"):
        nv = mxspec.encode(np.ones(16, np.float32), "nvfp4")
        mxspec.MXArray(nv.codes, nv.scales, nv.format, 16, 0)
    ok = mxspec.MXArray(mx.codes, mx.scales.astype(np.int64), mx.format, 32, -1)
    assert ok.scales.dtype == np.uint8 and ok.axis == 1 and ok.equals(mx)


def test_small_argument_errors_name_the_argument():
    x = np.ones(64, np.float32)
    with pytest.raises(mxspec.FormatError, match="ebits must be >= 1"):
        mxspec.element_format("fp1_e0m0")
    with pytest.raises(ValueError, match=r"block_size must be an integer in 1\.\.2\^31-1"):
        mxspec.encode(x, "mxint8", block_size=2 ** 63)
    be = x.astype(">f4")
    assert mxspec.encode(be, "mxint8").equals(mxspec.encode(x, "mxint8"))
    with pytest.raises(TypeError, match="seed must be an int"):
        mxspec.encode_elements(x, "fp4_e2m1", rounding="stochastic", seed=1.5)
    with pytest.raises(ValueError, match="not both"):
        mxspec.encode_elements(x, "fp4_e2m1", rounding="stochastic", seed=1,
                               rbits=np.zeros(64, np.uint32))
    p, s = mxspec.encode_packed(x, "mxint8")
    with pytest.raises(TypeError, match="shape must be a tuple of integers"):
        mxspec.decode_packed(p, s, "mxint8", (64.5,))
    with pytest.raises(TypeError, match="shift must be an integer"):
        mxspec.slice_elements([1], "int8", "int4", shift=1.5)
    assert mxspec.mx_format("mxfp4").name == "mxfp4_e2m1"
    with pytest.raises(mxspec.FormatError, match="mxfp8_e4m3 or mxfp8_e5m2"):
        mxspec.encode(x, "mxfp8")


def test_checkpoint_io_errors_name_the_file(tmp_path):
    import ml_dtypes
    from safetensors.numpy import save_file
    with pytest.raises(mxspec.CheckpointError, match="cannot write the checkpoint"):
        mxspec.save(tmp_path / "no-such-folder" / "w.safetensors",
                    {"w": mxspec.encode(np.ones(32, np.float32), "mxint8")})
    path = tmp_path / "scalar.safetensors"
    save_file({"l.weight": np.array(7, np.uint8),
               "l.weight_scale": np.zeros(1, np.uint8).view(ml_dtypes.float8_e4m3fn),
               "l.weight_scale_2": np.float32([1.0])}, str(path))
    with pytest.raises(mxspec.CheckpointError, match="is a scalar"):
        mxspec.load(path)


def test_torch_functions_without_torch_name_the_extra():
    r = _python("""
        import sys
        sys.modules["torch"] = None   # as on a machine without torch
        import numpy as np, mxspec
        mx = mxspec.encode(np.ones(32, np.float32), "mxint8")
        try:
            mx.to_torch()
        except ImportError as e:
            print(e)
    """)
    assert "pip install 'mxspec[torch]'" in r.stdout and "CPU wheel" in r.stdout, r.stderr[-2000:]


def test_the_console_script_reaches_the_cli():
    """pyproject's `mxspec` entry point names a module and function that exist (it still
    named mxspec.cli after the CLI moved to mxspec.app.cli, and the installed `mxspec`
    command failed while every test passed); where the command is installed beside this
    Python, it runs."""
    import importlib
    import re
    text = (ROOT / "pyproject.toml").read_text()
    target = re.search(r'^\[project\.scripts\]\s*\nmxspec\s*=\s*"([\w.]+):(\w+)"', text, re.M)
    assert target, "pyproject.toml has no mxspec console script"
    assert callable(getattr(importlib.import_module(target[1]), target[2]))
    exe = Path(sys.executable).parent / "mxspec"
    if exe.exists():
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith("mxspec "), out.stderr
