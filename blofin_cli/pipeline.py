"""`blofin-stack` pipeline commands: materialize and backfill (report: blofin_cli/report.py). The Dagster graph runs
through dagster_defs.runner, under the data directory's writer lock."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from blofin_cli import alerting
from blofin_cli.common import as_writer, parse_date
from blofin_cli.errors import EXIT_BAD_INPUT, window_problem
from python_assets.config import Paths, export_data_dir, partition_days, warm_dbt_for_runs


def load_run_config(path: Path | None) -> dict | None:
    """A Dagster run config file (YAML or JSON, the format of `dagster asset materialize --config`), or
    ValueError with one line naming the file and what is wrong."""
    import yaml

    if path is None:
        return None
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"--config {path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"--config {path}: not a mapping of run config (ops: ...)")
    return config


def run_window(first: date, last: date, verbose: bool = False, config_file: Path | None = None,
               force: bool = False) -> int:
    """Materialize first..last under the writer lock (a second writer is refused, exit 3); a window whose
    inputs are unchanged since its last run is said so and not rerun, unless force."""
    from dagster_defs.instance_env import check_instance_env
    from python_assets.config import market_seed, market_source_kind, market_symbols

    problem = window_problem(first, last, partition_days())
    # the market settings the Definitions read at load: a bad one is refused here, one line and exit 2, before
    # Dagster loads and a run starts (raised inside the run, it ended as a failed run, exit 1)
    market_seed()
    market_symbols()
    market_source_kind()
    try:
        run_config = load_run_config(config_file)
    except ValueError as exc:
        problem, run_config = problem or str(exc), None
    problem = problem or synthetic_source_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    paths = export_data_dir()
    check_instance_env(paths)  # a Postgres instance without its DAGSTER_PG_*: one line, exit 2, no run
    return as_writer(paths, f"blofin-stack materialize {first}..{last}",
                     lambda: _locked_run(paths, first, last, verbose, run_config, force))


def synthetic_source_problem() -> str | None:
    """Why the run would mix synthetic and real data, said before it instead of as its failed lake step: a symbol
    holds real data (BLOFIN_SOURCE=synthetic, the default), or, whatever the source, the lake holds both."""
    from python_assets.config import market_source_kind, paths
    from python_assets.ingest.market import mixed_lake_refusal, synthetic_source_refusal

    return (synthetic_source_refusal if market_source_kind() == "synthetic" else mixed_lake_refusal)(paths())


def unchanged_window(paths: Paths, first: date, last: date, run_config: dict | None) -> tuple[dict[date, str], str | None]:
    """(each day's input fingerprint, a line saying why first..last needs no run, or None): every day's
    lake files, code, settings and run config equal what its last successful run read, its report is on
    disk, no run since touched it or an earlier day, and no earlier day's lake files changed since that day
    was built (python_assets/warehouse/run_inputs.py)."""
    from python_assets.config import llm_base_url, market_source_kind, result_settings
    from python_assets.platform.version import code_fingerprint
    from python_assets.warehouse import run_inputs

    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    entries = run_inputs.lake_entries(paths)
    current = run_inputs.day_fingerprints(entries, days, code_fingerprint(), result_settings(), run_config)
    if market_source_kind() == "blofin" or llm_base_url():
        return current, None  # answers of outside services (the exchange, the analyst) are no fingerprintable input
    if not run_inputs.report_files_exist(paths, days) or not run_inputs.model_versions_exist(paths, last):
        return current, None
    same = run_inputs.unchanged_days(current, run_inputs.stored_fingerprints(paths, days))
    if len(same) < len(days):
        return current, None
    from dagster_defs.runner import persistent_instance, runs_since

    instance = persistent_instance(paths)
    if touched := sorted({r for day, run_id in same.items() for r in runs_since(instance, run_id, day)}):
        print(f"note: {first}..{last} runs again although its inputs are unchanged: {', '.join(touched)} ran since "
              "its last run and may have changed its results")
        return current, None
    if run_inputs.earlier_days_changed(paths, entries, first):  # built on their old rows (the run says which)
        return current, None
    runs = ", ".join(sorted(set(same.values())))
    return current, (f"{first}..{last} is unchanged since run {runs}: the same lake files, code, settings and run "
                     "config, and no run since touched these days or earlier ones; nothing to do (--force reruns it)")


def _lake_listing(paths: Paths) -> list | None:
    """The lake's files before a run (None when they cannot be listed: then nothing is re-fingerprinted)."""
    from python_assets.warehouse import run_inputs

    try:
        return run_inputs.lake_entries(paths)
    except OSError:
        return None


def _as_left(paths: Paths, fingerprints: dict, before: list | None, first: date, last: date,
             run_config: dict | None, history: frozenset[date] = frozenset(), step_digest: str | None = None,
             ) -> tuple[dict, dict]:
    """The fingerprints to record for a successful run: those of the lake as the run left it when only its
    own lake step changed files meanwhile (its window's, as step_digest says it left them), so the next request
    of the same window finds it unchanged; else those taken before it (another writer's file may be unread:
    ingest, import, the inbox sensor and the recorder take no run lock). With them, each day's own lake files
    as the run read them (run_inputs.window_as_read), or as before it without a listing after it; none without
    either. The days outside the window that its first build built (history) get their own lake files as
    before the run: no step of it wrote them."""
    from python_assets.config import result_settings
    from python_assets.platform.version import code_fingerprint
    from python_assets.warehouse import run_inputs

    after = _lake_listing(paths)
    listing = after if before is None else before if after is None else \
        run_inputs.window_as_read(before, after, step_digest, first, last)
    lake_days = run_inputs.own_day_fingerprints(listing, fingerprints) if listing is not None else {}
    outside = history - set(fingerprints)
    if outside and before is not None:
        lake_days = {**run_inputs.own_day_fingerprints(before, outside), **lake_days}
    if (not fingerprints or before is None or after is None or listing is before
            or run_inputs.changed_outside(before, after, first, last)):
        return fingerprints, lake_days
    recorded = run_inputs.day_fingerprints(after, fingerprints, code_fingerprint(), result_settings(), run_config)
    return recorded, lake_days


def _days_recorded(paths: Paths) -> set[date]:
    """The days whose own lake files a successful run recorded as built (run_inputs.lake_day_fingerprint)
    before this run: a day the warehouse holds after it without one was built by it (a first build's days
    beyond the window too, also after a killed first build, which recorded nothing)."""
    from python_assets.warehouse import run_inputs

    return set(run_inputs.built_lake_days(paths, date.max))


def _say_changed_earlier_days(paths: Paths, listing: list | None, first: date, last: date) -> None:
    """A note naming the days before first whose lake files changed since they were built (a re-import of
    an earlier day): the run continues from their old warehouse rows (nothing said without a listing)."""
    from python_assets.reports.staleness import lake_changed_note
    from python_assets.warehouse import run_inputs

    if listing is None:
        return
    note = lake_changed_note(run_inputs.earlier_days_changed(paths, listing, first), first, last)
    if note:
        print(f"note: {note}", flush=True)


def run_pointer(elapsed: float, run_log: Path, verbose: bool) -> str:
    """'after N s' and where the run's Dagster and dbt output is: run_log, or above (--verbose logs only a stop note)."""
    return f"after {elapsed:.1f} s; " + ("Dagster and dbt output above" if verbose else f"full log: {run_log}")


def _locked_run(paths: Paths, first: date, last: date, verbose: bool, run_config: dict | None = None,
                force: bool = False) -> int:
    """One in-process Dagster run of first..last (the lock held): a summary, or one line per failed step."""
    import uuid

    from blofin_cli.errors import EXIT_INTERRUPTED, failed_step_lines, interrupted, stopped_run_lines
    from blofin_cli.run_log import append_lines, print_traceback, stop_notes
    from dagster_defs.dbt import warm_dbt
    from dagster_defs.runner import (checks_summary, cli_run_tags, materialize_days, output_to, persistent_instance,
                                     recover_dead_cli_runs)
    from python_assets.platform.tree_memory import sample, tree_peak_memory
    from python_assets.reports.daily_report import report_path

    if run_config is not None:  # checked under the lock (a second writer is still refused at once), before any write
        from dagster_defs.run_config import run_config_problem

        problem = run_config_problem(run_config)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        fingerprints, unchanged = unchanged_window(paths, first, last, run_config)
    except Exception as exc:  # noqa: BLE001 - the shortcut only: when in doubt, run (and record nothing)
        fingerprints, unchanged = {}, None
        print(f"note: could not compare the inputs of {first}..{last} with their last run ({exc}): running it")
    if unchanged and not force:
        print(unchanged)
        print(f"report: {report_path(paths, last)}\nhtml:   {report_path(paths, last).with_suffix('.html')}")
        return 0
    before, built_before = _lake_listing(paths), _days_recorded(paths)
    _say_changed_earlier_days(paths, before, first, last)
    run_log = paths.data_dir / "last_run.log"
    stopped_before = stop_notes(run_log)  # runs that Dagster could not end, and why
    run_log.unlink(missing_ok=True)
    print(f"materializing {first}..{last} (Dagster and dbt output: {'below' if verbose else run_log}) ...", flush=True)
    t0 = time.perf_counter()
    instance, dead_lines, result, stopped, run_id = None, [], None, None, str(uuid.uuid4())
    # the whole tree: this process and the dbt / model-training children beside it (not the largest alone)
    serving = warm_dbt.serving() if warm_dbt_for_runs() else contextlib.nullcontext()  # BLOFIN_WARM_DBT=1
    with tree_peak_memory() as mem, contextlib.nullcontext() if verbose else output_to(run_log), serving:
        try:
            instance = persistent_instance(paths)
            recovered = recover_dead_cli_runs(instance, paths.data_dir,
                                              known={r: f"the run stopped: {c}" for r, c in stopped_before.items()})
            # now, not after this run: marked failed, a dead run is never found again, so a kill of this run
            # would lose its alert (three runs killed in a row left one alert, for the last)
            dead_lines = _alert_dead_runs(paths, instance, recovered, stopped_before)
            result = materialize_days(first, last, instance=instance, raise_on_error=False,
                                      extra_tags=cli_run_tags(paths.data_dir), run_config=run_config, run_id=run_id)
        except Exception as exc:  # Dagster itself failed (e.g. its storage on a full disk): the run did not end
            print_traceback(exc)  # into the run log, if it can take it
            stopped = exc
    for line, to_stderr in dead_lines:
        print(line, file=sys.stderr if to_stderr else sys.stdout, flush=True)
    checks = checks_summary(result.all_events) if result is not None else None
    if checks:  # a non-blocking check that did not pass fails no step: said here, not only in the run log
        print(f"note: {checks}", flush=True)
    elapsed = time.perf_counter() - t0
    where = run_pointer(elapsed, run_log, verbose)
    if stopped is not None or not result.success:
        span, ending = f"{first}..{last}", f"materialization of {first}..{last} failed {where}"
        failures = [e for e in result.all_events if e.is_step_failure] if stopped is None else []
        recorded = run_id if instance is not None else None  # no instance, no run: the alert names none
        stop = interrupted(failures)  # Ctrl-C or a timeout's SIGTERM: one line, exit 130, run_interrupted alert
        if stopped is not None:  # the step failures Dagster recorded before it stopped, for the alert too
            failures, lines = stopped_run_lines(instance, stopped, span, where, run_id, run_log)
        elif stop:  # alerted unless a person at a terminal pressed Ctrl-C (alerting.interactive)
            run = (recorded, alerting.partition_label(first, last), "daily_job")
            lines = alerting.interruption_lines(paths, failures, f"materialization of {span}", where, run)
        else:
            lines = failed_step_lines(failures, ending)
        if not verbose:
            append_lines(run_log, lines)  # the cause at the log's end, within what a full disk lets it keep
        print("\n".join(lines), file=sys.stderr)
        if not stop:
            message = lines[-1].removeprefix("error: ") if stopped is not None else ending
            _alert(paths, alerting.failed_run_alert(message, recorded, alerting.partition_label(first, last), failures))
        if paths.warehouse.exists():  # steps it got through marked their days recomputed: later days are stale too
            _say_stale_days(paths, first, last)
        return EXIT_INTERRUPTED if stop else 1
    from dagster_defs.ingest.assets import lake_step_digest
    from python_assets.warehouse.run_inputs import bar_days

    built = frozenset(bar_days(paths) - built_before)  # a first build's: every day it built, beyond the window too
    fingerprints, lake_days = _as_left(paths, fingerprints, before, first, last, run_config, built,
                                       lake_step_digest(result.all_events))
    record_inputs(paths, fingerprints, result.run_id, lake_days, f"{first}..{last}")
    print(f"materialized {first}..{last} in {elapsed:.1f} s")
    _say_stale_days(paths, first, last)
    sample(mem)  # this process's high-water mark now covers recording the inputs too
    print(mem.summary())
    print(f"report: {report_path(paths, last)}\nhtml:   {report_path(paths, last).with_suffix('.html')}")
    return 0


def record_inputs(paths: Paths, fingerprints: dict, run_id: str, lake_days: dict, span: str) -> None:
    """Record a successful run's inputs (run_inputs), then publish the snapshot again: the run's own snapshot
    step came before them, so `query` saw run_inputs one run behind. Either failing is a note: the run stands."""
    import duckdb

    from python_assets.warehouse.connection import WarehouseBusy
    from python_assets.warehouse.run_inputs import record_fingerprints
    from python_assets.warehouse.snapshot import refresh_snapshot

    try:
        record_fingerprints(paths, fingerprints, run_id, lake_days)
    except (WarehouseBusy, duckdb.Error) as exc:  # only the next request's shortcut is lost
        print(f"note: the inputs of {span} were not recorded, so the next request runs them again ({exc})")
        return
    if not fingerprints:
        return
    try:
        refresh_snapshot(paths)
    except (WarehouseBusy, duckdb.Error, OSError) as exc:  # a full disk: the snapshot of the run itself stays
        print(f"note: the snapshot `query` reads lacks the recorded inputs of {span} until the next run ({exc})")


def _alert(paths: Paths, alert: dict) -> None:
    """Write (and POST) the alert of a failed CLI run; a note when that failed too."""
    note = alerting.send(paths, alert)
    if note:
        print(note, file=sys.stderr)


def _alert_dead_runs(paths: Paths, instance, recovered: list[str],  # noqa: ANN001 - a DagsterInstance
                     stopped_before: dict[str, str]) -> list[tuple[str, bool]]:
    """Alert each killed run just marked failed (a stopped run's own process sent its alert); the lines to
    print for all of them after the run, each with whether it goes to stderr (the run log has stdout meanwhile)."""
    lines = []
    for dead in recovered:
        how = (f"stopped before Dagster could record its end ({stopped_before[dead]})" if dead in stopped_before
               else "was killed before it ended")
        lines.append((f"run {dead} {how}: marked failed, its pool slots freed", False))
        if dead not in stopped_before:
            alert = alerting.dead_run_alert(instance, dead, f"run {dead} {how} (found by the next CLI run)")
            note = alerting.send(paths, alert)
            if note:
                lines.append((note, True))
    return lines


def _say_stale_days(paths: Paths, first: date, last: date) -> None:
    """Notes naming the days built before an earlier day's latest run (late ticks, a revision, days built out
    of order), which continue from its replaced results: those the window continued from, and later days."""
    import duckdb

    from python_assets.reports.staleness import stale_notes
    from python_assets.warehouse.connection import WarehouseBusy

    try:
        notes = stale_notes(paths, first, last)
    except (WarehouseBusy, duckdb.Error) as exc:
        notes = [f"could not check whether days continue from replaced results of earlier days ({exc})"]
    for note in notes:
        print(f"note: {note}")


def cmd_materialize(args: argparse.Namespace) -> int:
    """materialize: one day, or --date..--end."""
    return run_window(args.date, args.end or args.date, args.verbose, args.config, args.force)


def cmd_backfill(args: argparse.Namespace) -> int:
    """backfill: every day from --start to --end in one run."""
    return run_window(args.start, args.end, args.verbose, args.config, args.force)


def add_backfill(sub: argparse._SubParsersAction) -> None:
    """Register `backfill`."""
    p = sub.add_parser("backfill", help="materialize every day from --start to --end in one run (idempotent)")
    p.add_argument("--start", type=parse_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=parse_date, required=True, help="last day, inclusive (YYYY-MM-DD, UTC)")
    add_run_options(p)
    p.set_defaults(func=cmd_backfill)


def add_materialize(sub: argparse._SubParsersAction) -> None:
    """Register `materialize`."""
    p = sub.add_parser("materialize", help="run the whole asset graph for a day (or --end for a range)")
    p.add_argument("--date", type=parse_date, required=True, help="the day to materialize (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=parse_date, help="last day of a range starting at --date, inclusive")
    add_run_options(p)
    p.set_defaults(func=cmd_materialize)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """--verbose, --config and --force, shared by materialize and backfill."""
    p.add_argument("--force", action="store_true",
                   help="run even when nothing changed since the window's last run (same lake files, code, settings)")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="Dagster run config (YAML or JSON, as `dagster asset materialize --config`): op settings "
                        "such as ops.ml_dataset.config.fast or the research search's trials_per_design")
