"""Days built before an earlier day's latest run continue from its replaced results (late ticks, a revised
file, days built out of order): which days those are, from the run starts computed_days keeps for the
days each run recomputed, and what the report and the run say about them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import duckdb
import pytest

from python_assets.config import partition_days
from python_assets.reports.daily_report import DAILY_REPORTS_DDL, stale_warning
from python_assets.reports.staleness import (built_on_stale_warning, later_stale_note, record_computed, run_starts,
                                             stale_days)

D1, D2, D3, D4 = (date(2025, 3, 10) + timedelta(days=n) for n in range(4))
T0 = datetime(2025, 4, 1, tzinfo=timezone.utc)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_days_built_in_day_order_or_in_one_run_are_current() -> None:
    assert stale_days({D1: at(1), D2: at(2), D3: at(3)}) == {}
    assert stale_days({D1: at(5), D2: at(5), D3: at(5)}) == {}  # one range run
    assert stale_days({D1: at(1), D2: at(7), D3: at(7)}) == {}  # then a range run of the later days
    assert stale_days({}) == {}


def test_an_earlier_day_run_again_leaves_each_later_day_stale_until_it_runs_again_in_order() -> None:
    built = {D1: at(1), D2: at(2), D3: at(3)}
    late = {**built, D1: at(4)}  # late ticks of D1 ingested, D1 run again
    assert stale_days(late) == {D2: D1, D3: D1}
    assert stale_days({**late, D3: at(5)}) == {D2: D1}  # D3 run again, D2 skipped: D3 continues from a stale D2
    assert stale_days({**late, D2: at(5)}) == {D3: D1}
    assert stale_days({**late, D2: at(5), D3: at(6)}) == {}


def test_a_day_built_before_earlier_days_were_is_stale() -> None:
    assert stale_days({D3: at(1), D1: at(2), D2: at(3)}) == {D3: D1}
    assert stale_days({D4: at(1), D2: at(2), D1: at(3), D3: at(4)}) == {D2: D1, D4: D1}


def test_run_starts_come_from_the_days_each_run_recomputed() -> None:
    con = duckdb.connect()
    assert run_starts(con) == {}  # no run marked a day yet
    record_computed(con, [D2, D1], "run-a", at(1), "warehouse_dbt_assets")
    record_computed(con, [D3], "run-b", at(3), "strategy_research")
    record_computed(con, [], "run-c", at(4), "ml_dataset")  # an empty window marks nothing
    assert run_starts(con) == {D1: at(1), D2: at(1), D3: at(3)}
    record_computed(con, [D1], "run-d", at(5), "ml_dataset")  # a later run replaces the day's row
    assert run_starts(con) == {D1: at(5), D2: at(1), D3: at(3)}
    assert con.execute("select run_id, step from computed_days where partition_date = ?", [D1]).fetchall() == [
        ("run-d", "ml_dataset")]


def test_a_report_rendered_again_does_not_make_later_days_stale() -> None:
    """Staleness follows the recomputed data, not the report's run facts: a report-only run of an
    earlier day (its report row rewritten with a newer run start) leaves the later days current."""
    con = duckdb.connect()
    record_computed(con, [D1], "run-a", at(1), "warehouse_dbt_assets")
    record_computed(con, [D2], "run-b", at(2), "warehouse_dbt_assets")
    con.execute(DAILY_REPORTS_DDL)
    con.execute("insert into daily_reports values (?, '2.2', ?, 'c', 'reports/x.json', ?)",
                [D1, at(9), json.dumps({"report_date": D1.isoformat(), "run": {"started_at": at(9).isoformat()}})])
    assert stale_days(run_starts(con)) == {} and stale_warning(con, D2) == []
    record_computed(con, [D1], "run-c", at(10), "warehouse_dbt_assets")  # D1's data recomputed (a run that then failed)
    assert stale_days(run_starts(con)) == {D2: D1}
    assert stale_warning(con, D2)[0].startswith(f"{D2} computed before the latest run of {D1}")


def test_the_report_warns_when_it_or_a_day_it_continues_from_is_stale() -> None:
    assert built_on_stale_warning({}, D3) == []
    assert built_on_stale_warning({D4: D1}, D3) == []  # a later day's staleness is no concern of D3's report
    own = built_on_stale_warning({D3: D1}, D3)
    assert own == [f"{D3} computed before the latest run of {D1}: these numbers continue from its results as "
                   f"they were then; run {D3} again, one day at a time in day order"]
    earlier = built_on_stale_warning({D2: D1, D3: D1}, D4)[0]
    assert earlier.startswith(f"{D2} and 1 later day(s) computed before the latest run of {D1}")
    assert earlier.endswith(f"run {D2} and each day after it up to {D4} again, one day at a time in day order")


def test_the_run_names_the_later_days_to_run_again_and_how() -> None:
    assert later_stale_note({D2: D1}, D2) is None
    one = later_stale_note({D2: D1}, D1)
    assert one.startswith(f"{D2} was built before the latest run of {D1} and continues from its results")
    assert f"blofin-stack materialize --date {D2}, then each next day" in one
    many = later_stale_note({D2: D1, D3: D1, D4: D1}, D1)
    assert many.startswith(f"{D2} and 2 later day(s) up to {D4} were built before the latest run of {D1}")


def test_a_warehouse_from_before_computed_days_keeps_the_run_starts_its_reports_name() -> None:
    """A warehouse built before computed_days has its days' run starts only in their reports: they were
    dropped, so rerunning an earlier day there left the later days (not rerun since) unflagged."""
    con = duckdb.connect()
    con.execute(DAILY_REPORTS_DDL)
    for day, minute in ((D1, 1), (D2, 2)):
        con.execute("insert into daily_reports values (?, '2.2', ?, 'c', 'reports/x.json', ?)",
                    [day, at(minute), json.dumps({"run": {"started_at": at(minute).isoformat()}})])
    assert run_starts(con) == {D1: at(1), D2: at(2)} and stale_days(run_starts(con)) == {}
    record_computed(con, [D1], "run-a", at(5), "warehouse_dbt_assets")  # the first run after the upgrade
    assert stale_days(run_starts(con)) == {D2: D1}
    assert stale_warning(con, D2)[0].startswith(f"{D2} computed before the latest run of {D1}")


def test_a_materialize_that_recomputed_an_earlier_day_and_failed_still_names_the_later_days(data_dir, monkeypatch,
                                                                                          capsys) -> None:
    """The run's note on stale later days came only after a successful run; one that marked D1 recomputed and then
    failed left D2 continuing from D1's replaced results without a word (exit code and error line unchanged)."""
    from types import SimpleNamespace

    import dagster_defs.runner as runner
    from blofin_cli import pipeline

    with duckdb.connect(str(data_dir.warehouse)) as con:
        record_computed(con, [D1, D2], "run-a", at(1), "warehouse_dbt_assets")

    def recompute_then_fail(first, last, run_id, **kwargs):
        with duckdb.connect(str(data_dir.warehouse)) as con:
            record_computed(con, [first], run_id, at(5), "warehouse_dbt_assets")
        return SimpleNamespace(success=False, all_events=[])

    monkeypatch.setattr(pipeline, "unchanged_window", lambda *args: ({}, None))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: object())
    monkeypatch.setattr(runner, "recover_dead_cli_runs", lambda *args, **kwargs: [])
    monkeypatch.setattr(runner, "cli_run_tags", lambda data_dir: {})
    monkeypatch.setattr(runner, "materialize_days", recompute_then_fail)
    assert pipeline._locked_run(data_dir, D1, D1, False) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"error: materialization of {D1}..{D1} failed after ")
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {later_stale_note({D2: D1}, D1)}"]


