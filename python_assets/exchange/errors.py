"""The exchange room's errors, importable without ccxt (whose import costs ~0.35 s and ~45 MiB): the Dagster
ingest asset catches them in every run, most of which never touch an exchange."""

from __future__ import annotations


class FetchError(RuntimeError):
    """An exchange call that failed for good (retries exhausted, or an error retrying cannot fix)."""


class UnknownExchange(FetchError):
    """The exchange id names no ccxt exchange (bad input, not a failed call)."""


class MarketRefused(FetchError):
    """A market this lake does not take for a symbol (another market's data is stored under its name, or a dated
    future or option): bad input that no retry fixes."""


class UnknownMarket(MarketRefused):
    """The exchange lists no market of the symbol asked for (`--symbol DOGE-USDT` on an exchange without it): bad
    input that no retry fixes, as a refused market is (the CLI's exit 2, a Dagster step failing without retries)."""
