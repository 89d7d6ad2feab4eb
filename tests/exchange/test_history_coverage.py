"""History fetches complete whatever range is asked, in any order: a hole between earlier fetches, or one an
older lake has, is fetched; a hole the exchange itself has is asked for once (coverage.py)."""

from __future__ import annotations

import duckdb
import numpy as np
from fake_blofin import FakeBlofin

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, make_exchange
from python_assets.exchange.coverage import HOLES_FILE, merge, missing, read_holes, runs, subtract
from python_assets.exchange.history import fetch_ohlcv_history, fetch_window

DAY, HOUR, MINUTE = 86_400_000, 3_600_000, 60_000


class Holey(FakeBlofin):
    """A fake exchange without the candles opening at the times in `holes` (minutes without trades)."""

    holes: set[int] = set()

    def candles(self, q: dict) -> dict:
        body = super().candles(q)
        body["data"] = [r for r in body.get("data", []) if int(r[0]) not in self.holes]
        return body


def cfg_for(fake: FakeBlofin) -> ExchangeConfig:
    return ExchangeConfig(api_url=fake.url, rate_limit_ms=1, backoff_s=0.05)


def stored(paths: Paths, what: str = "candles") -> list[int]:
    glob, col = ((f"{paths.candles}/*/*/*/candles.parquet", "bar_at_ms") if what == "candles"
                 else (f"{paths.funding}/*/*/funding.parquet", "funding_ts"))
    return [r[0] for r in duckdb.sql(f"select {col} from read_parquet('{glob}') order by 1").fetchall()]


def test_interval_arithmetic() -> None:
    assert merge([(5, 9), (0, 3), (3, 4), (8, 12), (7, 7)]) == [(0, 4), (5, 12)]
    assert subtract(0, 100, [(10, 20), (15, 30), (90, 120)]) == [(0, 10), (30, 90)]
    assert subtract(0, 100, []) == [(0, 100)] and subtract(0, 100, [(-5, 200)]) == []
    assert runs(np.array([40, 0, 10, 20, 50]), 10, 10) == [(0, 30), (40, 60)]
    assert runs(np.array([], dtype=np.int64), 10, 1) == []


def test_a_hole_between_two_fetches_is_fetched_by_a_later_request(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        ex, day0 = make_exchange(cfg), (now // DAY - 6) * DAY
        fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1h", day0, day0 + DAY, cfg, now=now)
        fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1h", day0 + 3 * DAY, None, cfg, now=now)
        third = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1h", day0, None, cfg, now=now)
        fourth = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1h", day0, None, cfg, now=now)
    assert stored(data_dir) == list(range(day0, now // HOUR * HOUR, HOUR))
    assert (third.added, third.requests, third.start_ms) == (48, 1, day0 + DAY)  # days 1 and 2, nothing else
    assert fourth.requests == 0


def test_daily_windows_fetched_out_of_order_are_each_complete(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        d = (now // DAY - 5) * DAY
        added = [fetch_window(data_dir, ["BTC-USDT"], d + k * DAY, d + (k + 1) * DAY, cfg)["BTC-USDT"] for k in (1, 3, 2)]
        calls = dict(fake.counts)
        fetch_window(data_dir, ["BTC-USDT"], d + 2 * DAY, d + 3 * DAY, cfg)  # a rerun asks for nothing
        assert (fake.counts["candles"], fake.counts["funding"]) == (calls["candles"], calls["funding"])
    assert [(a["candles_added"], a["funding_added"]) for a in added] == [(1440, 3)] * 3
    assert stored(data_dir) == list(range(d + DAY, d + 4 * DAY, MINUTE))
    assert stored(data_dir, "funding") == list(range(d + DAY, d + 4 * DAY, 8 * HOUR))


def test_a_hole_the_exchange_has_is_asked_for_once(data_dir: Paths) -> None:
    with Holey() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        ex, since = make_exchange(cfg), (now // DAY - 2) * DAY + 10 * MINUTE
        fake.holes = {since + 20 * MINUTE, since + 21 * MINUTE, since + 50 * MINUTE}
        first = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", since, since + 60 * MINUTE, cfg, now=now)
        again = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", since, since + 60 * MINUTE, cfg, now=now)
        root = data_dir.candles / "symbol=BTC-USDT" / "timeframe=1m"
        holes = read_holes(root)
        # a lake written before exchange holes were recorded: its holes are asked for once more, in one request
        (root / HOLES_FILE).unlink(missing_ok=True)
        older = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", since, since + 60 * MINUTE, cfg, now=now)
        last = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", since, since + 60 * MINUTE, cfg, now=now)
    assert first.added == 57 and stored(data_dir) == sorted(set(range(since, since + 60 * MINUTE, MINUTE)) - fake.holes)
    assert again.requests == 0
    assert holes == [(since + 20 * MINUTE, since + 22 * MINUTE), (since + 50 * MINUTE, since + 51 * MINUTE)]
    # one range over all three holes; it starts in one, so a second request learns that nothing lies below (an
    # empty answer, asked once more before it is believed: a third)
    assert (older.requests, older.added, older.start_ms) == (3, 0, since + 20 * MINUTE) and last.requests == 0


def test_a_day_whose_file_was_deleted_is_fetched_again(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        ex, day0 = make_exchange(cfg), (now // DAY - 4) * DAY
        fetch_ohlcv_history(ex, data_dir, "ETH-USDT", "1h", day0, day0 + 3 * DAY, cfg, now=now)
        root = data_dir.candles / "symbol=ETH-USDT" / "timeframe=1h"
        for f in (root / f"date={np.datetime64(day0 // DAY + 1, 'D')}").iterdir():
            f.unlink()
        assert missing(root, "bar_at_ms", day0, day0 + 3 * DAY, HOUR, HOUR, 100 * HOUR) == [(day0 + DAY, day0 + 2 * DAY)]
        again = fetch_ohlcv_history(ex, data_dir, "ETH-USDT", "1h", day0, day0 + 3 * DAY, cfg, now=now)
    assert again.added == 24 and stored(data_dir) == list(range(day0, day0 + 3 * DAY, HOUR))


def test_a_bar_served_late_is_asked_for_again(data_dir: Paths) -> None:
    with Holey() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        late = now // MINUTE * MINUTE - 10 * MINUTE
        fake.holes = {late}  # not served yet: the exchange is behind
        fetch_ohlcv_history(make_exchange(cfg), data_dir, "BTC-USDT", "1m", now - 2 * HOUR, None, cfg, now=now)
        fake.holes = set()
        again = fetch_ohlcv_history(make_exchange(cfg), data_dir, "BTC-USDT", "1m", now - 2 * HOUR, None, cfg, now=now)
    assert again.added == 1 and late in stored(data_dir)
