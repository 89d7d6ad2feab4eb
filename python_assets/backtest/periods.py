"""Bars per year, the factor that annualises per-bar Sharpe and Sortino: 365 days of bars for a
market open around the clock (crypto), the data's own count for calendars that close (stocks, FX).

Definition (the README's "Annualisation"): coverage = bars x bar length / span, where span runs
from the first bar's open to the last bar's close. Bars cover more than 13/14 of their span only on
a market open every day (a calendar that skips one day a week covers 6K / (7K - 1) over K weeks: 12/13
at most from two weeks on, though above 6/7, the threshold this once had), so then the factor is
exactly 365 x 86,400,000 / bar_ms, the 24/7 convention, whatever the few missing bars (fewer than one
in 14).
Otherwise it is the bars counted per 365 days of the span: weekends, holidays and closed hours
all count, e.g. ~252 for NYSE daily bars, ~261 for weekdays without holidays (260.7 in the long run), 6,257 for hourly
FX open 24 x 5. The rule is the same for warehouse runs: the warehouse keeps a bar only for a
minute, hour or day with trades, so a thin market's 1m bars (one trade a day: one bar a day) cover a
sliver of their span and count per year as they occur (~365), not as 525,600 bars a year. A run
stores no factor then (nor did rows written before the column existed), and strategy_backtest_results
applies this rule to each backtest's equity rows in SQL (macro bars_per_year_of_bars: the same
comparison in integers and the same quotient, so the two agree bit for bit; see
periods_per_year_of_bars below). Research's out-of-sample Sharpe (oos_sharpe_annual) and the
portfolio's Sharpes apply it too, to the bars each one evaluates (periods_per_year_of_times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from python_assets.platform.timeframes import DAY_MS

YEAR_MS = 365 * DAY_MS
ALWAYS_OPEN_COVERAGE = 13 / 14  # above this share of its span covered by bars, a market never closes


@dataclass(frozen=True)
class PeriodsPerYear:
    """The annualisation factor and one line saying how it was chosen."""

    value: float
    basis: str


def always_open_periods_per_year(bar_ms: int) -> float:
    """Bars in a 365-day year of a market open 24/7: 365 x 86,400,000 / bar_ms (the SQL default)."""
    return YEAR_MS / bar_ms


def periods_per_year_of_bars(bars: int, span_ms: int, bar_ms: int) -> PeriodsPerYear:
    """The module docstring's rule from `bars` bars of bar_ms spanning span_ms (first open to last close).
    The coverage test is exact in integers (14 x bars x bar_ms > 13 x span_ms) and the measured factor one
    division of exact integers: the mart's SQL (macro bars_per_year_of_bars) computes the same bits."""
    bars, span_ms, bar_ms = int(bars), int(span_ms), int(bar_ms)
    if bars < 1 or bar_ms <= 0 or span_ms <= 0:
        raise ValueError("bars per year needs a bar, a positive bar length and a positive span")
    coverage = bars * bar_ms / span_ms
    if 14 * bars * bar_ms > 13 * span_ms:  # coverage > ALWAYS_OPEN_COVERAGE, without rounding
        return PeriodsPerYear(always_open_periods_per_year(bar_ms),
                              f"24/7 calendar: bars cover {coverage:.0%} of the time, so 365 days of bars")
    return PeriodsPerYear(bars * YEAR_MS / span_ms,
                          f"measured: {bars} bars over {span_ms / DAY_MS:.1f} days "
                          f"(bars cover {coverage:.0%} of the time: the market closes or seldom trades)")


def measured_periods_per_year(bar_at_ms: np.ndarray, bar_ms: int) -> PeriodsPerYear:
    """Bars per year on the data's own calendar, from its open times (the module docstring's rule)."""
    ms = np.asarray(bar_at_ms, dtype=np.int64)
    if len(ms) < 2 or bar_ms <= 0:
        raise ValueError("measuring bars per year needs at least 2 bars and a positive bar length")
    return _of_open_times(ms, bar_ms)


def _of_open_times(ms: np.ndarray, bar_ms: int) -> PeriodsPerYear:
    """The rule over the bars opening at ms: their count, spanning the first open to the last close."""
    return periods_per_year_of_bars(len(ms), int(ms.max() - ms.min()) + int(bar_ms), bar_ms)


def periods_per_year_of_times(bar_at_ms: np.ndarray, bar_ms: int) -> float:
    """The rule's factor over the bars opening at bar_at_ms, as the mart takes it from a backtest's equity rows
    (one bar is its own span: 24/7); NaN without bars (no Sharpe to annualise)."""
    ms = np.asarray(bar_at_ms, dtype=np.int64)
    return _of_open_times(ms, bar_ms).value if len(ms) else math.nan
