"""Keep Numba's on-disk cache in step with mxspec's sources.

Numba invalidates a cached function only when *its own* file changes, not when
a function it inlines from another module does: after an edit to core.py (or an
upgrade in place) kernels in elements.py would run stale code.  So mxspec
stamps its cache with a digest of all its sources and clears it on a mismatch.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_PKG = Path(__file__).resolve().parent
# The modules whose code ends up inside compiled kernels.
NUMBA_SOURCES = ("core.py", "formats.py", "policies.py", "scales.py", "elements.py", "bitstream.py",
                 "blocks.py", "packing.py", "slicing.py")


def refresh() -> bool:
    """Clear mxspec's Numba cache files if the sources changed; True if cleared."""
    h = hashlib.sha256()
    for name in NUMBA_SOURCES:
        h.update(name.encode())
        h.update((_PKG / name).read_bytes())
    digest = h.hexdigest()
    cache = _PKG / "__pycache__"
    stamp = cache / "mxspec-sources.sha256"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    for pattern in ("*.nbi", "*.nbc"):
        for f in _PKG.rglob(pattern):
            try:
                f.unlink()
            except OSError:
                pass
    try:
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: Numba then caches elsewhere or not at all
        pass
    return True
