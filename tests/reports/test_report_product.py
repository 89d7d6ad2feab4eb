"""The report as a product, on one materialized day: schema-valid JSON whose numbers equal SQL on
the marts, an HTML page that renders in headless Chromium without any network request, and
`blofin-stack report` rebuilding the day."""

from __future__ import annotations

import html
import json
import re
import subprocess

import duckdb
import jsonschema
import pytest
from conftest import TEST_DAYS, copy_data_dir, external_requests
from PIL import Image

from blofin_cli.main import main as cli_main
from python_assets.reports.recorder import NO_RECORDER_DATA
from python_assets.reports.schema import report_schema, validate_report


@pytest.fixture(scope="module")
def materialized(built_first_day, tmp_path_factory):
    """A copy of the session's one materialized day (module-scoped: several tests read it, `report` rewrites it)."""
    mp = pytest.MonkeyPatch()
    yield copy_data_dir(built_first_day, tmp_path_factory.mktemp("report") / "data", mp)
    mp.undo()


@pytest.mark.slow
def test_report_is_schema_valid_and_its_numbers_equal_sql_on_the_marts(materialized):
    day = TEST_DAYS[0]
    report = json.loads((materialized.reports / f"{day}.json").read_text())
    validate_report(report)
    assert report_schema()["properties"]["schema_version"]["const"] == report["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        validate_report({**report, "symbols": [{**report["symbols"][0], "trade_count": -1}]})
    assert report["run"]["stage_seconds"]["warehouse_dbt_assets"] > 0 and report["failed_checks"] == []
    with duckdb.connect(str(materialized.warehouse), read_only=True) as con:
        closes = dict(con.execute("select symbol, close from daily_market_summary where report_date = ?", [day]).fetchall())
        assert {s["symbol"]: s["close"] for s in report["symbols"]} == closes
        top = con.execute("""select backtest_id, composite_score from strategy_backtest_results where partition_date = ?
                             and window_kind = 'full' and kind in ('daily', 'ml') and trade_count >= 5
                             and symbol in (select symbol from bars_1d where bar_date = partition_date)
                             order by composite_score desc nulls last, strategy, symbol limit 10""", [day]).fetchall()
        assert [(s["backtest_id"], s["composite_score"]) for s in report["strategies"]] == top
        models = con.execute("""select model, scorer, log_loss, rmse from ml_model_results where partition_date = ?
                                and fold = 'overall' order by model, scorer""", [day]).fetchall()
        assert [(m["model"], m["scorer"], m["log_loss"], m["rmse"]) for m in report["ml"]["models"]] == models
        ranking = con.execute("select design_id, rank, score from ranking_history where run_date = ? order by rank limit 10",
                              [day]).fetchall()
        assert [(r["design_id"], r["rank"], r["score"]) for r in report["research"]["ranking"]] == ranking
        overfit = con.execute("select design_id, pbo, deflated_sharpe from strategy_overfitting where run_date = ? "
                              "order by rank limit 10", [day]).fetchall()
        assert [(r["design_id"], r["pbo"], r["deflated_sharpe"]) for r in report["overfitting"]["designs"]] == overfit
        assert len(overfit) == len(ranking)
        mc = con.execute("select design_id, method, max_drawdown_p05, final_return_p05 from strategy_monte_carlo "
                         "where run_date = ? order by rank, method", [day]).fetchall()
        assert [(m["design_id"], m["method"], m["max_drawdown_p05"], m["final_return_p05"]) for m in report["monte_carlo"]] == mc
        assert mc and {m[0] for m in mc} <= {r[0] for r in ranking[:5]}
        fills = con.execute("""select design_id, fill_mode, net_return from fill_sensitivity where run_date = ?
                               order by rank, design_id, fill_mode""", [day]).fetchall()
        assert [(e["design_id"], m, e["net_return"][m]) for e in report["fill_sensitivity"]
                for m in sorted(e["net_return"])] == fills
        assert [e["design_id"] for e in report["fill_sensitivity"]] == [r[0] for r in ranking[:5]]
        stored = json.loads(con.execute("select report_json from daily_reports where report_date = ?", [day]).fetchall()[0][0])
    assert stored == report
    assert report["review"]["analyst"] == "deterministic" and report["review"]["summary"]
    assert report["recorder"] == {"coverage": [], "books": [], "note": NO_RECORDER_DATA,
                                  "backtest_spans": []}  # the demo has no recorder


@pytest.mark.slow
def test_html_renders_in_headless_chromium_without_network(materialized, chromium, tmp_path):
    page = materialized.reports / f"{TEST_DAYS[0]}.html"
    text = page.read_text()
    assert "<script" not in text and 'src="http' not in text and 'href="http' not in text
    shot, netlog = tmp_path / "page.png", tmp_path / "net.json"
    # the browser's own chatter (time sync, spell-check dictionaries, components) is switched off,
    # so any http(s) request left in the net log would come from the page
    common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              "--window-size=1200,2400", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--no-default-browser-check",
              "--disable-features=SpellCheck,Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
              f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*common, f"--screenshot={shot}", f"--log-net-log={netlog}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<svg") >= 5 and dom.count("<table") >= 5 and "Top strategies" in dom
    # every chart over time has a dated axis; no number anywhere prints in scientific notation
    svgs = re.findall(r"<svg.*?</svg>", text)
    timed = [s for s in svgs if "time (UTC)" in s]
    assert len(timed) >= 3 and all(re.search(r'class="xtick"[^>]*>(\d{4}-\d{2}-\d{2}|\d{2}-\d{2} \d{2}:\d{2})<', s)
                                   for s in timed)
    visible = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", " ", text, flags=re.S)))
    # the code version is a git hash (``0.1.0+gf0e8323``), not a number: its "0e8" is no exponent
    visible = visible.replace(json.loads(page.with_suffix(".json").read_text())["code_version"], " ")
    sci = r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+"
    assert not re.search(sci, visible), re.findall(sci, visible)[:5]
    assert re.search(sci, "x 1.5e-07 y") and not re.search(sci, "g0e8323")
    assert "buy &amp; hold" in text and "Recent trades of the top strategies" in dom and "Failed asset checks" in dom
    img = Image.open(shot).convert("L")
    hist = img.histogram()
    assert img.size[0] >= 1000 and sum(1 for n in hist if n) > 20 and max(hist) < img.size[0] * img.size[1] * 0.98
    assert external_requests(netlog) == []
    # the detector itself catches a page that does fetch something
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://127.0.0.1:9/pixel.png"></body></html>')
    probe_log = tmp_path / "probe.json"
    subprocess.run([*common, f"--log-net-log={probe_log}", "--dump-dom", probe.as_uri()], capture_output=True, timeout=120)
    assert external_requests(probe_log) == ["http://127.0.0.1:9/pixel.png"]
    assert (materialized.reports / "index.html").read_text().count(f"{TEST_DAYS[0]}.html") == 1


