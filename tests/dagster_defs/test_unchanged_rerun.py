"""An unchanged day is not rerun: `blofin-stack materialize` compares each day's input fingerprint (lake
files dated up to the day, code, result settings, run config) with the one its last successful run
stored, and asks the Dagster instance whether any run since touched that day or an earlier one. Each
thing that can change a day's results must make the day 'changed'; nothing else may."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg
import pytest
from conftest import FAST_RUN_CONFIG, TEST_DAYS, copy_data_dir

from blofin_cli.pipeline import unchanged_window
from dagster_defs.runner import persistent_instance
from python_assets.warehouse import run_inputs
from python_assets.config import Paths, result_settings
from python_assets.lake.sources import MARKETS_DIR

DAY = TEST_DAYS[0]


def entries(*rows: tuple[str, int, int]) -> list[tuple[str, int, int]]:
    return list(rows)


LAKE = entries(("lake/trades/symbol=A/date=2025-03-09/t.parquet", 10, 1),
               ("lake/trades/symbol=A/date=2025-03-10/t.parquet", 20, 2),
               ("lake/instruments/instruments.parquet", 5, 3))
DAYS = [date(2025, 3, 9), date(2025, 3, 10)]


def fps(lake=LAKE, code="c", settings=None, config=None) -> dict[date, str]:
    return run_inputs.day_fingerprints(lake, DAYS, code, settings or {}, config)


def test_a_file_changes_its_own_day_and_later_ones_and_an_undated_file_every_day() -> None:
    base = fps()
    later = fps([*LAKE[:1], ("lake/trades/symbol=A/date=2025-03-10/t.parquet", 21, 2), LAKE[2]])
    assert later[DAYS[0]] == base[DAYS[0]] and later[DAYS[1]] != base[DAYS[1]]
    touched = fps([*LAKE[:1], ("lake/trades/symbol=A/date=2025-03-10/t.parquet", 20, 9), LAKE[2]])
    assert touched[DAYS[1]] != base[DAYS[1]]
    undated = fps([*LAKE[:2], ("lake/instruments/instruments.parquet", 5, 4)])
    assert all(undated[d] != base[d] for d in DAYS)
    future = fps([*LAKE, ("lake/trades/symbol=A/date=2025-03-11/t.parquet", 1, 1)])
    assert future == base  # a day never depends on later data
    assert fps(list(reversed(LAKE))) == base


def test_the_trade_id_index_is_no_input_of_any_day(tmp_path) -> None:
    """Ingest keeps lake/trade_index beside the trades (no day, no run reads it): listed, any ingest of a
    later day changed every earlier day's fingerprint, and every day reran."""
    paths = Paths(tmp_path / "data")
    for rel in ("trades/symbol=A/date=2025-03-09/trades.parquet", "trade_index/symbol=A/id_ranges.parquet"):
        (paths.lake / rel).parent.mkdir(parents=True, exist_ok=True)
        (paths.lake / rel).write_bytes(b"x")
    assert [rel for rel, _, _ in run_inputs.lake_entries(paths)] == ["lake/trades/symbol=A/date=2025-03-09/trades.parquet"]


def test_a_symbols_market_record_is_an_input_of_every_day(tmp_path) -> None:
    """Whether a symbol is spot or perp (<data>/.lake-markets, written by the importers) decides how it is
    traded (long only, unlevered, unfunded on spot): left out, a day rerun after its record changed from
    perp to spot was called unchanged and kept its shorts."""
    paths = Paths(tmp_path / "data")
    (paths.lake / "trades/symbol=A/date=2025-03-09").mkdir(parents=True)
    (paths.lake / "trades/symbol=A/date=2025-03-09/trades.parquet").write_bytes(b"x")
    record = paths.data_dir / MARKETS_DIR / "A.json"
    record.parent.mkdir()
    record.write_text('{"market": "perp"}')
    entries = run_inputs.lake_entries(paths)
    assert [rel for rel, _, _ in entries] == [".lake-markets/A.json", "lake/trades/symbol=A/date=2025-03-09/trades.parquet"]
    record.write_text('{"market": "spot"}')
    os.utime(record, ns=(1, 1))
    assert run_inputs.day_fingerprints(run_inputs.lake_entries(paths), DAYS, "code", {}, None) != \
        run_inputs.day_fingerprints(entries, DAYS, "code", {}, None)


