"""Numbers by kind, charts with a UTC time axis and the legend beside the plot, and the review's
contradiction and sample-size sentences, on hand-built inputs."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from python_assets.reports import fmt
from python_assets.reports.charts import LEFT, RIGHT_LEGEND, bar_chart, line_chart, time_ticks
from python_assets.reports.review import DeterministicAnalyst, sharpe_standard_error

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


@pytest.mark.parametrize("value, kind, want", [
    (29876.5, "price", "29,876.50"),
    (0.000123456, "price", "0.000123456"),
    (3.45678, "price", "3.45678"),
    (0.0123, "pct", "+1.23%"),
    (-0.5, "pct", "-50.00%"),
    (0.0, "pct", "+0.00%"),
    (0.4902, "share", "49.0%"),
    (3725, "duration", "1h 2m"),
    (90061, "duration", "1d 1h"),
    (4.25, "duration", "4.2s"),
    (1234567, "count", "1,234,567"),
    (0.01, "signed", "+0.010"),
    (None, "price", "–"),
    (1741564800000, "time", "2025-03-10 00:00"),
])
def test_fmt_by_kind_gives_the_hand_written_text(value, kind, want):
    assert fmt.by_kind(value, kind) == want


def test_fmt_never_prints_scientific_notation():
    values = [s * 10.0 ** e * m for e in range(-12, 16) for m in (1.0, 2.99, 9.999) for s in (1, -1)]
    for v in values:
        for kind in ("price", "pct", "signed", "count", None):
            assert not SCIENTIFIC.search(fmt.by_kind(v, kind)), (v, kind, fmt.by_kind(v, kind))
    assert fmt.price(29900.0, tick=0.1) == "29,900.0" and fmt.price(0.5, tick=0.0001) == "0.5000"
    assert fmt.compact(0.69) == "0.69" and fmt.compact(3.0) == "3"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def test_time_ticks_are_dates_over_days_and_hours_within_a_day():
    days = time_ticks(ms(2025, 3, 1), ms(2025, 3, 11))
    assert [label for _, label in days][:2] == ["2025-03-01", "2025-03-03"]
    hours = time_ticks(ms(2025, 3, 10, 1), ms(2025, 3, 10, 13))
    assert hours[0] == (ms(2025, 3, 10, 2), "03-10 02:00")  # 12 h in steps of 2 h


def test_line_chart_has_a_date_axis_and_the_legend_outside_the_plot():
    xs = [ms(2025, 3, d) for d in range(1, 11)]
    svg = line_chart([("equity", xs, [1e4 + i * 3e3 for i in range(10)]),
                      ("buy & hold", xs, [1e4] * 10)], "t", fmt.number, w=900, dashed=frozenset({"buy & hold"}))
    assert re.findall(r'class="xtick"[^>]*>(\d{4}-\d{2}-\d{2})<', svg)
    legend_x = [float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.-]+" width="10"', svg)]
    assert legend_x and min(legend_x) > 900 - RIGHT_LEGEND and "stroke-dasharray" in svg
    assert not SCIENTIFIC.search(re.sub(r"<[^>]+>", " ", svg)) and "37,000" in svg


def test_bar_chart_puts_every_bar_on_one_scale_from_zero():
    svg = bar_chart([("m", {"model": 0.5, "baseline": 1.0})], "rmse")
    heights = sorted(float(h) for h in re.findall(r'height="([\d.]+)" fill="#[0-9a-f]+"><title>', svg))
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.01) and f'x="{LEFT}"' in svg


def test_sharpe_standard_error_matches_the_hand_computed_value():
    # SR_a = 2 on 365 daily bars: SR_p = 2/sqrt(365); sqrt((1 + SR_p^2/2) / 365) * sqrt(365) = 1.00274
    assert sharpe_standard_error(2.0, 365, 365.0) == pytest.approx(1.0027359832, rel=1e-9)
    assert sharpe_standard_error(1.5, 720, 8760.0) == pytest.approx(3.4882988930, rel=1e-9)
    assert sharpe_standard_error(1.0, None, 365.0) is None


STRATEGY = {"kind": "daily", "symbol": "BTC-USDT", "timeframe": "1h", "sharpe": 1.5, "bars": 720, "bars_per_year": 8760.0}


def test_review_states_window_days_and_error_and_never_writes_zero_trade_sharpes():
    report = {"strategies": [{**STRATEGY, "strategy": "sma_cross", "trade_count": 40, "duration_days": 30.0},
                             {**STRATEGY, "strategy": "rsi", "trade_count": 0, "sharpe": None, "duration_days": 30.0}]}
    texts = [f["text"] for f in DeterministicAnalyst().review(report)["findings"]]
    assert any("sma_cross" in t and "30-day window" in t and "± 3.49" in t and "720 bars" in t for t in texts)
    assert not any("only 0 trades" in t or "n/a" in t for t in texts)
    assert any(t.startswith("rsi on BTC-USDT: no trades") for t in texts)


def test_review_notices_a_top_ml_strategy_whose_models_all_lose_to_their_baselines():
    losing = {"models": [{"model": "direction_predictor", "scorer": "model", "log_loss": 0.70},
                         {"model": "direction_predictor", "scorer": "baseline", "log_loss": 0.69}]}
    top = {**STRATEGY, "strategy": "ml_direction_predictor", "kind": "ml", "trade_count": 50, "duration_days": 400.0}
    found = DeterministicAnalyst().review({"strategies": [top], "ml": losing})["findings"]
    assert [f["text"] for f in found if f["topic"] == "contradiction"][0].startswith(
        "ml_direction_predictor on BTC-USDT ranks #1")
    winning = {"models": [{**losing["models"][0], "log_loss": 0.60}, losing["models"][1]]}
    assert not [f for f in DeterministicAnalyst().review({"strategies": [top], "ml": winning})["findings"]
                if f["topic"] == "contradiction"]


def test_an_ensemble_strategy_rests_on_the_ensembles_members_each_by_its_own_metric():
    """The check took every model scored by log_loss (risk_scorer, not a member) and left out price_predictor
    (a member, scored by rmse): all three members losing gave no caution because risk_scorer beat its baseline."""
    from python_assets.reports.review import _ml_contradictions

    top = [{"kind": "ml", "strategy": "ml_ensemble_stacked", "symbol": "X"}]
    scores = {"direction_predictor": ("log_loss", .72, .69), "momentum_classifier": ("log_loss", 1.09, 1.07),
              "price_predictor": ("rmse", .0133, .0128), "risk_scorer": ("log_loss", .50, .58)}
    found = _ml_contradictions(top, scores)
    assert len(found) == 1 and "price_predictor rmse 0.0133 vs 0.0128" in found[0]["text"]
    assert "risk_scorer" not in found[0]["text"]
    # a member that beats its baseline (price by rmse) clears the caution; a non-member losing does not raise one
    assert _ml_contradictions(top, {**scores, "price_predictor": ("rmse", .0120, .0128)}) == []
    assert _ml_contradictions(top, {**scores, "price_predictor": ("rmse", .0120, .0128),
                                    "risk_scorer": ("log_loss", .60, .58)}) == []


def test_a_drawdown_reads_as_a_loss_whichever_sign_its_table_stores():
    # every mart stores max_drawdown <= 0 now, but reports written before hold the portfolio's >= 0: both went
    # through the signed percent, so the report showed the portfolio's loss as +0.45% beside a strategy's -0.73%
    assert fmt.cell("max_drawdown", 0.0045) == fmt.cell("max_drawdown", -0.0045) == "-0.45%"
    assert fmt.cell("max_drawdown_p05", -0.2) == "-20.00%" and fmt.cell("max_drawdown", 0.0) == "+0.00%"


def test_a_tiny_price_keeps_six_significant_digits_and_zero_never_reads_negative():
    """MAX_DECIMALS = 10 capped price(): 1.23456789e-8 read 0.0000000123 and 2.5e-12 read as a zero price;
    -1e-12 compacted to -0 and a -0.0 percent read -0.00%, a loss that is not there."""
    assert fmt.price(1.23456789e-8) == "0.0000000123457"
    assert fmt.price(2.5e-12) == "0.00000000000250000" and fmt.price(-2.5e-12) == "-0.00000000000250000"
    assert fmt.price(2.5e-18) == "2.50000e-18"  # past PRICE_MAX_DECIMALS: scientific, never 0
    assert fmt.compact(-1e-12) == "0" and fmt.number(-1e-12) == "0.0000000000"
    assert (fmt.pct(-0.0), fmt.signed(-0.0), fmt.share(-0.0)) == ("+0.00%", "+0.000", "0.0%")
    assert fmt.pct(-1e-9) == "+0.00%" and fmt.pct(-0.5) == "-50.00%" and fmt.price(-1e-9, tick=0.01) == "0.00"
    xs = [ms(2025, 3, 10, h) for h in range(3)]
    labels = re.findall(r'text-anchor="end">([^<]*)<', line_chart([("X", xs, [1.2e-9, 1.25e-9, 1.3e-9])], "t", fmt.price))
    assert len(set(labels)) == 5 and labels[0] == "0.00000000120000"


def test_a_flat_zero_drawdown_axis_never_reads_above_zero():
    """An all-zero series was padded by ±1 absolute: a never-drawn-down strategy's drawdown axis read
    -100%..+100%. All zeros take the caller's zero_span; a flat non-zero level is padded by 1% of itself."""
    from python_assets.reports.charts import DRAWDOWN_ZERO_SPAN, y_range

    xs = [ms(2025, 3, d) for d in range(1, 4)]
    svg = line_chart([("dd", xs, [0.0, 0.0, 0.0])], "Drawdown", lambda v: fmt.pct(v, 1), zero_span=DRAWDOWN_ZERO_SPAN)
    labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert labels == ["-2.0%", "-1.5%", "-1.0%", "-0.5%", "+0.0%"]
    assert y_range(-0.05, -0.05) == pytest.approx((-0.0505, -0.0495)) and y_range(0.2, 0.7) == (0.2, 0.7)
    assert y_range(1e-9, 1e-9) == pytest.approx((0.99e-9, 1.01e-9))


