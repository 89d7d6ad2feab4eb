"""The report's models table says which day trained each scored version and whether the day reused it: a day
on the retrain cadence's reuse scores with an earlier day's version and ml_model_results repeats that day's
walk-forward (same test_rows, log_loss, test_end_ms), which the report showed as the day's own result."""

from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import jsonschema

from python_assets.reports import sections
from python_assets.reports.daily_report import SUMMARY_COLUMNS, build_report
from python_assets.reports.html import render
from python_assets.reports.schema import report_schema

DAY = date(2025, 3, 10)


def _marts() -> duckdb.DuckDBPyConnection:
    """The report_ml_* marts, report_ml_models of DAY: one version reused from 03-09, one trained on the day, one written before the
    columns existed (both NULL)."""
    con = duckdb.connect()
    con.execute("""create table report_ml_models (partition_date date, model varchar, version varchar, scorer varchar,
                   test_rows bigint, accuracy double, balanced_accuracy double, log_loss double, auc double,
                   rmse double, r2 double, ic double, rank_ic double, trained_on date, reused boolean)""")
    con.execute("""create table report_ml_predictions (partition_date date, model varchar, version varchar,
                   symbol varchar, timeframe varchar, bar_at timestamptz, prediction double, p_down double,
                   p_flat double, p_up double)""")
    con.execute("""create table report_ml_ensembles (partition_date date, ensemble varchar, method varchar,
                   scorer varchar, eval_rows bigint, accuracy double, auc double, log_loss double)""")
    for model, trained_on, reused in (("direction_predictor", "2025-03-09", True),
                                      ("momentum_classifier", "2025-03-10", False), ("risk_scorer", None, None)):
        for scorer, loss in (("model", 0.68), ("baseline", 0.69)):
            con.execute("insert into report_ml_models (partition_date, model, version, scorer, test_rows, log_loss, "
                        "trained_on, reused) values (?, ?, 'abc123', ?, 500, ?, ?, ?)",
                        [DAY, model, scorer, loss, trained_on, reused])
    return con


def test_the_report_says_the_day_each_models_version_was_trained_and_that_it_was_reused():
    con = _marts()
    ml = sections.ml(con, DAY)
    assert {(m["model"], m["trained_on"], m["reused"]) for m in ml["models"]} == {
        ("direction_predictor", "2025-03-09", True), ("momentum_classifier", "2025-03-10", False),
        ("risk_scorer", None, None)}
    row = {**{c.strip(): None for c in SUMMARY_COLUMNS.split(",")}, "symbol": "BTC-USDT"}
    report = {**build_report(DAY, [row], sections={"ml": ml}), "failed_checks": [],
              "review": {"analyst": "deterministic", "summary": "s", "findings": [], "warnings": []}}
    # the JSON's models carry trained_on (a date) and reused, as the published schema describes them
    schema = report_schema()["properties"]["ml"]
    jsonschema.validate(json.loads(json.dumps(ml)), schema, format_checker=jsonschema.FormatChecker())
    assert {"trained_on", "reused"} <= set(schema["properties"]["models"]["items"]["properties"])
    page = render(report, con)
    table = re.search(r"<h2>Models</h2>.*?(<table>.*?</table>)", page).group(1)
    assert "<th>trained</th>" in table
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    rows = {f"{c[0]} {c[1]}": c[2] for c in cells}  # model, scorer -> trained
    assert rows == {"direction_predictor model": "2025-03-09 (reused)", "direction_predictor baseline": "2025-03-09 (reused)",
                    "momentum_classifier model": "2025-03-10", "momentum_classifier baseline": "2025-03-10",
                    "risk_scorer model": "–", "risk_scorer baseline": "–"}