@pytest.mark.slow
def test_cli_report_rebuilds_the_day(materialized, capsys, monkeypatch):
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(materialized.data_dir))
    path = materialized.reports / f"{TEST_DAYS[0]}.json"
    path.unlink()
    assert cli_main(["report", "--date", TEST_DAYS[0].isoformat()]) == 0
    rebuilt = json.loads(path.read_text())
    validate_report(rebuilt)
    assert rebuilt["run"]["rebuilt_by"] == "cli" and rebuilt["symbols"]
    assert cli_main(["report", "--date", "2020-01-01"]) == 2
    # the rebuild keeps what the run knew and the warehouse cannot: its run id and the failed checks (they
    # were dropped: the HTML then said every asset check passed)
    day, failed = TEST_DAYS[0], [{"asset": "bars_1m", "check": "bars_1m_is_fresh"}]
    with duckdb.connect(str(materialized.warehouse)) as con:
        stored = json.loads(con.execute("select report_json from daily_reports where report_date = ?", [day]).fetchone()[0])
        con.execute("update daily_reports set report_json = ? where report_date = ?",
                    [json.dumps({**stored, "run": {**stored["run"], "run_id": "r-1"}, "failed_checks": failed}), day])
    try:
        assert cli_main(["report", "--date", day.isoformat()]) == 0
        again = json.loads(path.read_text())
        assert again["failed_checks"] == failed and again["run"]["run_id"] == "r-1"
        assert "bars_1m_is_fresh" in path.with_suffix(".html").read_text()
    finally:
        with duckdb.connect(str(materialized.warehouse)) as con:
            con.execute("update daily_reports set report_json = ? where report_date = ?", [json.dumps(stored), day])
        assert cli_main(["report", "--date", day.isoformat()]) == 0
