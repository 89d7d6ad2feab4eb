"""The report's walk-forward section says what it is: the daily run's one (default) parameter set on rolling
windows, not an in-sample selection, and means of per-fold Sharpes over the folds scored on both sides; the
review's overfitting caution names how many folds its two means are over."""

from __future__ import annotations

import re
from datetime import date
from html import escape

import duckdb

from python_assets.reports.daily_report import SUMMARY_COLUMNS, build_report
from python_assets.reports.html import render
from python_assets.reports.review import DeterministicAnalyst
from python_assets.reports.sections import WALK_FORWARD_EXPLAINED, WALK_FORWARD_NONE

DAY = date(2025, 3, 10)
WF = [{"strategy": "regime_trend", "symbol": "BTC-USDT", "folds": 4, "scored_folds": 1,
       "in_sample_sharpe": 3.0, "out_of_sample_sharpe": -1.0}]


def walk_forward_html(rows: list[dict]) -> str:
    """The Walk-forward section of a report holding rows."""
    row = {**{c.strip(): None for c in SUMMARY_COLUMNS.split(",")}, "symbol": "BTC-USDT"}
    report = {**build_report(DAY, [row], sections={"walk_forward": rows}), "failed_checks": [],
              "review": {"analyst": "deterministic", "summary": "s", "findings": [], "warnings": []}}
    return re.search(r"<h2>Walk-forward</h2>(.*?)<h2>", render(report, duckdb.connect())).group(1)


def test_an_empty_walk_forward_section_says_why():
    """A short history (2.5 days of a real pair) left the section a bare "none"."""
    section = walk_forward_html([])
    assert f"<em>{escape(WALK_FORWARD_NONE)}</em>" in section and "train_days" in WALK_FORWARD_NONE
    assert "<table" in walk_forward_html(WF) and WALK_FORWARD_NONE not in walk_forward_html(WF)


def test_the_walk_forward_section_explains_default_parameters_and_per_fold_means():
    section = walk_forward_html(WF)
    assert f"<p>{escape(WALK_FORWARD_EXPLAINED)}</p>" in section
    for says in ("default parameters", "nothing is chosen in sample", "same scored folds",
                 "not a Sharpe of the out-of-sample days chained"):
        assert says in WALK_FORWARD_EXPLAINED


def test_the_overfitting_caution_says_how_many_folds_both_means_are_over():
    text = [f["text"] for f in DeterministicAnalyst().review({"walk_forward": WF})["findings"]]
    assert text == ["regime_trend on BTC-USDT: in-sample Sharpe 3 vs out-of-sample -1 "
                    "(means over the same 1 fold scored on both sides)."]
    older = {**WF[0], "scored_folds": None}  # a report from before scored_folds
    assert DeterministicAnalyst().review({"walk_forward": [older]})["findings"][0]["text"].endswith(
        "(mean over walk-forward folds).")
