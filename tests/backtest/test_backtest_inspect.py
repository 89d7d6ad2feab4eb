"""`blofin-stack backtest` output a trader can inspect: the summary, exit-reason table, trade list and
walk-forward view in the CLI output agree with the warehouse ledger; the HTML chart renders in
headless Chromium without the network; exports read back equal to the ledger rows; CLI conventions
(--symbols forms, --version, help on every option)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import external_requests
from PIL import Image

from blofin_cli.main import build_parser, main as cli_main
from python_assets.backtest.artifacts import export_run, load_run
from python_assets.config import Paths

from test_vs_backtesting_py import synthetic_ohlc

LEDGER_TRADES = "select * from backtest_trades where backtest_id in (select backtest_id from backtest_runs where run_id = ?)"
LEDGER_EQUITY = "select * from backtest_equity where backtest_id in (select backtest_id from backtest_runs where run_id = ?)"


@dataclass(frozen=True)
class CliRun:
    paths: Paths
    csv: Path
    out: str
    run_id: str


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> CliRun:
    """One walk-forward CLI backtest on ~5 days of 5m bars, exporting Parquet (shared by the tests here)."""
    root = tmp_path_factory.mktemp("inspect")
    csv = root / "SYNTH.csv"
    synthetic_ohlc(1500, 11).rename_axis("Date").reset_index().to_csv(csv, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOFIN_DATA_DIR", str(root / "data"))
        mp.delenv("DAGSTER_HOME", raising=False)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), "--symbols", "SYNTH",
                             "--trades", "5", "--walk-forward", "2:1", "--export", "parquet"])
    assert code == 0
    out = buf.getvalue()
    return CliRun(Paths((root / "data").resolve()), csv, out, re.search(r"stored as run (\w+)", out)[1])


def ledger(run: CliRun, sql: str, *params) -> pd.DataFrame:
    with duckdb.connect(str(run.paths.warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, [run.run_id, *params]).df()


@pytest.mark.slow
def test_cli_summary_exit_reasons_and_trade_list_agree_with_the_ledger(cli_run):
    out = cli_run.out
    full = ledger(cli_run, "select * from strategy_backtest_results where run_id = ? and window_kind = 'full'").iloc[0]
    trades = ledger(cli_run, LEDGER_TRADES + " and backtest_id = ? order by trade_no", full["backtest_id"])
    assert re.search(rf"^Return \[%\]\s+{full['total_return'] * 100:.2f}$", out, re.M)
    assert re.search(rf"^Max drawdown \[%\]\s+{full['max_drawdown'] * 100:.2f}$", out, re.M)
    assert re.search(rf"^Trades\s+{len(trades)}$", out, re.M) and f"Trades ({len(trades)})" in out
    days = (full["window_end"] - full["window_start"]).total_seconds() / 86400
    assert re.search(rf"^Trades / day\s+{len(trades) / days:.2f}$", out, re.M)
    # exit-reason table: one row per reason with its count and summed pnl
    for reason, g in trades.groupby("exit_reason"):
        assert re.search(rf"^{reason}\s+{len(g)}\s+.*\s{g['pnl'].sum():,.2f}\s", out, re.M), reason
    # the trade list: the first 5 trades, then how many more there are
    listed = re.findall(r"^(\d+)\s+SYNTH\s+(long|short)\s+(\S+ \S+)", out, re.M)
    first = trades.head(5)
    assert listed == [(str(t.trade_no), t.side, t.entry_at.strftime("%Y-%m-%d %H:%M")) for t in first.itertuples()]
    assert f"... {len(trades) - 5} more trades" in out
    assert max(len(line) for line in out.splitlines()) <= 130


@pytest.mark.slow
def test_walk_forward_view_chains_the_out_of_sample_folds(cli_run):
    oos = ledger(cli_run, "select * from strategy_backtest_results where run_id = ? and window_kind = 'out_of_sample' "
                 "order by window_id")
    assert len(oos) >= 3
    chained = float(np.prod(1 + oos["total_return"].to_numpy()) - 1)  # each fold restarts from the last one's equity
    line = re.search(r"^SYNTH\s+(\d+)\s+(\S+)\s+(\S+)\s", cli_run.out.split("Walk-forward")[1], re.M)
    assert int(line[1]) == len(oos) and float(line[3]) == pytest.approx(chained * 100, abs=0.005)
    folds = re.findall(r"^SYNTH\s+(wf\d\d)\s", cli_run.out.split("\nFolds\n")[1], re.M)
    assert folds == list(oos["window_id"])


@pytest.mark.slow
def test_exports_read_back_equal_to_the_ledger_rows(cli_run, tmp_path):
    with duckdb.connect(str(cli_run.paths.warehouse), read_only=True) as con:
        run = load_run(con, cli_run.run_id)
    wanted = {"trades": ledger(cli_run, LEDGER_TRADES + " order by backtest_id, trade_no"),
              "equity": ledger(cli_run, LEDGER_EQUITY + " order by backtest_id, bar_at_ms")}
    files = {"parquet": [cli_run.paths.data_dir / "backtests" / f"{cli_run.run_id}_{n}.parquet" for n in wanted]}
    files["csv"] = export_run(run, tmp_path, "csv")
    files["json"] = export_run(run, tmp_path, "json")
    for fmt, paths in files.items():
        for name, path in zip(wanted, paths):
            want = wanted[name]
            if fmt == "parquet":
                got = pd.read_parquet(path)
            elif fmt == "csv":
                got = pd.read_csv(path)
            else:
                got = pd.DataFrame(json.loads(path.read_text()))
            got = got.sort_values(list(want.columns[:2]), kind="stable").reset_index(drop=True)[list(want.columns)]
            for c in want.columns:
                if isinstance(want[c].dtype, pd.DatetimeTZDtype):
                    got[c] = pd.to_datetime(got[c], utc=True).dt.as_unit(want[c].dt.unit)
            want = want.sort_values(list(want.columns[:2]), kind="stable").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True, obj=f"{fmt} {name}")
            assert len(got) > 0


@pytest.mark.slow
def test_html_chart_renders_markers_equity_and_drawdown_offline(cli_run, chromium, tmp_path):
    page = cli_run.paths.data_dir / "backtests" / f"{cli_run.run_id}.html"
    text = page.read_text()
    assert not re.search(r"""<(script|link|img)[^>]*(src|href)=["']?https?:""", text)
    doc = json.loads(re.findall(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', text, re.S)[0])
    names = re.findall(r'"type":"object","name":"GlyphRenderer","id":"[^"]+","attributes":\{"name":"(\w+)"', json.dumps(doc, separators=(",", ":")))
    assert {"close", "ind_sma_close_10", "ind_sma_close_30", "entries", "exits", "equity", "buy_and_hold", "drawdown"} <= set(names)
    # a copy with a probe that counts the canvases BokehJS drew (they live in shadow roots, which --dump-dom skips)
    probe = tmp_path / "probe.html"
    head, tail = text.rsplit("</body>", 1)
    probe.write_text(head + PROBE + "</body>" + tail)
    common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              "--window-size=1400,1000", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--no-default-browser-check",
              "--disable-features=SpellCheck,Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
              "--virtual-time-budget=30000", f"--user-data-dir={tmp_path / 'profile'}"]
    shot, netlog = tmp_path / "chart.png", tmp_path / "net.json"
    subprocess.run([*common, f"--screenshot={shot}", f"--log-net-log={netlog}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", probe.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    drawn = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom)[1])
    assert drawn["canvases"] >= 3  # price, equity, drawdown
    img = Image.open(shot).convert("L")
    hist = img.histogram()
    assert sum(1 for n in hist if n) > 20 and max(hist) < img.size[0] * img.size[1] * 0.95
    assert external_requests(netlog) == []


PROBE = """<script>
function walk(node, out) {
  for (const el of node.querySelectorAll("*")) {
    if (el.tagName === "CANVAS") out.canvases++;
    if (el.shadowRoot) walk(el.shadowRoot, out);
  }
  return out;
}
let tries = 0;
function probe() {
  const out = walk(document, {canvases: 0});
  if (out.canvases === 0 && ++tries < 300) { setTimeout(probe, 100); return; }
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
window.addEventListener("load", probe);
</script>"""


def test_symbols_take_spaces_or_commas():
    parse = lambda *s: build_parser().parse_args(["backtest", "--strategy", "sma_cross", "--symbols", *s]).symbols  # noqa: E731
    flat = lambda groups: [s for g in groups for s in g]  # noqa: E731
    assert flat(parse("BTC-USDT", "ETH-USDT")) == flat(parse("BTC-USDT,ETH-USDT")) == ["BTC-USDT", "ETH-USDT"]
    assert flat(parse("BTC-USDT,", "ETH-USDT")) == ["BTC-USDT", "ETH-USDT"]


def test_an_unknown_symbol_is_one_line_naming_the_known_ones(data_dir, tmp_path, capsys):
    csv = tmp_path / "SYNTH.csv"
    synthetic_ohlc(200, 3).rename_axis("Date").reset_index().to_csv(csv, index=False)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), "--symbols", "SYNTH,NOPE"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown symbol NOPE") and "SYNTH" in err



