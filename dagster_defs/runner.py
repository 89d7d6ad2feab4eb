"""Run the whole asset graph in-process for one day or a range of days (CLI, demo and tests)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg

from dagster_defs.instance_env import check_instance_env
from python_assets.config import Paths, ensure_dagster_home, paths
from python_assets.warehouse.connection import connect_warehouse, table_exists
from python_assets.platform.progress import set_console_fd

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CLI_RUN_TAG = "blofin/launched_by"  # = "cli": runs whose process is the CLI's own (in-process executor)
DATA_DIR_TAG = "blofin/data_dir"  # the data dir a CLI run wrote: its writer lock says whether it is alive
MAX_RUNTIME_TAG = "dagster/max_runtime"  # run monitoring fails a run running longer ("0": no limit)


def cli_run_tags(data_dir: Path) -> dict[str, str]:
    """Tags of a run the CLI makes in its own process, for the data dir it writes."""
    return {CLI_RUN_TAG: "cli", DATA_DIR_TAG: str(Path(data_dir).resolve())}


def made_by_cli(run: dg.DagsterRun) -> bool:
    """Whether the CLI made the run in its own process: tagged so and of no code location (the UI's
    re-execution of a CLI run copies its tags, but the run launcher runs it, with its location's origin)."""
    return run.tags.get(CLI_RUN_TAG) == "cli" and run.remote_job_origin is None


def _cli_runs(instance: dg.DagsterInstance, data_dir: Path, statuses: list) -> list:
    """CLI runs in these statuses of this data dir (or untagged, from before the tag): an instance
    (DAGSTER_HOME) can be shared by several data dirs, each with its own writer lock and live runs; a run
    the launcher runs is never one, even with the CLI's tags (a re-execution copies them)."""
    mine = str(Path(data_dir).resolve())
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags={CLI_RUN_TAG: "cli"}))
    return [r for r in runs if made_by_cli(r) and r.tags.get(DATA_DIR_TAG, mine) == mine]


def partition_tags(first: date, last: date) -> tuple[str | None, dict[str, str]]:
    """(partition_key, tags) selecting the days first..last inclusive in one run."""
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    if first == last:
        return first.isoformat(), {}
    return None, {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


DAILY_JOB = "daily_job"
INSTANCE_YAML = Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml"


def persistent_instance(paths: Paths) -> dg.DagsterInstance:
    """The Dagster instance under DAGSTER_HOME (default <data>/dagster_home), so the UI shows CLI runs;
    its dagster.yaml is deploy/dagster.yaml (as `make ui` writes it), so Dagster does not print its
    'no instance configuration file' notice on every command."""
    home = ensure_dagster_home(paths.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    install_instance_yaml(home / "dagster.yaml")
    check_instance_env(paths)  # one line naming an unset DAGSTER_PG_* rather than Dagster's Field repr
    return dg.DagsterInstance.get()


# sha256 of each earlier deploy/dagster.yaml (git log -- deploy/dagster.yaml): a DAGSTER_HOME holding one gets
# the current file (add the outgoing version's digest here whenever the file changes)
SHIPPED_YAMLS = frozenset({
    "4bc13bb9d912119f88d6b0724c8cdee27c1e32a30d90a0c141bc46e97cd97f03",
    "8b0329b2fcd51497bbd09e57929495dc3a86b70fb12ae167f065986597eac11b",
    "99fe2d4138ea4dd00ed78e6e75f785bc093573c5bc55cb4ca5e693c688c81519",
    "e432ee448df7f89e8523263268bcc6176edf3e3878562837ff63d09abd565839",
    "e83310ce94cc484f77db5b3f2d622d13ca708816471bdd95887a8b07fd65b559",
    "f5ddbae4d97661cfcf91533094d8e445681b26bf976dc281c8bf51c990a37259",
    "f5f30a6818b7678843abf9772fd52ad37310aa81b9dd148199c97bee27e63e36",
})


def install_instance_yaml(target: Path) -> None:
    """Write deploy/dagster.yaml to target, atomically, when target is absent, a torn copy of it (empty or
    a cut prefix: a copy stopped by a full disk) or a version of it shipped before (SHIPPED_YAMLS); any
    other file is the operator's (Postgres) and is kept."""
    from python_assets.lake.atomic import write_bytes_atomic

    if not INSTANCE_YAML.exists():
        return
    template = INSTANCE_YAML.read_bytes()
    try:
        current = target.read_bytes()
    except FileNotFoundError:
        current = b""
    if current != template and (template.startswith(current) or hashlib.sha256(current).hexdigest() in SHIPPED_YAMLS):
        write_bytes_atomic(template, target)


def extend_partitions_to(first: date) -> None:
    """Before the Definitions first load in this process: let the partitions start at `first` when it
    precedes the lake's first day (a run that ingests earlier days), unless BLOFIN_PARTITIONS_START is set."""
    from python_assets.config import partitions_start, partitions_start_is_set, set_partitions_start

    if "dagster_defs.definitions" not in sys.modules and not partitions_start_is_set():
        if first.isoformat() < partitions_start():
            set_partitions_start(first.isoformat())


def recover_dead_cli_runs(instance: dg.DagsterInstance, data_dir: Path,
                          reason: str = "its process died before the run ended (found by the next CLI run)",
                          known: dict[str, str] | None = None) -> list[str]:
    """Mark the data dir's CLI runs still 'started' as failed and free the pool slots they hold. Call it
    only under the data dir's run lock: then no other CLI run of it is alive, so such a run was killed
    (crash, OOM, SIGKILL) and its claimed 'warehouse' slot would otherwise block every later run; or it is
    this process's own run, stopped by an error Dagster could not record (a full disk). Another data
    dir's runs in a shared instance are left alone: its lock is not held here. known: the reason of a run
    whose end its own process noted (run id -> why it stopped), instead of `reason`."""
    live = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]
    dead = _cli_runs(instance, data_dir, live)
    for run in dead:
        instance.report_run_failed(run, (known or {}).get(run.run_id, reason))
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]


