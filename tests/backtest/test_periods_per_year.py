"""Annualisation: bars per year measured on the data's own calendar (weekday stocks, 24x5 FX) and
exactly 365 days of bars on 24/7 crypto; stored with each file run, used by the SQL mart, printed by the
CLI and overridable with --periods-per-year; old ledgers gain the column. Warehouse runs get the same rule
in the mart, measured on each backtest's equity rows (a thin market's 1m bars are not 24/7's)."""

from __future__ import annotations

import math
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.tseries.holiday import USFederalHolidayCalendar
from pandas.tseries.offsets import CustomBusinessDay

from conftest import run_dbt

from blofin_cli.main import build_parser
from blofin_cli.main import main as cli_main
from python_assets.backtest import ledger
from python_assets.backtest.engine import Costs, EngineResult, Rules, simulate
from python_assets.backtest.periods import (always_open_periods_per_year, measured_periods_per_year,
                                            periods_per_year_of_bars, periods_per_year_of_times)
from python_assets.backtest.report import format_run
from python_assets.backtest.service import StoredBacktest, choose_periods_per_year, read_results
from python_assets.backtest.spec import SpecError
from python_assets.config import DBT_PROJECT_DIR, Paths

HOUR, DAY = 3_600_000, 86_400_000


def ms_of(index: pd.DatetimeIndex) -> np.ndarray:
    return index.as_unit("ms").asi8


def test_weekday_daily_bars_give_their_own_count_not_365():
    weekdays = pd.bdate_range("2021-01-04", "2023-12-29", tz="UTC")  # Monday .. Friday, 3 years
    got = measured_periods_per_year(ms_of(weekdays), DAY)
    assert got.value == pytest.approx(365 * 5 / 7, rel=0.005)  # 260.7
    assert got.basis.startswith("measured")


def test_weekday_daily_bars_without_holidays_give_about_252():
    sessions = pd.date_range("2019-01-02", "2023-12-29", freq=CustomBusinessDay(calendar=USFederalHolidayCalendar()))
    got = measured_periods_per_year(ms_of(sessions.tz_localize("UTC")), DAY)
    assert 248 < got.value < 253, got  # federal holidays (~10 a year) taken out of ~261 weekdays


def test_hourly_fx_open_24_by_5_gives_120_bars_a_week():
    hours = pd.date_range("2022-01-02 22:00", "2023-12-29 21:00", freq="h", tz="UTC")  # 104 weeks
    open_ = hours[~((hours.day_of_week == 5) | ((hours.day_of_week == 4) & (hours.hour >= 22))
                    | ((hours.day_of_week == 6) & (hours.hour < 22)))]  # Sunday 22:00 to Friday 22:00 UTC
    assert len(open_) == 104 * 120
    got = measured_periods_per_year(ms_of(open_), HOUR)
    assert got.value == pytest.approx(120 * 365 / 7, rel=0.005)  # 6,257


def test_the_factor_of_bar_times_is_the_marts_over_their_span():
    # one 1h bar a day for 10 days: 10 bars over 9 days and an hour, 10 x 8,760 / 217 = 403.7 a year (not 8,760)
    assert periods_per_year_of_times(np.arange(10) * DAY, HOUR) == 10 * 8760 / 217
    assert periods_per_year_of_times(np.arange(48) * HOUR, HOUR) == 8760  # every hour: 24/7
    assert periods_per_year_of_times(np.array([5 * DAY]), HOUR) == 8760  # one bar covers its own span
    assert math.isnan(periods_per_year_of_times(np.zeros(0, np.int64), HOUR))


@pytest.mark.parametrize("bar_ms, drop", [(300_000, 0.0), (300_000, 0.03), (HOUR, 0.06), (DAY, 0.0)])
def test_crypto_keeps_exactly_365_days_of_bars_even_with_missing_bars(bar_ms, drop):
    ms = np.arange(0, 40 * DAY, bar_ms, dtype=np.int64) + 1_700_000_000_000 // DAY * DAY
    keep = np.random.default_rng(3).random(len(ms)) >= drop
    got = measured_periods_per_year(ms[keep], bar_ms)
    assert got.value == 365 * 86_400_000 / bar_ms == always_open_periods_per_year(bar_ms)
    assert got.basis.startswith("24/7")


