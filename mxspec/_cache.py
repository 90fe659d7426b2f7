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
documents.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

_PKG = Path(__file__).resolve().parent
# The modules whose code ends up inside compiled kernels.
NUMBA_SOURCES = ("core.py", "formats.py", "policies.py", "scales.py", "elements.py", "bitstream.py",
                 "blocks.py", "packing.py", "slicing.py", "_parallel.py", "accumulators.py",
                 "dotcore.py")


def sources_digest() -> str:
    h = hashlib.sha256()
    for name in NUMBA_SOURCES:
        h.update(name.encode())
        h.update((_PKG / name).read_bytes())
    return h.hexdigest()[:20]


DIGEST = sources_digest()
FOLDER = f"mxspec-{DIGEST}"


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


def _prune(path: Path) -> None:
    """Remove the folders of other source digests beside ``path``, and the
    loose cache files of mxspec versions before this scheme (best effort)."""
    for old in path.parent.glob("mxspec-*"):
        if old != path and old.is_dir():
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
    from numba.core import caching, config
    if getattr(config, "CACHE_LOCATOR_CLASSES", None):  # the user's own choice
        return None
    path = cache_dir()
    if path is None:
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
