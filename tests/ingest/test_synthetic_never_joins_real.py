"""Synthetic data never joins real data: the generator writes no ticks or funding into a symbol that holds
imported, ingested, fetched or recorded data (any day, any dataset), told without opening a data file (the
record every writer but the generator leaves, the market record, candles); `generate`, `demo` and `materialize`
with BLOFIN_SOURCE=synthetic refuse a lake holding real data in one line (exit 2), and `import` / `ingest` say
that their files are materialized with BLOFIN_SOURCE=lake."""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_cli.main import main
from dagster_defs.ingest.assets import fill_lake
from dagster_defs.resources import MarketSource
from python_assets.exchange.errors import MarketRefused
from python_assets.ingest.market import generate_market, generate_market_day, real_data, synthetic_source_refusal
from python_assets.lake.sources import MARKETS_DIR, REAL_DIR
from python_assets.lake.store import funding_partition, trades_partition

DAY = date(2025, 3, 10)
DAY_MS = 1_741_564_800_000  # 2025-03-10 00:00 UTC
CANDLES = "candles from XRP_USDT_USDT-5m-futures.feather"


def futures_candles(folder: Path) -> Path:
    """A day of freqtrade's 5m futures candles of XRP-USDT, priced as XRP is (about 1.04)."""
    path = folder / "XRP_USDT_USDT-5m-futures.feather"
    close = 1.04 + 0.01 * np.sin(np.arange(288) / 20)
    pd.DataFrame({"date": pd.to_datetime(DAY_MS + np.arange(288) * 300_000, unit="ms", utc=True), "open": close,
                  "high": close + 0.002, "low": close - 0.002, "close": close, "volume": 1000.0}).to_feather(path)
    return path


def synthetic_files(data_dir, symbol: str) -> list[Path]:
    """The trades and funding files a symbol holds."""
    return [f for root in (data_dir.trades, data_dir.funding) for f in (root / f"symbol={symbol}").rglob("*.parquet")]


