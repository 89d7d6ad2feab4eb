"""The lake's spelling of a market (pure: no I/O): BASE-QUOTE in capitals whatever notation a symbol arrives
in, and the quote currencies that spelling and the check of a file's own symbol column
(python_assets/ingest/symbols.py) both read from here. normalize_symbol keeps a name written without a separator
as it is (BTCUSDT), because lakes written before the split hold such folders and every path is found by it;
split_joined spells it BTC-USDT, for a symbol a user names (lake/sources.user_symbol) and an exchange's market."""

from __future__ import annotations

import re

LAKE_SUFFIXES = ("-SPOT", "-PERP")  # what `import` suggests to keep a spot and a swap series apart
USD_QUOTES = frozenset({"USDT", "USDC", "USD", "BUSD", "DAI", "TUSD", "FDUSD"})  # one price level: compatible
KNOWN_QUOTES = tuple(sorted(USD_QUOTES | {"EUR", "GBP", "JPY", "TRY", "BRL", "AUD", "KRW", "BTC", "ETH", "BNB"},
                            key=len, reverse=True))  # longest first: USDT before USD
# The known quotes split off a name written without a separator (Binance's BTCUSDT -> BTC-USDT): no coin's name
# ends in them, while USD, BTC, ETH or DAI end some (SUSD, WBTC, STETH, XDAI), which are kept as written.
JOINED_QUOTES = ("USDT", "USDC")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")


def joined_quote(word: str) -> str | None:
    """The quote of JOINED_QUOTES a separator-less word ends in after a base of its own ('BTCUSDT' -> 'USDT'), or None."""
    return next((q for q in JOINED_QUOTES if word.endswith(q) and len(word) > len(q) and "-" not in word), None)


def normalize_symbol(symbol: str) -> str:
    """'btc/usdt:usdt', 'BTC-USDT-SWAP' or 'btc_usdt' -> 'BTC-USDT' (a -SPOT/-PERP suffix kept, BTCUSDT kept as
    written: the name of a lake folder reads back to itself); refuses names unsafe in a partition path."""
    s = symbol.strip().upper().split(":")[0].replace("/", "-").replace("_", "-")
    s = re.sub(r"-SWAP$", "", s)
    if not _SYMBOL_RE.match(s):
        raise ValueError(f"invalid symbol {symbol!r}: use letters/digits separated by '-', e.g. BTC-USDT")
    return s


def split_joined(symbol: str) -> str:
    """normalize_symbol's spelling with a joined USDT/USDC quote split off: 'BTCUSDT' -> 'BTC-USDT',
    'ETHUSDT-SPOT' -> 'ETH-USDT-SPOT'; any other name as normalize_symbol spells it (SUSD, WBTC)."""
    s = normalize_symbol(symbol)
    head, suffix = next(((s.removesuffix(x), x) for x in LAKE_SUFFIXES if s.endswith(x)), (s, ""))
    if quote := joined_quote(head):
        return f"{head[: -len(quote)]}-{quote}{suffix}"
    return s
