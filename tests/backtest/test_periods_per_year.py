"""Annualisation: bars per year measured on the data's own calendar (weekday stocks, 24x5 FX) and
exactly 365 days of bars on 24/7 crypto; stored with each run, used by the SQL mart, printed by the
CLI and overridable with --periods-per-year; old ledgers gain the column."""

from __future__ import annotations

import math
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.tseries.holiday import USFederalHolidayCalendar
from pandas.tseries.offsets import CustomBusinessDay

from blofin_cli.main import build_parser
from blofin_cli.main import main as cli_main
from python_assets.backtest import ledger
from python_assets.backtest.engine import Costs, EngineResult
from python_assets.backtest.periods import always_open_periods_per_year, measured_periods_per_year
from python_assets.backtest.service import choose_periods_per_year
from python_assets.backtest.spec import SpecError
from python_assets.config import DBT_PROJECT_DIR

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


@pytest.mark.parametrize("bar_ms, drop", [(300_000, 0.0), (300_000, 0.03), (HOUR, 0.1), (DAY, 0.0)])
def test_crypto_keeps_exactly_365_days_of_bars_even_with_missing_bars(bar_ms, drop):
    ms = np.arange(0, 40 * DAY, bar_ms, dtype=np.int64) + 1_700_000_000_000 // DAY * DAY
    keep = np.random.default_rng(3).random(len(ms)) >= drop
    got = measured_periods_per_year(ms[keep], bar_ms)
    assert got.value == 365 * 86_400_000 / bar_ms == always_open_periods_per_year(bar_ms)
    assert got.basis.startswith("24/7")


def test_a_file_shorter_than_a_weekend_cannot_show_one_and_gets_the_24_7_factor():
    one_week = pd.bdate_range("2024-03-04", "2024-03-08", tz="UTC")
    assert measured_periods_per_year(ms_of(one_week), DAY).value == 365.0


def test_the_sql_default_is_the_python_24_7_formula_bit_for_bit():
    sql = (DBT_PROJECT_DIR / "models" / "marts" / "strategy_backtest_results.sql").read_text()
    sql = sql.replace("{{ day_ms() }}", str(DAY))  # the macro is DAY_MS: tests/platform/test_timeframes.py
    m = re.search(r"coalesce\(\s*[\w.]*periods_per_year\s*,\s*([^)]*)\)\s+as\s+bars_per_year", sql)
    assert m, "strategy_backtest_results no longer falls back from periods_per_year to a 24/7 default"
    for bar_ms in (1_000, 60_000, 300_000, 900_000, HOUR, 4 * HOUR, DAY, 7 * DAY, 123_457):
        expr = re.sub(r"[\w.]*bar_ms\b", str(bar_ms), m.group(1))
        assert duckdb.sql(f"select {expr}").fetchall()[0][0] == always_open_periods_per_year(bar_ms), bar_ms


def test_the_override_wins_and_must_be_positive():
    ms = pd.DataFrame({"bar_at_ms": ms_of(pd.bdate_range("2021-01-04", "2021-12-31", tz="UTC"))})
    assert choose_periods_per_year(252, (ms, DAY), "1d").value == 252.0
    assert choose_periods_per_year(None, (ms, DAY), "1d").basis.startswith("measured")
    assert choose_periods_per_year(None, None, "1h").value == 8760.0
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
