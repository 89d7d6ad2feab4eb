"""The daily report: per-symbol market numbers of one UTC day from the warehouse, as versioned JSON."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from python_assets.config import Paths
from python_assets.lake.atomic import write_bytes_atomic, write_files_atomic
from python_assets.reports import fmt, portfolio_section
from python_assets.reports import robustness, staleness
from python_assets.reports import sections as sections_mod
from python_assets.reports.html import render, write_index
from python_assets.reports.recorder import recorder_section, recorder_warnings
from python_assets.reports.review import Analyst, analyst_from_env
from python_assets.reports.schema import SCHEMA_VERSION, validate_report
from python_assets.reports.sections import clean, gap_text
from python_assets.platform.timeframes import TIMEFRAMES
from python_assets.platform.version import code_version
from python_assets.warehouse.connection import connect_warehouse

REPORT_SCHEMA_VERSION = SCHEMA_VERSION  # python_assets/reports/schema/report-<version>.schema.json
SUMMARY_COLUMNS = (
    "symbol, open, high, low, close, prev_close, return_1d, range_abs, range_pct, volume, volume_quote, "
    "trade_count, " + ", ".join(f"bars_{tf}" for tf in TIMEFRAMES) + ", gap_count, missing_minutes, "
    "longest_gap_minutes, resolution, quarantined_rows"
)
DAILY_REPORTS_DDL = """
create table if not exists daily_reports (
    report_date date primary key,
    schema_version varchar not null,
    generated_at timestamptz not null,
    code_version varchar not null,
    report_path varchar not null,
    report_json json not null
)
"""


class ReportError(RuntimeError):
    """The warehouse has nothing to report for the requested day."""


def load_market_summary(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Rows of daily_market_summary for one day, sorted by symbol."""
    cur = con.execute(
        f"select {SUMMARY_COLUMNS} from daily_market_summary where report_date = ? order by symbol", [day]
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def symbol_section(row: dict[str, Any]) -> dict[str, Any]:
    """One symbol's block of the report from its daily_market_summary row."""
    return {
        "symbol": row["symbol"],
        "open": clean(row["open"]),
        "high": clean(row["high"]),
        "low": clean(row["low"]),
        "close": clean(row["close"]),
        "prev_close": clean(row["prev_close"]),
        "return_1d": clean(row["return_1d"]),
        "range_abs": clean(row["range_abs"]),
        "range_pct": clean(row["range_pct"]),
        "volume": clean(row["volume"]),
        "volume_quote": clean(row["volume_quote"]),
        "trade_count": clean(row["trade_count"]),
        "bars": {tf: clean(row[f"bars_{tf}"]) for tf in TIMEFRAMES},
        "data_gaps": {
            "gap_count": clean(row["gap_count"]),
            "missing_minutes": clean(row["missing_minutes"]),
            "longest_gap_minutes": clean(row["longest_gap_minutes"]),
            "resolution": row["resolution"],
        },
        "quarantined_rows": clean(row["quarantined_rows"]),
    }


def build_report(day: date, rows: list[dict[str, Any]], run: dict[str, Any] | None = None,
                 sections: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the report dict for a day; warns about symbols with gaps or quarantined rows."""
    if not rows:
        raise ReportError(f"no market data in the warehouse for {day.isoformat()}: was the day ingested and built?")
    symbols = [symbol_section(r) for r in rows]
    warnings = []
    for s in symbols:
        if s["data_gaps"]["missing_minutes"]:
            warnings.append(gap_text(s["symbol"], s["data_gaps"]))
        if s["quarantined_rows"]:
            warnings.append(f"{s['symbol']}: {s['quarantined_rows']} input rows quarantined")
        if s["return_1d"] is None:
            warnings.append(f"{s['symbol']}: no previous day in the warehouse, daily return unknown")
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "report_date": day.isoformat(),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "run": run or {},
        "symbols": symbols,
        **sections_mod.empty(),
        **robustness.empty(),
        **(sections or {}),
        "warnings": warnings,
    }


def stale_warning(con: duckdb.DuckDBPyConnection, day: date) -> list[str]:
    """The warning of a day computed, or continuing from a day computed, before an earlier day's latest
    recompute (computed_days: what the steps of this run or an earlier one marked; rendering marks nothing)."""
    starts = {d: at for d, at in staleness.run_starts(con).items() if d <= day}
    return staleness.built_on_stale_warning(staleness.stale_days(starts), day)


def check_warnings(failed_checks: list[dict[str, str]]) -> list[str]:
    """A warning for each failed asset check that says what it found (its description: the freshness check
    names each stale symbol and its lag), so the warnings name the stale symbol, not only failed_checks."""
    return [f"asset check {c['check']} on {c['asset']} did not pass: {c['description']}"
            for c in failed_checks if c.get("description")]


def md_cell(text: Any) -> str:
    """text as one Markdown table cell: a backslash and a pipe escaped, a line break a space (a user's
    strategy named 'a|b' split its row into an extra column, a newline ended the table)."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())


def markdown_summary(report: dict[str, Any], top: int = 3) -> str:
    """A few lines for the Dagster UI: the review's summary, closes and returns, the top strategies and
    each model's loss vs its baseline."""
    lines = [f"**{report['report_date']}**: {report.get('review', {}).get('summary', '')}", "",
             "| symbol | close | return 1d |", "|---|---:|---:|"]
    lines += [f"| {md_cell(s['symbol'])} | {fmt.price(s['close'])} | {fmt.pct(s['return_1d'])} |" for s in report["symbols"]]
    lines += ["", "| strategy | return | Sharpe | trades |", "|---|---:|---:|---:|"]
    lines += [f"| {md_cell(s['strategy'])} {md_cell(s['symbol'])} | {fmt.pct(s['total_return'])} | "
              f"{fmt.number(s['sharpe'], 3)} | {fmt.number(s['trade_count'])} |" for s in report["strategies"][:top]]
    models: dict[str, dict[str, Any]] = {}
    for m in report["ml"]["models"]:
        models.setdefault(m["model"], {})[m["scorer"]] = m.get("log_loss") if m.get("log_loss") is not None else m.get("rmse")
    lines += ["", "| model | loss | baseline |", "|---|---:|---:|"]
    lines += [f"| {md_cell(k)} | {fmt.number(v.get('model'), 4)} | {fmt.number(v.get('baseline'), 4)} |" for k, v in sorted(models.items())]
    return "\n".join(lines)


def report_path(paths: Paths, day: date) -> Path:
    return paths.reports / f"{day.isoformat()}.json"


def report_json(report: dict[str, Any]) -> bytes:
    """The report file's bytes."""
    return (json.dumps(report, indent=2, sort_keys=False) + "\n").encode()


def write_report(paths: Paths, report: dict[str, Any]) -> Path:
    """Write data/reports/YYYY-MM-DD.json atomically."""
    target = report_path(paths, date.fromisoformat(report["report_date"]))
    write_bytes_atomic(report_json(report), target)
    return target


def store_report(con: duckdb.DuckDBPyConnection, report: dict[str, Any], path: str) -> None:
    """Upsert the day's row in daily_reports (delete + insert in one transaction: reruns are idempotent);
    path is the report file as stored, relative to the data dir."""
    con.execute(DAILY_REPORTS_DDL)
    con.execute("begin transaction")
    try:
        con.execute("delete from daily_reports where report_date = ?", [report["report_date"]])
        con.execute(
            "insert into daily_reports values (?, ?, ?, ?, ?, ?)",
            [
                report["report_date"],
                report["schema_version"],
                report["generated_at"],
                report["code_version"],
                path,
                json.dumps(report),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def current_stored_report(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """The day's stored report (daily_reports) when it was written after the run that last computed the day
    started (computed_days; a day no run marked: the stored one), else {}: a newer run that recomputed the day
    and stopped before its report leaves the stored run facts, failed checks and code describing numbers the
    warehouse no longer holds."""
    if not sections_mod.table_exists(con, "daily_reports"):
        return {}
    if sections_mod.table_exists(con, "computed_days"):
        found = con.execute("select r.report_json from daily_reports r left join computed_days c on c.partition_date = "
                            "r.report_date where r.report_date = ? and (c.run_started_at is null or r.generated_at >= "
                            "date_trunc('second', c.run_started_at))", [day]).fetchall()
    else:
        found = con.execute("select report_json from daily_reports where report_date = ?", [day]).fetchall()
    return json.loads(found[0][0]) if found else {}


def stored_run_facts(paths: Paths, day: date) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(run, failed_checks) of the day's current stored report (current_stored_report), empty where none: what
    the run that made it knew and a rebuild from the warehouse cannot (its id and steps, the checks that failed)."""
    with connect_warehouse(paths.warehouse, read_only=True, must_exist=True) as con:
        stored = current_stored_report(con, day)
    return stored.get("run") or {}, stored.get("failed_checks") or []


def rebuild_run_facts(paths: Paths, day: date, by: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(run, failed_checks) of a report rendered again from the warehouse by `by` ('cli': blofin-stack report,
    'dagster': daily_report without the steps that compute the day): the stored ones (stored_run_facts), marked
    run.rebuilt_by, so rendering marks no day and keeps what the computing run knew."""
    run, failed = stored_run_facts(paths, day)
    return {**run, "partition": day.isoformat(), "rebuilt_by": by}, failed


def keep_computing_code(con: duckdb.DuckDBPyConnection, report: dict[str, Any]) -> None:
    """A report rendered again (run.rebuilt_by) keeps the code_version of its current stored report, the code
    that computed its numbers, and names this code run.rendered_by_code: a rebuild stamped its own version over
    numbers older code computed. A report rendered by the run that computed the day keeps this code's, as does
    a rebuild with no current stored report (the code that computed the numbers is not known then)."""
    if not report["run"].get("rebuilt_by"):
        return
    stored = current_stored_report(con, date.fromisoformat(report["report_date"]))
    if stored.get("code_version") and stored["code_version"] != report["code_version"]:
        report["run"] = {**report["run"], "rendered_by_code": report["code_version"]}
        report["code_version"] = stored["code_version"]


def require_computed(paths: Paths, day: date, unrunnable: str | None = None) -> None:
    """ReportError unless a run computed `day` (computed_days, or the run its stored report names): a day the
    warehouse only has bars for (dbt's history build) would report no strategies, research or models and look healthy.
    Opened as the rebuild opens it (read-write), so a process holding the file is named busy before anything.
    `unrunnable`: why no run can compute the day (outside the daily partitions), said instead of a run to try."""
    with connect_warehouse(paths.warehouse, must_exist=True) as con:
        computed = day in staleness.run_starts(con)
    if not computed:
        todo = f", and no run can compute it: {unrunnable}" if unrunnable else \
            f": run `blofin-stack materialize --date {day}` first"
        raise ReportError(f"no run computed {day}, so there is no report to rebuild{todo}")


def produce_daily_report(paths: Paths, day: date, run: dict[str, Any] | None = None,
                         analyst: Analyst | None = None, failed_checks: list[dict[str, str]] | None = None) -> Path:
    """Read the warehouse, write the JSON file and the daily_reports row for one day; returns the path."""
    with connect_warehouse(paths.warehouse, must_exist=True) as con:
        report = build_report(day, load_market_summary(con, day), run, {**sections_mod.load_all(con, day), **robustness.load(con, day)})
        keep_computing_code(con, report)
        report["portfolio"] = portfolio_section.load(con, day)
        regimes = sections_mod.regimes(con, day)
        for s in report["symbols"]:
            s.update(regimes.get(s["symbol"], {"regime": None, "regime_previous": None}))
        report["recorder"] = recorder_section(con, day)
        report["warnings"] += recorder_warnings(report["recorder"])
        report["warnings"] += stale_warning(con, day)
        report["failed_checks"] = failed_checks or []
        report["warnings"] += check_warnings(report["failed_checks"])
        review = (analyst or analyst_from_env()).review(report)
        report["review"] = review
        report["warnings"] += review["warnings"]
        validate_report(report)
        path = report_path(paths, date.fromisoformat(report["report_date"]))
        write_files_atomic({path: report_json(report), path.with_suffix(".html"): render(report, con).encode()})
        store_report(con, report, paths.stored(path))
        write_index(paths)
    return path
