"""Sensors: new files in data/inbox/ -> ingest + runs for their days; a day the live recorder finished ->
that day's run; an alert for every failed run; a run whose worker died -> failed; the live trade recorder in
bounded sessions (off by default)."""

import hashlib
import json

import dagster as dg

from dagster_defs.partitions import daily_partitions_def
from dagster_defs.runner import made_by_cli, recover_dead_launched_runs
from dagster_defs.step_slots import free_dead_step_slots
from python_assets.platform.alerts import build_alert, raise_alert
from python_assets.config import Paths, market_source_kind, partitions_start, partitions_start_is_set, paths
from python_assets.ingest.inbox import inbox_dir, pending_files, process_inbox, settled_files
from python_assets.ingest.inbox_runs import InboxBusy, RunRecord, drop_records, inbox_lock, read_records
from python_assets.platform.logs import log_event
from python_assets.platform.secrets import scrub
from python_assets.exchange.recorder_days import recorder_days


INBOX_TICK_BUDGET_S = 30.0  # take no new file after this: a tick must end within Dagster's 60 s
INBOX_TICK_MAX_FILES = 200  # nor more files than this; the rest wait for the next tick
INBOX_SOURCE_HINT = ("BLOFIN_SOURCE is synthetic (the default), which refuses a lake holding real data: the runs these "
                     "inbox files request (and the schedule's) fail until Dagster runs with BLOFIN_SOURCE=lake")


def _inbox_cursor(raw: str | None) -> tuple[dict[str, list[int]], list[str]]:
    """(the files' [size, mtime_ns] the previous tick saw, the run records it requested); empty for none or a
    cursor it cannot read."""
    try:
        state = json.loads(raw or "{}")
        seen, requested = state.get("seen", {}), state.get("requested", [])
    except (ValueError, AttributeError):
        return {}, []
    return (seen if isinstance(seen, dict) else {}), (requested if isinstance(requested, list) else [])


def _before_first(day: str, first: str) -> str:
    """Why a day before the loaded first partition has no run yet, and what gets it one (true to the setting)."""
    start, pinned = partitions_start(), partitions_start_is_set()
    where = f"{day} is before the first daily partition {first}: its rows are in the lake, "
    if start <= day and not pinned:
        return where + ("and its run is requested once the code location reloads (its partitions start at the "
                        "lake's first day as read when it loaded; UI: Deployment > Reload, or restart Dagster)")
    cause = f"BLOFIN_PARTITIONS_START={start}" if pinned else f"the lake's first day, {start}"
    return where + (f"and its run waits until the partitions start on or before it ({cause}): set "
                    f"BLOFIN_PARTITIONS_START={day} or earlier and restart Dagster")


def _inbox_requests(context: dg.SensorEvaluationContext, records: list[RunRecord],
                    new_days: set[str]) -> tuple[list[dg.RunRequest], list[str], list[str]]:
    """(one run request per complete day the records name, the records those requests cover, the days that
    wait for the partitions to reach back to them). A record of a day not over yet is dropped: the schedule
    runs it. Run key: the day and a hash of its records' names, the same at every tick that requests them."""
    partitions = daily_partitions_def()
    valid_keys = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    first = partitions.start.date().isoformat()
    by_day: dict[str, list[RunRecord]] = {}
    waiting: list[str] = []
    for r in records:
        if r.day in valid_keys:
            by_day.setdefault(r.day, []).append(r)
        elif r.day < first:
            if r.day not in waiting:
                waiting.append(r.day)
                log = context.log.warning if r.day in new_days else context.log.info
                log(f"{r.file}: {_before_first(r.day, first)}")
        else:
            context.log.info(f"{r.file}: {r.day} is not a complete daily partition yet; it runs with its schedule")
            drop_records(paths(), [r.name])
    requests, covered = [], []
    for day, day_records in sorted(by_day.items()):
        names = sorted(r.name for r in day_records)
        digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
        files = ", ".join(sorted({r.file for r in day_records}))
        context.log.info(f"{day}: one run for {len(day_records)} inbox file(s): {files}")
        requests.append(dg.RunRequest(run_key=f"inbox:{day}:{digest}", partition_key=day,
                                      tags={"blofin/trigger": "inbox"}))
        covered += names
    return requests, covered, waiting


