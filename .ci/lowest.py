"""Print a pip constraints file that pins every direct dependency of mxspec and of
the extras named on the command line to the lowest version pyproject.toml allows
(pip's equivalent of uv's --resolution lowest-direct).

    python3 .ci/lowest.py test > /tmp/lowest.txt
    pip install -c /tmp/lowest.txt '.[test]'
"""
import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
reqs = list(project["dependencies"])
for extra in sys.argv[1:]:
    reqs += project["optional-dependencies"][extra]
for r in reqs:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)\s*", r)
    if not m:
        sys.exit(f"{r!r}: every dependency needs a lower bound (name>=version) to pin")
    print(f"{m[1]}=={m[2]}")