def test_a_failed_materialize_before_any_warehouse_says_nothing_of_stale_days(data_dir, monkeypatch, capsys) -> None:
    """No warehouse yet (the run failed before building one): no note, and no crash looking for one."""
    from types import SimpleNamespace

    import dagster_defs.runner as runner
    from blofin_cli import pipeline

    monkeypatch.setattr(pipeline, "unchanged_window", lambda *args: ({}, None))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: object())
    monkeypatch.setattr(runner, "recover_dead_cli_runs", lambda *args, **kwargs: [])
    monkeypatch.setattr(runner, "cli_run_tags", lambda data_dir: {})
    failed = SimpleNamespace(success=False, all_events=[])
    monkeypatch.setattr(runner, "materialize_days", lambda *args, **kwargs: failed)
    assert pipeline._locked_run(data_dir, D1, D1, False) == 1
    assert "note: " not in capsys.readouterr().out


def test_report_refuses_a_day_no_run_computed(data_dir, capsys) -> None:
    # `report --date D` for a day whose bars dbt's history build left but no run computed wrote a healthy-
    # looking report ("Top strategies none"), exit 0, and a daily_reports row that later rebuilds kept
    from blofin_cli.main import main

    computed, rebuilt_only, bars_only = date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12)
    with duckdb.connect(str(data_dir.warehouse)) as con:
        record_computed(con, [computed], "run-1", at(1), "warehouse_dbt_assets")
        con.execute(DAILY_REPORTS_DDL)  # a report an earlier `report` wrote for a day no run computed: no run start
        con.execute("insert into daily_reports values (?, '2.2', ?, 'c', 'reports/x.json', ?)",
                    [rebuilt_only, at(2), json.dumps({"run": {"partition": rebuilt_only.isoformat(), "rebuilt_by": "cli"}})])
    for day in (rebuilt_only, bars_only):
        assert main(["report", "--date", day.isoformat()]) == 2
        assert capsys.readouterr().err == (f"error: no run computed {day}, so there is no report to rebuild: "
                                           f"run `blofin-stack materialize --date {day}` first\n")
    # a day no run can compute (before the first partition; not closed yet) was told to `materialize --date` it,
    # which is refused: the hint says why instead
    first, last = partition_days()
    for day, why in ((date(1999, 1, 1), f"is before the first daily partition {first}"),
                     (last + timedelta(days=1), "is not a complete UTC day yet")):
        assert main(["report", "--date", day.isoformat()]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: no run computed {day}, so there is no report to rebuild, and no run can "
                              f"compute it: {day} {why}") and "materialize" not in err and err.count("\n") == 1, err
    assert not data_dir.reports.exists() or not list(data_dir.reports.iterdir())
    from python_assets.reports.daily_report import ReportError, require_computed

    require_computed(data_dir, computed)
    with pytest.raises(ReportError):
        require_computed(data_dir, bars_only)
