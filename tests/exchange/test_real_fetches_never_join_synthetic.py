"""Fetched and recorded data never join a symbol the synthetic generator wrote (README's path: `make run`, then
`record`, `record-trades` or `fetch-ohlcv` into the same data dir): the recorders refuse before connecting, a fetch
sends no data request, and a recorder's finished hours stay in live_trades (its merge refused), each in one line
saying to use another BLOFIN_DATA_DIR or delete the symbol's synthetic folders."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fake_blofin import FakeBlofin

from blofin_cli.main import main
from python_assets.exchange.client import ExchangeConfig, MarketRefused
from python_assets.exchange.history import fetch_funding_history, fetch_ohlcv_history
from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file, merge_closed_hours
from python_assets.ingest.market import generate_market
from python_assets.lake.atomic import write_table_atomic

DAY = date(2025, 2, 3)
DAY_MS = 1_738_540_800_000  # 2025-02-03 00:00 UTC
SAYS = "BTC-USDT: holds synthetic data (from `generate`, `demo` or a run with BLOFIN_SOURCE=synthetic) under "


def real_files(data_dir) -> list[str]:
    """BTC-USDT's files a real writer would have added: candles, or days other than the generated one."""
    roots = (data_dir.trades, data_dir.funding, data_dir.candles)
    return [str(f) for root in roots for f in (root / "symbol=BTC-USDT").rglob("*.parquet")
            if root == data_dir.candles or f"date={DAY}" not in str(f)]


def test_record_and_record_trades_refuse_a_synthetic_symbol_before_connecting(data_dir, capsys, monkeypatch):
    """Both recorders refuse the synthetic symbol, and `record` refuses ETH-USDT beside it too (a lake holding
    synthetic data takes no real data: its build reads every symbol); a dry run, which writes nothing, says what
    a real run would refuse and exits 0 (it exited 2 with the refusal)."""
    generate_market(data_dir, ["BTC-USDT"], [DAY])
    with FakeBlofin() as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        for args in (["record", "--symbols", "BTC-USDT,ETH-USDT", "--ws-url", "ws://127.0.0.1:9", "--rest-url", fake.url,
                      "--duration", "1"],
                     ["record-trades", "--symbol", "btc/usdt:usdt", "--duration", "1"]):
            assert main(args) == 2, args
            out = capsys.readouterr()
            assert out.err.startswith(f"error: {SAYS}") and out.out == "", out.err
            assert "another BLOFIN_DATA_DIR, or delete those folders first" in out.err.splitlines()[0]
            assert len(out.err.splitlines()) == (2 if args[0] == "record" else 1), out.err
        assert main(["record", "--symbols", "BTC-USDT,ETH-USDT", "--dry-run"]) == 0
        out = capsys.readouterr()
        said = [line for line in out.out.splitlines() if line.startswith("a real run would refuse: ")]
        assert said[0].startswith(f"a real run would refuse: {SAYS}") and len(said) == 2 and out.err == "", out
        assert "would connect to" in out.out
        assert fake.requests == []


def test_a_fetch_into_a_synthetic_symbol_is_refused_before_its_data_requests(data_dir):
    generate_market(data_dir, ["BTC-USDT"], [DAY])
    with FakeBlofin() as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1, backoff_s=0.05)
        from python_assets.exchange.client import make_exchange

        ex = make_exchange(cfg)
        with pytest.raises(MarketRefused, match="BTC-USDT: holds synthetic data"):
            fetch_ohlcv_history(ex, data_dir, "BTC/USDT:USDT", "1m", DAY_MS - 86_400_000, DAY_MS, cfg)
        with pytest.raises(MarketRefused, match="BTC-USDT: holds synthetic data"):
            fetch_funding_history(ex, data_dir, "BTC/USDT:USDT", DAY_MS - 86_400_000, DAY_MS, cfg)
        # another symbol too: a build reads every symbol of the lake, so the synthetic one would join it
        with pytest.raises(MarketRefused, match="ETH-USDT: the lake .* holds synthetic data .* of BTC-USDT"):
            fetch_ohlcv_history(ex, data_dir, "ETH/USDT:USDT", "1m", DAY_MS - 86_400_000, DAY_MS, cfg)
        assert not any(name in ("candles", "funding") for _, name, _ in fake.requests)
    assert real_files(data_dir) == [] and not any(data_dir.lake.rglob("symbol=ETH-USDT"))


def test_a_recorders_finished_hours_stay_in_live_trades_for_a_synthetic_symbol(data_dir):
    generate_market(data_dir, ["BTC-USDT"], [DAY])
    later = DAY_MS + 3 * 86_400_000
    ts = later + np.arange(0, 3_600_000, 60_000)
    rows = pd.DataFrame({"trade_id": [f"r{i}" for i in range(len(ts))], "ts": ts, "price": 100.0, "size": 0.5,
                         "side": "sell"})
    hour = hour_file(data_dir, "BTC-USDT", later)
    write_table_atomic(pa.Table.from_pandas(rows, schema=LIVE_SCHEMA, preserve_index=False), hour)
    with pytest.raises(MarketRefused, match=f"{SAYS.replace('(', '.').replace(')', '.')}"):
        merge_closed_hours(data_dir, "BTC-USDT", later + 10 * 3_600_000)
    assert hour.exists() and real_files(data_dir) == []