@pytest.mark.parametrize("weeks", [2, 8, 52, 260])
def test_a_market_closed_one_day_a_week_is_measured_not_24_7(weeks):
    """Monday to Saturday daily bars cover 6K / (7K - 1) of their span, always above 6/7: the old threshold
    gave them 24/7's 365 (Sharpe sqrt(365 / 312.9) = 1.08 times too high)."""
    days = pd.date_range("2021-01-04", periods=7 * weeks, freq="D", tz="UTC")
    open_days = days[days.day_of_week < 6][: 6 * weeks]
    got = measured_periods_per_year(ms_of(open_days), DAY)
    assert got.basis.startswith("measured")
    assert got.value == pytest.approx(365 * 6 / 7, rel=1.01 / (7 * weeks - 1))  # the span ends at a close: 7K - 1 days


def test_a_file_shorter_than_a_weekend_cannot_show_one_and_gets_the_24_7_factor():
    one_week = pd.bdate_range("2024-03-04", "2024-03-08", tz="UTC")
    assert measured_periods_per_year(ms_of(one_week), DAY).value == 365.0


def sql_bars_per_year(bars: int, span_ms: int, bar_ms: int) -> float:
    """The mart's macro bars_per_year_of_bars on numbers, run in DuckDB."""
    macros = (DBT_PROJECT_DIR / "macros" / "backtest_ledger.sql").read_text()
    body = re.search(r"macro bars_per_year_of_bars\(bars, span_ms, bar_ms\) -%}(.*?){%- endmacro", macros, re.S)
    assert body, "the macro bars_per_year_of_bars is gone"
    expr = (body.group(1).replace("{{ 365 * day_ms() }}", str(365 * DAY)).replace("{{ day_ms() }}", str(DAY))
            .replace("{{ bars }}", str(bars)).replace("{{ span_ms }}", str(span_ms)).replace("{{ bar_ms }}", str(bar_ms)))
    assert "{" not in expr, expr
    return duckdb.sql(f"select {expr}").fetchall()[0][0]


def test_the_sql_default_is_the_python_rule_bit_for_bit():
    """Dense bars keep exactly the 24/7 formula the mart always used; sparse ones the count per year; the
    coverage threshold falls on the same bar count in both."""
    sql = (DBT_PROJECT_DIR / "models" / "marts" / "strategy_backtest_results.sql").read_text()
    assert re.search(r"coalesce\(\s*runs\.periods_per_year\s*,\s*\{\{ bars_per_year_of_bars\(", sql), \
        "strategy_backtest_results no longer falls back from periods_per_year to the measured rule"
    for bar_ms in (1_000, 60_000, 300_000, 900_000, HOUR, 4 * HOUR, DAY, 7 * DAY, 123_457):
        for days in (1, 4, 30, 365):
            span = days * DAY // bar_ms * bar_ms
            full = span // bar_ms
            for bars in {1, 2, 3, full // 7, full * 6 // 7, full * 6 // 7 + 1, full * 13 // 14, full * 13 // 14 + 1,
                         full - 1, full, 100_000}:
                if 1 <= bars <= full:
                    want = periods_per_year_of_bars(bars, span, bar_ms).value
                    got = sql_bars_per_year(bars, span, bar_ms)
                    assert got == want, (bar_ms, days, bars, got, want)
                    if 14 * bars > 13 * full:
                        assert got == always_open_periods_per_year(bar_ms) == 365 * 86_400_000 / bar_ms


