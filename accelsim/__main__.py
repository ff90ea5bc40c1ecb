"""``python -m accelsim``: the same as the ``accelsim`` console script."""

import sys

from accelsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
