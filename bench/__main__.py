"""`python -m bench`: run every benchmark and write bench/results.json."""

from __future__ import annotations

import sys

from bench import features, tick_to_1m


def main() -> int:
    tick_to_1m.run()
    features.run()
    print("\nresults written to bench/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
