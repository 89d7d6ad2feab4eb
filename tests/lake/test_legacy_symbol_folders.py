"""Lakes written before BTCUSDT was spelled BTC-USDT hold folders named BTCUSDT: every lookup by such a folder's
name finds its own records (normalize_symbol keeps the name), while a name a user gives is BTC-USDT unless the
lake holds that joined folder (lake/sources.user_symbol)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from python_assets.config import Paths

H = 3_600_000
T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z


def _as_old_code_named(data: Path, dashed: str) -> None:
    """Rename every path naming `dashed` to its joined spelling, as `--symbol BTCUSDT` wrote them before the split."""
    for root, dirs, files in os.walk(data, topdown=False):
        for name in dirs + files:
            if dashed in name:
                os.rename(os.path.join(root, name), os.path.join(root, name.replace(dashed, dashed.replace("-", ""))))


def test_a_joined_folder_from_before_the_split_keeps_its_records(data_dir: Paths, tmp_path: Path) -> None:
    """Review repro: spot candles under XYZUSDT read as no market (a perp: shorted, leveraged, funded), no real data
    (synthetic_source_refusal None) and no folders, because every lookup spelled the folder's name XYZ-USDT."""
    from python_assets.ingest.importers import import_file, lake_markets
    from python_assets.ingest.market import synthetic_source_refusal
    from python_assets.lake.sources import data_folders, holds_data, recorded_real
    from python_assets.lake.store import has_funding

    candles = tmp_path / "XYZ_USDT-1h.csv"
    pd.DataFrame({"date": [T0 + i * H for i in range(5)], "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                  "volume": 1.0}).to_csv(candles, index=False)
    funding = tmp_path / "funding.csv"
    pd.DataFrame({"fundingTime": [T0, T0 + 8 * H], "fundingRate": [0.0001, 0.0002]}).to_csv(funding, index=False)
    assert import_file(data_dir, candles, kind="candles", symbol="XYZ-USDT", timeframe="1h").rows_added == 5
    assert import_file(data_dir, funding, kind="funding", symbol="ABC-USDT").rows_added == 2
    _as_old_code_named(data_dir.data_dir, "XYZ-USDT")
    _as_old_code_named(data_dir.data_dir, "ABC-USDT")

    assert lake_markets(data_dir) == {"XYZUSDT": "spot", "ABCUSDT": "perp"}
    assert synthetic_source_refusal(data_dir) is not None
    assert [p.name for p in data_folders(data_dir, "XYZUSDT")] == ["symbol=XYZUSDT"]
    assert holds_data(data_dir, "XYZUSDT") and recorded_real(data_dir, "XYZUSDT") is not None
    assert has_funding(data_dir, "ABCUSDT")


def test_a_name_a_user_gives_is_split_unless_the_lake_holds_it_joined(data_dir: Paths, monkeypatch) -> None:
    from python_assets.config import market_symbols
    from python_assets.lake.sources import user_symbol

    monkeypatch.setenv("BLOFIN_SYMBOLS", "btcusdt,ETHUSDT-SPOT,SUSD")
    assert [user_symbol(data_dir, s) for s in ("BTCUSDT", "btc/usdt", "SUSD", "WBTC")] == ["BTC-USDT", "BTC-USDT",
                                                                                          "SUSD", "WBTC"]
    assert market_symbols() == "BTC-USDT,ETH-USDT-SPOT,SUSD"
    (data_dir.candles / "symbol=BTCUSDT").mkdir(parents=True)
    assert user_symbol(data_dir, "btcusdt") == "BTCUSDT"
    assert market_symbols() == "BTCUSDT,ETH-USDT-SPOT,SUSD"


def test_ingest_under_a_joined_symbol_goes_to_the_lakes_joined_folder(data_dir: Paths, tmp_path: Path, capsys) -> None:
    """On a lake with a BTCUSDT folder (written before the split), `ingest --symbol BTCUSDT` adds to it, not to a
    new BTC-USDT beside it; the inbox's BTCUSDT folder the same."""
    from blofin_cli.main import main as cli_main
    from python_assets.ingest.inbox import inbox_dir, process_inbox

    (tmp_path / "a.csv").write_text(f"trade_id,ts,price,size,side\n1,{T0},100,1,buy\n")
    (tmp_path / "b.csv").write_text(f"trade_id,ts,price,size,side\n2,{T0 + 1},100,1,sell\n")
    assert cli_main(["ingest", str(tmp_path / "a.csv"), "--symbol", "BTC-USDT"]) == 0
    _as_old_code_named(data_dir.data_dir, "BTC-USDT")
    assert cli_main(["ingest", str(tmp_path / "b.csv"), "--symbol", "BTCUSDT"]) == 0
    assert "1 added to BTCUSDT" in capsys.readouterr().out
    (inbox_dir(data_dir) / "btcusdt").mkdir(parents=True)
    (inbox_dir(data_dir) / "btcusdt" / "c.csv").write_text(f"trade_id,ts,price,size,side\n3,{T0 + 2},100,1,buy\n")
    assert [o.result.symbol for o in process_inbox(data_dir)] == ["BTCUSDT"]
    assert sorted(p.name for p in data_dir.trades.iterdir()) == ["symbol=BTCUSDT"]