RUN_PROCESS_EVENT = "Started process for run"  # the run worker's first event (the default run launcher's)


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, when) of the run's worker process, from the engine event the default run launcher's worker
    writes first ('Started process for run (pid: N)'); None for a run without one (made in-process)."""
    found = None
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.event_specific_data if event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None and (event.message or "").startswith(RUN_PROCESS_EVENT):
            try:
                found = int(pid.value), record.timestamp
            except (TypeError, ValueError):
                continue
    return found


def recover_dead_launched_runs(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """Mark failed the runs the default run launcher started ('starting' or 'started', not the CLI's own)
    whose worker process is gone: `dagster dev` or the host died mid-run, and nothing else ever ends such a
    run (the launcher has no worker health check): it would hold the one run slot and queue every later
    run behind it. Their pool slots are freed; run_failure_sensor alerts them. The worker runs on the host
    of the code server that evaluates this (the default launcher starts it there); with another launcher
    (Docker, Kubernetes) nothing is done. Returns (run id, reason) for each run failed."""
    from dagster._core.launcher import DefaultRunLauncher

    from python_assets.platform.processes import process_gone

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []
    live = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=live)):
        if made_by_cli(run):
            continue  # the CLI's next run recovers it under the data dir's lock
        worker = run_worker_pid(instance, run.run_id)
        if worker is None or not process_gone(*worker):
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status not in live:
            continue  # it ended while we looked
        reason = (f"its run worker (pid {worker[0]}) is gone without ending the run: `dagster dev` or the host "
                  "stopped mid-run (found by dead_run_sensor)")
        instance.report_run_failed(current, reason)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append((run.run_id, reason))
    return failed


def runs_since(instance: dg.DagsterInstance, run_id: str, day: date) -> list[str]:
    """The other runs active after run_id started (updated since: created after it, or created before it but
    queued, running or ending after it) that may have changed `day`'s results, each said as run_label: runs of a
    window starting on or before day, and runs of no partition (manual asset runs); a CLI backtest's, on the
    latest partition, too. A run_id this instance does not know counts as one (its history is gone: nothing can
    be vouched for)."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return [f"its last run {run_id} (no longer in the Dagster instance)"]
    later = instance.get_run_records(filters=dg.RunsFilter(updated_after=record.create_timestamp))
    out = []
    for r in later:
        tags = r.dagster_run.tags
        start = tags.get("dagster/partition") or tags.get(RANGE_START_TAG)
        if r.dagster_run.run_id != run_id and (start is None or start <= day.isoformat()):
            out.append(run_label(r.dagster_run))
    return out


def run_label(run: dg.DagsterRun) -> str:
    """'run 1a2b3c4d (`blofin-stack backtest`)' or 'run 1a2b3c4d (daily_job, 2026-01-02)': which run, and what."""
    tags = run.tags
    days = tags.get("dagster/partition") or "..".join(filter(None, (tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG))))
    what = f"`blofin-stack {tags['blofin/command']}`" if tags.get("blofin/command") else \
        ", ".join(filter(None, (run.job_name, days)))
    return f"run {run.run_id[:8]} ({what})"


