import sys
from pathlib import Path

# the independent references live beside the unit tests
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
