import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))



def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow sweep: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

from hypothesis import settings  # noqa: E402

# Numba compiles on first use, so a wall-clock deadline per example says nothing.
settings.register_profile("mxspec", max_examples=200, deadline=None)
settings.load_profile("mxspec")