@dg.sensor(job_name="daily_job", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext):
    """Ingests files dropped into data/inbox/<SYMBOL>/ once they have settled (the same size and mtime as
    the previous tick saw, kept in the cursor: a file still being copied waits) and requests one run per
    day they touched, whatever the number of files. A tick takes files for at most INBOX_TICK_BUDGET_S
    seconds (and INBOX_TICK_MAX_FILES files); the rest wait for the next tick. Each ingested file's days are
    recorded (python_assets/ingest/inbox_runs.py) before it is filed, and a record is dropped only after a
    tick that requested its day succeeded: an evaluation Dagster timed out or killed after the ingest still
    leads to the runs, at a later tick. A day before the loaded first partition keeps its record until the
    partitions reach it (a reload)."""
    p = paths()
    seen, requested = _inbox_cursor(context.cursor)
    try:
        with inbox_lock(p):
            drop_records(p, requested)  # the tick that requested them succeeded: its cursor is this one
            return _inbox_tick(context, p, seen)
    except InboxBusy as exc:
        return dg.SkipReason(f"{exc}; the runs of the files it ingests are requested at a later tick")


def _inbox_tick(context: dg.SensorEvaluationContext, p: Paths, seen_before: dict[str, list[int]]):
    """One inbox tick under the inbox lock: take the settled files, then request the days of every record."""
    pending = pending_files(p)
    ready, seen = settled_files(pending, seen_before)
    outcomes: list = []
    try:
        process_inbox(p, outcomes, files=ready, budget_s=INBOX_TICK_BUDGET_S, max_files=INBOX_TICK_MAX_FILES,
                      record_runs=True)
    except Exception as exc:  # noqa: BLE001 - logged; the unfiled files are retried next tick
        context.log.error(f"inbox stopped after {len(outcomes)} file(s): {scrub(str(exc))}; the rest wait for the next tick")
        log_event("inbox_interrupted", filed=len(outcomes), error=scrub(str(exc)))
    for o in outcomes:
        log_event("inbox_file", file=o.file, symbol=o.symbol, error=o.error,
                  added=o.result.rows_added if o.result else 0, quarantined=o.result.quarantined if o.result else 0)
        if o.error:
            context.log.warning(f"inbox file {o.file} ({o.symbol}) rejected: {o.error}")
    if market_source_kind() == "synthetic" and any(not o.error for o in outcomes):  # its runs refuse real data
        context.log.warning(INBOX_SOURCE_HINT)
    new_days = {d for o in outcomes if o.result for d in o.result.partitions}
    requests, covered, waiting_days = _inbox_requests(context, read_records(p), new_days)
    root = inbox_dir(p)
    context.update_cursor(json.dumps({"seen": {k: v for k, v in seen.items() if (root / k).exists()},
                                      "requested": covered}))
    waiting = len(pending) - len(outcomes)
    if waiting:
        context.log.info(f"{waiting} inbox file(s) wait for the next tick (settling, or past this tick's budget)")
    if requests:
        return requests
    if waiting_days:
        return dg.SkipReason(f"inbox rows of {', '.join(waiting_days)} wait for the daily partitions to reach "
                             "back to them (see the tick's log)")
    if not outcomes:
        return dg.SkipReason(f"{waiting} inbox file(s) settling or waiting for the next tick" if waiting
                             else "inbox is empty")
    return dg.SkipReason("inbox files added no rows to complete days")


