"""Column names and the header decision for a CSV (pure: no I/O): whether its first line is a header or
already a trade, and a headerless file's width, both judged on the file's opening lines, not the first
line alone, so one odd first line is quarantined instead of sizing (or refusing) the whole file."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from python_assets.platform.timestamps import parse_timestamps_ms

REQUIRED = ("ts", "price", "size")
ALIASES: dict[str, tuple[str, ...]] = {
    "trade_id": ("trade_id", "tradeid", "id", "tid", "trade"),
    "ts": ("ts", "timestamp", "time", "datetime", "date", "trade_time", "traded_at", "created_at", "t"),
    "price": ("price", "px", "p", "trade_price"),
    "size": ("size", "amount", "qty", "quantity", "sz", "volume", "vol", "q"),
    "side": ("side", "taker_side", "direction", "s"),
    "symbol": ("symbol", "instid", "inst_id", "pair"),  # ccxt and Binance, BloFin and OKX, freqtrade
}
HEADERLESS_ORDER = ("ts", "price", "size", "side", "trade_id")
SAMPLE_LINES = 100  # the opening lines (after the first) that decide header-or-not and the width
_ALIAS_NAMES = frozenset(a for aliases in ALIASES.values() for a in aliases)


def canonical(name: str) -> str:
    """A column name as aliases are written: no byte-order mark, trimmed, lower case, `_` for spaces and dashes."""
    return str(name).replace("\ufeff", "").strip().lower().replace(" ", "_").replace("-", "_")


def is_number(text: str) -> bool:
    """Whether text reads as a float."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def data_rows(rows: list[list[str]]) -> list[bool]:
    """For each row, whether it is a trade, not a header: all numbers, or its first three fields a time
    (epoch number or ISO text), a number and a number, none a column name (the fields after may be any text)."""
    times = parse_timestamps_ms(pd.Series([r[0].strip() if r else "" for r in rows], dtype=object)).notna().tolist()
    out = []
    for row, timed in zip(rows, times):
        if row and all(is_number(c) for c in row):
            out.append(True)
        elif len(row) < len(REQUIRED) or any(canonical(c) in _ALIAS_NAMES for c in row[:3]):
            out.append(False)
        else:
            out.append(bool(timed) and is_number(row[1]) and is_number(row[2]))
    return out


def _maybe_data(row: list[str]) -> bool:
    """Whether a first row that is not a clean trade could still be a damaged one: its first field a time
    (a headerless file's ts column) and none of its first three fields a column name."""
    if not row or any(canonical(c) in _ALIAS_NAMES for c in row[:3]):
        return False
    return bool(parse_timestamps_ms(pd.Series([row[0].strip()], dtype=object)).notna().iloc[0])


def _width(rows: list[list[str]]) -> int:
    """The most common field count (the earliest seen on a tie)."""
    return Counter(len(r) for r in rows).most_common(1)[0][0]


def decide_header(first: list[str], after: list[list[str]]) -> tuple[list[str], bool]:
    """(column names, whether the first row is data) for a CSV whose first non-blank row is `first` and
    whose next non-blank rows (up to SAMPLE_LINES) are `after`. The first row is data when it is a trade,
    or when it could be a damaged one and most rows after it are trades; a headerless file is as wide as
    most of its opening rows and read as ts, price, size[, side[, trade_id]] (further columns get names no
    alias matches). Rows of another width are the readers' malformed rows."""
    rows = [list(r) for r in after[:SAMPLE_LINES]]
    flags = data_rows([first, *rows])
    headerless = flags[0] or (_maybe_data(first) and sum(flags[1:]) * 2 > len(rows))
    if not headerless:
        return [c.strip() for c in first], False
    width = _width([r for r, ok in zip([first, *rows], flags) if ok] or [first])
    extra = [f"column_{i + 1}" for i in range(len(HEADERLESS_ORDER), width)]
    return list(HEADERLESS_ORDER[:width]) + extra, True
