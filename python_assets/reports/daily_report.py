"""The daily report: per-symbol market numbers of one UTC day from the warehouse, as versioned JSON."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from python_assets.config import Paths
from python_assets.lake import write_bytes_atomic
from python_assets.version import code_version

REPORT_SCHEMA_VERSION = "1.1"  # 1.1: strategies, ml and research sections
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
SUMMARY_COLUMNS = (
    "symbol, open, high, low, close, prev_close, return_1d, range_abs, range_pct, volume, volume_quote, "
    "trade_count, bars_1m, bars_5m, bars_15m, bars_1h, bars_4h, bars_1d, gap_count, missing_minutes, "
    "longest_gap_minutes, quarantined_rows"
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


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf -> None, numpy/decimal -> float/int."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or hasattr(value, "__float__"):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    return value


def load_market_summary(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Rows of daily_market_summary for one day, sorted by symbol."""
    cur = con.execute(
        f"select {SUMMARY_COLUMNS} from daily_market_summary where report_date = ? order by symbol", [day]
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchall()[0][0])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [{k: _clean(v) for k, v in zip(names, row)} for row in cur.fetchall()]


def load_strategy_section(con: duckdb.DuckDBPyConnection, day: date, top: int = 10) -> list[dict[str, Any]]:
    """The day's daily backtests (full window and ML strategies), best composite score first."""
    if not _table_exists(con, "strategy_backtest_results"):
        return []
    return _rows(con, """
        select strategy, kind, symbol, timeframe, trade_count, total_return, sharpe, max_drawdown, win_rate,
               profit_factor, buy_and_hold_return, composite_score
        from strategy_backtest_results
        where partition_date = ? and window_kind = 'full'
        order by composite_score desc nulls last, strategy, symbol
        limit ?""", [day, top])


def load_research_section(con: duckdb.DuckDBPyConnection, day: date, top: int = 10) -> dict[str, Any]:
    """The day's strategy ranking (deflated Sharpe) with lifecycle counts and the transitions that fired."""
    if not _table_exists(con, "ranking_history"):
        return {"ranking": [], "status_counts": {}, "transitions": []}
    ranking = _rows(con, """
        select h.rank, h.design_id, d.design_key, d.origin, h.score, h.deflated_sharpe, h.oos_sharpe_annual,
               h.oos_trades, h.n_trials_total, h.status
        from ranking_history h join strategy_designs d using (design_id)
        where h.run_date = ? order by h.rank limit ?""", [day, top])
    counts = {r["status"]: r["n"] for r in _rows(con, "select status, count(*) as n from ranking_history "
                                                      "where run_date = ? group by status order by status", [day])}
    transitions = _rows(con, "select design_id, status, status_reason from ranking_history where run_date = ? "
                             "and status_reason is not null order by design_id", [day])
    return {"ranking": ranking, "status_counts": counts, "transitions": transitions}


def load_ml_section(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """Newest prediction per model and symbol, and each model's out-of-sample score beside its baseline."""
    if not _table_exists(con, "ml_predictions"):
        return {"predictions": [], "models": []}
    predictions = _rows(con, """
        select model, version, symbol, timeframe, strftime(bar_at, '%Y-%m-%dT%H:%M:%SZ') as bar_at, prediction,
               p_down, p_flat, p_up
        from ml_predictions where partition_date = ? order by model, symbol""", [day])
    models = _rows(con, """
        select model, version, scorer, test_rows, accuracy, log_loss, auc, rmse, rank_ic
        from ml_model_results where partition_date = ? and fold = 'overall' order by model, scorer""", [day])
    return {"predictions": predictions, "models": models}


def symbol_section(row: dict[str, Any]) -> dict[str, Any]:
    """One symbol's block of the report from its daily_market_summary row."""
    return {
        "symbol": row["symbol"],
        "open": _clean(row["open"]),
        "high": _clean(row["high"]),
        "low": _clean(row["low"]),
        "close": _clean(row["close"]),
        "prev_close": _clean(row["prev_close"]),
        "return_1d": _clean(row["return_1d"]),
        "range_abs": _clean(row["range_abs"]),
        "range_pct": _clean(row["range_pct"]),
        "volume": _clean(row["volume"]),
        "volume_quote": _clean(row["volume_quote"]),
        "trade_count": _clean(row["trade_count"]),
        "bars": {tf: _clean(row[f"bars_{tf}"]) for tf in TIMEFRAMES},
        "data_gaps": {
            "gap_count": _clean(row["gap_count"]),
            "missing_minutes": _clean(row["missing_minutes"]),
            "longest_gap_minutes": _clean(row["longest_gap_minutes"]),
        },
        "quarantined_rows": _clean(row["quarantined_rows"]),
    }


def build_report(day: date, rows: list[dict[str, Any]], run: dict[str, Any] | None = None,
                 strategies: list[dict[str, Any]] | None = None, ml: dict[str, Any] | None = None,
                 research: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the report dict for a day; warns about symbols with gaps or quarantined rows."""
    if not rows:
        raise ReportError(f"no market data in the warehouse for {day.isoformat()}: was the day ingested and built?")
    symbols = [symbol_section(r) for r in rows]
    warnings = []
    for s in symbols:
        if s["data_gaps"]["missing_minutes"]:
            g = s["data_gaps"]
            warnings.append(
                f"{s['symbol']}: {g['missing_minutes']} minutes without trades in {g['gap_count']} gap(s), "
                f"longest {g['longest_gap_minutes']} min"
            )
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
        "strategies": strategies or [],
        "ml": ml or {"predictions": [], "models": []},
        "research": research or {"ranking": [], "status_counts": {}, "transitions": []},
        "warnings": warnings,
    }


def report_path(paths: Paths, day: date) -> Path:
    return paths.reports / f"{day.isoformat()}.json"


def write_report(paths: Paths, report: dict[str, Any]) -> Path:
    """Write data/reports/YYYY-MM-DD.json atomically."""
    target = report_path(paths, date.fromisoformat(report["report_date"]))
    write_bytes_atomic((json.dumps(report, indent=2, sort_keys=False) + "\n").encode(), target)
    return target


def store_report(con: duckdb.DuckDBPyConnection, report: dict[str, Any], path: Path) -> None:
    """Upsert the day's row in daily_reports (delete + insert in one transaction: reruns are idempotent)."""
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
                str(path),
                json.dumps(report),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def produce_daily_report(paths: Paths, day: date, run: dict[str, Any] | None = None) -> Path:
    """Read the warehouse, write the JSON file and the daily_reports row for one day; returns the path."""
    with duckdb.connect(str(paths.warehouse)) as con:
        report = build_report(day, load_market_summary(con, day), run, load_strategy_section(con, day),
                              load_ml_section(con, day), load_research_section(con, day))
        path = write_report(paths, report)
        store_report(con, report, path)
    return path
