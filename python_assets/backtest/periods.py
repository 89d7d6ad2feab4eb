"""Bars per year, the factor that annualises per-bar Sharpe and Sortino: 365 days of bars for a
market open around the clock (crypto), the data's own count for calendars that close (stocks, FX).

Definition (the README's "Annualisation"): coverage = bars x bar length / span, where span runs
from the first bar's open to the last bar's close. Bars cover more than 6/7 of their span only on
a market open every day (a calendar that skips one day a week covers 6/7 at most), so then the
factor is exactly 365 x 86,400,000 / bar_ms, the 24/7 convention, whatever the few missing bars.
Otherwise it is the bars counted per 365 days of the span: weekends, holidays and closed hours
all count, e.g. ~252 for NYSE daily bars, 260.7 for weekdays without holidays, 6,257 for hourly
FX open 24 x 5. strategy_backtest_results falls back to the same 24/7 formula in SQL when a run
stores no factor (warehouse runs, rows written before the column existed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_assets.platform.timeframes import DAY_MS

YEAR_MS = 365 * DAY_MS
ALWAYS_OPEN_COVERAGE = 6 / 7  # above this share of its span covered by bars, a market never closes


@dataclass(frozen=True)
class PeriodsPerYear:
    """The annualisation factor and one line saying how it was chosen."""

    value: float
    basis: str


def always_open_periods_per_year(bar_ms: int) -> float:
    """Bars in a 365-day year of a market open 24/7: 365 x 86,400,000 / bar_ms (the SQL default)."""
    return YEAR_MS / bar_ms


def measured_periods_per_year(bar_at_ms: np.ndarray, bar_ms: int) -> PeriodsPerYear:
    """Bars per year on the data's own calendar, from its open times (the module docstring's rule)."""
    ms = np.asarray(bar_at_ms, dtype=np.int64)
    if len(ms) < 2 or bar_ms <= 0:
        raise ValueError("measuring bars per year needs at least 2 bars and a positive bar length")
    span_ms = int(ms.max() - ms.min()) + bar_ms
    coverage = len(ms) * bar_ms / span_ms
    if coverage > ALWAYS_OPEN_COVERAGE:
        return PeriodsPerYear(always_open_periods_per_year(bar_ms),
                              f"24/7 calendar: bars cover {coverage:.0%} of the time, so 365 days of bars")
    return PeriodsPerYear(len(ms) * YEAR_MS / span_ms,
                          f"measured: {len(ms)} bars over {span_ms / DAY_MS:.1f} days "
                          f"(bars cover {coverage:.0%} of the time: the market closes)")
