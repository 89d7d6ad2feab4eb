"""A file's own symbol column against the symbol its rows are stored under (pure: no I/O): ccxt's
ETH/USDT:USDT, Binance's ETHUSDT, OKX's ETH-USDT-SWAP and our ETH-USDT all name one market."""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_assets.ingest.header import ALIASES
from python_assets.lake.store import normalize_symbol

SYMBOL_COLUMNS = ALIASES["symbol"]
LAKE_SUFFIXES = ("-SPOT", "-PERP")  # what `import` suggests to keep a spot and a swap series apart


def symbol_key(text: str | None) -> str | None:
    """The market a symbol text names, separators dropped ('ETH/USDT:USDT', 'ETHUSDT', 'ETH-USDT-SWAP' ->
    'ETHUSDT'); None for a blank or missing value; a text no symbol normalises from is its own key."""
    if text is None or not str(text).strip():
        return None
    try:
        name = normalize_symbol(str(text))
    except ValueError:
        return "?" + str(text)
    for suffix in LAKE_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.replace("-", "")


def symbol_column(columns: list[str]) -> str | None:
    """The file's symbol column (first of SYMBOL_COLUMNS, any case or spacing), or None."""
    by_name = {str(c).strip().lower(): c for c in columns}
    return next((by_name[c] for c in SYMBOL_COLUMNS if c in by_name), None)


def other_symbol(values: pd.Series, symbol: str) -> np.ndarray:
    """Where a row's symbol value names another market than `symbol` (blank or missing values name none)."""
    target = symbol_key(symbol)
    present = values.notna().to_numpy(dtype=bool)
    codes, uniques = pd.factorize(values[present].astype(str))
    other = np.array([symbol_key(u) not in (None, target) for u in uniques], dtype=bool)
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
