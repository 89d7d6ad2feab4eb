"""The console progress (step lines, a bar with an ETA off a TTY), the partitions' start following
the lake (with the env override kept), and definitions that load without Dagster's beta notices."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from dagster_defs.partitions import DEFAULT_PARTITIONS_START, PARTITIONS_START_ENV, lake_first_day, partitions_start
from python_assets.platform.progress import bar_text, eta_seconds, step_line, track


def test_step_line_reads_like_dbt():
    line = step_line(3, 12, "warehouse_dbt_assets", 75.0, rows=1440, eta=30.0)
    assert line.startswith(" 3 of 12 OK warehouse_dbt_assets ...")
    assert line.endswith(" 1,440 rows [1m 15s] ETA 30s")
    assert step_line(12, 12, "daily_report", 0.5).endswith("[0.5s]")


def test_a_step_whose_check_did_not_pass_prints_its_severity_not_ok_and_the_summary_counts_it(capfd):
    """A non-blocking check's step succeeds when the check fails: the run printed `4 of 20 OK
    bars_1m_bars_1m_is_fresh` while the log said the check did not pass."""
    import uuid

    import dagster as dg

    from dagster_defs.runner import checks_summary, step_progress

    @dg.asset
    def bars():  # no annotations: they are strings here (__future__), which Dagster resolves in module scope
        return None

    def check(name: str, passed: bool, severity: dg.AssetCheckSeverity):
        @dg.asset_check(asset=bars, name=name)
        def _check():
            return dg.AssetCheckResult(passed=passed, severity=severity)
        return _check

    checks = [check("is_fresh", False, dg.AssetCheckSeverity.WARN), check("is_whole", False, dg.AssetCheckSeverity.ERROR),
              check("is_sane", True, dg.AssetCheckSeverity.ERROR)]
    job = dg.Definitions(assets=[bars], asset_checks=checks).resolve_implicit_global_asset_job_def()
    instance, run_id = dg.DagsterInstance.ephemeral(), str(uuid.uuid4())
    with step_progress(instance, run_id, 4, poll_s=60):
        result = job.execute_in_process(instance=instance, run_id=run_id)
    assert result.success
    lines = {line.split()[4]: line for line in capfd.readouterr().out.splitlines()}
    assert " OK bars " in lines["bars"] and " OK bars_is_sane " in lines["bars_is_sane"]
    assert " WARN bars_is_fresh ..." in lines["bars_is_fresh"] and "did not pass [" in lines["bars_is_fresh"]
    assert " ERROR bars_is_whole ..." in lines["bars_is_whole"] and "did not pass [" in lines["bars_is_whole"]
    assert checks_summary(result.all_events) == ("2 of 3 asset checks did not pass: is_fresh on bars (WARN), "
                                                 "is_whole on bars (ERROR)")
    assert checks_summary([e for e in result.all_events if e.step_key != "bars_is_fresh" and e.step_key != "bars_is_whole"]) is None


def test_progress_reads_each_event_once_and_numbers_the_steps_in_the_order_they_ended(capfd):
    """The progress thread read all of the run's events every 0.5 s (each materialization deserialized again at
    every poll, beside the run); now each poll reads only what came since the last."""
    import time
    import uuid

    import dagster as dg

    from dagster_defs.runner import step_progress

    @dg.asset
    def first():
        time.sleep(0.3)

    @dg.asset(deps=[first])
    def second():
        time.sleep(0.3)
        return dg.MaterializeResult(metadata={"dagster/row_count": 7})

    @dg.asset(deps=[second])
    def third():
        time.sleep(0.3)

    job = dg.Definitions(assets=[first, second, third]).resolve_implicit_global_asset_job_def()
    instance, run_id = dg.DagsterInstance.ephemeral(), str(uuid.uuid4())
    read, get_records = [], instance.get_records_for_run

    def counting(*args, **kwargs):
        page = get_records(*args, **kwargs)
        read.extend(record.storage_id for record in page.records)
        return page

    instance.get_records_for_run = counting
    with step_progress(instance, run_id, 3, poll_s=0.05):
        assert job.execute_in_process(instance=instance, run_id=run_id).success
    lines = [line.split(" [")[0].split() for line in capfd.readouterr().out.splitlines() if " of 3 " in line]
    assert [line[:5] for line in lines] == [["1", "of", "3", "OK", "first"], ["2", "of", "3", "OK", "second"],
                                            ["3", "of", "3", "OK", "third"]]
    assert "7" in lines[1][5:]  # the step's rows, from its materialization
    assert read and len(read) == len(set(read))  # no event read twice


def test_track_prints_plain_lines_with_an_eta_off_a_tty(capfd):
    assert list(track(range(20), 20, "backfill", every=0.25)) == list(range(20))
    lines = capfd.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("backfill [") and "5/20 ETA" in lines[0]
    assert lines[-1].startswith("backfill [" + "#" * 30 + "] 20/20 in ")
    assert eta_seconds(5, 20, 10.0) == 30.0 and eta_seconds(0, 20, 1.0) is None
    assert bar_text("x", 0, 4, 0.0, width=4) == "x [....] 0/4 in 0.0s"


def test_partitions_start_at_the_lakes_first_day_unless_overridden(data_dir, monkeypatch):
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    assert lake_first_day(data_dir) is None and partitions_start(data_dir) == DEFAULT_PARTITIONS_START
    (data_dir.trades / "symbol=BTC-USDT" / "date=2025-03-10").mkdir(parents=True)
    (data_dir.candles / "symbol=ETH-USDT" / "timeframe=1h" / "date=2025-02-01").mkdir(parents=True)
    (data_dir.trades / "symbol=BTC-USDT" / "date=not-a-day").mkdir(parents=True)
    assert lake_first_day(data_dir) == date(2025, 2, 1) and partitions_start(data_dir) == "2025-02-01"
    monkeypatch.setenv(PARTITIONS_START_ENV, "2021-11-01")
    assert partitions_start(data_dir) == "2021-11-01"


def test_definitions_load_in_a_fresh_process_with_the_lakes_start_and_no_beta_notices(data_dir, monkeypatch):
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    (data_dir.trades / "symbol=BTC-USDT" / "date=2025-03-10").mkdir(parents=True)
    code = ("import sys; from dagster_defs.definitions import defs; "
            "print(defs.resolve_job_def('daily_job').partitions_def.get_first_partition_key()); "
            "print(sorted(m for m in ('ccxt', 'torch', 'xgboost', 'numba') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    first, heavy = proc.stdout.strip().splitlines()
    assert first == "2025-03-10"
    # what only some steps need is imported by them: every run (a UI reload, a sensor tick) would pay its seconds
    # and memory (ccxt alone ~0.35 s and ~45 MiB), most of them without any exchange or model
    assert heavy == "[]"
    assert "Warning" not in proc.stderr, proc.stderr[-2000:]


def test_table_row_counts_give_all_rows_and_the_windows_rows_of_tables_only(tmp_path):
    import duckdb

    from dagster_defs.dbt.assets import table_row_counts

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table bars_1m as select date '2025-03-09' + cast(i % 3 as integer) as bar_date from range(9) t(i)")
        con.execute("create table dims as select 1 as x")
        con.execute("create view stg_trades as select * from bars_1m")
    counts = table_row_counts(db, ["bars_1m", "dims", "stg_trades", "absent"], date(2025, 3, 10), date(2025, 3, 11))
    assert counts == {"bars_1m": {"dagster/row_count": 9, "partition_rows": 3}, "dims": {"dagster/row_count": 1}}
