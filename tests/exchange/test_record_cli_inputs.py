"""`blofin-stack record` checks its options before it connects: an empty or unsafe symbol, a count or
interval <= 0 or not finite, a URL of the wrong scheme is exit 2 and one line (each was accepted)."""

from __future__ import annotations

import pytest

from blofin_cli.main import build_parser, main as cli_main
from blofin_cli.record import settings_from


@pytest.mark.parametrize("args,says", [
    (["--symbols", ""], "argument --symbols: no symbol"),
    (["--symbols", "../x"], "argument --symbols: invalid symbol '../x'"),
    (["--symbols", "BTC-USDT", "--depth", "-5"], "argument --depth: must be >= 1"),
    (["--symbols", "BTC-USDT", "--sample-ms", "0"], "argument --sample-ms: must be >= 1"),
    (["--symbols", "BTC-USDT", "--flush-ms", "0"], "argument --flush-ms: must be >= 1"),
    (["--symbols", "BTC-USDT", "--merge-ms", "-1"], "argument --merge-ms: must be >= 1"),
    (["--symbols", "BTC-USDT", "--mark-poll-ms", "x"], "argument --mark-poll-ms: not an integer"),
    (["--symbols", "BTC-USDT", "--duration", "-1"], "argument --duration: must be > 0"),
    (["--symbols", "BTC-USDT", "--ping-s", "nan"], "argument --ping-s: not a finite number"),
    (["--symbols", "BTC-USDT", "--stall-s", "0"], "argument --stall-s: must be > 0"),
    (["--symbols", "BTC-USDT", "--status-s", "inf"], "argument --status-s: not a finite number"),
    (["--symbols", "BTC-USDT", "--queue-size", "0"], "argument --queue-size: must be >= 1"),
    (["--symbols", "BTC-USDT", "--rest-trades-limit", "0"], "argument --rest-trades-limit: must be >= 1"),
    (["--symbols", "BTC-USDT", "--ws-url", "http://example.com"], "argument --ws-url: not a ws:// or wss:// URL"),
    (["--symbols", "BTC-USDT", "--rest-url", "openapi.blofin.com"], "argument --rest-url: not a http:// or https:// URL"),
])
def test_meaningless_options_are_refused_before_connecting(args, says, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["record", *args])
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_symbols_are_read_in_any_spelling_once():
    args = build_parser().parse_args(["record", "--symbols", "btc/usdt:usdt,ETH-USDT", "BTC-USDT-SWAP"])
    assert settings_from(args).symbols == ("BTC-USDT", "ETH-USDT")


def test_dry_run_subscribes_to_the_blofin_ids(capsys):
    assert cli_main(["record", "--symbols", "eth/usdt:usdt", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "trades        ETH-USDT" in out and "eth/usdt" not in out


def test_a_symbol_holding_spot_data_is_not_recorded(data_dir, tmp_path, capsys, monkeypatch):
    """BloFin's recorders record the perpetual swap: a symbol whose lake holds an imported spot file is refused
    (exit 2, one line each, before any connection or recorder starts), by `record` and `record-trades`; the
    other symbols are not named. A dry run writes nothing: it says what a real run would refuse, exit 0."""
    import pandas as pd
    from fake_blofin import FakeBlofin

    from python_assets.ingest.importers import import_file

    pd.DataFrame({"date": pd.to_datetime([1_738_540_800_000, 1_738_541_100_000], unit="ms", utc=True), "open": 1.0,
                  "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}).to_feather(tmp_path / "BTC_USDT-5m.feather")
    import_file(data_dir, tmp_path / "BTC_USDT-5m.feather")
    line = ("error: BTC-USDT: holds spot data (candles from BTC_USDT-5m.feather); the recorder records the perpetual "
            "swap, whose trades would mix with it: record it into another data dir")
    assert cli_main(["record", "--symbols", "BTC-USDT"]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [line] and out.out == ""
    assert cli_main(["record", "--symbols", "BTC-USDT,ETH-USDT", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.splitlines()[0] == line.replace("error: ", "a real run would refuse: ")
    assert cli_main(["record", "--symbols", "ETH-USDT", "--dry-run"]) == 0  # a symbol without spot data
    capsys.readouterr()
    with FakeBlofin() as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        assert cli_main(["record-trades", "--symbol", "BTC-USDT", "--duration", "1"]) == 2
        assert "trades" not in fake.counts
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_joined_name_is_the_exchanges_swap_even_beside_a_legacy_folder(data_dir):
    """BloFin lists BTC-USDT (ccxt BTC/USDT:USDT), and fetch and the recorders store under the exchange's name:
    BTCUSDT reaches that market whatever the lake holds (a BTCUSDT folder from before the split is no swap's)."""
    from fake_blofin import FakeBlofin

    from python_assets.exchange.client import ExchangeConfig, lake_symbol, make_exchange, resolve_market

    (data_dir.candles / "symbol=BTCUSDT").mkdir(parents=True)
    assert settings_from(build_parser().parse_args(["record", "--symbols", "btcusdt"])).symbols == ("BTC-USDT",)
    with FakeBlofin() as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1, backoff_s=0.05)
        assert lake_symbol(resolve_market(make_exchange(cfg), "BTCUSDT", cfg)) == "BTC-USDT"