@dg.sensor(job_name="daily_job", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def recorder_day_sensor(context: dg.SensorEvaluationContext):
    """Requests the daily run for a UTC day once `lake/recorder_days/date=D/complete.parquet` marks complete
    every symbol and dataset the recorder recorded on D; run key per day and revision, so each day runs once, and
    again when the recorder merged late rows into it after marking it. On by default: only the
    `blofin-stack record` process writes those files, so without it the sensor only skips."""
    days = recorder_days(paths())
    if not days:
        return dg.SkipReason("no recorder day is complete yet")
    valid_keys = set(daily_partitions_def().get_partition_keys())  # time-window partitions: no instance needed
    requests = []
    for d in days:
        if d.error:
            context.log.warning(d.error)
        elif not d.ready:
            context.log.info(f"recorder day {d.day} waits for {', '.join(sorted(d.missing)) or 'its symbols'}")
        elif d.day not in valid_keys:
            context.log.info(f"recorder day {d.day} is not a daily partition (before the start or not over yet)")
        else:
            key = f"recorder_day:{d.day}" + (f":r{d.revision}" if d.revision else "")  # late rows: run again
            requests.append(dg.RunRequest(run_key=key, partition_key=d.day,
                                          tags={"blofin/trigger": "recorder_day"}))
    return requests or dg.SkipReason("no complete recorder day to run")


RECORDER_SESSION_S = 40.0  # a sensor evaluation must finish within Dagster's 60 s limit


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def trade_recorder_sensor(context: dg.SensorEvaluationContext):
    """Records BloFin trades for BLOFIN_SYMBOLS in 40 s sessions (turn on in the UI). Between sessions
    the exchange's 100-trade window must cover the pause, so for busy symbols run the standalone
    `blofin-stack record-trades` process instead; gaps are logged either way."""
    from dagster_defs.resources import market_source_from_env
    from python_assets.exchange.client import ExchangeConfig, make_exchange
    from python_assets.exchange.recorder import TradeRecorder, run_recorders
    from python_assets.ingest.importers import recording_refusals

    cfg = ExchangeConfig.from_env()
    ex = make_exchange(cfg)
    recorders = [TradeRecorder(ex, paths(), s, cfg, log=log_event) for s in market_source_from_env().symbol_list()]
    refused = recording_refusals(paths(), [r.symbol for r in recorders])
    recorders = [r for r in recorders if r.symbol not in refused]
    if not recorders:
        return dg.SkipReason("recorded nothing: " + "; ".join(refused.values()))
    run_recorders(recorders, poll_s=2.0, flush_s=10.0, duration_s=RECORDER_SESSION_S)
    summary = ", ".join(f"{r.symbol}: {r.stats.new} new, {len(r.stats.gaps)} gaps" for r in recorders)
    return dg.SkipReason(f"recorded trades ({summary}); the daily run merges them into the lake"
                         + "".join(f"; not recorded: {line}" for line in refused.values()))


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_sensor(context: dg.SensorEvaluationContext):
    """Fails the runs whose worker process is gone (`dagster dev` or the host died mid-run: the default run
    launcher has no health check, so such a run stayed 'started', held the one run slot and queued every
    later run forever), and frees the pool slot of a step whose process died without recording its end (the
    run waited forever for it: dagster_defs/step_slots.py), so that run goes on and fails; run_failure_sensor
    alerts each. Its first tick comes right after the daemon starts."""
    failed = recover_dead_launched_runs(context.instance)
    for run_id, reason in failed:
        context.log.warning(f"run {run_id} marked failed: {reason}")
        log_event("dead_run_failed", run_id=run_id, reason=reason)
    freed = free_dead_step_slots(context.instance)
    for run_id, step_key, reason in freed:
        context.log.warning(f"run {run_id}: step {step_key}'s pool slot freed: {reason}")
        log_event("dead_step_slot_freed", run_id=run_id, step_key=step_key, reason=reason)
    if not failed and not freed:
        return dg.SkipReason("no dead run")
    return dg.SkipReason(f"marked {len(failed)} dead run(s) failed, freed {len(freed)} dead step(s)' pool slots")


FRESHNESS_CHECK = dg.AssetCheckKey(dg.AssetKey("bars_1m"), "bars_1m_is_fresh")
FRESHNESS_ALERTS_PER_TICK = 5  # each alert's POST takes up to 8 s; a tick must end within 60 s
SENT_KEPT = 50


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def freshness_alert_sensor(context: dg.SensorEvaluationContext):
    """One alert (alerts.log and the webhook, as run_failure_sensor's) per failed bars_1m_is_fresh evaluation:
    the check only warns, fails no run, so no run alert says a symbol's data stopped. The same days and
    finding alerted once (a rerun of the day finding it again stays quiet). Evaluations from before the
    sensor's first tick are left to the UI; the daemon must run for any of this (a CLI run without one is
    not watched)."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    try:
        state = json.loads(context.cursor) if context.cursor else {}
        last, sent = int(state["id"]), list(state.get("sent", []))
    except (ValueError, KeyError, TypeError):
        last, sent = None, []
    records = sorted(context.instance.event_log_storage.get_asset_check_execution_history(FRESHNESS_CHECK, limit=200),
                     key=lambda r: r.id)
    if last is None:
        context.update_cursor(json.dumps({"id": max((r.id for r in records), default=0), "sent": []}))
        return dg.SkipReason("freshness alerts start now; earlier evaluations are in the UI")
    alerted = 0
    for record in (r for r in records if r.id > last):
        if record.status == Status.PLANNED:
            run = context.instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                break  # still running: look again next tick
        elif record.status == Status.FAILED:
            if alerted == FRESHNESS_ALERTS_PER_TICK:
                break
            evaluation = record.event.asset_check_evaluation if record.event else None
            message = (evaluation.description if evaluation else None) or "a symbol's bars end early"
            days = evaluation.metadata.get("days") if evaluation else None
            days = days.value if days is not None else [record.partition]
            key = hashlib.sha256(json.dumps([days, message]).encode()).hexdigest()[:16]
            if key not in sent:
                run = context.instance.get_run_by_id(record.run_id)
                alert = build_alert("freshness", f"bars_1m_is_fresh failed: {message}", check="bars_1m_is_fresh",
                                    run_id=record.run_id, job=run.job_name if run else None,
                                    partition=record.partition, days=days)
                delivery = raise_alert(paths(), alert)
                if delivery is not None and not delivery.delivered:
                    context.log.warning("freshness alert written to alerts.log; the webhook POST failed: "
                                        f"{delivery.error}")
                sent = (sent + [key])[-SENT_KEPT:]
                alerted += 1
        last = record.id
    context.update_cursor(json.dumps({"id": last, "sent": sent}))
    return dg.SkipReason(f"{alerted} freshness alert(s) written" if alerted else "no new failed freshness check")


ERROR_LINE_CHARS = 300


def step_error_line(event: dg.DagsterEvent) -> str:
    """A failed step's error as a person first needs it: the raised exception's first line ("RuntimeError:
    disk full"), not Dagster's wrapper ("Error occurred while executing op ...")."""
    error = event.step_failure_data.error
    if error is None:
        return "no error recorded"
    if error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    lines = [line.strip() for line in scrub(error.message).splitlines() if line.strip()]  # before the cut below
    return (lines[0] if lines else error.cls_name or "error")[:ERROR_LINE_CHARS]


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False)
def run_failure_sensor(context: dg.RunFailureSensorContext) -> None:
    """Writes one alert per failed run: job, run id, partition, the failure message and each failed step
    with its error's first line; the webhook POST is bounded (platform/alerts.py) and never fails the tick.
    A run the CLI made in its own process is left to the CLI, which alerts for it with or without a daemon
    (blofin_cli/alerting.py): one alert per run."""
    run = context.dagster_run
    if made_by_cli(run):
        context.log.info(f"run {run.run_id} was made by the CLI, which writes its alert")
        return
    alert = build_alert(
        "run_failure",
        context.failure_event.message or "run failed",
        job=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get("dagster/partition"),
        failed_steps={e.step_key: step_error_line(e) for e in context.get_step_failure_events()},
    )
    delivery = raise_alert(paths(), alert)
    if delivery is None:
        context.log.info("alert written to alerts.log (no webhook set)")
    elif delivery.delivered:
        context.log.info("alert written to alerts.log and posted to the webhook")
    else:
        context.log.warning(f"alert written to alerts.log; the webhook POST failed after {delivery.attempts} "
                            f"attempt(s): {delivery.error}")


defs = dg.Definitions(sensors=[inbox_sensor, recorder_day_sensor, run_failure_sensor, trade_recorder_sensor,
                               dead_run_sensor, freshness_alert_sensor])
