"""`python -m blofin_cli`: the `blofin-stack` command run as a module."""

import sys

from blofin_cli.main import main

if __name__ == "__main__":
    sys.exit(main())