def live_cli_step_failures(instance: dg.DagsterInstance, data_dir: Path) -> list[dg.DagsterEvent]:
    """Step-failure events of the data dir's CLI runs still 'started' (under its lock: this process's own run)."""
    live = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    runs = _cli_runs(instance, data_dir, live)
    return [record.dagster_event for run in runs
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]


def materialize_days(
    first: date, last: date, instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
    extra_tags: dict[str, str] | None = None, run_config: dict | None = None, run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset (lake -> dbt -> report) for first..last: the named daily_job of the
    Definitions with the in-process executor (so the UI lists the run under that job and in its
    timeline); run_config sets asset configs (e.g. fast ML settings in tests); run_id: the run's id (a
    new one when None), known to the caller even when Dagster itself fails mid-run."""
    extend_partitions_to(first)
    from dagster_defs.definitions import defs

    key, tags = partition_tags(first, last)
    job = defs.resolve_job_def(DAILY_JOB)
    instance = instance or dg.DagsterInstance.ephemeral()
    run_id = run_id or str(uuid.uuid4())
    with step_progress(instance, run_id, len(job.graph.nodes)):
        return job.execute_in_process(
            partition_key=key,
            # in this process: no daemon limit (a long backfill is not a dead run; the CLI's recovery finds those)
            tags={MAX_RUNTIME_TAG: "0", **tags, **(extra_tags or {})},
            instance=instance,
            raise_on_error=raise_on_error,
            run_config=run_config,
            run_id=run_id,
        )


def materialize_new_backtests(instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Compute strategy_backtest_results for ledger backtests that have no metrics yet (what `blofin-stack
    backtest` just stored) through the ledger models of the results dbt asset (and only those), so that
    table keeps one writer. Recorded against the latest daily partition (a partitioned asset needs one) with
    new_backtests_only set: the empty window leaves every day's rows as the daily runs wrote them."""
    from dagster_dbt import build_dbt_asset_selection

    from dagster_defs.definitions import defs
    from dagster_defs.dbt.assets import LEDGER_SELECT, results_dbt_assets
    from dagster_defs.partitions import daily_partitions

    ledger = build_dbt_asset_selection([results_dbt_assets], dbt_select=LEDGER_SELECT)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=sorted(ledger.resolve(defs.resolve_asset_graph())),
        partition_key=daily_partitions.get_last_partition_key(),
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags={**cli_run_tags(paths().data_dir), "blofin/command": "backtest"},
        run_config={"ops": {results_dbt_assets.op.name: {"config": {"new_backtests_only": True}}}},
    )


def _step_rows(events: list[dg.EventLogEntry], step_key: str) -> int | None:
    """Rows the step's materializations report (dagster/row_count or rows), summed; None when none do."""
    counts = []
    for record in events:
        ev = record.dagster_event
        if ev and ev.is_step_materialization and ev.step_key == step_key:
            meta = ev.event_specific_data.materialization.metadata
            value = meta.get("dagster/row_count", meta.get("rows"))
            if value is not None and isinstance(getattr(value, "value", None), int):
                counts.append(value.value)
    return sum(counts) if counts else None


