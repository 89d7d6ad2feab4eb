"""feat_recursive continued day by day from its carried resume_state equals a full rebuild, bit for bit."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import copy_tree, day_window_env, run_dbt

from python_assets.config import Paths
from python_assets.features.recursive import FEATURE_COLUMNS, STATE_FIELDS
from python_assets.ingest.market import generate_market

DAYS = [date(2025, 3, 4) + timedelta(days=i) for i in range(5)]
# OLD-USDT skips day 2 (a gap in the middle), NEW-USDT first appears on day 3, day 2 has no bars at all.
LAKE = {DAYS[0]: ["OLD-USDT"], DAYS[1]: ["OLD-USDT"], DAYS[2]: [], DAYS[3]: ["OLD-USDT", "NEW-USDT"],
        DAYS[4]: ["OLD-USDT", "NEW-USDT"]}
BAR_TABLES = ("bars_1m", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d")


def run_day(paths: Paths, day: date) -> None:
    """The incremental run of one day's window, passed as the pipeline passes it (BLOFIN_DBT_MIN_DATE /
    MAX_DATE, read at execution: dbt re-parses nothing, where a new --vars re-parses the whole project)."""
    run_dbt(paths, "run", "--select", "+feat_recursive", env=day_window_env(day))


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
def full_build(tmp_path_factory) -> Paths:
    paths = Paths(tmp_path_factory.mktemp("full") / "data")
    for day, symbols in LAKE.items():
        generate_market(paths, symbols, [day])
    run_dbt(paths, "run", "--select", "+feat_recursive")
    return paths


@pytest.fixture(scope="module")
def full(full_build) -> pd.DataFrame:
    return read_table(full_build)


def test_the_python_model_is_written_without_importing_pyarrow_dataset(full_build):
    """dbt-duckdb's writer of a Python model's table imports pyarrow.dataset (~45 MiB kept in the dbt process
    for the rest of the build); the project's py_write_table (macros/relations.sql) is the one dbt runs."""
    run = full_build.data_dir / "dbt_target" / "run" / "blofin_stack" / "models" / "features" / "feat_recursive.py"
    code = run.read_text()
    assert "def materialize(df, con):" in code and "con.register(" in code
    assert "pyarrow.dataset" not in code


def arrive(paths: Paths, days: list[date]) -> Paths:
    """Each day's lake arriving, then an incremental run of its window."""
    for day in days:
        generate_market(paths, LAKE[day], [day])
        run_day(paths, day)
    return paths


@pytest.fixture(scope="module")
def three_days(tmp_path_factory) -> Paths:
    """The first three days arrived one at a time (day 2 without bars)."""
    return arrive(Paths(tmp_path_factory.mktemp("three") / "data"), DAYS[:3])


@pytest.fixture(scope="module")
def four_days(three_days, tmp_path_factory) -> Paths:
    return arrive(copy_tree(three_days, tmp_path_factory.mktemp("four") / "data"), DAYS[3:4])


@pytest.fixture(scope="module")
def daily(four_days, tmp_path_factory) -> tuple[Paths, pd.DataFrame]:
    """The same lake arriving one day at a time, each day an incremental run of its window."""
    paths = arrive(copy_tree(four_days, tmp_path_factory.mktemp("daily") / "data"), DAYS[4:])
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


def test_the_window_as_vars_by_hand_gives_the_same_bits(tmp_path, daily, full):
    """`dbt run --vars '{"min_date": ..., "max_date": ...}'` (README's by-hand form) instead of the
    environment the other runs here use: with every earlier bar deleted, only a run that reads that
    window and the carried state equals the full rebuild."""
    paths = copy_tree(daily[0], tmp_path / "data")
    with duckdb.connect(str(paths.warehouse)) as con:
        for table in BAR_TABLES:
            con.execute(f"delete from {table} where bar_date < date '{DAYS[-1]}'")
    window = {"min_date": DAYS[-1].isoformat(), "max_date": (DAYS[-1] + timedelta(days=1)).isoformat()}
    run_dbt(paths, "run", "--select", "+feat_recursive", "--vars", json.dumps(window))
    assert_bit_identical(read_table(paths), full)


def test_a_window_without_bars_adds_nothing_and_keeps_the_state(daily, full):
    paths, _ = daily
    run_day(paths, DAYS[-1] + timedelta(days=1))
    assert_bit_identical(read_table(paths), full)


def test_a_table_built_before_resume_state_is_rebuilt_whole_not_restarted(tmp_path, four_days, full):
    """A warehouse from before resume_state/bar_date (its feat_recursive lacks both): the next daily run
    appends the columns and makes one full pass, so the day equals the full rebuild (not reseeded)."""
    paths = copy_tree(four_days, tmp_path / "data")
    generate_market(paths, LAKE[DAYS[-1]], [DAYS[-1]])
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("alter table feat_recursive drop column resume_state")
        con.execute("alter table feat_recursive drop column bar_date")
        con.execute(f"delete from feat_recursive where bar_at_ms >= {int(pd.Timestamp(DAYS[-1]).value // 10**6)}")
    run_day(paths, DAYS[-1])
    got = read_table(paths)
    assert_bit_identical(got[list(full.columns)], full)


def test_a_day_whose_features_never_ran_makes_the_next_run_a_full_pass(tmp_path, three_days, full):
    """Bars of day 4 exist but feat_recursive never ran for it (its run failed, say): day 5 must not
    continue from day 4's missing state (it would skip day 4's bars); it rebuilds instead."""
    paths = copy_tree(three_days, tmp_path / "data")
    generate_market(paths, LAKE[DAYS[3]], [DAYS[3]])
    run_dbt(paths, "run", "--select", "+int_bars_unioned", env=day_window_env(DAYS[3]))  # bars only
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:  # the scenario: day 4's bars, no features
        assert con.execute(f"select count(*) from feat_recursive where bar_date = date '{DAYS[3]}'").fetchall() == [(0,)]
        assert con.execute(f"select count(*) from bars_1m where bar_date = date '{DAYS[3]}'").fetchall()[0][0] > 0
    generate_market(paths, LAKE[DAYS[4]], [DAYS[4]])
    run_day(paths, DAYS[4])
    assert_bit_identical(read_table(paths), full)


def test_a_symbol_day_removed_from_the_lake_leaves_the_rebuilt_day(tmp_path, daily):
    """delete+insert by key deletes only the keys a run writes: a symbol-day whose lake file was removed
    (a corrupt file taken out) kept its features after the day's rebuild. The window's pre-hook clears
    the day first, so the rebuilt day holds exactly the other series' rows, bit for bit as before."""
    paths, before = daily
    paths = copy_tree(paths, tmp_path / "data")
    shutil.rmtree(paths.trades / "symbol=NEW-USDT" / f"date={DAYS[-1].isoformat()}")
    run_dbt(paths, "run", "--select", "+feat_recursive", "+feat_price", env=day_window_env(DAYS[-1]))
    gone = (before["symbol"] == "NEW-USDT") & (pd.to_datetime(before["bar_at_ms"], unit="ms").dt.date == DAYS[-1])
    assert gone.any()
    assert_bit_identical(read_table(paths), before[~gone].reset_index(drop=True))
    day_ms = int(pd.Timestamp(DAYS[-1]).value // 10**6)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for table in ("feat_price", "bars_1m"):
            left = con.execute(f"select distinct symbol from {table} where bar_at_ms >= {day_ms}").fetchall()
            assert left == [("OLD-USDT",)], table