@pytest.mark.parametrize("args,says", [
    (["backtest", "--strategy", "sma_cross", "--fees", "-1"], "argument --fees: a fee is a fraction of the notional"),
    (["backtest", "--strategy", "sma_cross", "--fees", "nan"], "argument --fees: not a finite number"),
    (["backtest", "--strategy", "sma_cross", "--equity", "0"], "argument --equity: must be > 0"),
    (["backtest", "--strategy", "sma_cross", "--slippage-bps", "-50"], "argument --slippage-bps: must be >= 0"),
    (["generate", "--start", "2025-03-01", "--end", "2025-03-01", "--seed", "-1"], "argument --seed: must be >= 0"),
])
def test_meaningless_numbers_are_refused_by_the_parser(args, says, capsys):
    # a negative fee divided by zero in sizing, NaN failed a database constraint, a zero or negative equity
    # or slippage ran and stored meaningless results, a negative seed reached NumPy: now exit 2, one line
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(args)
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_bad_generate_walk_forward_and_ingest_inputs_are_one_line_and_exit_2(data_dir, tmp_path, capsys):
    assert cli_main(["generate", "--start", "2025-03-02", "--end", "2025-03-01"]) == 2
    assert capsys.readouterr().err == "error: --start 2025-03-02 is after --end 2025-03-01\n"
    csv = tmp_path / "SYNTH.csv"
    synthetic_ohlc(200, 3).rename_axis("Date").reset_index().to_csv(csv, index=False)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), "--walk-forward", "0:0"]) == 2
    assert "expected TRAIN:TEST[:anchored] in days" in capsys.readouterr().err
    assert cli_main(["ingest", str(tmp_path / "missing.csv"), "--symbol", "BTC-USDT"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'missing.csv'}: no such file\n"  # as `import` says it

def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["--version"])
    assert exc.value.code == 0 and re.match(r"blofin-stack \d+\.\d+\.\d+", capsys.readouterr().out)


