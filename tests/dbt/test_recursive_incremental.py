"""feat_recursive continued day by day from its carried resume_state equals a full rebuild, bit for bit."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import run_dbt

from python_assets.config import Paths
from python_assets.features.recursive import FEATURE_COLUMNS, STATE_FIELDS
from python_assets.market import generate_market

DAYS = [date(2025, 3, 4) + timedelta(days=i) for i in range(5)]
# OLD-USDT skips day 2 (a gap in the middle), NEW-USDT first appears on day 3, day 2 has no bars at all.
LAKE = {DAYS[0]: ["OLD-USDT"], DAYS[1]: ["OLD-USDT"], DAYS[2]: [], DAYS[3]: ["OLD-USDT", "NEW-USDT"],
        DAYS[4]: ["OLD-USDT", "NEW-USDT"]}
BAR_TABLES = ("bars_1m", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d")


def run_day(paths: Paths, day: date) -> None:
    window = {"min_date": day.isoformat(), "max_date": (day + timedelta(days=1)).isoformat()}
    run_dbt(paths, "run", "--select", "+feat_recursive", "--vars", json.dumps(window))


def read_table(paths: Paths) -> pd.DataFrame:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute("select * from feat_recursive order by symbol, timeframe, bar_at_ms").df()


def bits(values: np.ndarray) -> np.ndarray:
    """The IEEE bits of each double (one canonical NaN): equal bits, not merely close values."""
    x = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(x), np.nan, x).view(np.int64)


def assert_bit_identical(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got[["symbol", "timeframe", "bar_at_ms"]], want[["symbol", "timeframe", "bar_at_ms"]])
    for name in FEATURE_COLUMNS:
        assert np.array_equal(bits(got[name]), bits(want[name])), name
    has = want["resume_state"].notna().to_numpy()
    assert np.array_equal(got["resume_state"].notna().to_numpy(), has)
    assert np.array_equal(bits(np.stack(got["resume_state"][has])), bits(np.stack(want["resume_state"][has])))


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> pd.DataFrame:
    paths = Paths(tmp_path_factory.mktemp("full") / "data")
    for day, symbols in LAKE.items():
        generate_market(paths, symbols, [day])
    run_dbt(paths, "run", "--select", "+feat_recursive")
    return read_table(paths)


@pytest.fixture(scope="module")
def daily(tmp_path_factory) -> tuple[Paths, pd.DataFrame]:
    """The same lake arriving one day at a time, each day an incremental run of its window."""
    paths = Paths(tmp_path_factory.mktemp("daily") / "data")
    for day, symbols in LAKE.items():
        generate_market(paths, symbols, [day])
        run_day(paths, day)
    return paths, read_table(paths)


def test_the_fixture_covers_gaps_late_series_and_warmups_across_days(full):
    """Guards the scenario: a day without bars, a series starting later, seeds summed over several days."""
    days = pd.to_datetime(full["bar_at_ms"], unit="ms").dt.date
    assert DAYS[2] not in set(days) and len(full) > 10_000
    assert days[full["symbol"] == "NEW-USDT"].min() == DAYS[3]
    first_bar = days.groupby([full["symbol"], full["timeframe"]]).transform("min")
    first_value = days.where(full["ema_50"].notna()).groupby([full["symbol"], full["timeframe"]]).transform("min")
    assert (first_value > first_bar).any(), "no EMA50 warm-up spans a day boundary"
    assert (first_value > DAYS[2]).any() and (first_bar < DAYS[2]).any()


def test_day_by_day_equals_full_rebuild_bit_for_bit(full, daily):
    assert_bit_identical(daily[1], full)


def test_incremental_runs_leave_no_temporary_tables(daily):
    """dbt-duckdb writes a Python model's incremental batch to a real __dbt_tmp table; the post-hook drops it."""
    with duckdb.connect(str(daily[0].warehouse), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    assert "feat_recursive" in tables and [t for t in tables if "__dbt_tmp" in t] == []


def test_resume_state_sits_on_the_last_bar_of_each_series_and_day(full):
    day = pd.to_datetime(full["bar_at_ms"], unit="ms").dt.date
    last = full.groupby([full["symbol"], full["timeframe"], day])["bar_at_ms"].transform("max") == full["bar_at_ms"]
    assert np.array_equal(full["resume_state"].notna().to_numpy(), last.to_numpy())
    assert {len(s) for s in full["resume_state"].dropna()} == {len(STATE_FIELDS)}


def test_rerun_of_a_day_is_bit_identical_and_needs_no_earlier_bars(daily, full):
    """Rerunning the last day changes nothing; nor does rerunning it after every earlier bar is deleted:
    the run reads the window's bars and the carried state only."""
    paths, before = daily
    run_day(paths, DAYS[-1])
    assert_bit_identical(read_table(paths), before)
    with duckdb.connect(str(paths.warehouse)) as con:
        for table in BAR_TABLES:
            con.execute(f"delete from {table} where bar_date < date '{DAYS[-1]}'")
    run_day(paths, DAYS[-1])
    assert_bit_identical(read_table(paths), full)


def test_a_window_without_bars_adds_nothing_and_keeps_the_state(daily, full):
    paths, _ = daily
    run_day(paths, DAYS[-1] + timedelta(days=1))
    assert_bit_identical(read_table(paths), full)
