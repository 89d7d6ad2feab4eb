"""fetch-ohlcv, fetch-funding and record-trades check their arguments before they reach the network or
the data directory: a bad one is exit 2 and one line (an empty --since became NaT, 1900 and far-future
times, a negative rate limit or duration went to the exchange; an unknown exchange id was exit 1)."""

from __future__ import annotations

import pytest

from blofin_cli.main import build_parser, main as cli_main


@pytest.mark.parametrize("args,says", [
    (["fetch-ohlcv", "--since", ""], "argument --since: not a date/time"),
    (["fetch-ohlcv", "--since", "   "], "argument --since: not a date/time"),
    (["fetch-ohlcv", "--since", "now"], "argument --since: not a date/time"),  # pandas: the local clock
    (["fetch-funding", "--since", "2025-01-01", "--until", "today"], "argument --until: not a date/time"),
    (["fetch-ohlcv", "--since", "99999999999999999999999"], "argument --since: '99999999999999999999999' is in the future"),
    (["fetch-funding", "--since", "1900-01-01"], "argument --since: '1900-01-01' is before 2009-01-01"),
    (["fetch-funding", "--since", "1700000000"], "epoch milliseconds, not seconds?"),
    (["fetch-ohlcv", "--since", "2099-01-01"], "is in the future"),
    (["fetch-ohlcv", "--since", "2025-01-01", "--until", "2099-01-01"], "argument --until: '2099-01-01' is in the future"),
    (["fetch-ohlcv", "--since", "2025-01-01", "--rate-limit-ms", "-5"], "argument --rate-limit-ms: must be >= 1"),
    (["fetch-funding", "--since", "2025-01-01", "--rate-limit-ms", "0"], "argument --rate-limit-ms: must be >= 1"),
    (["record-trades", "--duration", "-1"], "argument --duration: must be > 0"),
    (["record-trades", "--poll-seconds", "nan"], "argument --poll-seconds: not a finite number"),
    (["record-trades", "--flush-seconds", "0"], "argument --flush-seconds: must be > 0"),
])
def test_meaningless_times_and_numbers_are_refused_by_the_parser(args, says, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([args[0], "--symbol", "BTC-USDT", *args[1:]])
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_a_real_since_parses_to_epoch_ms():
    args = build_parser().parse_args(["fetch-ohlcv", "--symbol", "BTC-USDT", "--since", "2025-01-01T12:00Z"])
    assert args.since == 1_735_732_800_000
    assert build_parser().parse_args(["fetch-funding", "--symbol", "X", "--since", "1735732800000"]).since == 1_735_732_800_000


@pytest.mark.parametrize("command", [["fetch-ohlcv", "--since", "2025-01-01"], ["fetch-funding", "--since", "2025-01-01"],
                                     ["record-trades", "--duration", "1"]])
def test_an_unknown_exchange_is_bad_input(data_dir, command, capsys):
    assert cli_main([command[0], "--symbol", "BTC-USDT", "--exchange", "nosuchex", *command[1:]]) == 2
    assert capsys.readouterr().err == "error: unknown ccxt exchange id 'nosuchex' (--exchange or BLOFIN_EXCHANGE)\n"
    assert not data_dir.lake.exists()


@pytest.mark.parametrize("command", [["fetch-ohlcv", "--since", "2025-01-01"], ["fetch-funding", "--since", "2025-01-01"],
                                     ["record-trades", "--duration", "1"]])
def test_a_market_the_exchange_does_not_list_is_bad_input(data_dir, monkeypatch, command, capsys):
    """--symbol DOGE-USDT on an exchange without it was a plain FetchError, exit 1 (a failed call); the help says 2
    is bad input, as an unknown exchange id is."""
    import signal

    from fake_blofin import FakeBlofin

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}  # record-trades sets its own
    try:
        with FakeBlofin() as fake:
            monkeypatch.setenv("BLOFIN_API_URL", fake.url)
            assert cli_main([command[0], "--symbol", "DOGE-USDT", *command[1:]]) == 2
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert capsys.readouterr().err == "error: blofin has no market 'DOGE-USDT' (try e.g. BTC/USDT:USDT)\n"
    assert not data_dir.lake.exists() or not any(data_dir.lake.rglob("*.parquet"))