def test_the_override_wins_and_must_be_positive():
    ms = pd.DataFrame({"bar_at_ms": ms_of(pd.bdate_range("2021-01-04", "2021-12-31", tz="UTC"))})
    assert choose_periods_per_year(252, (ms, DAY), "1d").value == 252.0
    assert choose_periods_per_year(None, (ms, DAY), "1d").basis.startswith("measured")
    assert choose_periods_per_year(None, None, "1h") is None  # a warehouse run: the mart measures each backtest
    with pytest.raises(SpecError, match="--periods-per-year must be a positive number"):
        choose_periods_per_year(0, (ms, DAY), "1d")
    args = build_parser().parse_args(["backtest", "--strategy", "sma_cross", "--periods-per-year", "252"])
    assert args.periods_per_year == 252.0


def one_run(periods_per_year: float | None, window_id: str) -> ledger.LedgerRows:
    meta = ledger.RunMeta("r1", "cli", "s", "1", "s()", {}, "GOOG", "1d", DAY, window_id, "full", 0, 2 * DAY,
                          Costs(), "test", periods_per_year=periods_per_year)
    res = EngineResult(*(np.zeros(0, np.int64) for _ in range(10)), equity=np.array([1e4, 1e4]), position=np.zeros(2))
    return ledger.ledger_rows(meta, np.array([0, DAY]), np.ones(2), np.ones(2), res, "v")


def test_a_ledger_made_before_the_column_gains_it_and_takes_both_kinds_of_run():
    old_runs = ledger.LEDGER_DDL[0].replace(",\n    periods_per_year double", "")
    assert "periods_per_year" not in old_runs
    with duckdb.connect() as con:
        con.execute(old_runs)
        ledger.write(con, [one_run(None, "a"), one_run(251.5, "b")])
        got = con.execute("select window_id, periods_per_year from backtest_runs order by window_id").fetchall()
    assert got == [("a", None), ("b", 251.5)]


@pytest.mark.slow
def test_cli_on_stock_data_annualises_by_its_own_calendar_and_the_mart_uses_it(data_dir, tmp_path, capsys):
    goog = pytest.importorskip("backtesting.test").GOOG
    path = tmp_path / "GOOG.csv"
    goog.to_csv(path)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(path), "--fees", "0"]) == 0
    out = capsys.readouterr().out
    want = measured_periods_per_year(ms_of(goog.index), DAY).value
    assert 250 < want < 253
    assert "GOOG 1d" in out and f"annualised by {want:,.6g} bars a year: measured: 2148 bars" in out
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        stored, bpy, sharpe = con.execute("select r.periods_per_year, m.bars_per_year, m.sharpe from backtest_runs r "
                                          "join strategy_backtest_results m using (backtest_id)").fetchone()
        equity = con.execute("select equity from backtest_equity order by bar_at_ms").df()["equity"].to_numpy()
    r = np.diff(np.r_[10_000.0, equity]) / np.r_[10_000.0, equity[:-1]]
    assert stored == bpy == want
    assert sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(want), rel=1e-9)


def _hold(run_id: str, symbol: str, timeframe: str, bar_ms: int, ms: np.ndarray, price: np.ndarray) -> ledger.LedgerRows:
    """Always long from the first bar on bars of one trade each (open = high = low = close)."""
    signals = {"entry_long": np.ones(len(ms), bool), "exit_long": np.zeros(len(ms), bool),
               "entry_short": np.zeros(len(ms), bool), "exit_short": np.zeros(len(ms), bool)}
    result = simulate(price, price, price, price, ms, bar_ms, signals, Rules(), Costs())
    meta = ledger.RunMeta(run_id, "cli", "hold", "1", f"hold_{timeframe}", {}, symbol, timeframe, bar_ms, "full", "full",
                          int(ms[0]), int(ms[-1]) + bar_ms, Costs(), "warehouse")
    return ledger.ledger_rows(meta, ms, price, price, result, "test")


