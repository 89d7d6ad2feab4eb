"""A file's own symbol column is checked against the symbol its rows go under: trades of another market
are quarantined as symbol_mismatch (the rest kept); candle and funding files naming another are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.ingest.importers import ImportFileError, import_file
from python_assets.ingest.symbols import other_symbol
from python_assets.ingest.trades import ingest_file

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 3 * 86_400_000


@pytest.mark.parametrize("value, other, other_than_spot", [
    ("ETH/USDT:USDT", False, True), ("ETHUSDT", False, False), ("ETH-USDT-SWAP", False, True), ("eth_usdt", False, False),
    ("ETHUSD_PERP", False, True), ("ETH-PERPETUAL", False, True), ("", False, False), (None, False, False),
    ("BTC/USDT:USDT", True, True), ("BTCUSDT", True, True), ("ETH/BTC", True, True), ("not a symbol!", True, True),
])
def test_the_symbol_spellings_of_one_market_match(value: str | None, other: bool, other_than_spot: bool) -> None:
    """Into a -SPOT symbol (the name `import` suggests for spot data), a row explicitly naming a swap is another market."""
    values = pd.Series([value], dtype=object)
    assert other_symbol(values, "ETH-USDT").tolist() == [other]
    assert other_symbol(values, "ETH-USDT-PERP").tolist() == [other]
    assert other_symbol(values, "ETH-USDT-SPOT").tolist() == [other_than_spot]


def test_swap_trades_are_not_stored_under_a_spot_symbol(data_dir: Paths, tmp_path: Path) -> None:
    path = _ccxt_dump(tmp_path / "dump.jsonl")
    r = ingest_file(data_dir, path, "BTC-USDT-SPOT", now=NOW)
    assert (r.rows_read, r.rows_added, r.reasons) == (4, 0, {"symbol_mismatch": 4})


@pytest.mark.parametrize("value, symbol", [
    ("XBTUSD", "BTC-USD"), ("XBT/USD", "BTC-USD"), ("XXBTZUSD", "BTC-USD"), ("tBTCUSD", "BTC-USD"),
    ("BTC-PERPETUAL", "BTC-USD"), ("BTCUSD_PERP", "BTC-USD"), ("BTC/USD:BTC", "BTC-USD"), ("XBTUSDTM", "BTC-USDT"),
    ("BTCUSDT_UMCBL", "BTC-USDT"), ("BTC/USDC", "BTC-USDT"), ("1000PEPEUSDT", "1000PEPE-USDT"), ("BTCUSDT", "XBT-USDT"),
    ("???", "BTC-USDT"),
])
def test_other_exchanges_notations_of_the_market_are_not_a_mismatch(value: str, symbol: str) -> None:
    """BTC is XBT on BitMEX, Kraken and KuCoin, Bitfinex prefixes t, Deribit writes PERPETUAL: all one market."""
    assert other_symbol(pd.Series([value], dtype=object), symbol).tolist() == [False]


@pytest.mark.parametrize("value, symbol", [
    ("ETHUSDT", "BTC-USDT"), ("XETHZUSD", "BTC-USD"), ("XXBTZEUR", "BTC-USD"), ("BTC/EUR", "BTC-USDT"),
    ("ETH/BTC", "ETH-USDT"), ("PEPEUSDT", "1000PEPE-USDT"), ("tETHUSD", "BTC-USD"),
    ("ETHW/USDT", "ETH-USDT"), ("ETHFI-USDT", "ETH-USDT"), ("BTCDOM_USDT", "BTC-USDT"),
])
def test_another_base_or_an_incompatible_quote_is_a_mismatch(value: str, symbol: str) -> None:
    assert other_symbol(pd.Series([value], dtype=object), symbol).tolist() == [True]


def test_bitmex_trades_go_under_btc_usd(data_dir: Paths, tmp_path: Path) -> None:
    """A BitMEX dump (symbol XBTUSD) into BTC-USD was quarantined whole as symbol_mismatch."""
    path = tmp_path / "bitmex.csv"
    path.write_text("timestamp,symbol,side,size,price,trdMatchID\n"
                    + "".join(f"{T0 + i * 1000},XBTUSD,Buy,{1 + i},{80000 + i},{100 + i}\n" for i in range(3)))
    r = ingest_file(data_dir, path, "BTC-USD", now=NOW)
    assert (r.rows_read, r.rows_added, r.quarantined) == (3, 3, 0)


def _ccxt_dump(path: Path) -> Path:
    """Three ETH trades and one BTC trade, as ccxt's fetch_trades writes them."""
    rows = [{"id": str(100 + i), "timestamp": T0 + i * 1000, "symbol": "ETH/USDT:USDT", "price": 2000 + i,
             "amount": 1, "side": "buy"} for i in range(3)]
    rows.append({"id": "200", "timestamp": T0 + 9000, "symbol": "BTC/USDT:USDT", "price": 80000, "amount": 1,
                 "side": "sell"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _stored_prices(paths: Paths, symbol: str) -> list[float]:
    files = sorted((paths.trades / f"symbol={symbol}").glob("date=*/trades.parquet"))
    return sorted(pd.concat([pd.read_parquet(p) for p in files])["price"].tolist()) if files else []


@pytest.mark.parametrize("symbol, added, prices", [
    ("BTC-USDT", 1, [80000.0]),
    ("ETH-USDT", 3, [2000.0, 2001.0, 2002.0]),
])
def test_trades_of_another_symbol_are_quarantined_and_counted(data_dir: Paths, tmp_path: Path, symbol: str, added: int,
                                                              prices: list[float]) -> None:
    path = _ccxt_dump(tmp_path / "dump.jsonl")
    r = ingest_file(data_dir, path, symbol, now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates, r.reasons) == (4, added, 0, {"symbol_mismatch": 4 - added})
    assert _stored_prices(data_dir, symbol) == prices
    again = ingest_file(data_dir, path, symbol, now=NOW)
    assert (again.rows_added, again.duplicates, again.quarantined) == (0, added, 4 - added)


def test_a_funding_file_of_another_symbol_is_refused(data_dir: Paths, tmp_path: Path) -> None:
    path = tmp_path / "funding.csv"
    pd.DataFrame({"fundingTime": [T0, T0 + 8 * 3_600_000], "fundingRate": [0.0001, 0.0002],
                  "symbol": ["ETHUSDT", "ETHUSDT"]}).to_csv(path, index=False)
    with pytest.raises(ImportFileError, match=r"row 1 is 'ETHUSDT', not BTC-USDT"):
        import_file(data_dir, path, kind="funding", symbol="BTC-USDT")
    assert not data_dir.funding.exists() or not list(data_dir.funding.rglob("*.parquet"))
    assert import_file(data_dir, path, kind="funding", symbol="ETH-USDT").rows_added == 2


def test_a_funding_file_in_krakens_notation_is_imported(data_dir: Paths, tmp_path: Path) -> None:
    path = tmp_path / "funding.csv"
    pd.DataFrame({"fundingTime": [T0, T0 + 8 * 3_600_000], "fundingRate": [0.0001, 0.0002],
                  "symbol": ["XXBTZUSD", "XXBTZUSD"]}).to_csv(path, index=False)
    assert import_file(data_dir, path, kind="funding", symbol="BTC-USD").rows_added == 2


def test_a_candle_file_of_another_symbol_is_refused(data_dir: Paths, tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    times = [T0 + i * 3_600_000 for i in range(3)]
    pd.DataFrame({"timestamp": times, "symbol": ["ETH/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"], "open": 10.0,
                  "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}).to_csv(path, index=False)
    with pytest.raises(ImportFileError, match=r"row 2 is 'BTC/USDT:USDT', not ETH-USDT"):
        import_file(data_dir, path, kind="candles", symbol="ETH-USDT", timeframe="1h")


@pytest.mark.parametrize("spelling, lake", [
    ("BTCUSDT", "BTC-USDT"), ("btcusdc", "BTC-USDC"), ("1000PEPEUSDT", "1000PEPE-USDT"), ("BTCUSDT-SWAP", "BTC-USDT"),
    ("ETHUSDT-SPOT", "ETH-USDT-SPOT"), ("USDCUSDT", "USDC-USDT"),
    ("USDT", "USDT"), ("WBTC", "WBTC"), ("STETH", "STETH"), ("SUSD", "SUSD"),  # a coin's own name is kept
])
def test_a_separator_less_symbol_is_spelled_as_its_rows_are_read(spelling: str, lake: str) -> None:
    """--symbol BTCUSDT made a second lake symbol beside BTC-USDT while a BTCUSDT row was already read as BTC-USDT:
    split_joined and the symbol-column check now read the quote from one table. normalize_symbol, by which every
    lake path is found, keeps the joined name (a lake folder written BTCUSDT before the split is its own name)."""
    from python_assets.lake.store import normalize_symbol
    from python_assets.lake.symbol_names import JOINED_QUOTES, KNOWN_QUOTES, split_joined

    assert split_joined(spelling) == lake
    assert normalize_symbol(normalize_symbol(spelling)) == normalize_symbol(spelling)
    assert normalize_symbol(spelling).replace("-SWAP", "") == spelling.upper().removesuffix("-SWAP")
    assert set(JOINED_QUOTES) <= set(KNOWN_QUOTES)
    if "-" in lake and not lake.endswith("-SPOT"):  # the row spelled as the option was is the symbol's own market
        assert other_symbol(pd.Series([spelling], dtype=object), spelling).tolist() == [False]


def test_ingest_under_a_separator_less_symbol_joins_the_dashed_one(data_dir: Paths, tmp_path: Path, capsys) -> None:
    from blofin_cli.main import main as cli_main

    (tmp_path / "a.csv").write_text(f"trade_id,ts,price,size,side\n1,{T0},100,1,buy\n")
    (tmp_path / "b.csv").write_text(f"trade_id,ts,price,size,side\n2,{T0 + 1},100,1,sell\n")
    assert cli_main(["ingest", str(tmp_path / "a.csv"), "--symbol", "BTC-USDT"]) == 0
    assert cli_main(["ingest", str(tmp_path / "b.csv"), "--symbol", "BTCUSDT"]) == 0
    assert "1 added to BTC-USDT" in capsys.readouterr().out
    assert sorted(p.name for p in data_dir.trades.iterdir()) == ["symbol=BTC-USDT"]
