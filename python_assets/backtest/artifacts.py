"""One stored backtest run read back from the warehouse ledger (results, trades, equity) and written
out as files: trades and equity as CSV, Parquet or JSON, beside the run's HTML chart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from python_assets.lake.atomic import replace_atomic

EXPORT_FORMATS = ("csv", "parquet", "json")
# the ledger columns of each exported table, then the run columns that say which backtest a row belongs to
RUN_COLUMNS = ("strategy_id", "window_id", "window_kind")


@dataclass(frozen=True)
class RunData:
    """A run's strategy_backtest_results rows, and its trades and equity with the run columns added."""

    run_id: str
    results: list[dict]
    trades: pd.DataFrame
    equity: pd.DataFrame


def _ledger_frame(con: duckdb.DuckDBPyConnection, table: str, run_id: str, order: str) -> pd.DataFrame:
    """A ledger table's rows of one run, with the run's strategy_id / window columns after its own."""
    return con.execute(
        f"select t.*, {', '.join('r.' + c for c in RUN_COLUMNS)} from {table} t "
        f"join backtest_runs r on r.backtest_id = t.backtest_id where r.run_id = ? order by {order}", [run_id]).df()


def load_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunData:
    """Everything the report and chart of a run need, read in UTC."""
    con.execute("set TimeZone = 'UTC'")
    cur = con.execute("select * from strategy_backtest_results where run_id = ? "
                      "order by symbol, window_id, window_kind", [run_id])
    names = [d[0] for d in cur.description]
    results = [dict(zip(names, row)) for row in cur.fetchall()]
    trades = _ledger_frame(con, "backtest_trades", run_id, "r.symbol, r.window_id, r.window_kind, t.trade_no")
    equity = _ledger_frame(con, "backtest_equity", run_id, "r.symbol, r.window_id, r.window_kind, t.bar_at_ms")
    return RunData(run_id, results, trades, equity)


def _json_ready(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain JSON values: timestamps as ISO-8601 UTC strings, numbers exact (repr round-trips)."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].map(lambda ts: ts.isoformat())
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in out.to_dict("records")]


def write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """One frame as CSV (ISO timestamps), Parquet (typed) or JSON (a list of objects), written atomically:
    a full disk leaves the previous file (or none), never a torn one under the name."""
    if fmt == "parquet":
        replace_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    elif fmt == "csv":
        replace_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
    elif fmt == "json":
        text = json.dumps(_json_ready(frame), indent=1, allow_nan=False) + "\n"
        replace_atomic(path, lambda tmp: Path(tmp).write_text(text))
    else:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
    return path


def export_run(run: RunData, directory: Path, fmt: str) -> list[Path]:
    """<run_id>_trades.<fmt> and <run_id>_equity.<fmt> in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return [write_frame(frame, directory / f"{run.run_id}_{name}.{fmt}", fmt)
            for name, frame in (("trades", run.trades), ("equity", run.equity))]