def test_a_thin_markets_1m_run_annualises_like_its_1d_run_and_a_dense_run_keeps_24_7(tmp_path):
    """A symbol trading once a day has one 1m bar a day: always long on 1m and on 1d walks the same
    equity path, so the annualised Sharpe must agree, not be sqrt(1,440) ~ 38 times larger on 1m
    (the mart annualised every warehouse run by 365 x 86,400,000 / bar_ms: -62.31 on 1m, -1.64 on 1d).
    The 1m factor is 60 bars over 59 days and a minute (371.2), the 1d one 365: 0.8% apart in Sharpe.
    A dense 1h run keeps the 24/7 factor and its Sharpe bit for bit."""
    rng = np.random.default_rng(5)
    days = 60
    start = 1_741_564_800_000  # 2025-03-10 00:00 UTC
    price = np.round(10 * np.exp(np.cumsum(rng.normal(0, 0.03, days))), 4)
    one_a_day = start + np.arange(days, dtype=np.int64) * DAY
    hours = start + np.arange(24 * days, dtype=np.int64) * HOUR
    dense = np.round(10 * np.exp(np.cumsum(rng.normal(0, 0.005, len(hours)))), 4)
    keep = rng.random(len(hours)) >= 0.05  # a few hours without trades: still 24/7
    runs = [_hold("thin-1m", "ONE-USDT", "1m", 60_000, one_a_day + 13 * HOUR + 17 * 60_000, price),
            _hold("thin-1d", "ONE-USDT", "1d", DAY, one_a_day, price),
            _hold("dense-1h", "SOL-USDT", "1h", HOUR, hours[keep], dense[keep])]
    paths = Paths(tmp_path / "data")
    paths.data_dir.mkdir(parents=True)
    with duckdb.connect(str(paths.warehouse)) as con:
        ledger.write(con, runs)
    run_dbt(paths, "run", "--select", "tag:ledger")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        got = {r[0]: r[1:] for r in con.execute(
            "select run_id, bars_per_year, sharpe, sortino, mean_bar_return / stddev_bar_return "
            "* sqrt(365.0 * 86400000 / 3600000) from strategy_backtest_results").fetchall()}
        equity = {run_id: e["equity"].to_numpy() for run_id, e in con.execute(
            "select run_id, equity from backtest_equity join backtest_runs using (backtest_id) order by bar_at_ms"
        ).df().groupby("run_id")}
    np.testing.assert_array_equal(equity["thin-1m"], equity["thin-1d"])  # the same equity path
    (bpy_1m, sharpe_1m, sortino_1m, _), (bpy_1d, sharpe_1d, sortino_1d, _) = got["thin-1m"], got["thin-1d"]
    assert bpy_1m == periods_per_year_of_bars(days, (days - 1) * DAY + 60_000, 60_000).value  # the Python rule
    assert bpy_1d == 365.0 and 371 < bpy_1m < 372
    assert sharpe_1m == pytest.approx(sharpe_1d, rel=0.01) and sortino_1m == pytest.approx(sortino_1d, rel=0.01)
    bpy, sharpe, _, sharpe_24_7 = got["dense-1h"]
    assert bpy == 8760.0 and sharpe == sharpe_24_7  # the same bits as the 24/7 formula gave
    # what the CLI prints: how each backtest's factor was chosen, by the same rule on its equity rows
    thin, = read_results(paths, StoredBacktest("thin-1m", None))
    dense, = read_results(paths, StoredBacktest("dense-1h", None))
    assert thin["annualisation"].startswith(f"measured: {days} bars over 59.0 days") and thin["bars_per_year"] == bpy_1m
    assert dense["annualisation"].startswith("24/7 calendar: bars cover 94% of the time")
    text = format_run([{**row, "window_kind": "in_sample", "backtest_id": k} for k, row in enumerate((thin, dense))],
                      pd.DataFrame({"backtest_id": []}), pd.DataFrame())
    assert f"ONE-USDT: Sharpe and Sortino annualised by {bpy_1m:,.6g} bars a year: measured: 60 bars" in text
    assert "SOL-USDT: Sharpe and Sortino annualised by 8,760 bars a year: 24/7 calendar" in text
