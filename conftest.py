"""Shared pytest setup for tests/ and conformance/."""
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# The independent references (tests/spec_reference.py, tests/block_reference.py)
# are imported by both test folders.
sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

# Numba compiles on first use, so a wall-clock deadline per example says nothing.
settings.register_profile("mxspec", max_examples=150, deadline=None)
settings.load_profile("mxspec")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run the slow sweeps")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow sweep: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
