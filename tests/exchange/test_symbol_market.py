"""One lake symbol holds one market's data (spot or perpetual swap, whose prices differ): the first writer that
knows its market records it for the symbol (<data>/.lake-markets/<SYMBOL>.json), and every writer that knows
its own market checks it under the symbol's lock: import, ingest and the inbox (by a freqtrade name), fetch,
the synthetic market and the recorders' merges (swaps). Writers of unknown market (a plain CSV) are not judged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import CLI
from fake_blofin import FakeBlofin

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, MarketRefused, make_exchange
from python_assets.exchange.history import fetch_funding_history, fetch_window
from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file, merge_closed_hours
from python_assets.ingest.importers import stored_market
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.sources import market_file

DAY = 1_738_540_800_000  # 2025-02-03 00:00 UTC


def spot_trades_file(path: Path) -> Path:
    """freqtrade's spot trades file of a pair (BASE_QUOTE-trades: spot by its name)."""
    path.write_text(json.dumps([[DAY + i * 60_000, f"t{i}", None, "buy", 10.0 + i, 1.0, 10.0 + i] for i in range(5)]))
    return path


def futures_candles_file(path: Path) -> Path:
    pd.DataFrame({"date": pd.to_datetime([DAY, DAY + 300_000], unit="ms", utc=True), "open": 1.0, "high": 1.0,
                  "low": 1.0, "close": 1.0, "volume": 1.0}).to_feather(path)
    return path


def cli(paths: Paths, *args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([*CLI, *args], env={**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), **env},
                          capture_output=True, text=True, timeout=120)


def test_spot_trades_mark_their_symbol_so_swap_data_is_refused_everywhere(data_dir, tmp_path):
    """Ticks carry no market of their own: an import of freqtrade's spot trades records the symbol as spot, so a
    swap candle file, the synthetic market and the recorder are refused there afterwards (each one line, exit 2)."""
    trades = spot_trades_file(tmp_path / "ETH_USDT-trades.json")
    assert cli(data_dir, "import", str(trades)).returncode == 0
    assert stored_market(data_dir, "ETH-USDT") == ("spot", "trades from ETH_USDT-trades.json")
    assert json.loads(market_file(data_dir, "ETH-USDT").read_text())["market"] == "spot"
    refused = [cli(data_dir, "import", str(futures_candles_file(tmp_path / "ETH_USDT_USDT-5m-futures.feather"))),
               cli(data_dir, "generate", "--start", "2025-02-04", "--end", "2025-02-04", "--symbols", "ETH-USDT"),
               cli(data_dir, "record", "--symbols", "eth/usdt:usdt", "--ws-url", "ws://127.0.0.1:9", "--duration", "1")]
    for out in refused:
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert "already holds spot data (trades from ETH_USDT-trades.json)" in out.stderr \
            or "holds spot data (trades from ETH_USDT-trades.json)" in out.stderr, out.stderr
    # the demo's synthetic market too (generated in a child process: the refusal comes back as its one line)
    demo = cli(data_dir, "demo", "--days", "1")
    lines = [line for line in demo.stderr.splitlines() if not line.startswith("generating symbol-days")]
    assert demo.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ETH-USDT: holds spot data (trades "
                                                                            "from ETH_USDT-trades.json)"), demo.stderr
    assert not (data_dir.funding / "symbol=ETH-USDT").exists()  # the synthetic funding was not written
    assert not (data_dir.candles / "symbol=ETH-USDT").exists()


def test_ingest_and_the_inbox_judge_a_freqtrade_named_trades_file_and_not_a_plain_one(data_dir, tmp_path):
    from python_assets.ingest.inbox import inbox_dir, process_inbox

    futures = futures_candles_file(tmp_path / "SOL_USDT_USDT-5m-futures.feather")
    assert cli(data_dir, "import", str(futures)).returncode == 0
    trades = spot_trades_file(tmp_path / "SOL_USDT-trades.json")
    out = cli(data_dir, "ingest", str(trades), "--symbol", "SOL-USDT")
    assert out.returncode == 2 and "spot trades of SOL-USDT, but SOL-USDT already holds perpetual-swap data" in out.stderr
    drop = inbox_dir(data_dir) / "SOL-USDT"
    drop.mkdir(parents=True)
    (drop / "SOL_USDT-trades.json").write_text(trades.read_text())
    (outcome,) = process_inbox(data_dir)
    assert outcome.error and "already holds perpetual-swap data" in outcome.error
    assert not (data_dir.trades / "symbol=SOL-USDT").exists()
    # a file whose name says no market is not judged
    plain = tmp_path / "sol.csv"
    pd.DataFrame({"trade_id": ["a", "b"], "ts": [DAY, DAY + 1000], "price": [1.0, 1.0], "size": [1.0, 1.0],
                  "side": ["buy", "sell"]}).to_csv(plain, index=False)
    assert cli(data_dir, "ingest", str(plain), "--symbol", "SOL-USDT").returncode == 0


