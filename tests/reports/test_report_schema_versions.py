"""A report is judged by the contract of the schema_version it says: a change of the contract is a new
version and schema file, and the file of an earlier version stays as the reports written under it were
(2.2's portfolio max_drawdown was >= 0; the 2.2 file edited in place failed every stored 2.2 report)."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import pytest

from python_assets.reports import daily_report
from python_assets.reports.daily_report import SUMMARY_COLUMNS, build_report
from python_assets.reports.schema import SCHEMA_PATH, report_schema, validate_report

DAY = date(2025, 3, 10)


def _report(version: str, drawdown: float) -> dict:
    """A whole report of one symbol with a portfolio of one rule and one member at `drawdown`."""
    row = {**{c.strip(): 0 for c in SUMMARY_COLUMNS.split(",")}, "symbol": "BTC-USDT", "resolution": "1m",
           "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "prev_close": 1.0}
    portfolio = {"results": [{"rule": "equal", "members": 1, "total_return": 0.1, "sharpe": 1.0, "max_drawdown": drawdown}],
                 "members": [{"member_id": "m1", "design_id": "d1", "symbol": "BTC-USDT", "total_return": 0.1,
                              "max_drawdown": drawdown}],
                 "correlation": {"members": ["m1"], "matrix": [[1.0]]}, "forward": []}
    report = {**build_report(DAY, [row]), "portfolio": portfolio, "failed_checks": [],
              "review": {"analyst": "deterministic", "summary": "s", "findings": [], "warnings": []},
              "schema_version": version}
    report["symbols"][0].update(regime=None, regime_previous=None)
    return json.loads(json.dumps(report))


def test_the_report_writes_the_newest_version_and_its_file_holds_the_current_contract():
    assert build_report(DAY, [{**{c.strip(): 0 for c in SUMMARY_COLUMNS.split(",")}, "symbol": "X"}])[
        "schema_version"] == daily_report.REPORT_SCHEMA_VERSION == "2.4"
    assert SCHEMA_PATH.name == "report-2.4.schema.json"
    assert report_schema()["properties"]["schema_version"]["const"] == "2.4"
    for version in ("2.3", "2.4"):
        validate_report(_report(version, -0.05))
        with pytest.raises(jsonschema.ValidationError, match="maximum of 0"):
            validate_report(_report(version, 0.05))  # since 2.3: a drawdown is a fraction <= 0


def _with_ensemble(report: dict, **fields) -> dict:
    """The report with one ensemble row carrying `fields` (4b62e68 added trained_on and reused to the rows)."""
    row = {"ensemble": "mean", "method": "mean", "scorer": "model", "eval_rows": 10, "accuracy": 0.5, "auc": 0.5,
           "log_loss": 0.69, **fields}
    return {**report, "ml": {**report["ml"], "ensembles": [row]}}


def test_2_4_describes_the_ensembles_trained_on_and_reused_as_the_models_are():
    """4b62e68 wrote ml.ensembles[].trained_on and reused without a contract (2.3's items list only ensemble,
    method and scorer): a malformed day or flag passed. 2.4 types them as the models' fields, null for older rows."""
    validate_report(_with_ensemble(_report("2.4", -0.05), trained_on="2025-03-09", reused=True))
    validate_report(_with_ensemble(_report("2.4", -0.05), trained_on=None, reused=None))
    for bad in ({"trained_on": "yesterday"}, {"trained_on": 20250309}, {"reused": "yes"}):
        with pytest.raises(jsonschema.ValidationError):
            validate_report(_with_ensemble(_report("2.4", -0.05), **bad))
    models = report_schema()["properties"]["ml"]["properties"]["models"]["items"]["properties"]
    ensembles = report_schema()["properties"]["ml"]["properties"]["ensembles"]["items"]["properties"]
    assert {k: {**v, "description": None} for k, v in ensembles.items()} == {
        k: {**models[k], "description": None} for k in ("trained_on", "reused")}
    validate_report(_with_ensemble(_report("2.3", -0.05), trained_on="2025-03-09", reused=False))  # as 2.3 wrote


def test_a_report_written_under_2_2_validates_against_the_2_2_contract_it_was_written_under():
    old = _report("2.2", 0.05)  # as 0c23845 wrote the portfolio's drawdowns (>= 0)
    validate_report(old)
    assert report_schema("2.2")["properties"]["schema_version"]["const"] == "2.2"
    with pytest.raises(jsonschema.ValidationError):
        validate_report({**old, "symbols": [{**old["symbols"][0], "trade_count": -1}]})  # still a contract


def test_a_version_without_a_schema_file_is_one_clear_error():
    with pytest.raises(ValueError, match="schema_version '9.9' has no schema"):
        validate_report({**_report("2.3", -0.05), "schema_version": "9.9"})
    with pytest.raises(ValueError, match="has no schema"):
        report_schema("../x")
