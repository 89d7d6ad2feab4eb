"""A ccxt exchange (BloFin by default) configured from the environment, and calls retried with backoff.

Settings (all optional): BLOFIN_EXCHANGE (ccxt id, default blofin), BLOFIN_API_URL (replaces the REST
base URL: a proxy, or the fake exchange in the tests), BLOFIN_RATE_LIMIT_MS (least gap between two
requests; ccxt's BloFin default is 100 ms), BLOFIN_TIMEOUT_MS, BLOFIN_MAX_RETRIES. Public data needs no
keys; when BLOFIN_API_KEY / BLOFIN_API_SECRET / BLOFIN_API_PASSPHRASE are set they go to ccxt and nowhere
else: never into a config object, a log line or a file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt

from python_assets.config import exchange_credentials, exchange_settings
from python_assets.exchange.errors import FetchError, MarketRefused, UnknownExchange, UnknownMarket  # noqa: F401 - re-exported: callers import them from here
from python_assets.lake.store import normalize_symbol
from python_assets.lake.symbol_names import split_joined

T = TypeVar("T")


@dataclass(frozen=True)
class ExchangeConfig:
    """How to reach the exchange and how hard to retry; holds no secrets."""

    exchange_id: str = "blofin"
    api_url: str | None = None
    rate_limit_ms: int | None = None
    timeout_ms: int = 10_000
    max_retries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> "ExchangeConfig":
        values: dict[str, Any] = exchange_settings()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def make_exchange(cfg: ExchangeConfig) -> ccxt.Exchange:
    """The ccxt client: its own rate limiter on, keys from the environment only, URLs overridden if asked."""
    klass = getattr(ccxt, cfg.exchange_id, None)
    if klass is None or not isinstance(klass, type):
        raise UnknownExchange(f"unknown ccxt exchange id {cfg.exchange_id!r} (--exchange or BLOFIN_EXCHANGE)")
    options: dict[str, Any] = {"enableRateLimit": True, "timeout": cfg.timeout_ms, "enableLastJsonResponse": True,
                               "enableLastResponseHeaders": True}
    options.update(exchange_credentials())
    ex = klass(options)
    if cfg.rate_limit_ms is not None:
        ex.rateLimit = cfg.rate_limit_ms
    if cfg.api_url:
        base = cfg.api_url.rstrip("/")
        api = ex.urls.get("api")
        ex.urls["api"] = {k: base for k in api} if isinstance(api, dict) else base
    return ex


def retry_delay(attempt: int, cfg: ExchangeConfig, retry_after: str | None) -> float:
    """Exponential backoff (backoff_s * 2^attempt, capped), or the server's Retry-After when longer."""
    delay = min(cfg.max_backoff_s, cfg.backoff_s * (2 ** attempt))
    try:
        return max(delay, min(cfg.max_backoff_s, float(retry_after))) if retry_after else delay
    except ValueError:
        return delay


def _short(exc: Exception) -> str:
    """'Type: message' on one line, cut at 200 characters (ccxt puts whole responses in messages)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def say_retry(what: str, attempt: int, attempts: int, delay: float, exc: Exception) -> None:
    """One stderr line per retry, so an unreachable exchange is not a silent minute."""
    print(f"{what}: attempt {attempt} of {attempts} failed ({_short(exc)}); retrying in {delay:g} s",
          file=sys.stderr, flush=True)


def call_with_retries(ex: ccxt.Exchange, fn: Callable[[], T], cfg: ExchangeConfig, what: str,
                      sleep: Callable[[float], None] = time.sleep,
                      on_retry: Callable[[int, float, Exception], None] | None = None) -> T:
    """Run one exchange call; network errors, timeouts and 429s are retried with backoff (each retry said
    on stderr, or to on_retry), others raise."""
    attempts = cfg.max_retries + 1
    for attempt in range(attempts):
        try:
            return fn()
        except ccxt.NetworkError as exc:  # timeouts, dropped connections, 429 (RateLimitExceeded), 5xx
            if attempt == cfg.max_retries:
                raise FetchError(f"{what}: gave up after {attempts} attempts: {_short(exc)}") from exc
            headers = getattr(ex, "last_response_headers", None) or {}
            delay = retry_delay(attempt, cfg, headers.get("Retry-After") or headers.get("retry-after"))
            if on_retry:
                on_retry(attempt + 1, delay, exc)
            else:
                say_retry(what, attempt + 1, attempts, delay, exc)
            sleep(delay)
        except ccxt.BaseError as exc:
            raise FetchError(f"{what}: {_short(exc)}") from exc
    raise AssertionError("unreachable")


def resolve_market(ex: ccxt.Exchange, symbol: str, cfg: ExchangeConfig) -> dict:
    """The market for 'BTC/USDT:USDT' (ccxt), 'BTC-USDT' (BloFin id) or 'btc-usdt'; loads markets once. UnknownMarket
    when the exchange lists none of those."""
    call_with_retries(ex, ex.load_markets, cfg, "load markets")
    text = symbol.strip()
    candidates = [text, text.upper()]
    lake = split_joined(text)  # Binance's BTCUSDT is BTC-USDT here
    base, _, quote = lake.partition("-")
    candidates += [f"{base}/{quote}:{quote}", f"{base}/{quote}"]
    for c in candidates:
        if c in ex.markets:
            return ex.markets[c]
    by_id = {m["id"]: m for m in ex.markets.values()}
    for c in (text, text.upper(), lake):
        if c in by_id:
            return by_id[c]
    raise UnknownMarket(f"{cfg.exchange_id} has no market {symbol!r} (try e.g. BTC/USDT:USDT)")


def lake_symbol(market: dict) -> str:
    """The lake's name for a market: 'BTC/USDT:USDT' -> 'BTC-USDT'."""
    return normalize_symbol(market["symbol"])
