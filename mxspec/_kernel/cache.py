"""Where mxspec's compiled kernels are cached, and keeping that cache in step
with mxspec's sources.

Numba checks a cached function against *its own* source file only, not against
the functions it inlines from other modules: after an edit to core.py (or an
upgrade in place) kernels in blocks.py would run stale code.  So mxspec puts its
cache in a folder named by a digest of all its sources, ``mxspec-<digest>``: a
changed source is a new folder, and a stale kernel is never read.

The folder lies under the first of these that can be written:

1. ``$NUMBA_CACHE_DIR`` (Numba's own setting: a CI cache or a container image
   keeps this folder between runs);
2. the package's ``__pycache__``;
3. the user's cache folder (``~/.cache/numba``), for a read-only install.

``NUMBA_CACHE_LOCATOR_CLASSES``, where set, overrides all of this, as Numba
documents.  Where none of them can be written (a read-only install with no
writable home, a read-only ``NUMBA_CACHE_DIR``), mxspec compiles its kernels in
each process and says so in one warning: :data:`ENABLED` is then False, and
every ``cache=`` of mxspec's decorators reads it.

Folders of other digests beside this one are other source trees or releases
sharing the cache (CI runners, two checkouts): they are kept while in use, and
removed once unused for :data:`PRUNE_AFTER_DAYS` days (each import marks its own
folder used).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import warnings
from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent   # the mxspec package
# The layers whose code ends up inside compiled kernels (io and app hold none).
NUMBA_LAYERS = ("_kernel", "tables", "codec", "block", "compute")


def sources_digest() -> str:
    h = hashlib.sha256()
    for layer in NUMBA_LAYERS:
        for path in sorted((_PKG / layer).glob("*.py")):
            h.update(f"{layer}/{path.name}".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:20]


DIGEST = sources_digest()
FOLDER = f"mxspec-{DIGEST}"
PRUNE_AFTER_DAYS = 30
# Whether mxspec's Numba functions are cached on disk (install() decides; the
# decorators read it: mxspec/_cache is imported before any of them).
ENABLED = True


def _roots():
    from numba.core import config
    if config.CACHE_DIR:
        return [Path(config.CACHE_DIR)]
    roots = [_PKG / "__pycache__"]
    try:
        from numba.misc.appdirs import AppDirs
        roots.append(Path(AppDirs(appname="numba", appauthor=False).user_cache_dir))
    except ImportError:  # pragma: no cover - numba always ships appdirs
        pass
    return roots


def cache_dir() -> Path | None:
    """The folder mxspec's kernels are cached in (None if none can be written)."""
    for root in _roots():
        path = root / FOLDER
        try:
            path.mkdir(parents=True, exist_ok=True)
            # one probe per process: test workers and CI jobs start side by side, and a
            # shared probe name let one process unlink another's and fall back elsewhere
            probe = path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)
            return path
        except OSError:
            continue
    return None


def _prune(path: Path, now: float | None = None) -> None:
    """Mark ``path`` used, remove the folders of other source digests beside it
    that were not used for PRUNE_AFTER_DAYS days, and the loose cache files of
    mxspec versions before this scheme (best effort).  Folders in use by another
    source tree (a second checkout, another release) are kept: removing them
    made two trees sharing one NUMBA_CACHE_DIR recompile on every import."""
    now = time.time() if now is None else now
    try:
        os.utime(path, (now, now))
    except OSError:
        pass
    for old in path.parent.glob("mxspec-*"):
        try:
            stale = old != path and old.is_dir() and \
                now - old.stat().st_mtime > PRUNE_AFTER_DAYS * 86400
        except OSError:
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
    if path.parent == _PKG / "__pycache__":
        for pattern in ("*.nbi", "*.nbc"):
            for f in path.parent.glob(pattern):
                try:
                    f.unlink()
                except OSError:
                    pass


def install() -> Path | None:
    """Route the cache of every Numba function defined in mxspec to
    :func:`cache_dir`; returns that folder."""
    global ENABLED
    from numba.core import caching, config
    if getattr(config, "CACHE_LOCATOR_CLASSES", None):  # the user's own choice
        return None
    path = cache_dir()
    if path is None:
        ENABLED = False
        warnings.warn("mxspec: no cache folder can be written (NUMBA_CACHE_DIR, the package's "
                      "__pycache__, the user's cache folder); kernels are compiled in each "
                      "process. Set NUMBA_CACHE_DIR to a writable folder to keep them.",
                      RuntimeWarning, stacklevel=3)
        return None
    _prune(path)

    class SourcesDigestLocator(caching._CacheLocator):
        """Every function whose source file lies in the mxspec package."""

        def __init__(self, py_func):
            self._lineno = py_func.__code__.co_firstlineno

        def get_cache_path(self):
            return str(path)

        def get_source_stamp(self):
            return DIGEST

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                inside = Path(os.path.abspath(py_file)).is_relative_to(_PKG)
            except (OSError, ValueError):
                return None
            return cls(py_func) if inside else None

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in Numba 0.68
    locators = impl._locator_classes
    locators[:] = [c for c in locators if c.__name__ != "SourcesDigestLocator"]
    locators.insert(0, SourcesDigestLocator)
    return path