def test_only_the_runs_own_window_may_change_between_its_listings() -> None:
    """A run's lake step writes its window's days (the demo generates a missing day): the lake as the run
    left it is what it read, and its next request must find it unchanged; a file of another day or of no
    day changed meanwhile came from another writer, which the run may not have read."""
    own = [*LAKE[:1], ("lake/trades/symbol=A/date=2025-03-10/t.parquet", 20, 7), LAKE[2]]
    assert not run_inputs.changed_outside(LAKE, own, DAYS[1], DAYS[1])
    assert run_inputs.changed_outside(LAKE, own, DAYS[0], DAYS[0])
    assert run_inputs.changed_outside(LAKE, [*LAKE[:2], ("lake/instruments/instruments.parquet", 5, 4)], *DAYS)
    assert not run_inputs.changed_outside(LAKE, LAKE, *DAYS)


def test_a_day_inside_a_range_run_is_not_the_same_day_run_alone() -> None:
    """Models train and score for a run's last day only: the role is part of the fingerprint."""
    alone = run_inputs.day_fingerprints(LAKE, DAYS[:1], "c", {}, None)
    assert fps()[DAYS[0]] != alone[DAYS[0]] and fps()[DAYS[1]] == run_inputs.day_fingerprints(LAKE, DAYS, "c", {}, None)[DAYS[1]]


def test_code_settings_and_run_config_change_every_day() -> None:
    base = fps()
    for other in (fps(code="d"), fps(settings={"BLOFIN_SEED": "8"}), fps(config=FAST_RUN_CONFIG)):
        assert all(other[d] != base[d] for d in DAYS)


def test_result_settings_leave_out_paths_workers_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BLOFIN_DATA_DIR", "BLOFIN_SYMBOL_WORKERS", "BLOFIN_API_SECRET", "BLOFIN_LLM_API_KEY",
                 "BLOFIN_ALERT_WEBHOOK_URL", "BLOFIN_SOME_NEW_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("BLOFIN_SYNTHETIC_EDGE", "0.8")
    got = result_settings()
    assert got["BLOFIN_SYNTHETIC_EDGE"] == "0.8"
    assert not {"BLOFIN_DATA_DIR", "BLOFIN_SYMBOL_WORKERS", "BLOFIN_API_SECRET", "BLOFIN_LLM_API_KEY",
                "BLOFIN_ALERT_WEBHOOK_URL", "BLOFIN_SOME_NEW_TOKEN"} & set(got)


@dg.op
def noop() -> None:
    pass


@dg.job
def other_job() -> None:
    noop()


def run(instance: dg.DagsterInstance, partition: str | None) -> str:
    """A run in the instance, tagged with a partition (or none), as a UI or schedule run would be."""
    tags = {"dagster/partition": partition} if partition else {}
    return other_job.execute_in_process(instance=instance, tags=tags).run_id