def test_a_record_speaks_only_while_its_symbol_holds_data(data_dir, tmp_path):
    """A symbol's folders deleted to start again: its old record no longer refuses anything."""
    import shutil

    assert cli(data_dir, "import", str(spot_trades_file(tmp_path / "ADA_USDT-trades.json"))).returncode == 0
    assert stored_market(data_dir, "ADA-USDT")[0] == "spot"
    shutil.rmtree(data_dir.trades / "symbol=ADA-USDT")
    assert market_file(data_dir, "ADA-USDT").exists() and stored_market(data_dir, "ADA-USDT") is None
    assert cli(data_dir, "import", str(futures_candles_file(tmp_path / "ADA_USDT_USDT-5m-futures.feather"))).returncode == 0
    assert stored_market(data_dir, "ADA-USDT") == ("perp", "candles from ADA_USDT_USDT-5m-futures.feather")


def test_fetches_and_merges_of_swap_data_are_refused_for_a_spot_symbol_and_the_others_still_land(data_dir, tmp_path):
    assert cli(data_dir, "import", str(spot_trades_file(tmp_path / "BTC_USDT-trades.json"))).returncode == 0
    with FakeBlofin() as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1, backoff_s=0.05)
        # the Dagster ingest's window: ETH-USDT lands, then one refusal names BTC-USDT
        with pytest.raises(MarketRefused, match=r"BTC-USDT: blofin BTC/USDT:USDT is a perpetual-swap market, but "
                                                r"BTC-USDT already holds spot data \(trades from BTC_USDT-trades.json\)"):
            fetch_window(data_dir, ["BTC-USDT", "ETH-USDT"], DAY, DAY + 3_600_000, cfg)
        assert (data_dir.candles / "symbol=ETH-USDT").exists() and not (data_dir.candles / "symbol=BTC-USDT").exists()
        # funding of a spot market: there is none to fetch
        ex = make_exchange(cfg)
        ex.load_markets()
        ex.markets["SOL/USDT"] = {**ex.markets["BTC/USDT:USDT"], "symbol": "SOL/USDT", "type": "spot", "spot": True,
                                  "swap": False, "contract": False}
        with pytest.raises(MarketRefused, match="SOL/USDT is a spot market: funding rates exist for perpetual swaps only"):
            fetch_funding_history(ex, data_dir, "SOL/USDT", DAY, DAY + 86_400_000, cfg)
    # a recorder that started before the symbol became spot: its finished hours stay in live_trades
    ts = DAY + np.arange(0, 3_600_000, 60_000)
    rows = pd.DataFrame({"trade_id": [f"r{i}" for i in range(len(ts))], "ts": ts, "price": 100.0, "size": 0.5,
                         "side": "sell"})
    hour = hour_file(data_dir, "BTC-USDT", DAY)
    write_table_atomic(pa.Table.from_pandas(rows, schema=LIVE_SCHEMA, preserve_index=False), hour)
    with pytest.raises(MarketRefused, match="BTC-USDT: holds spot data"):
        merge_closed_hours(data_dir, "BTC-USDT", DAY + 10 * 3_600_000)
    assert hour.exists()
    trades = pd.read_parquet(next((data_dir.trades / "symbol=BTC-USDT").rglob("trades.parquet")))
    assert not trades["trade_id"].str.startswith("r").any()


def test_record_trades_refuses_before_any_request(data_dir, tmp_path):
    """Checked on the lake's spelling before the exchange is asked anything: an unreachable exchange does not
    delay the one line (it was retried for a minute, then exit 1)."""
    assert cli(data_dir, "import", str(spot_trades_file(tmp_path / "BTC_USDT-trades.json"))).returncode == 0
    out = cli(data_dir, "record-trades", "--symbol", "BTC/USDT:USDT", "--duration", "1",
              BLOFIN_API_URL="http://127.0.0.1:9", BLOFIN_MAX_RETRIES="5")
    assert out.returncode == 2 and out.stderr.splitlines() == [
        "error: BTC-USDT: holds spot data (trades from BTC_USDT-trades.json); the recorder records the perpetual "
        "swap, whose trades would mix with it: record it into another data dir"]
