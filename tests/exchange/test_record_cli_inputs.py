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
