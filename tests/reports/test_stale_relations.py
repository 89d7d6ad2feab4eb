"""`blofin-stack report` runs no dbt, so it reads the report_* views and the marts as the last `materialize`
built them: a warehouse built before a column the report now reads (report_ml_models.trained_on/reused, the
portfolio marts' rebalances, ...) failed the rebuild with a BinderException (rc 1). Such a column now reads
as a dash (a filter column as the rule before it) until the next materialize rebuilds the relation; a portfolio mart's max_drawdown of
the sign before 113515d (>= 0) reads as the loss (<= 0) the schema allows."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import jsonschema
import yaml

from python_assets.reports import portfolio_section, sections
from python_assets.reports.daily_report import SUMMARY_COLUMNS, build_report
from python_assets.reports.fill_section import fill_sensitivity
from python_assets.reports.html import render
from python_assets.reports.schema import report_schema

DAY = date(2026, 12, 5)
MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
STRATEGY_COLUMNS = [c.strip() for c in sections.STRATEGY_COLUMNS.split(",")]


def _old_warehouse() -> duckdb.DuckDBPyConnection:
    """Each relation the report reads as a warehouse built before its LATER_COLUMNS: report_ml_models is the
    view the review found (over a landing table that has the new columns), the others tables without them."""
    con = duckdb.connect()
    con.execute("""create table ml_model_results (partition_date date, model varchar, version varchar, fold varchar,
                   scorer varchar, test_rows bigint, accuracy double, balanced_accuracy double, log_loss double,
                   auc double, rmse double, r2 double, ic double, rank_ic double, trained_on date, reused boolean)""")
    con.execute("insert into ml_model_results (partition_date, model, version, fold, scorer, test_rows, log_loss, "
                "trained_on, reused) values (?, 'direction_predictor', 'abc', 'overall', 'model', 500, 0.68, ?, true)",
                [DAY, date(2026, 12, 4)])
    con.execute("""create view report_ml_models as select partition_date, model, version, scorer, test_rows, accuracy,
                   balanced_accuracy, log_loss, auc, rmse, r2, ic, rank_ic from ml_model_results where fold = 'overall'""")
    con.execute("""create table report_ml_predictions (partition_date date, model varchar, version varchar,
                   symbol varchar, timeframe varchar, bar_at timestamptz, prediction double, p_down double,
                   p_flat double, p_up double)""")
    con.execute("""create table report_ml_ensembles (partition_date date, ensemble varchar, method varchar,
                   scorer varchar, eval_rows bigint, accuracy double, auc double, log_loss double)""")
    con.execute("""create table report_walk_forward as select * from (values (?::date, 'sma', 'BTC-USDT', 3, 0.5, 0.1))
                   t(partition_date, strategy, symbol, folds, in_sample_sharpe, out_of_sample_sharpe)""", [DAY])
    kept = [c for c in STRATEGY_COLUMNS if c not in ("trade_count", "composite_score")]
    con.execute(f"create table report_strategies ({', '.join(f'{c} varchar' for c in kept)}, trade_count integer, "
                "composite_score double, partition_date date)")
    con.execute("insert into report_strategies (backtest_id, strategy, symbol, trade_count, composite_score, "
                "partition_date) values ('bt1', 'sma', 'BTC-USDT', 12, 2.0, ?)", [DAY])
    con.execute("create table report_equity as select * from (values ('bt1', 1764892800000, 100.0::double), "
                "('bt1', 1764896400000, 101.0::double)) t(backtest_id, bar_at_ms, equity)")
    con.execute("""create table fill_sensitivity as select * from (values
                   (?::date, 'd1', 'long|sma', 'spread', 1, 0.1, 0.2, 4, true)) t(run_date, design_id, design_key,
                   fill_mode, rank, net_return, sharpe, trades, edge_survives)""", [DAY])
    con.execute("""create table portfolio_backtest_results as select * from (values
                   (?::date, 'inverse_vol', 2, 0.01, 1.5, 0.02, 0.4, 0.9, 3.5, false, 10100.0, 48, 0.5, 1.0,
                    timestamptz '2026-12-01 00:00:00+00', timestamptz '2026-12-05 23:00:00+00'))
                   t(run_date, rule, members, total_return, sharpe, max_drawdown, gross_leverage_mean,
                     gross_leverage_max, fees_paid, liquidated, final_equity, lookback, max_weight,
                     gross_leverage_cap, window_start, window_end)""", [DAY])
    con.execute("""create table portfolio_forward as select * from (values
                   (?::date, 'equal', date '2026-12-04', 2, 24, 0.01, 1.0, false, 2, 0.02, 0.5))
                   t(run_date, rule, selected_on, members, bars, day_return, fees_paid, liquidated, days_recorded,
                     cumulative_return, sharpe_daily)""", [DAY])
    for name, columns in (("portfolio_member_results", "member_id varchar, design_id varchar, symbol varchar, "
                           "total_return double, sharpe double, max_drawdown double, trades integer, weight_equal "
                           "double, weight_inverse_vol double, weight_risk_parity double"),
                          ("portfolio_member_correlations", "member_a varchar, member_b varchar, correlation double")):
        con.execute(f"create table {name} (run_date date, {columns})")
    con.execute("insert into portfolio_member_results values (?, 'd1|BTC-USDT', 'd1', 'BTC-USDT', 0.04, 2.0, 0.03, 2, "
                "0.5, 0.4, 0.4)", [DAY])
    return con


def test_a_report_reads_relations_built_before_their_newest_columns_with_dashes_there():
    con = _old_warehouse()
    found = sections.load_all(con, DAY)
    assert [(m["model"], m["trained_on"], m["reused"]) for m in found["ml"]["models"]] == [
        ("direction_predictor", None, None)]  # the view's own columns: its landing table's are not the view's
    assert [(w["strategy"], w["scored_folds"]) for w in found["walk_forward"]] == [("sma", None)]
    assert [s["backtest_id"] for s in found["strategies"]] == ["bt1"]  # kept, as the view before the filter did
    assert [e["book_spread_share"] for e in fill_sensitivity(con, DAY)] == [None]
    portfolio = portfolio_section.load(con, DAY)
    assert [(r["rule"], r["rebalances"], r["fallback_rebalances"]) for r in portfolio["results"]] == [
        ("inverse_vol", None, None)]
    assert [r["max_drawdown"] for r in portfolio["results"] + portfolio["members"]] == [-0.02, -0.03]
    assert [(f["rule"], f["fee_drag"], f["rebalances"]) for f in portfolio["forward"]] == [("equal", None, None)]
    schema = report_schema()["properties"]
    jsonschema.validate(found["ml"], schema["ml"], format_checker=jsonschema.FormatChecker())
    jsonschema.validate(portfolio, schema["portfolio"])
    row = {**{c.strip(): None for c in SUMMARY_COLUMNS.split(",")}, "symbol": "BTC-USDT"}
    report = {**build_report(DAY, [row], sections=found), "portfolio": portfolio, "failed_checks": [],
              "review": {"analyst": "deterministic", "summary": "s", "findings": [], "warnings": []}}
    page = render(report, con)
    models = re.search(r"<h2>Models</h2>.*?(<table>.*?</table>)", page).group(1)
    assert "<td>–</td>" in models and "<svg" in page  # the trained column a dash; the equity chart drawn


def test_a_relation_that_has_its_later_columns_is_read_as_it_is():
    with duckdb.connect() as con:
        con.execute("create table report_walk_forward (partition_date date, scored_folds bigint)")
        assert sections.relation(con, "report_walk_forward") == "report_walk_forward"
        assert sections.relation(con, "report_trades") == "report_trades"  # nothing added later


def test_each_later_column_is_a_documented_column_of_its_model():
    documented: dict[str, set[str]] = {}
    for path in MODELS.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            documented.setdefault(model["name"], set()).update(c["name"] for c in model.get("columns") or [])
    for name, columns in sections.LATER_COLUMNS.items():
        assert set(columns) <= documented.get(name, set()), name
