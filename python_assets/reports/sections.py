"""Report sections: one day selected from the report_* marts (dbt_project/models/reports): strategies (with the
change since yesterday), walk-forward in/out-of-sample, ML scores/ensembles/predictions, research ranking; regimes."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import duckdb

from python_assets.research.ranker import RankConfig
from python_assets.warehouse.connection import table_exists, with_columns


def gap_text(symbol: str, gaps: dict[str, Any]) -> str:
    """'BTC-USDT: 12 minutes without trades in 2 gap(s), longest 9 min' (at 5m resolution: 'without 5m bars')."""
    res = gaps.get("resolution") or "1m"
    what = "trades" if res == "1m" else f"{res} bars"
    return (f"{symbol}: {gaps['missing_minutes']} minutes without {what} in {gaps['gap_count']} gap(s), "
            f"longest {gaps['longest_gap_minutes']} min")


def clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf -> None, numpy/decimal -> float/int."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or hasattr(value, "__float__"):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    return value


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [{k: clean(v) for k, v in zip(names, row)} for row in cur.fetchall()]


# Columns the report reads that came after their view or mart did, with what to read in their place: dbt
# rebuilds the report_* views and the marts only in the next `materialize`, so `blofin-stack report` on a
# warehouse built before a column (it runs no dbt) failed on it. NULL shows as a dash; a filter column reads
# as the rule before it. A column added to a relation the report reads gets its line here.
LATER_COLUMNS: dict[str, dict[str, str]] = {
    "report_strategies": {"symbol_traded_on_day": "true"},  # before it the top list kept every symbol
    "report_walk_forward": {"scored_folds": "cast(null as bigint)"},
    "report_ml_models": {"trained_on": "cast(null as date)", "reused": "cast(null as boolean)"},
    "report_ml_ensembles": {"trained_on": "cast(null as date)", "reused": "cast(null as boolean)"},
    "report_equity": {"buy_and_hold_equity": "cast(null as double)"},
    "fill_sensitivity": {"book_spread_share": "cast(null as double)"},
    "portfolio_backtest_results": {c: "cast(null as integer)" for c in ("min_history", "rebalances",
                                                                        "fallback_rebalances")},
    "portfolio_forward": {"fee_drag": "cast(null as double)",
                          **{c: "cast(null as integer)" for c in ("min_history", "rebalances", "fallback_rebalances")}},
}


def relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The relation `name` as the report reads it: with its LATER_COLUMNS a stale view or mart lacks added."""
    return with_columns(con, name, LATER_COLUMNS.get(name, {}))


STRATEGY_COLUMNS = ("backtest_id, strategy, kind, symbol, timeframe, trade_count, total_return, sharpe, max_drawdown, "
                    "win_rate, profit_factor, buy_and_hold_return, composite_score, bars, bars_per_year, duration_days, "
                    "params, composite_change")


TOP_MIN_TRADES = RankConfig.min_trades  # as the research ranking: a Sharpe over fewer trades is no sample to rank on


def strategies(con: duckdb.DuckDBPyConnection, day: date, top: int = 10) -> list[dict[str, Any]]:
    """The day's best daily backtests (full window and ML) with at least TOP_MIN_TRADES trades on symbols that
    traded on the day (not a delisted one's last weeks), with composite_change vs yesterday's run (report_strategies)."""
    if not table_exists(con, "report_strategies"):
        return []
    return rows(con, f"""select {STRATEGY_COLUMNS} from {relation(con, 'report_strategies')}
                         where partition_date = ? and symbol_traded_on_day and trade_count >= ?
                         order by composite_score desc nulls last, strategy, symbol limit ?""", [day, TOP_MIN_TRADES, top])


WALK_FORWARD_EXPLAINED = (
    "Walk-forward: each strategy's default parameters (the daily run backtests one parameter set per spec, so "
    "nothing is chosen in sample) on rolling windows and the days right after each; a fold's Sharpe is annualised "
    "from a few days of bars, and both columns are means of per-fold Sharpes over the same scored folds (those "
    "with a Sharpe on both sides: a flat half has none), not a Sharpe of the out-of-sample days chained. A large "
    "drop out of sample says the edge did not last from one window to the next.")


WALK_FORWARD_NONE = (
    "none: no fold of this day's backtests had bars on both sides, or the day ran no backtest (walk-forward needs a "
    "longer history than a fold's in-sample stretch: train_days of the backtest_ledger config)")