@pytest.mark.slow
def test_an_unchanged_day_is_said_unchanged_and_each_kind_of_change_makes_it_run(built_first_day: Paths, tmp_path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    paths = copy_data_dir(built_first_day, tmp_path / "data", monkeypatch)
    instance = persistent_instance(paths)
    current, why = unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)
    assert why is None  # nothing stored yet (the template was built without the CLI)
    run_inputs.record_fingerprints(paths, current, run(instance, DAY.isoformat()))
    again, why = unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)
    assert again == current and why is not None and "unchanged" in why

    assert unchanged_window(paths, DAY, DAY, None)[1] is None  # another run config
    monkeypatch.setenv("BLOFIN_SEED", "99")
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # another setting
    monkeypatch.delenv("BLOFIN_SEED")
    monkeypatch.setenv("BLOFIN_SOURCE", "blofin")
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # the exchange may have more
    monkeypatch.delenv("BLOFIN_SOURCE")
    assert unchanged_window(paths, DAY, DAY + timedelta(days=1), FAST_RUN_CONFIG)[1] is None  # a day never run

    monkeypatch.setenv("BLOFIN_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # the analyst's answer is outside input
    monkeypatch.delenv("BLOFIN_LLM_BASE_URL")

    model = next(d for d in sorted(paths.models.glob("*/*")) if d.is_dir())
    model.rename(model.with_name(model.name + ".gone"))
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # a rerun would refit it
    model.with_name(model.name + ".gone").rename(model)
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None

    html = paths.reports / f"{DAY.isoformat()}.html"
    body = html.read_bytes()
    html.unlink()
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # a deleted report is rebuilt
    html.write_bytes(body)
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None

    run(instance, (DAY + timedelta(days=1)).isoformat())  # a later day: no effect on this one
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None

    lake_file = next(p for p in sorted(paths.trades.rglob("*.parquet")) if f"date={DAY.isoformat()}" in str(p))
    stat = lake_file.stat()
    os.utime(lake_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None  # the day's lake was rewritten
    os.utime(lake_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None

    run(instance, (DAY - timedelta(days=1)).isoformat())  # an earlier day rerun (its state feeds this day)
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None
    run_inputs.record_fingerprints(paths, current, run(instance, DAY.isoformat()))
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None
    run(instance, None)  # a run of no partition (a CLI backtest, a manual asset run) may change anything
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None

    queued = instance.create_run_for_job(other_job, tags={"dagster/partition": DAY.isoformat()})
    run_inputs.record_fingerprints(paths, current, run(instance, DAY.isoformat()))
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is not None
    instance.report_run_failed(queued)  # created before the recorded run, still going after it started
    assert unchanged_window(paths, DAY, DAY, FAST_RUN_CONFIG)[1] is None


def test_a_days_own_lake_fingerprint_follows_only_its_own_files() -> None:
    """What a day's run built of the lake: its own dated files, not earlier days' (their runs built those)
    nor undated ones (the same for every day, fingerprinted by every day's input_fingerprint)."""
    base = run_inputs.own_day_fingerprints(LAKE, DAYS)
    earlier = run_inputs.own_day_fingerprints([("lake/trades/symbol=A/date=2025-03-09/t.parquet", 11, 1), *LAKE[1:]], DAYS)
    assert earlier[DAYS[0]] != base[DAYS[0]] and earlier[DAYS[1]] == base[DAYS[1]]
    assert run_inputs.own_day_fingerprints([*LAKE[:2], ("lake/instruments/instruments.parquet", 5, 4)], DAYS) == base
    assert run_inputs.changed_since_built(earlier, base) == [DAYS[0]]
    assert run_inputs.changed_since_built(run_inputs.own_day_fingerprints(LAKE[1:], DAYS), base) == [DAYS[0]]  # deleted
    assert run_inputs.changed_since_built(base, base) == []


def _small_data_dir(data_dir: Paths, days: list[date]) -> None:
    """A lake file, a stored report (row and files) for each day: what unchanged_window reads of a built day."""
    from python_assets.reports import daily_report
    from python_assets.warehouse.connection import connect_warehouse

    with connect_warehouse(data_dir.warehouse) as con:
        for day in days:
            lake_file = data_dir.lake / f"trades/symbol=A/date={day.isoformat()}/t.parquet"
            lake_file.parent.mkdir(parents=True, exist_ok=True)
            lake_file.write_bytes(b"x")
            report = daily_report.report_path(data_dir, day)
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text("{}")
            report.with_suffix(".html").write_text("")
            daily_report.store_report(con, {"report_date": day.isoformat(), "schema_version": "1",
                                            "generated_at": f"{day.isoformat()}T23:59:00+00:00", "code_version": "x"},
                                      f"reports/{day.isoformat()}.json")


def _cli_run(data_dir: Paths, instance: dg.DagsterInstance, day: date) -> None:
    """What a successful `materialize --date day` records (its run a stand-in: the lake is left as it was)."""
    from blofin_cli.pipeline import _as_left

    current, _ = unchanged_window(data_dir, day, day, None)
    before = run_inputs.lake_entries(data_dir)
    run_id = run(instance, day.isoformat())
    fingerprints, lake_days = _as_left(data_dir, current, before, day, day, None)
    run_inputs.record_fingerprints(data_dir, fingerprints, run_id, lake_days)


def test_a_day_rerun_after_an_earlier_days_lake_file_changed_says_so_and_is_never_called_unchanged(
        data_dir: Paths, capsys: pytest.CaptureFixture) -> None:
    """materialize --date D after an earlier day D-2 was imported again builds only D's window, on D-2's old
    warehouse rows: it recorded D's fingerprint with the new D-2 file in it, said nothing, and a later
    request of D was 'unchanged' while D-2 had never been rebuilt."""
    from blofin_cli.pipeline import _say_changed_earlier_days

    early, day = date(2025, 3, 8), date(2025, 3, 10)
    _small_data_dir(data_dir, [early, day])
    instance = persistent_instance(data_dir)
    _cli_run(data_dir, instance, early)  # each day built by its own CLI run, in day order
    _cli_run(data_dir, instance, day)
    assert "unchanged" in unchanged_window(data_dir, day, day, None)[1]  # the common path: nothing changed

    lake_file = data_dir.lake / f"trades/symbol=A/date={early.isoformat()}/t.parquet"
    lake_file.write_bytes(b"re-imported")  # another size
    assert unchanged_window(data_dir, early, early, None)[1] is None
    assert unchanged_window(data_dir, day, day, None)[1] is None
    _say_changed_earlier_days(data_dir, run_inputs.lake_entries(data_dir), day, day)
    note = capsys.readouterr().out
    assert note.count("\n") == 1 and f"lake files of {early} changed since it was built" in note
    assert f"blofin-stack materialize --date {early}" in note
    _cli_run(data_dir, instance, day)  # D runs on D-2's old rows, its fingerprint holding D-2's new file
    assert unchanged_window(data_dir, day, day, None)[1] is None  # D-2 still not rebuilt: D is not unchanged

    _cli_run(data_dir, instance, early)  # D-2 rebuilt, then D: each unchanged again, and nothing to say
    _say_changed_earlier_days(data_dir, run_inputs.lake_entries(data_dir), day, day)
    assert capsys.readouterr().out == ""
    _cli_run(data_dir, instance, day)
    assert "unchanged" in unchanged_window(data_dir, day, day, None)[1]
    assert "unchanged" in unchanged_window(data_dir, early, early, None)[1]


def test_a_first_build_records_every_day_it_built_and_a_later_change_of_one_is_named(
        data_dir: Paths, capsys: pytest.CaptureFixture) -> None:
    """A first build of an empty warehouse builds the lake's earlier days too (the demo: 29 days before its
    one materialized day), but only the window's day had its own lake files recorded as built: a re-import
    of an earlier day was never named (earlier_days_changed []), and the next day ran on its old rows."""
    from blofin_cli.pipeline import _as_left, _days_recorded, _say_changed_earlier_days
    from python_assets.warehouse.connection import connect_warehouse

    days = [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
    last = days[-1]
    _small_data_dir(data_dir, days)  # reports of the earlier days too: only the null input fingerprint runs them
    instance = persistent_instance(data_dir)
    current, _ = unchanged_window(data_dir, last, last, None)
    before, held = run_inputs.lake_entries(data_dir), _days_recorded(data_dir)
    assert held == set()  # an empty warehouse: no day recorded as built yet
    with connect_warehouse(data_dir.warehouse) as con:  # what the run's first build leaves: bars of every lake day
        con.execute("create table bars_1m as select unnest(?::date[]) as bar_date", [days])
    built = frozenset(run_inputs.bar_days(data_dir) - held)
    fingerprints, lake_days = _as_left(data_dir, current, before, last, last, None, built)
    run_id = run(instance, last.isoformat())
    run_inputs.record_fingerprints(data_dir, fingerprints, run_id, lake_days)
    assert sorted(run_inputs.built_lake_days(data_dir, last + timedelta(days=1))) == days
    assert "unchanged" in unchanged_window(data_dir, last, last, None)[1]
    assert unchanged_window(data_dir, days[0], days[0], None)[1] is None  # built as history, never run as a day
    assert run_inputs.stored_fingerprints(data_dir, days[:1]) == {days[0]: (None, run_id)}

    early = data_dir.lake / f"trades/symbol=A/date={days[0].isoformat()}/t.parquet"
    os.utime(early, ns=(early.stat().st_atime_ns, early.stat().st_mtime_ns + 10**9))  # re-imported
    entries = run_inputs.lake_entries(data_dir)
    assert run_inputs.earlier_days_changed(data_dir, entries, last + timedelta(days=1)) == [days[0]]
    assert unchanged_window(data_dir, last, last, None)[1] is None
    _say_changed_earlier_days(data_dir, entries, last + timedelta(days=1), last + timedelta(days=1))
    assert f"lake files of {days[0]} changed since it was built" in capsys.readouterr().out


def test_a_first_build_of_candles_coarser_than_1m_records_their_days_and_a_re_import_is_named(
        data_dir: Paths) -> None:
    """A lake of 5m candles only (a freqtrade import) puts its days into bars_5m and up, never bars_1m: read
    from bars_1m alone, the first build's earlier days were not taken as built, got no lake fingerprint, and
    a re-import of one was never named (earlier_days_changed [])."""
    from blofin_cli.pipeline import _as_left, _days_recorded
    from python_assets.warehouse.connection import connect_warehouse

    days = [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
    last = days[-1]
    for day in days:
        candles = data_dir.lake / f"candles/symbol=A/timeframe=5m/date={day.isoformat()}/candles.parquet"
        candles.parent.mkdir(parents=True)
        candles.write_bytes(b"x")
    before, held = run_inputs.lake_entries(data_dir), _days_recorded(data_dir)
    with connect_warehouse(data_dir.warehouse) as con:  # what the first build leaves: no 1m bar, 5m bars and up
        con.execute("create table bars_1m (bar_date date)")
        for tf in ("5m", "15m", "1h", "4h", "1d"):
            con.execute(f"create table bars_{tf} as select unnest(?::date[]) as bar_date", [days])
    built = frozenset(run_inputs.bar_days(data_dir) - held)
    assert built == set(days)
    fingerprints, lake_days = _as_left(data_dir, {last: "before"}, before, last, last, None, built)
    run_inputs.record_fingerprints(data_dir, fingerprints, "run-1", lake_days)
    assert sorted(run_inputs.built_lake_days(data_dir, last + timedelta(days=1))) == days

    early = data_dir.lake / f"candles/symbol=A/timeframe=5m/date={days[0].isoformat()}/candles.parquet"
    early.write_bytes(b"re-imported")
    entries = run_inputs.lake_entries(data_dir)
    assert run_inputs.earlier_days_changed(data_dir, entries, last + timedelta(days=1)) == [days[0]]


def test_the_snapshot_a_successful_cli_run_leaves_holds_its_run_inputs_row(data_dir: Paths, monkeypatch,
                                                                            capsys) -> None:
    """The run's own snapshot step publishes before the CLI records run_inputs after the run: `query` (which
    reads the snapshot) saw them one run behind (1 row, not 2, after the second day)."""
    from types import SimpleNamespace

    import duckdb

    import dagster_defs.runner as runner
    from blofin_cli import pipeline
    from python_assets.warehouse.snapshot import publish_snapshot, snapshot_path

    def run_with_snapshot_step(first, last, run_id, **kwargs):
        with duckdb.connect(str(data_dir.warehouse)) as con:
            con.execute("create table if not exists bars_1m (bar_date date)")
        publish_snapshot(data_dir)  # the graph's last asset, warehouse_snapshot
        return SimpleNamespace(success=True, all_events=[], run_id=run_id)

    monkeypatch.setattr(pipeline, "unchanged_window", lambda paths, first, last, config: ({first: f"fp-{first}"}, None))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: object())
    monkeypatch.setattr(runner, "recover_dead_cli_runs", lambda *args, **kwargs: [])
    monkeypatch.setattr(runner, "cli_run_tags", lambda data_dir: {})
    monkeypatch.setattr(runner, "checks_summary", lambda events: None)
    monkeypatch.setattr(runner, "materialize_days", run_with_snapshot_step)
    for day in DAYS:
        assert pipeline._locked_run(data_dir, day, day, False) == 0, capsys.readouterr()
        with duckdb.connect(str(snapshot_path(data_dir)), read_only=True) as con:
            held = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
            found = con.execute("select partition_date from run_inputs order by 1") if "run_inputs" in held else None
            rows = found.fetchall() if found is not None else []
        assert rows == [(d,) for d in DAYS if d <= day]


@pytest.mark.parametrize("lake_step_writes", [False, True], ids=["lake source", "synthetic source"])
def test_a_file_another_writer_puts_into_the_window_after_the_lake_step_leaves_the_day_changed(
        data_dir: Paths, lake_step_writes: bool) -> None:
    """ingest, import, the inbox sensor and the recorder's hour merge take no run lock: a file written into a
    run's day after its build read the lake was recorded as built (the fingerprints were retaken from the lake
    as the run left it), and the day's next request said 'unchanged' while the warehouse lacked the file."""
    from blofin_cli.pipeline import _as_left

    day, later = date(2025, 3, 10), date(2025, 3, 11)
    _small_data_dir(data_dir, [day, later])
    instance = persistent_instance(data_dir)
    current, _ = unchanged_window(data_dir, day, day, None)
    before = run_inputs.lake_entries(data_dir)
    if lake_step_writes:  # the synthetic source generates the day, the exchange source fetches it
        (data_dir.lake / f"funding/symbol=A/date={day}").mkdir(parents=True)
        (data_dir.lake / f"funding/symbol=A/date={day}/f.parquet").write_bytes(b"generated")
    step_digest = run_inputs.window_digest(run_inputs.lake_entries(data_dir), day, day)  # at the lake step's end
    late = data_dir.lake / f"trades/symbol=A/date={day}/late.parquet"
    late.write_bytes(b"ingested while dbt ran")  # after the build read the lake
    fingerprints, lake_days = _as_left(data_dir, current, before, day, day, None, step_digest=step_digest)
    run_inputs.record_fingerprints(data_dir, fingerprints, run(instance, day.isoformat()), lake_days)
    assert unchanged_window(data_dir, day, day, None)[1] is None  # the next request rebuilds the day
    assert run_inputs.earlier_days_changed(data_dir, run_inputs.lake_entries(data_dir), later) == [day]

    late.unlink()  # the same run without the late file: only its own lake step wrote, the day is unchanged
    current, _ = unchanged_window(data_dir, day, day, None)
    step_digest = run_inputs.window_digest(run_inputs.lake_entries(data_dir), day, day)
    fingerprints, lake_days = _as_left(data_dir, current, before, day, day, None, step_digest=step_digest)
    run_inputs.record_fingerprints(data_dir, fingerprints, run(instance, day.isoformat()), lake_days)
    assert "unchanged" in unchanged_window(data_dir, day, day, None)[1]
    assert run_inputs.earlier_days_changed(data_dir, run_inputs.lake_entries(data_dir), later) == []


@pytest.mark.slow
def test_trades_added_to_a_day_while_its_run_builds_it_are_built_by_the_next_request(
        built_first_day: Paths, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`materialize --date D &` then `ingest late.csv` (3 trades at D 23:59:58-59, 'added') once dbt had read the
    lake: the run succeeded without them, recorded the lake as it left it, and the next `materialize --date D`
    said 'unchanged since run': bars_1m never got them. Here the write comes when the graph has run, before
    the CLI records its inputs (the same point for the record, without timing)."""
    import duckdb

    import dagster_defs.runner as runner
    from blofin_cli import pipeline
    from python_assets.platform.timeframes import DAY_MS

    paths = copy_data_dir(built_first_day, tmp_path / "data", monkeypatch)
    monkeypatch.setenv("BLOFIN_SOURCE", "lake")  # the lake step writes nothing: it only checks the days' files
    symbol = sorted(p.name.removeprefix("symbol=") for p in paths.trades.glob("symbol=*"))[0]
    last_ms = (DAY - date(1970, 1, 1)).days * DAY_MS + DAY_MS - 2000  # D 23:59:58
    day_file = paths.trades / f"symbol={symbol}" / f"date={DAY}" / "trades.parquet"
    real_run = runner.materialize_days

    def run_then_add_late_trades(*args, **kwargs):
        """The run, then 3 trades at D 23:59:58-59 added as ingest does (the day's file replaced whole; the
        synthetic template's symbols refuse a real ingest): another writer, which takes no run lock."""
        result = real_run(*args, **kwargs)
        tmp = day_file.with_name(".tmp-late.parquet")
        with duckdb.connect() as con:
            con.execute(f"""copy (select * from read_parquet('{day_file}', hive_partitioning = false) union all
                            select s.* replace ('9997000' || n as trade_id, {last_ms} + 500 * n as ts, seq + 1 + n as seq)
                            from (select * from read_parquet('{day_file}', hive_partitioning = false)
                                  order by ts desc, seq desc limit 1) s, range(3) t(n)) to '{tmp}' (format parquet)""")
        tmp.replace(day_file)
        return result

    def minute_trades() -> int:
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            return con.execute("select coalesce(sum(trade_count), 0) from bars_1m where symbol = ? and bar_at_ms = ?",
                               [symbol, last_ms - 58_000]).fetchone()[0]

    monkeypatch.setattr(runner, "materialize_days", run_then_add_late_trades)
    assert pipeline._locked_run(paths, DAY, DAY, False, FAST_RUN_CONFIG) == 0, capsys.readouterr()
    built_without = minute_trades()
    monkeypatch.setattr(runner, "materialize_days", real_run)
    assert pipeline._locked_run(paths, DAY, DAY, False, FAST_RUN_CONFIG) == 0
    out = capsys.readouterr().out
    assert "unchanged" not in out and f"materialized {DAY}..{DAY}" in out, out
    assert minute_trades() == built_without + 3


def test_a_day_rerun_because_another_run_touched_it_says_which(data_dir: Paths, capsys: pytest.CaptureFixture) -> None:
    """After a `blofin-stack backtest`, the next `make run` of the same day recomputed the whole day without a
    word (README: a backtest counts as a newer run), while a skip says why in one line: the rerun says which
    run touched the day and what it was, in one line."""
    day = date(2025, 3, 10)
    _small_data_dir(data_dir, [day])
    instance = persistent_instance(data_dir)
    _cli_run(data_dir, instance, day)
    capsys.readouterr()
    assert "unchanged" in unchanged_window(data_dir, day, day, None)[1]
    assert capsys.readouterr().out == ""  # nothing to say when it skips (the CLI prints the reason it returns)
    backtest = other_job.execute_in_process(instance=instance, tags={"dagster/partition": day.isoformat(),
                                                                     "blofin/command": "backtest"}).run_id
    assert unchanged_window(data_dir, day, day, None)[1] is None
    out = capsys.readouterr().out
    assert out == (f"note: {day}..{day} runs again although its inputs are unchanged: run {backtest[:8]} "
                   "(`blofin-stack backtest`) ran since its last run and may have changed its results\n"), out
    _cli_run(data_dir, instance, day)
    capsys.readouterr()
    earlier = run(instance, (day - timedelta(days=1)).isoformat())  # a UI run of an earlier day
    assert unchanged_window(data_dir, day, day, None)[1] is None
    assert f"run {earlier[:8]} (other_job, {day - timedelta(days=1)}) ran since" in capsys.readouterr().out