def test_the_research_section_says_how_many_designs_ranked_by_status_and_how_many_are_new():
    from python_assets.reports.html import _research_counts

    research = {"status_counts": {"candidate": 38, "active": 21, "archived": 33},
                "new_designs": [{"design_id": f"d{i}"} for i in range(92)], "ranking": [{}] * 10, "transitions": []}
    assert _research_counts(research) == ("<p>92 designs ranked: 21 active, 33 archived, 38 candidate; 92 new today. "
                                          "The top 10:</p>")
    assert _research_counts({"status_counts": {}, "new_designs": []}) == ""  # no research on the day: no line


def test_fmt_shows_a_dash_for_what_overflows_or_no_date_holds_and_never_a_negative_zero():
    """pct(1e307) read '+inf%', drawdown(1e307) '+inf%' (a plus on a loss), utc_time(1e15) raised ValueError
    and utc_time(1e20) OSError (a corrupt *_at would stop the report's rendering), duration(-5) read '5.0s'
    (its sign lost) and price(-0.0) read '-0.00'."""
    assert (fmt.pct(1e307), fmt.share(1e307), fmt.drawdown(1e307), fmt.drawdown(-1e307)) == (fmt.DASH,) * 4
    assert fmt.pct(-1e307) == fmt.DASH and fmt.pct(1e10) == "+1000000000000.00%"
    assert (fmt.utc_time(1e15), fmt.utc_time(1e20), fmt.utc_time(-1e20), fmt.utc_time(float("nan"))) == (fmt.DASH,) * 4
    assert fmt.by_kind(10**30, "time") == fmt.DASH and fmt.utc_time(0) == "1970-01-01 00:00"
    assert (fmt.duration(-5), fmt.duration(-3725), fmt.duration(-0.01), fmt.duration(5)) == ("-5.0s", "-1h 2m", "0.0s", "5.0s")
    assert (fmt.price(-0.0), fmt.price(-1e-25), fmt.price(-0.001)) == ("0.00", "-1.00000e-25", "-0.00100000")


