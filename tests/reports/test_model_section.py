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
    columns existed (both NULL); report_ml_ensembles: the stacked one of 03-09's versions, the average one unmarked."""
    con = duckdb.connect()
    con.execute("""create table report_ml_models (partition_date date, model varchar, version varchar, scorer varchar,
                   test_rows bigint, accuracy double, balanced_accuracy double, log_loss double, auc double,
                   rmse double, r2 double, ic double, rank_ic double, trained_on date, reused boolean)""")
    con.execute("""create table report_ml_predictions (partition_date date, model varchar, version varchar,
                   symbol varchar, timeframe varchar, bar_at timestamptz, prediction double, p_down double,
                   p_flat double, p_up double)""")
    con.execute("""create table report_ml_ensembles (partition_date date, ensemble varchar, method varchar,
                   scorer varchar, eval_rows bigint, accuracy double, auc double, log_loss double, trained_on date,
                   reused boolean)""")
    for scorer in ("ensemble_stacked", "direction_predictor"):  # every member reused from 03-09: 03-09's numbers
        con.execute("insert into report_ml_ensembles values (?, 'ensemble_stacked', 'stacked_logistic', ?, 300, 0.52, "
                    "0.53, 0.69, '2025-03-09', true)", [DAY, scorer])
    con.execute("insert into report_ml_ensembles values (?, 'ensemble_average', 'average', 'ensemble_average', 300, "
                "0.51, 0.52, 0.69, null, null)", [DAY])
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


def test_the_report_says_the_ensembles_are_an_earlier_days_when_the_day_reused_every_member():
    """On a reuse day ml_results fits the ensembles on the reused versions' out-of-sample rows: the numbers are the
    training day's, and the report's ensembles table showed them as the day's own, with no trained day."""
    con = _marts()
    ml = sections.ml(con, DAY)
    assert {(e["ensemble"], e["scorer"], e["trained_on"], e["reused"]) for e in ml["ensembles"]} == {
        ("ensemble_average", "ensemble_average", None, None),
        ("ensemble_stacked", "direction_predictor", "2025-03-09", True),
        ("ensemble_stacked", "ensemble_stacked", "2025-03-09", True)}
    jsonschema.validate(json.loads(json.dumps(ml)), report_schema()["properties"]["ml"],
                        format_checker=jsonschema.FormatChecker())
    row = {**{c.strip(): None for c in SUMMARY_COLUMNS.split(",")}, "symbol": "BTC-USDT"}
    report = {**build_report(DAY, [row], sections={"ml": ml}), "failed_checks": [],
              "review": {"analyst": "deterministic", "summary": "s", "findings": [], "warnings": []}}
    table = re.findall(r"<h2>Models</h2>.*?<table>.*?</table>.*?(<table>.*?</table>)", render(report, con))[0]
    assert "<th>ensemble</th><th>scorer</th><th>trained</th>" in table
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    assert {f"{c[0]} {c[1]}": c[2] for c in cells} == {
        "ensemble_average ensemble_average": "–", "ensemble_stacked direction_predictor": "2025-03-09 (reused)",
        "ensemble_stacked ensemble_stacked": "2025-03-09 (reused)"}
