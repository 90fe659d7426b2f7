# Root conftest: lets `pytest conformance/` and `pytest tests/` share the --runslow option.
pytest_plugins = []


def pytest_addoption(parser):
    try:
        parser.addoption("--runslow", action="store_true", help="run the slow sweeps")
    except ValueError:
        pass