def walk_forward(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Mean in-sample vs out-of-sample Sharpe over the day's walk-forward folds per strategy and symbol (over
    the same folds: report_walk_forward pairs each fold's halves)."""
    if not table_exists(con, "report_walk_forward"):
        return []
    return rows(con, f"""select strategy, symbol, folds, scored_folds, in_sample_sharpe, out_of_sample_sharpe
                         from {relation(con, 'report_walk_forward')}
                         where partition_date = ? order by strategy, symbol""", [day])


def ml(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """Newest predictions, each model's overall score (the mean of its walk-forward folds') beside its baseline
    (with the day its version was trained and whether this day reused it: a reused version's scores are its
    training day's), and the ensembles (with the day the newest member version was trained and whether the day
    reused every member: then that day's)."""
    if not table_exists(con, "report_ml_predictions"):
        return {"predictions": [], "models": [], "ensembles": []}
    return {
        "predictions": rows(con, """select model, version, symbol, timeframe, strftime(bar_at, '%Y-%m-%dT%H:%M:%SZ') as bar_at,
                                  prediction, p_down, p_flat, p_up from report_ml_predictions where partition_date = ?
                                  order by model, symbol""", [day]),
        "models": rows(con, f"""select model, version, scorer, test_rows, accuracy, balanced_accuracy, log_loss, auc,
                             rmse, r2, ic, rank_ic, strftime(trained_on, '%Y-%m-%d') as trained_on, reused
                             from {relation(con, 'report_ml_models')} where partition_date = ? order by model, scorer""", [day]),
        "ensembles": rows(con, f"""select ensemble, method, scorer, eval_rows, accuracy, auc, log_loss,
                                strftime(trained_on, '%Y-%m-%d') as trained_on, reused
                                from {relation(con, 'report_ml_ensembles')} where partition_date = ?
                                order by ensemble, scorer""", [day]),
    }


def research(con: duckdb.DuckDBPyConnection, day: date, top: int = 10) -> dict[str, Any]:
    """The day's deflated-Sharpe ranking, status counts, lifecycle transitions and new designs (report_research_*)."""
    if not table_exists(con, "report_research_ranking"):
        return {"ranking": [], "status_counts": {}, "transitions": [], "new_designs": []}
    return {
        "ranking": rows(con, """select rank, design_id, design_key, spec, origin, score, deflated_sharpe, sr0,
                              oos_sharpe_annual, oos_trades, n_trials_total, status
                              from report_research_ranking where run_date = ? order by rank limit ?""", [day, top]),
        "status_counts": {r["status"]: r["n"] for r in rows(
            con, "select status, count(*) as n from report_research_ranking where run_date = ? group by status "
                 "order by status", [day])},
        "transitions": rows(con, """select design_id, design_key, spec, status, status_reason from report_research_ranking
                                   where run_date = ? and status_reason is not null order by design_id""", [day]),
        "new_designs": rows(con, """select design_id, design_key, origin, parents from report_research_designs
                                  where created_date = ? order by design_id""", [day]),
    }


def recent_trades(con: duckdb.DuckDBPyConnection, backtest_ids: list[str], per_strategy: int = 5) -> list[dict[str, Any]]:
    """The last closed trades of each backtest (newest first), from report_trades."""
    if not backtest_ids or not table_exists(con, "report_trades"):
        return []
    return rows(con, f"""select backtest_id, trade_no, symbol, side, entry_at_ms as entry_at, entry_price, exit_at_ms as exit_at,
                         exit_price, held_seconds, return_pct, pnl, exit_reason
                         from report_trades where backtest_id in ({', '.join('?' * len(backtest_ids))})
                         qualify row_number() over (partition by backtest_id order by exit_at_ms desc, trade_no desc)
                                 <= {int(per_strategy)}
                         order by backtest_id, exit_at_ms desc, trade_no desc""", list(backtest_ids))


def regimes(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, dict[str, Any]]:
    """Per symbol: the regime of the day's last closed 1h bar and of the day before."""
    if not table_exists(con, "features"):  # a view: information_schema.tables lists views too
        return {}
    out: dict[str, dict[str, Any]] = {}
    for symbol, bar_date, regime in con.execute("""
            select symbol, bar_date, arg_max(regime, bar_at_ms) from features
            where timeframe = '1h' and bar_date in (?, ?) group by symbol, bar_date""",
                                                [day, day - timedelta(days=1)]).fetchall():
        key = "regime" if bar_date == day else "regime_previous"
        out.setdefault(symbol, {"regime": None, "regime_previous": None})[key] = regime
    return out


def empty() -> dict[str, Any]:
    return {"strategies": [], "walk_forward": [], "ml": {"predictions": [], "models": [], "ensembles": []},
            "research": {"ranking": [], "status_counts": {}, "transitions": [], "new_designs": []}, "failed_checks": [],
            "fill_sensitivity": []}


def load_all(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    from python_assets.reports.fill_section import fill_sensitivity  # it imports this module's helpers
    return {"strategies": strategies(con, day), "walk_forward": walk_forward(con, day), "ml": ml(con, day),
            "research": research(con, day), "fill_sensitivity": fill_sensitivity(con, day)}
