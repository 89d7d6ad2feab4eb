"""ML results in the warehouse: per-model scores (ml_model_results), ensembles (ml_ensembles) and
the newest prediction per symbol (ml_predictions, what the report reads). Idempotent per day."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

# The landing tables (dbt sources ml_outputs.*), created here and before every dbt run (the macro
# python_assets/warehouse/landing.py generates). A column added later goes last in its create and gets an
# `add column if not exists` for warehouses made before it (trained_on, reused of ml_model_results and of
# ml_ensembles: NULL on days written before them).
DDL = (
    """create table if not exists ml_model_results (
        partition_date date not null, model varchar not null, version varchar not null, task varchar not null,
        label varchar not null, timeframe varchar not null, fold varchar not null, scorer varchar not null,
        train_rows bigint, test_rows bigint, train_start_ms bigint, train_end_ms bigint,
        test_start_ms bigint, test_end_ms bigint, accuracy double, balanced_accuracy double, log_loss double,
        auc double, mae double, rmse double, r2 double, ic double, rank_ic double, model_dir varchar not null,
        created_at timestamptz not null, trained_on date, reused boolean)""",
    """alter table ml_model_results add column if not exists trained_on date""",
    """alter table ml_model_results add column if not exists reused boolean""",
    """create table if not exists ml_ensembles (
        partition_date date not null, ensemble varchar not null, method varchar not null, members json not null,
        weights json not null, scorer varchar not null, fit_start_ms bigint, eval_start_ms bigint,
        eval_end_ms bigint, eval_rows bigint, accuracy double, balanced_accuracy double, log_loss double,
        auc double, created_at timestamptz not null, trained_on date, reused boolean)""",
    """alter table ml_ensembles add column if not exists trained_on date""",
    """alter table ml_ensembles add column if not exists reused boolean""",
    """create table if not exists ml_predictions (
        partition_date date not null, model varchar not null, version varchar not null, symbol varchar not null,
        timeframe varchar not null, bar_at_ms bigint not null, bar_at timestamptz not null,
        prediction double, p_down double, p_flat double, p_up double, created_at timestamptz not null)""",
)
SCORE_COLUMNS = ("accuracy", "balanced_accuracy", "log_loss", "auc", "mae", "rmse", "r2", "ic", "rank_ic")
# which version scored the day: the day it was trained, and whether the day reused it (its scores are then
# that training day's walk-forward, not a new one); NULL for a row whose writer did not say
VERSION_COLUMNS = ("trained_on", "reused")


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, select: str) -> None:
    if frame.empty:
        return
    con.register("_rows", frame)
    try:
        con.execute(f"insert into {table} {select}")
    finally:
        con.unregister("_rows")


def write_results(con: duckdb.DuckDBPyConnection, day: str, models: list[dict[str, Any]],
                  ensembles: list[dict[str, Any]], predictions: pd.DataFrame) -> None:
    """Replace the day's rows of the three tables in one transaction."""
    for ddl in DDL:
        con.execute(ddl)
    scores = pd.DataFrame([{**{c: None for c in (*SCORE_COLUMNS, *VERSION_COLUMNS)}, **row}
                           for row in models]) if models else pd.DataFrame()
    ens = pd.DataFrame([{**{c: None for c in VERSION_COLUMNS}, **r, "members": json.dumps(r["members"]),
                         "weights": json.dumps(r["weights"])} for r in ensembles])
    con.execute("begin transaction")
    try:
        for table in ("ml_model_results", "ml_ensembles", "ml_predictions"):
            con.execute(f"delete from {table} where partition_date = ?", [day])
        _insert(con, "ml_model_results", scores, f"""select cast('{day}' as date), model, version, task, label, timeframe,
            fold, scorer, train_rows, test_rows, train_start_ms, train_end_ms, test_start_ms, test_end_ms,
            {', '.join(SCORE_COLUMNS)}, model_dir, now(), cast(trained_on as date), cast(reused as boolean) from _rows""")
        _insert(con, "ml_ensembles", ens, f"""select cast('{day}' as date), ensemble, method, cast(members as json),
            cast(weights as json), scorer, fit_start_ms, eval_start_ms, eval_end_ms, eval_rows, accuracy,
            balanced_accuracy, log_loss, auc, now(), cast(trained_on as date), cast(reused as boolean) from _rows""")
        preds = predictions.copy()
        for c in ("prediction", "p_down", "p_flat", "p_up"):
            if c not in preds:
                preds[c] = None
        _insert(con, "ml_predictions", preds, f"""select cast('{day}' as date), model, version, symbol, timeframe,
            bar_at_ms, make_timestamptz(bar_at_ms * 1000), prediction, p_down, p_flat, p_up, now() from _rows""")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
