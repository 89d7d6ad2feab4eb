"""recorder_coverage by partition window: a build for day D writes no day after D, a re-run of an older
day leaves the later days' rows as their own runs wrote them, a day whose recorder files are gone leaves
the table on its rebuild, and day-by-day runs give the rows of one full build."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
from conftest import day_window_env, run_dbt
from test_recorder_models import D0, DAY, DAY1, DAY2, HOUR, MIN, gap, seg, write_intervals, write_recorder_intervals

from python_assets.config import Paths

DAY3 = DAY2 + timedelta(days=1)
MODELS = ("stg_recorder_segments", "stg_recorder_gaps", "recorder_coverage")


def recorder_lake(paths: Paths) -> Path:
    """test_recorder_models' segments and gaps (ETH-USDT DAY1-DAY2, SOL-USDT DAY1 with a books segment into DAY2),
    plus ETH-USDT's first 5 minutes of DAY3: what the recorder had written of the next day when DAY2's run started."""
    lake = paths.data_dir / "lake"
    write_recorder_intervals(lake)
    write_intervals(lake, "recorder_segments", "ETH-USDT", DAY3, [seg("trades", D0 + 2 * DAY, D0 + 2 * DAY + 5 * MIN, "c")])
    return lake


def build(paths: Paths, day: date | None, *flags: str) -> None:
    """The models' run for the window [day, day + 1) as Dagster passes it; day None: no window (everything)."""
    run_dbt(paths, "run", "--select", *MODELS, *flags, env=day_window_env(day) if day else None)


def rows_by_day(paths: Paths) -> dict[date, list[tuple]]:
    """Every row of recorder_coverage by coverage_date, sorted."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute("select * from recorder_coverage order by all").fetchall()
        names = [d[0] for d in con.description]
    at = names.index("coverage_date")
    out: dict[date, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[at], []).append(row)
    return out


def test_a_build_for_a_day_writes_no_later_day(data_dir: Paths) -> None:
    """DAY2's first build writes every day up to DAY2, and so does its full refresh, but nothing of DAY3 (the
    table over the whole lake wrote ETH-USDT's DAY3 as 'recorded 0.35% of the day' in DAY2's run)."""
    recorder_lake(data_dir)
    build(data_dir, DAY2)
    assert set(rows_by_day(data_dir)) == {DAY1, DAY2}
    build(data_dir, DAY2, "--full-refresh")
    assert set(rows_by_day(data_dir)) == {DAY1, DAY2}


def test_rerunning_an_older_day_leaves_the_later_days_rows_unchanged(data_dir: Paths) -> None:
    """After DAY2's run the recorder's DAY2 files change (a lost trades hole written late): DAY1's re-run keeps
    DAY2's rows as DAY2's run wrote them and adds no later day (the whole-lake table rewrote them all)."""
    lake = recorder_lake(data_dir)
    build(data_dir, DAY2)
    before = rows_by_day(data_dir)
    write_intervals(lake, "recorder_gaps", "ETH-USDT", DAY2, [
        gap("trades", D0 + DAY + HOUR, D0 + DAY + HOUR + 30_000, "disconnect", "recovered"),
        gap("books", D0 + DAY + HOUR, D0 + DAY + HOUR + 30_000, "disconnect", "lost"),
        gap("trades", D0 + DAY + 2 * HOUR, D0 + DAY + 3 * HOUR, "disconnect", "lost")])
    build(data_dir, DAY1)
    assert rows_by_day(data_dir) == before and set(before) == {DAY1, DAY2}


def test_a_day_whose_recorder_files_were_removed_leaves_the_table_on_its_rebuild(data_dir: Paths) -> None:
    """ETH-USDT's DAY2 files removed: DAY2's rebuild drops its rows (delete+insert alone would keep keys no new
    row has); SOL-USDT's DAY2 books row stays, from its DAY1 segment that runs past midnight."""
    lake = recorder_lake(data_dir)
    build(data_dir, DAY2)
    before = rows_by_day(data_dir)
    for dataset in ("recorder_segments", "recorder_gaps"):
        shutil.rmtree(lake / dataset / "symbol=ETH-USDT" / f"date={DAY2}")
    build(data_dir, DAY2)
    after = rows_by_day(data_dir)
    assert {(r[0], r[2]) for r in before[DAY2]} == {("ETH-USDT", "books"), ("ETH-USDT", "trades"), ("SOL-USDT", "books")}
    assert {(r[0], r[2]) for r in after[DAY2]} == {("SOL-USDT", "books")} and after[DAY1] == before[DAY1]


def test_day_by_day_runs_equal_one_full_build(data_dir: Paths) -> None:
    """Three daily runs (the first a first build) give the rows of one full build over the whole lake, SOL-USDT's
    DAY2 books included (read from DAY1's files: a segment is stored under the day it starts)."""
    recorder_lake(data_dir)
    for day in (DAY1, DAY2, DAY3):
        build(data_dir, day)
    daily = rows_by_day(data_dir)
    build(data_dir, None, "--full-refresh")
    assert rows_by_day(data_dir) == daily and set(daily) == {DAY1, DAY2, DAY3}