def failed_checks(events: list[dg.DagsterEvent]) -> list[dg.DagsterEvent]:
    """The asset check evaluations among events that did not pass (a non-blocking check's step still succeeds)."""
    return [e for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
            and not e.event_specific_data.passed]


def check_status(evaluations: list[dg.DagsterEvent]) -> str:
    """A step's status word from its check evaluations that did not pass: ERROR when one has that severity, else WARN."""
    severities = {e.event_specific_data.severity for e in evaluations}
    return "ERROR" if dg.AssetCheckSeverity.ERROR in severities else "WARN"


def checks_summary(events: list[dg.DagsterEvent]) -> str | None:
    """'1 of 4 asset checks did not pass: bars_1m_is_fresh on bars_1m (WARN)', or None when every one passed."""
    evaluated = [e for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failed = failed_checks(evaluated)
    if not failed:
        return None
    named = ", ".join(f"{e.event_specific_data.check_name} on {e.event_specific_data.asset_key.to_user_string()} "
                      f"({e.event_specific_data.severity.value})" for e in failed)
    return f"{len(failed)} of {len(evaluated)} asset checks did not pass: {named}"


@contextlib.contextmanager
def step_progress(instance: dg.DagsterInstance, run_id: str, total: int, poll_s: float = 0.5) -> Iterator[None]:
    """Print one line per finished step of the run (`N of M OK step rows [s] ETA`) while it executes,
    from the run's event log, polled in a thread; a step whose asset check did not pass (a non-blocking
    check's step succeeds) is `WARN` or `ERROR` (the check's severity) `... did not pass`, not OK."""
    from python_assets.platform.progress import eta_seconds, say, step_line

    done: list[str] = []
    stop, t0 = threading.Event(), time.perf_counter()
    kinds = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.ASSET_MATERIALIZATION,
             dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    # Only the records since the last poll are read: reading all of the run's each 0.5 s deserialized every
    # materialization again and again (~1 s of a test day's run, on the thread beside the run's own).
    by_step: dict[str | None, list[dg.EventLogEntry]] = {}
    cursor: list[str | None] = [None]

    def poll() -> None:
        page = instance.get_records_for_run(run_id, cursor=cursor[0], of_type=kinds)
        cursor[0] = page.cursor
        finished = []
        for entry in (record.event_log_entry for record in page.records):
            ev = entry.dagster_event
            if ev is None:
                continue
            by_step.setdefault(ev.step_key, []).append(entry)
            if ev.event_type == dg.DagsterEventType.STEP_SUCCESS and ev.step_key not in done:
                done.append(ev.step_key)
                finished.append(ev)
        for ev in finished:  # after the page: a step's materializations and checks come before its success
            entries, number = by_step[ev.step_key], done.index(ev.step_key) + 1
            failed = failed_checks([e.dagster_event for e in entries])
            say(step_line(number, total, ev.step_key, ev.event_specific_data.duration_ms / 1000,
                          _step_rows(entries, ev.step_key), eta_seconds(number, total, time.perf_counter() - t0),
                          status=check_status(failed) if failed else "OK", note="did not pass" if failed else None))

    def loop() -> None:
        while not stop.wait(poll_s):
            poll()

    thread = threading.Thread(target=loop, name="step-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        poll()


def last_reported_day(paths: Paths) -> date | None:
    """Newest day in daily_reports, or None before the first run."""
    if not paths.warehouse.exists():
        return None
    with connect_warehouse(paths.warehouse, read_only=True) as con:
        if not table_exists(con, "daily_reports"):
            return None
        return con.execute("select max(report_date) from daily_reports").fetchall()[0][0]


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (and its children's: dbt) to a file, at the fd level. The terminal
    gets its fds back even when the file cannot take what is still buffered (a full disk): that is dropped."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        set_console_fd(saved[0])  # progress lines still reach the terminal
        try:
            yield
        finally:
            set_console_fd(None)
            _flush_or_drop()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _flush_or_drop() -> None:
    """Flush sys.stdout/stderr into fds 1 and 2; what the log file cannot take (a full disk) goes to
    /dev/null instead, so it neither raises here nor reaches the terminal later."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        with contextlib.suppress(OSError):
            sys.stderr.flush()
    finally:
        os.close(devnull)