def test_a_chart_leaves_out_non_finite_points_and_scales_on_the_finite_ones():
    """Series reach the charts as the warehouse holds them: a NaN put 'nan' in the SVG's points, a NaN first
    made every y label a dash, and an inf did the same to a bar chart. Such a point is a gap in its line."""
    nan, inf = float("nan"), float("inf")
    xs = [ms(2025, 3, 10, h) for h in range(5)]
    for ys in ([1, 2, nan, 3, 4], [nan, 1, 2, 3, 4], [1, 2, inf, 3, 4], [1, 2, None, 3, -inf]):
        svg = line_chart([("a", xs, ys)], "t", fmt.price)
        labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
        assert "nan" not in svg and "inf" not in svg and fmt.DASH not in labels, ys
        assert labels[0] == "1.00000" and labels[-1] == ("3.00000" if ys[-1] == -inf else "4.00000"), (ys, labels)
    assert len(re.findall("<polyline", line_chart([("a", xs, [1, 2, nan, 3, 4])], "t"))) == 2  # the gap
    assert "no data" in line_chart([("a", xs[:2], [nan, inf])], "t")
    for bad in (nan, inf):
        svg = bar_chart([("m", {"model": bad, "baseline": 0.69})], "t")
        labels = re.findall(r'text-anchor="end">([^<]*)<', svg)
        assert "nan" not in svg and "inf" not in svg and labels == ["0", "0.1725", "0.3450", "0.5175", "0.6900"], labels
        assert len(re.findall("<rect x=", svg)) == 1 + 1 + 2  # one bar, the frame, two legend swatches


def test_the_dagster_markdown_table_keeps_its_columns_whatever_a_strategy_is_named():
    """Strategy names (a user's spec names them) went into the Dagster UI's Markdown table as written:
    'a|b' split the row into an extra column and a newline ended the table."""
    from python_assets.reports.daily_report import markdown_summary

    report = {"report_date": "2025-03-10", "review": {"summary": "s"},
              "symbols": [{"symbol": "BTC-USDT", "close": 1.0, "return_1d": 0.01}],
              "strategies": [{"strategy": name, "symbol": "BTC-USDT", "total_return": 0.1, "sharpe": 1.0,
                              "trade_count": 3} for name in ("a|b", "two\nlines", "back\\|slash")],
              "ml": {"models": [{"model": "m|x", "scorer": "model", "log_loss": 0.7}]}}
    lines = markdown_summary(report).splitlines()
    rows = [line for line in lines if line.startswith("|")]
    assert len(lines) == 15 and len(rows) == 11  # nothing split off: every table row stays a row
    cells = lambda line: re.split(r"(?<!\\)\|", line.replace("\\\\", ""))  # noqa: E731 - GFM: \| is no column
    assert all(len(cells(r)) == len(cells(rows[0])) for r in rows[:3])
    assert all(len(cells(r)) == 6 for r in rows[3:8]) and all(len(cells(r)) == 5 for r in rows[8:])
    assert r"| a\|b BTC-USDT |" in lines[8] and "| two lines BTC-USDT |" in lines[9] and r"back\\\|slash" in lines[10]
