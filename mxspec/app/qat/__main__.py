import sys

from ..cli import main

sys.exit(main(["qat"] + sys.argv[1:]))