def test_generate_writes_no_ticks_or_funding_into_a_symbol_holding_imported_candles(data_dir, tmp_path, capsys):
    """The review's repro: XRP-USDT's futures candles imported, then `generate` of that symbol-day wrote 28,086
    ticks priced 6742-7507 (XRP is ~1.04) and funding, which bars_1m prefers to the candles."""
    assert main(["import", str(futures_candles(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert main(["generate", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--symbols", "XRP-USDT"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: XRP-USDT: holds perpetual-swap data ({CANDLES}) under "
                                               f"{data_dir.candles / 'symbol=XRP-USDT'}; synthetic data never joins "
                                               "real data")
    with pytest.raises(MarketRefused, match="XRP-USDT: holds perpetual-swap data"):
        generate_market_day(data_dir, "xrp/usdt:usdt", DAY)
    with pytest.raises(MarketRefused):
        generate_market_day(data_dir, "XRP-USDT", DAY + timedelta(days=1))  # nor any other day of its series
    with pytest.raises(MarketRefused):  # checked before anything is written: BTC-USDT gets nothing either
        generate_market(data_dir, ["BTC-USDT", "XRP-USDT"], [DAY])
    assert synthetic_files(data_dir, "XRP-USDT") == [] and synthetic_files(data_dir, "BTC-USDT") == []
    assert [line for line in out.splitlines() if "BLOFIN_SOURCE" in line] == [  # the import's one hint
        "note: BLOFIN_SOURCE is synthetic (the default), which refuses a lake holding real data: materialize these "
        "files with BLOFIN_SOURCE=lake (e.g. `BLOFIN_SOURCE=lake blofin-stack materialize --date D`)"]


def test_a_lake_from_before_the_records_is_told_real_by_its_candles(data_dir, tmp_path):
    main(["import", str(futures_candles(tmp_path))])
    shutil.rmtree(data_dir.data_dir / REAL_DIR)
    shutil.rmtree(data_dir.data_dir / MARKETS_DIR)
    assert real_data(data_dir, "XRP-USDT") == "holds perpetual-swap data (candles written by an import or fetch)"
    with pytest.raises(MarketRefused):
        generate_market_day(data_dir, "XRP-USDT", DAY)
    assert synthetic_files(data_dir, "XRP-USDT") == []


def test_ingested_trades_keep_the_generator_off_every_day_of_their_symbol(data_dir, tmp_path, capsys, monkeypatch):
    """A plain CSV says no market, so only the real-data record tells: the day after it got synthetic ticks before,
    half a real and half a synthetic series."""
    path = tmp_path / "real.csv"
    path.write_text(f"ts,price,size,side\n{DAY_MS + 1000},10,1,buy\n")
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 0
    with pytest.raises(MarketRefused, match=r"BTC-USDT: holds real data \(trades written by an import, ingest"):
        generate_market(data_dir, ["BTC-USDT"], [DAY + timedelta(days=1)])
    assert [f.parent.name for f in synthetic_files(data_dir, "BTC-USDT")] == [f"date={DAY}"]
    assert "materialize these files with BLOFIN_SOURCE=lake" in capsys.readouterr().out
    monkeypatch.setenv("BLOFIN_SOURCE", "lake")  # the source that reads these files: no note
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 0
    assert "BLOFIN_SOURCE" not in capsys.readouterr().out


def test_the_synthetic_source_refuses_a_lake_holding_real_data_before_a_run(data_dir, tmp_path, capsys, monkeypatch):
    """The review's second repro: `materialize` with the default source generated BTC/ETH/SOL-USDT beside the
    imported XRP-USDT (fake markets in every table, nothing saying which); `generate` of another symbol and the
    demo are refused too, and the Dagster asset fails with the same line."""
    main(["import", str(futures_candles(tmp_path))])
    capsys.readouterr()
    for args in (["materialize", "--date", DAY.isoformat()], ["demo", "--days", "1"],
                 ["generate", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--symbols", "BTC-USDT"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: XRP-USDT: holds perpetual-swap data ({CANDLES})"), err
    assert "set BLOFIN_SOURCE=lake" in synthetic_source_refusal(data_dir)
    with pytest.raises(MarketRefused, match="set BLOFIN_SOURCE=lake"):
        fill_lake(data_dir, [DAY], MarketSource(kind="synthetic"), logging.getLogger("test"))
    assert not data_dir.trades.exists() and not data_dir.funding.exists()
    from blofin_cli.pipeline import synthetic_source_problem

    monkeypatch.setenv("BLOFIN_SOURCE", "lake")
    assert synthetic_source_problem() is None


def test_a_synthetic_lake_still_fills_a_killed_day_and_ignores_a_record_of_deleted_folders(data_dir):
    # real candles imported (before any synthetic data: a lake holding some takes none), then the symbol's
    # folders deleted to start again: its record speaks for nothing
    from python_assets.lake.store import write_candles

    write_candles(data_dir, "ETH-USDT", "1h", pd.DataFrame({"bar_at_ms": [DAY_MS], "open": 1.0, "high": 1.0, "low": 1.0,
                                                            "close": 1.0, "volume": 1.0, "source": ["csv"]}))
    assert real_data(data_dir, "ETH-USDT") is not None
    shutil.rmtree(data_dir.candles / "symbol=ETH-USDT")
    assert real_data(data_dir, "ETH-USDT") is None
    assert generate_market(data_dir, ["SOL-USDT"], [DAY]) > 0
    assert synthetic_source_refusal(data_dir) is None
    lost = funding_partition(data_dir, "SOL-USDT", DAY)
    kept = lost.read_bytes()
    lost.unlink()  # a kill between the day's trades and its funding
    assert generate_market_day(data_dir, "SOL-USDT", DAY)[1].added == 3
    assert lost.read_bytes() == kept
    assert generate_market(data_dir, ["ETH-USDT"], [DAY]) > 0
    assert real_data(data_dir, "ETH-USDT") is None and trades_partition(data_dir, "ETH-USDT", DAY).exists()
