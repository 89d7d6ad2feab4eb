"""Ticks that a crypto warehouse meets and the synthetic market does not, for the Spark parity test:
a pair priced ~1.5e6 on a 0.01 tick (long runs of one price, moves of a tick or two: a 20-bar
window's spread is ~1e-8 of its level), a pair priced ~2e-8 listed in the middle of the window,
whole hours and a whole day without trades, several trades at one timestamp, trades on the minute's
first and last millisecond (23:59:59.999 included) and funding on the settlement instants.

Deterministic (fixed seeds); prices sit on their tick grid and sizes on a lot grid, as exchange
trades do, so equal prices (flat bars, ties) happen exactly.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000


def day_ms(day: date) -> int:
    """Epoch ms of 00:00 UTC of day."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def _minute_trades(rng: np.random.Generator, start_ms: int, price: float, tick: float, lot: float,
                   lots: tuple[int, int], moves: int) -> list[tuple[int, float, float, str]]:
    """1-4 trades of one minute (ts, price, size, side): the first on the minute's first millisecond,
    the last on its last one, two of them at the same timestamp; prices within `moves` ticks of price."""
    n = int(rng.integers(1, 5))
    offsets = sorted({0, MINUTE_MS - 1, *rng.integers(1, MINUTE_MS - 1, n).tolist()})[:n]
    if n >= 3:
        offsets[1] = offsets[2]  # a tie: two trades, one timestamp (the lake's seq keeps their order)
    out = []
    for offset in offsets:
        p = round((price + tick * int(rng.integers(-moves, moves + 1))) / tick) * tick
        out.append((start_ms + offset, p, lot * int(rng.integers(*lots)), "buy" if rng.random() < 0.5 else "sell"))
    return out


def _trades(rows: list[tuple[int, float, float, str]], prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ts", "price", "size", "side"])
    return frame.assign(trade_id=[f"{prefix}{i}" for i in range(len(frame))])


def high_priced(day: date, seed: int) -> pd.DataFrame:
    """Price ~1.5e6, tick 0.01, lot 0.001: most minutes move a tick or two, 90-minute runs of one
    price (flat bars), hours 03-05 without a trade, a tenth of the other minutes missing."""
    rng = np.random.default_rng(seed)
    start, price, rows = day_ms(day), 1_512_345.67, []
    for minute in range(1440):
        hour = minute // 60
        if 3 <= hour < 6 or (rng.random() < 0.1 and minute not in (0, 1439)):
            continue
        flat = 600 <= minute < 690 or 1200 <= minute < 1290
        if not flat:
            price = round((price + 0.01 * int(rng.integers(-2, 3))) / 0.01) * 0.01
        rows += _minute_trades(rng, start + minute * MINUTE_MS, price, 0.01, 0.001, (1, 2000), 0 if flat else 1)
    return _trades(rows, f"hp{day:%m%d}-")


def tiny_priced(day: date, seed: int, listed_ms: int) -> pd.DataFrame:
    """Price ~2.5e-8, tick 1e-12, lot 1000: a trade every few minutes from listed_ms on, hours of one
    price in between (the price moves only every ~40 minutes)."""
    rng = np.random.default_rng(seed)
    start, price, rows = day_ms(day), 2.5e-8, []
    for minute in range(1440):
        at = start + minute * MINUTE_MS
        if at < listed_ms or rng.random() < 0.7:
            continue
        if rng.random() < 0.05:
            price = round((price + 1e-12 * int(rng.integers(-30, 31))) / 1e-12) * 1e-12
        rows += _minute_trades(rng, at, price, 1e-12, 1000.0, (1, 10_000), 0)
    return _trades(rows, f"tp{day:%m%d}-")


def settlement_funding(day: date) -> pd.DataFrame:
    """Funding settled at 00:00, 08:00 and 16:00 UTC exactly (funding_ts, funding_rate), one rate negative."""
    start = day_ms(day)
    return pd.DataFrame({"funding_ts": [start, start + 8 * HOUR_MS, start + 16 * HOUR_MS],
                         "funding_rate": [0.0001, -0.000075, 0.0]})


def hourly_candles(day: date) -> pd.DataFrame:
    """1h candles only (no ticks, no 1m) for a day, hours 05-08 and 20 missing: the day's resolution is 1h."""
    hours = [h for h in range(24) if not 5 <= h < 9 and h != 20]
    close = np.round(0.01234 * (1 + 0.001 * np.sin(np.arange(len(hours)))), 7)
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({"bar_at_ms": [day_ms(day) + h * HOUR_MS for h in hours], "open": open_,
                         "high": np.maximum(open_, close) + 1e-6, "low": np.minimum(open_, close) - 1e-6, "close": close,
                         "volume": 1000.0 + np.arange(len(hours)), "source": "edge"})


def instrument_rows(day: date, index: int) -> list[tuple]:
    """The recorder's instruments snapshot on the index-th day: HIPR-USDT's lot changes on day 1 and its max
    leverage goes missing on day 2; TINY-USDT is suspended on day 2; SOL-USDT never changes."""
    at = day_ms(day) + 30_000
    return [("HIPR-USDT", at, 0.001, 0.001 if index == 0 else 0.01, 0.001, 0.01, None if index == 2 else 50.0, 8, "live"),
            ("TINY-USDT", at, 1000.0, 1000.0, 1000.0, 1e-12, 20.0, 4, "suspend" if index == 2 else "live"),
            ("SOL-USDT", at, 1.0, 0.1, 0.1, 0.001, 75.0, 8, "live")]
