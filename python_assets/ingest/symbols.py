"""A file's own symbol column against the symbol its rows are stored under (pure: no I/O). The check is
conservative: a row is of another market only when it clearly names one (another base asset, or a known
quote currency the target's cannot stand for, or a separated symbol whose first word extends the base:
ETHW/USDT, ETHFI-USDT under ETH-USDT), so the many exchange notations of one market pass: ccxt's
BTC/USDT:USDT, Binance's BTCUSDT, OKX's BTC-USDT-SWAP, BitMEX's XBTUSD, Kraken's XXBTZUSD, Bitfinex's
tBTCUSD, KuCoin's XBTUSDTM, Bitget's BTCUSDT_UMCBL, Deribit's BTC-PERPETUAL. Into a -SPOT symbol, a row
that explicitly names a swap (BTC/USDT:USDT, BTC-USDT-SWAP, BTCUSD_PERP) is another market; a plain
BTC/USDT into a swap symbol is not judged (many tools write perpetuals that way). The quote currencies are
python_assets/lake/symbol_names.py's, whose split_joined spells BTCUSDT BTC-USDT as this check reads it (a
lake folder written BTCUSDT before that split takes BTC-USDT rows, as it did)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from python_assets.ingest.header import ALIASES
from python_assets.lake.symbol_names import KNOWN_QUOTES, LAKE_SUFFIXES, USD_QUOTES, split_joined

SYMBOL_COLUMNS = ALIASES["symbol"]
BASE_ALIASES = {"XBT": "BTC"}  # BitMEX, Kraken and KuCoin futures write bitcoin XBT
PREFIX_LETTERS = "TFX"  # one exchange prefix letter before the base: Bitfinex's t/f, Kraken's X
QUOTE_PREFIX = "Z"  # Kraken's prefix of a fiat quote (XXBTZUSD)


_CCXT_SETTLE = re.compile(r"/[^:]*:")  # ccxt's BASE/QUOTE:SETTLE names a swap or future
_SWAP_END = re.compile(r"(?:SWAP|PERP|PERPETUAL)$")  # OKX's -SWAP, Binance's _PERP, Deribit's -PERPETUAL


def _target(symbol: str) -> tuple[str, str | None, bool]:
    """(base, quote or None, whether spot) of the symbol rows go under: 'BTC-USDT-SPOT' -> ('BTC', 'USDT', True)."""
    name = split_joined(symbol)
    spot = name.endswith("-SPOT")
    for suffix in LAKE_SUFFIXES:
        name = name.removesuffix(suffix)
    parts = name.split("-")
    return BASE_ALIASES.get(parts[0], parts[0]), parts[1] if len(parts) > 1 else None, spot


def _after_base(letters: str, base: str) -> str | None:
    """What follows the base in a row's letters and digits (one prefix letter and XBT for BTC allowed),
    or None when the row does not start with that base."""
    spellings = [base, *(alias for alias, name in BASE_ALIASES.items() if name == base)]
    starts = [letters] + ([letters[1:]] if letters[:1] in PREFIX_LETTERS else [])
    return next((s[len(b):] for s in starts for b in spellings if s.startswith(b)), None)


def _quote(rest: str) -> str | None:
    """The known quote currency the text after the base starts with (Kraken's Z prefix allowed), or None."""
    for text in (rest, rest[1:] if rest[:1] == QUOTE_PREFIX else None):
        if found := next((q for q in KNOWN_QUOTES if text and text.startswith(q)), None):
            return found
    return None


def _compatible(a: str, b: str) -> bool:
    """Whether two quote currencies price a market alike (the same, or both in the USD family)."""
    return a == b or (a in USD_QUOTES and b in USD_QUOTES)


def _marks_swap(text: str, rest: str) -> bool:
    """Whether a symbol text explicitly names a swap: a ccxt settle suffix, or its text after the base
    ending in SWAP, PERP or PERPETUAL."""
    return bool(_CCXT_SETTLE.search(text) or _SWAP_END.search(rest))


def names_other_market(text: object, base: str, quote: str | None, spot: bool = False) -> bool:
    """Whether a symbol value clearly names another market than base/quote (and a swap, for a spot
    target); blank, unreadable or unknown notations name none."""
    letters = re.sub(r"[^A-Z0-9]", "", str(text).upper())
    if not re.search(r"[A-Z]", letters):
        return False
    rest = _after_base(letters, base)
    if rest is None or (spot and _marks_swap(str(text), rest)) or _longer_coin(str(text), base):
        return True
    found = _quote(rest)
    return quote is not None and found is not None and not _compatible(found, quote)


def _longer_coin(text: str, base: str) -> bool:
    """Whether a separated symbol's first word is the base plus more than a known quote: another coin whose
    name starts with the base (ETHW/USDT or ETHFI-USDT under ETH, BTCDOM_USDT under BTC)."""
    words = re.split(r"[^A-Za-z0-9]+", text.strip())
    if len(words) < 2 or not words[0]:
        return False
    extra = _after_base(words[0].upper(), base)
    return extra is not None and extra != "" and _quote(extra) is None


def symbol_column(columns: list[str]) -> str | None:
    """The file's symbol column (first of SYMBOL_COLUMNS, any case or spacing), or None."""
    by_name = {str(c).strip().lower(): c for c in columns}
    return next((by_name[c] for c in SYMBOL_COLUMNS if c in by_name), None)


def other_symbol(values: pd.Series, symbol: str) -> np.ndarray:
    """Where a row's symbol value clearly names another market than `symbol` (blank or missing values name none)."""
    base, quote, spot = _target(symbol)
    present = values.notna().to_numpy(dtype=bool)
    codes, uniques = pd.factorize(values[present].astype(str))
    other = np.array([names_other_market(u, base, quote, spot) for u in uniques], dtype=bool)
    out = np.zeros(len(values), dtype=bool)
    out[present] = other[codes] if len(codes) else False
    return out


def mismatch_message(path: object, values: pd.Series, symbol: str, wrong: np.ndarray) -> str:
    """One line naming the first row of another symbol, for the kinds that refuse a file with a bad row."""
    row = int(np.flatnonzero(wrong)[0])
    others = sorted({str(v) for v in values[wrong]})
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return (f"{path}: row {row + 1} is {values.iloc[row]!r}, not {symbol}: {int(wrong.sum())} row(s) name another "
            f"market ({shown}); import one symbol a file, under its own --symbol")
