"""record-trades (the polling recorder) fed unusable trades (a review's findings): each is quarantined with
its reason, the poll's other trades are kept, and recording, flushing and a restart go on."""

from __future__ import annotations

import pandas as pd
from test_recorder import Clock, live_rows

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig
from python_assets.exchange.recorder import HOUR_MS, TradeRecorder, run_recorders

MARKET = {"id": "BTC-USDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
          "type": "swap", "spot": False, "swap": True, "future": False, "option": False, "contract": True,
          "contractSize": 0.001, "expiry": None}
T0 = 1_800_000_000_000 // HOUR_MS * HOUR_MS


class StubExchange:
    """Just enough of a ccxt exchange: one swap market and fetch_trades answering `trades`."""

    def __init__(self, trades: list) -> None:
        self.markets, self.trades = {MARKET["symbol"]: MARKET}, trades

    def load_markets(self) -> dict:
        return self.markets

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None, params: dict | None = None) -> list:
        return self.trades


def trade(k: int, **kw: object) -> dict:
    return {"id": str(1000 + k), "timestamp": T0 + k * 10, "price": 100.0, "amount": 2.0, "side": "buy", **kw}


def quarantined(paths: Paths) -> pd.DataFrame:
    files = sorted((paths.quarantine / "symbol=BTC-USDT").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def recorder(paths: Paths, trades: list, clock: Clock, log: list | None = None) -> TradeRecorder:
    cfg = ExchangeConfig(max_retries=0, backoff_s=0.0, max_backoff_s=0.0)
    return TradeRecorder(StubExchange(trades), paths, "BTC-USDT", cfg, clock=clock, sleep=clock.sleep,
                         log=(lambda event, **f: log.append((event, f))) if log is not None else None)


def test_unusable_polled_trades_are_quarantined_and_recording_goes_on(data_dir: Paths) -> None:
    clock = Clock(T0 + 30_000)
    trades = [trade(1), trade(2, price=None), trade(3, timestamp=(T0 + 30) * 1000), trade(4, amount="x"),
              trade(5, id=None), trade(6)]
    events: list = []
    rec = recorder(data_dir, trades, clock, events)
    run_recorders([rec], poll_s=1, flush_s=1, duration_s=3, clock=clock, sleep=clock.sleep)
    assert sorted(live_rows(data_dir)["trade_id"]) == ["1001", "1006"]
    got = quarantined(data_dir)
    assert sorted(got["reason"]) == ["missing_trade_id", "time_outside_window", "unreadable_amount", "unreadable_price"]
    assert rec.stats.quarantined == 4 and rec.lock.closed
    assert sum(e == "recorder_trade_quarantined" for e, _ in events) == 4
    again = recorder(data_dir, trades, clock)  # a restart meets the same trades: no crash, nothing twice
    run_recorders([again], poll_s=1, flush_s=1, duration_s=2, clock=clock, sleep=clock.sleep)
    assert sorted(live_rows(data_dir)["trade_id"]) == ["1001", "1006"]
    assert len(quarantined(data_dir)) == 4


def test_a_failing_last_flush_still_flushes_the_others_and_lets_every_lock_go(data_dir: Paths) -> None:
    clock = Clock(T0 + 30_000)
    first, second = recorder(data_dir, [trade(1)], clock), None
    other = dict(MARKET, id="ETH-USDT", symbol="ETH/USDT:USDT", base="ETH")
    ex = StubExchange([trade(7)])
    ex.markets = {other["symbol"]: other}
    second = TradeRecorder(ex, data_dir, "ETH-USDT", ExchangeConfig(max_retries=0), clock=clock, sleep=clock.sleep)
    first.poll()
    second.poll()

    def broken() -> int:
        raise OSError("disk full")

    first.flush = broken  # type: ignore[method-assign]
    try:
        run_recorders([first, second], duration_s=0, clock=clock, sleep=clock.sleep)
    except OSError:
        pass
    else:
        raise AssertionError("the failed flush was not raised")
    assert first.lock.closed and second.lock.closed
    assert list(live_rows(data_dir)["trade_id"]) == ["1007"]
