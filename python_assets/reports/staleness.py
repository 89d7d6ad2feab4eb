"""Days built on replaced results of an earlier day. A day's run continues from every earlier day's
results (feat_recursive's carried state, look-back windows, the day before's research ranking, the
models a day reuses), so when an earlier day is run again after it (late ticks, a revised file, days
built out of order) its numbers stay those of the earlier day's old results until it runs again, in
day order. Which came first is read from computed_days: the start of the run that last recomputed each
day's data, marked by the steps later days continue from (the warehouse build, research, ML's training
set) before they write, so a run that fails after them counts and a report rendered again does not."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import date, datetime

import duckdb

from python_assets.config import Paths
from python_assets.warehouse.connection import connect_warehouse, table_exists


def stale_days(started: dict[date, datetime]) -> dict[date, date]:
    """{day: the first earlier day whose last run started after this day's}: the days whose numbers
    continue from results since replaced. Days of one run share its start: never stale among themselves."""
    out: dict[date, date] = {}
    lead_starts: list[datetime] = []  # the days whose run started after every earlier day's, in day order
    lead_days: list[date] = []
    for day in sorted(started):
        at = started[day]
        i = bisect_right(lead_starts, at)
        if i < len(lead_starts):
            out[day] = lead_days[i]
        elif not lead_starts or at > lead_starts[-1]:
            lead_starts.append(at)
            lead_days.append(day)
    return out


COMPUTED_DAYS_DDL = """
create table if not exists computed_days (
    partition_date date primary key,
    run_id varchar not null,
    run_started_at timestamptz not null,
    step varchar not null,
    recorded_at timestamptz not null
)
"""


def record_computed(con: duckdb.DuckDBPyConnection, days: Iterable[date], run_id: str, run_started_at: datetime,
                    step: str) -> None:
    """Mark `days` as recomputed by the run that started at run_started_at (its step `step`), replacing each
    day's row in one transaction: the one writer of computed_days, called before the step writes."""
    rows = [(day, run_id, run_started_at, step) for day in sorted(set(days))]
    con.execute(COMPUTED_DAYS_DDL)
    if not rows:
        return
    con.execute("begin transaction")
    try:
        con.execute("delete from computed_days where partition_date in (select unnest(?::date[]))",
                    [[r[0] for r in rows]])
        con.executemany("insert into computed_days values (?, ?, ?, ?, now())", rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def run_starts(con: duckdb.DuckDBPyConnection) -> dict[date, datetime]:
    """{day: start of the run that last recomputed that day's data} from computed_days; a day without a row
    there (last computed before computed_days existed) takes the run start its report names."""
    starts = report_starts(con)
    if table_exists(con, "computed_days"):
        starts.update(con.execute("select partition_date, run_started_at from computed_days").fetchall())
    return starts


def report_starts(con: duckdb.DuckDBPyConnection) -> dict[date, datetime]:
    """{report_date: the run start its stored report names} from daily_reports (a day without one left out)."""
    if not table_exists(con, "daily_reports"):
        return {}
    rows = con.execute("select report_date, json_extract_string(report_json, '$.run.started_at') "
                       "from daily_reports").fetchall()
    return {day: datetime.fromisoformat(at) for day, at in rows if at}


def built_on_stale_warning(stale: dict[date, date], day: date) -> list[str]:
    """The report's warning when `day`, or an earlier day it continues from, was computed before an earlier
    day's latest run (empty: none was)."""
    earlier = sorted(d for d in stale if d <= day)
    if not earlier:
        return []
    first = earlier[0]
    more = f" and {len(earlier) - 1} later day(s)" if len(earlier) > 1 else ""
    rerun = f"{day}" if first == day else f"{first} and each day after it up to {day}"
    return [f"{first}{more} computed before the latest run of {stale[first]}: these numbers continue from its "
            f"results as they were then; run {rerun} again, one day at a time in day order"]


def later_stale_note(stale: dict[date, date], last: date) -> str | None:
    """One line naming the days after `last` that were built before an earlier day's latest run (None: none)."""
    later = sorted(d for d in stale if d > last)
    if not later:
        return None
    days = (f"{later[0]} was built before the latest run of {stale[later[0]]} and continues" if len(later) == 1 else
            f"{later[0]} and {len(later) - 1} later day(s) up to {later[-1]} were built before the latest run of "
            f"{stale[later[0]]} and continue")
    return (f"{days} from its results as they were then: run again from {later[0]}, one day at a time in day order "
            f"(blofin-stack materialize --date {later[0]}, then each next day; a range run trains models for its "
            "last day only)")


def lake_changed_note(changed: list[date], first: date, last: date) -> str | None:
    """One line naming the days before `first` whose lake files changed since they were built, which a run of
    first..last continues from as they were (None: none), and the run to make first."""
    if not changed:
        return None
    days = (f"{changed[0]}" if len(changed) == 1 else
            f"{len(changed)} earlier days ({changed[0]}, ..., {changed[-1]})" if len(changed) > 3 else
            ", ".join(str(d) for d in changed))
    return (f"the lake files of {days} changed since {'it was' if len(changed) == 1 else 'they were'} built: "
            f"{first}..{last} continues from {'its' if len(changed) == 1 else 'their'} old warehouse rows; run "
            f"again from {changed[0]}, one day at a time in day order (blofin-stack materialize --date "
            f"{changed[0]}, then each next day up to {last})")


def computing_runs(con: duckdb.DuckDBPyConnection) -> dict[date, str]:
    """{day: id of the run that last recomputed it} from computed_days (a day no run marked left out)."""
    if not table_exists(con, "computed_days"):
        return {}
    return dict(con.execute("select partition_date, run_id from computed_days").fetchall())


def window_notes(con: duckdb.DuckDBPyConnection, first: date, last: date) -> tuple[list[str], str | None]:
    """(what a run of first..last continued from that was built before an earlier day's latest run, the one
    line naming the later days it left continuing from replaced results, None: none)."""
    stale = stale_days(run_starts(con))
    built_on = [f"{first}..{last} built on {w}" for w in built_on_stale_warning(stale, first)]
    return built_on, later_stale_note(stale, last)


def stale_notes(paths: Paths, first: date, last: date) -> list[str]:
    """After a run of first..last: what it continued from that was built before an earlier day's latest run,
    and the later days it left continuing from replaced results (empty: neither)."""
    with connect_warehouse(paths.warehouse, read_only=True, must_exist=True) as con:
        notes, later = window_notes(con, first, last)
    return notes + [later] if later else notes
