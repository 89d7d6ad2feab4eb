"""REST side of the WebSocket recorder, through ccxt's synchronous client (run in a worker thread by the
service): recent trades for back-filling holes, mark/index prices (BloFin has no public mark-price
WebSocket channel, so they are polled), settled funding history, and the instruments snapshot."""

from __future__ import annotations

import math
from typing import Any

import ccxt

from python_assets.exchange.client import ExchangeConfig, call_with_retries, lake_symbol, make_exchange
from python_assets.lake.store import normalize_symbol
from python_assets.platform.timeframes import HOUR_MS


def rest_exchange(rest_url: str | None, rate_limit_ms: int | None = None, timeout_ms: int = 10_000) -> ccxt.Exchange:
    """A ccxt BloFin client, its REST base replaced by rest_url when given."""
    cfg = ExchangeConfig(api_url=rest_url, rate_limit_ms=rate_limit_ms, timeout_ms=timeout_ms, max_retries=2,
                         backoff_s=0.2, max_backoff_s=2.0)
    return make_exchange(cfg)


def _cfg(ex: ccxt.Exchange) -> ExchangeConfig:
    """Few, short retries: the recorder must not stall on REST (ex: the client, for call_with_retries)."""
    return ExchangeConfig(max_retries=2, backoff_s=0.2, max_backoff_s=2.0)


def _num(value: Any) -> float | None:
    """A decimal string or number as a float, or None."""
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def contract_value(market: dict) -> float:
    """A swap's contract value (base units per contract); a missing or non-positive one is refused (ValueError)."""
    value = _num(market.get("contractSize"))
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{market.get('id')}: the exchange gives no valid contract value "
                         f"({market.get('contractSize')!r}), so contract sizes cannot be converted to base units")
    return value


def markets_by_lake_symbol(ex: ccxt.Exchange) -> dict[str, dict]:
    """Swap markets keyed by the lake's symbol (BTC-USDT); loads markets once."""
    call_with_retries(ex, ex.load_markets, _cfg(ex), "load markets", on_retry=lambda *a: None)
    return {lake_symbol(m): m for m in ex.markets.values() if m.get("swap")}


def recent_trades(ex: ccxt.Exchange, inst_id: str, limit: int) -> list[dict]:
    """The newest trades of an instrument as BloFin sends them (tradeId, ts, price, size, side)."""
    body = call_with_retries(ex, lambda: ex.publicGetMarketTrades({"instId": inst_id, "limit": limit}), _cfg(ex),
                             f"trades {inst_id}", on_retry=lambda *a: None)
    return list(body.get("data") or [])


def mark_price(ex: ccxt.Exchange, inst_id: str) -> tuple[int, float, float | None] | None:
    """(ts, mark_price, index_price) now, or None when the answer lacks them."""
    body = call_with_retries(ex, lambda: ex.publicGetMarketMarkPrice({"instId": inst_id}), _cfg(ex),
                             f"mark-price {inst_id}", on_retry=lambda *a: None)
    rows = body.get("data") or []
    row = rows[0] if isinstance(rows, list) and rows else rows if isinstance(rows, dict) else {}
    mark, ts = _num(row.get("markPrice")), _num(row.get("ts"))
    return None if mark is None or ts is None else (int(ts), mark, _num(row.get("indexPrice")))


def funding_history(ex: ccxt.Exchange, inst_id: str, limit: int = 3) -> list[tuple[int, float]]:
    """The last settled (funding_ts, funding_rate) of an instrument, oldest first (rows without a finite rate skipped)."""
    body = call_with_retries(ex, lambda: ex.publicGetMarketFundingRateHistory({"instId": inst_id, "limit": limit}),
                             _cfg(ex), f"funding history {inst_id}", on_retry=lambda *a: None)
    out = [(int(r["fundingTime"]), rate) for r in body.get("data") or []
           if _num(r.get("fundingTime")) is not None and (rate := _num(r.get("fundingRate"))) is not None
           and math.isfinite(rate)]  # a NaN or infinite rate is no settled rate: it would replace a stored one
    return sorted(out)


def interval_hours(settlements: list[tuple[int, float]]) -> int | None:
    """Funding interval in hours from the latest step between settlement times (sorted oldest first: after a
    change, the new interval at once), or None."""
    steps = [b[0] - a[0] for a, b in zip(settlements, settlements[1:]) if b[0] > a[0]]
    return round(steps[-1] / HOUR_MS) if steps else None


MAX_INTERVAL_HOURS = 168  # a week: anything longer is a unit the field was not in


def own_interval_hours(value: float | None) -> int | None:
    """An instrument's own funding interval in whole hours, whatever unit it came in: ms (28,800,000), seconds
    (28,800) or hours (8); None when missing or not a whole number of hours in any of them (never a wrong 0)."""
    if value is None or not value > 0:
        return None
    unit = HOUR_MS if value >= HOUR_MS else 3600 if value >= 3600 else 1
    hours = value / unit
    return int(hours) if hours == int(hours) and 1 <= hours <= MAX_INTERVAL_HOURS else None


def instrument_rows(ex: ccxt.Exchange, snapshot_ms: int, intervals: dict[str, int | None]) -> list[tuple]:
    """One contract row per instrument of /market/instruments (see rec_store.INSTRUMENTS_SCHEMA); the funding
    interval comes from `intervals` (measured from settlements) or an instrument's own field when it has one."""
    body = call_with_retries(ex, lambda: ex.publicGetMarketInstruments(), _cfg(ex), "instruments",
                             on_retry=lambda *a: None)
    rows = []
    for r in body.get("data") or []:
        try:
            symbol = normalize_symbol(str(r.get("instId", "")))
        except ValueError:
            continue
        hours = intervals.get(symbol) or own_interval_hours(_num(r.get("fundingInterval")))
        rows.append((symbol, snapshot_ms, _num(r.get("contractValue")), _num(r.get("lotSize")), _num(r.get("minSize")),
                     _num(r.get("tickSize")), _num(r.get("maxLeverage")), hours, str(r.get("state") or "")))
    return rows
