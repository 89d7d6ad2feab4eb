"""Candle and funding-rate history from the exchange into the lake: paginated, rate-limited, retried and
resumable. Pages are written to the lake as they arrive (atomic, deduplicating), so a killed fetch
loses at most one page and the next run continues from the last stored bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ccxt
import pandas as pd

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, call_with_retries, lake_symbol, resolve_market
from python_assets.lake import last_stored_ms, now_ms, write_candles, write_funding

PAGE_LIMIT = 100  # BloFin serves at most 100 candles / funding rates a call
FUNDING_INTERVAL_MS = 8 * 3_600_000


@dataclass(frozen=True)
class FetchStats:
    """What one fetch did: the lake symbol, requests made, rows received, rows new to the lake, the range."""

    symbol: str
    requests: int
    received: int
    added: int
    start_ms: int | None
    end_ms: int | None


def fetch_range(call: Callable[[int], list], start: int, end: int, limit: int, time_of: Callable) -> Iterator[list]:
    """Yield pages covering [start, end) from an endpoint that returns the newest `limit` records before
    `until` (BloFin's `after` cursor). A full page whose oldest record is still after start means more
    may lie below it, so the next call ends there."""
    until = end
    while until > start:
        raw = call(until)
        page = [r for r in raw if start <= time_of(r) < until]
        if page:
            yield page
        if len(raw) < limit or not page:
            return
        until = min(time_of(r) for r in page)


def missing_ranges(first: int | None, last: int | None, since: int, end: int, step: int) -> list[tuple[int, int]]:
    """Ranges still to fetch: before the first stored row (when --since reaches back further) and after
    the last one; everything when nothing is stored."""
    if first is None or last is None or since > last:
        return [(since, end)] if since < end else []
    ranges = [(since, min(first, end))] if since < first else []
    if last + step < end:
        ranges.append((last + step, end))
    return [(a, b) for a, b in ranges if a < b]


def _first_stored_ms(root, time_col: str) -> int | None:
    import pyarrow.parquet as pq

    days = sorted(p for p in root.glob("date=*") if any(p.glob("*.parquet")))
    for day in days:
        for f in sorted(day.glob("*.parquet")):
            col = pq.read_table(f, columns=[time_col]).column(0).to_numpy()
            if len(col):
                return int(col.min())
    return None


def raw_candle_extras(ex: ccxt.Exchange) -> dict[int, tuple[float | None, bool]]:
    """{open time: (quote volume, closed?)} from the last raw BloFin candle response, which ccxt's
    unified rows drop (index 7 volCurrencyQuote, index 8 confirm); empty for other payloads."""
    body = getattr(ex, "last_json_response", None)
    rows = body.get("data") if isinstance(body, dict) else None
    out: dict[int, tuple[float | None, bool]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, list) and len(row) >= 9:
            try:
                out[int(row[0])] = (float(row[7]), str(row[8]) != "0")
            except (TypeError, ValueError):
                continue
    return out


def fetch_ohlcv_history(ex: ccxt.Exchange, paths: Paths, symbol: str, timeframe: str, since_ms: int,
                        until_ms: int | None, cfg: ExchangeConfig, now: int | None = None,
                        progress: Callable[[str], None] | None = None) -> FetchStats:
    """Closed candles of [since, until) into lake/candles, window by window of PAGE_LIMIT bars."""
    market = resolve_market(ex, symbol, cfg)
    name, tf_ms = lake_symbol(market), int(ex.parse_timeframe(timeframe) * 1000)
    now = now if now is not None else now_ms()
    end = min(until_ms if until_ms is not None else now, now) // tf_ms * tf_ms  # bars still open are left out
    since = -(-since_ms // tf_ms) * tf_ms
    root = paths.candles / f"symbol={name}" / f"timeframe={timeframe}"
    ranges = missing_ranges(_first_stored_ms(root, "bar_at_ms"), last_stored_ms(root, "bar_at_ms"), since, end, tf_ms)
    requests = received = added = 0

    def call(cursor: int) -> Callable[[int], list]:
        def page(until: int) -> list:
            nonlocal requests
            requests += 1
            rows = call_with_retries(ex, lambda: ex.fetch_ohlcv(market["symbol"], timeframe, since=cursor,
                                                                limit=PAGE_LIMIT, params={"until": until}),
                                     cfg, f"fetch_ohlcv {market['symbol']} {timeframe} until {until}")
            extras = raw_candle_extras(ex)
            # a candle the exchange still calls open is left for a later run; quote volume kept when given
            return [[*r, extras.get(r[0], (None, True))[0]] for r in rows if extras.get(r[0], (None, True))[1]]
        return page

    for a, b in ranges:
        cursor = a
        while cursor < b:
            window_end = min(cursor + PAGE_LIMIT * tf_ms, b)
            for rows in fetch_range(call(cursor), cursor, window_end, PAGE_LIMIT, lambda r: r[0]):
                frame = pd.DataFrame(rows, columns=["bar_at_ms", "open", "high", "low", "close", "volume", "volume_quote"])
                frame = frame.dropna(subset=["open", "high", "low", "close"]).assign(source=cfg.exchange_id)
                frame["volume"] = frame["volume"].fillna(0.0)
                received += len(rows)
                added += write_candles(paths, name, timeframe, frame).added
            if progress:
                progress(f"{name} {timeframe}: stored up to {pd.Timestamp(window_end, unit='ms', tz='UTC')}")
            cursor = window_end
    return FetchStats(name, requests, received, added, ranges[0][0] if ranges else None, end)


def fetch_funding_history(ex: ccxt.Exchange, paths: Paths, symbol: str, since_ms: int, until_ms: int | None,
                          cfg: ExchangeConfig, now: int | None = None,
                          progress: Callable[[str], None] | None = None) -> FetchStats:
    """Funding settlements of [since, until) into lake/funding, window by window of PAGE_LIMIT intervals."""
    market = resolve_market(ex, symbol, cfg)
    name = lake_symbol(market)
    now = now if now is not None else now_ms()
    end = min(until_ms if until_ms is not None else now + 1, now + 1)
    root = paths.funding / f"symbol={name}"
    ranges = missing_ranges(_first_stored_ms(root, "funding_ts"), last_stored_ms(root, "funding_ts"), since_ms, end, 1)
    requests = received = added = 0

    def call(cursor: int) -> Callable[[int], list]:
        def page(until: int) -> list:
            nonlocal requests
            requests += 1
            return call_with_retries(ex, lambda: ex.fetch_funding_rate_history(market["symbol"], since=cursor,
                                                                               limit=PAGE_LIMIT, params={"until": until}),
                                     cfg, f"fetch_funding_rate_history {market['symbol']} until {until}")
        return page

    for a, b in ranges:
        cursor = a
        while cursor < b:
            window_end = min(cursor + PAGE_LIMIT * FUNDING_INTERVAL_MS, b)
            for rows in fetch_range(call(cursor), cursor, window_end, PAGE_LIMIT, lambda r: r["timestamp"]):
                frame = pd.DataFrame({"funding_ts": [int(r["timestamp"]) for r in rows],
                                      "funding_rate": [float(r["fundingRate"]) for r in rows]})
                received += len(rows)
                added += write_funding(paths, name, frame).added
            if progress:
                progress(f"{name} funding: stored up to {pd.Timestamp(window_end, unit='ms', tz='UTC')}")
            cursor = window_end
    return FetchStats(name, requests, received, added, ranges[0][0] if ranges else None, end)


def fetch_window(paths: Paths, symbols: list[str], start_ms: int, end_ms: int, cfg: ExchangeConfig,
                 timeframe: str = "1m") -> dict[str, dict[str, int]]:
    """A partition's worth of exchange data per symbol: candles and funding of [start, end), and the
    recorder's finished hours merged into the trades lake. What the Dagster ingest asset runs."""
    from python_assets.exchange.client import make_exchange
    from python_assets.exchange.recorder import merge_closed_hours

    ex = make_exchange(cfg)
    out: dict[str, dict[str, int]] = {}
    for symbol in symbols:
        candles = fetch_ohlcv_history(ex, paths, symbol, timeframe, start_ms, end_ms, cfg)
        funding = fetch_funding_history(ex, paths, symbol, start_ms, end_ms, cfg)
        out[candles.symbol] = {"candles_added": candles.added, "funding_added": funding.added,
                               "recorded_hours_merged": merge_closed_hours(paths, candles.symbol, now_ms())}
    return out