def _parsers(parser: argparse.ArgumentParser, path: str = "blofin-stack"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [f"{path} {a.option_strings or a.dest}" for path, p in _parsers(build_parser()) for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help and a.help.strip())]
    assert missing == []


def test_report_units_are_hand_checkable():
    from python_assets.backtest.report import chained_equity, duration, pct, table

    assert duration(90_061_000) == "1d 01:01" and duration(300_000) == "00:05" and duration(None) == "-"
    assert pct(-0.10875) == "-10.88" and pct(float("nan")) == "-"
    # two folds from 100: +10% then -50% of 110 -> 55 at the end
    eq = pd.DataFrame({"backtest_id": ["a", "a", "b", "b"], "bar_at_ms": [1, 2, 3, 4], "equity": [105.0, 110.0, 80.0, 50.0]})
    assert chained_equity(eq, ["a", "b"], 100.0).tolist() == pytest.approx([105, 110, 88, 55])
    assert table(["x", "n"], [["a", "1"], ["bb", "22"]]).splitlines() == ["x    n", "--  --", "a    1", "bb  22"]


def test_the_chart_shows_a_hostile_strategy_name_as_text(cli_run):
    # the heading is a Div, whose text the browser renders as HTML: a spec file's name ran its script
    from dataclasses import replace

    from python_assets.backtest.chart import chart_html, heading

    hostile = 'x<img src=x onerror="document.title=1">&'
    assert heading("r1", hostile).text == "<h2>Backtest r1: x&lt;img src=x onerror=&quot;document.title=1&quot;&gt;&amp;</h2>"
    with duckdb.connect(str(cli_run.paths.warehouse), read_only=True) as con:
        run = load_run(con, cli_run.run_id)
    page = chart_html(replace(run, results=[{**r, "strategy_id": hostile} for r in run.results]))
    assert "document.title=1" in page and "x<img" not in page.replace("\\u003c", "<")
