"""`python -m bench`: run every benchmark and write bench/results.json."""

from __future__ import annotations

import sys

from bench import backtest_grid, features, ml, tick_to_1m


def main() -> int:
    tick_to_1m.run()
    features.run()
    backtest_grid.run()
    ml.run()
    print("\nresults written to bench/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
