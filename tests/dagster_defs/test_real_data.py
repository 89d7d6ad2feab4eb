"""The whole graph on real candles: freqtrade's XRP/USDT:USDT futures 5m candles and 8h funding imported
(no ticks at all), two days backfilled with BLOFIN_SOURCE=lake, and a valid report measured at 5m."""

from __future__ import annotations

import json
import os
import subprocess

import duckdb
import pandas as pd
import pytest
from conftest import CLI, shared_file

# a minute of the whole graph: run by `make soak`; `make test` covers import -> bars -> backtest with
# funding in tests/backtest/test_freqtrade_futures.py
pytestmark = pytest.mark.skipif(not os.environ.get("BLOFIN_SOAK"), reason="whole-graph backfill: make soak")


def test_backfill_on_imported_futures_candles_produces_a_report(data_dir):
    files = [str(shared_file("freqtrade/futures/XRP_USDT_USDT-5m-futures.feather")),
             str(shared_file("freqtrade/futures/XRP_USDT_USDT-8h-funding_rate.feather"))]
    env = {**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir), "BLOFIN_SOURCE": "lake",
           "BLOFIN_SYMBOLS": "XRP-USDT", "BLOFIN_PARTITIONS_START": "2021-11-01"}
    subprocess.run([*CLI, "import", *files], env=env, check=True, capture_output=True)
    run = subprocess.run([*CLI, "backfill", "--start", "2021-11-20", "--end", "2021-11-21"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr + (data_dir.data_dir / "last_run.log").read_text()[-5000:]

    report = json.loads((data_dir.reports / "2021-11-21.json").read_text())
    (sym,) = report["symbols"]
    candles = pd.read_feather(files[0])
    day = candles[(candles["date"] >= "2021-11-21") & (candles["date"] < "2021-11-22") & (candles["volume"] > 0)]
    assert sym["symbol"] == "XRP-USDT" and sym["trade_count"] is None
    assert sym["bars"]["1m"] == 0 and sym["bars"]["5m"] == len(day)
    assert sym["data_gaps"]["resolution"] == "5m"
    assert sym["data_gaps"]["missing_minutes"] == 1440 - 5 * len(day)
    assert sym["close"] == day["close"].iloc[-1]
    assert report["strategies"], "backtests ran on the candle-built bars"
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        funded = con.execute("select count(*) from backtest_trades where funding <> 0").fetchall()[0][0]
    assert funded > 0  # the imported funding was charged
