"""Numbers for people: each value formatted by its kind (price, percent, ratio, count, duration),
in scientific notation only for a price below 1e-15 (too small to write positionally); a value that
rounds to zero never shows as -0; a value whose text would read inf (1e307 as a percent) and a time past
what a date can hold show a dash, as NaN does; the report's HTML formats every cell through `cell`."""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

DASH = "–"
PRICE_SIGNIFICANT = 6
MAX_DECIMALS = 10  # plain numbers: below 1e-10 they round to 0
PRICE_MAX_DECIMALS = 20  # prices keep their six significant digits positionally down to 1e-15

# column name -> kind; columns not listed format as plain numbers
COLUMN_KINDS = {
    **dict.fromkeys(("open", "high", "low", "close", "prev_close", "range_abs", "entry_price", "exit_price"), "price"),
    **dict.fromkeys(("return_1d", "range_pct", "total_return", "buy_and_hold_return", "return_pct"), "pct"),
    # a drawdown is a loss: every mart stores it <= 0 (older reports hold the portfolio's >= 0: a loss too)
    **dict.fromkeys(("max_drawdown", "max_drawdown_p05", "max_drawdown_p50"), "drawdown"),
    **dict.fromkeys(("win_rate", "accuracy", "balanced_accuracy", "spread_from_book"), "share"),
    **dict.fromkeys(("final_return_p05", "final_return_p50", "day_return", "cumulative_return", "fee_drag"), "pct"),
    **dict.fromkeys(("composite_change",), "signed"),
    **dict.fromkeys(("volume", "volume_quote", "trade_count", "test_rows", "eval_rows", "oos_trades", "folds",
                     "quarantined_rows", "n_trials_total"), "count"),
    **dict.fromkeys(("held_seconds",), "duration"),
    **dict.fromkeys(("bar_at", "entry_at", "exit_at"), "time"),
}


def _decimals(v: float, significant: int, cap: int = MAX_DECIMALS) -> int:
    """Decimals that show `significant` significant digits of v (0 for integers' digits), at most cap."""
    if v == 0 or not math.isfinite(v):
        return 0
    return min(max(significant - 1 - math.floor(math.log10(abs(v))), 0), cap)


def _no_negative_zero(text: str, zero_sign: str = "") -> str:
    """text with the minus of a value that rounded to zero replaced by zero_sign: -0.00% is not a loss."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return zero_sign + text[1:]
    return text


def number(v: float | int | None, significant: int = 4) -> str:
    """Plain positional notation with thousands separators: 29,876.5 / 0.0001235 / 12."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return DASH
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return _no_negative_zero(f"{v:,.{_decimals(float(v), significant)}f}")


def compact(v: float | int | None, significant: int = 3) -> str:
    """Like number, without trailing zeros: 0.5, 0.69, 1,234."""
    text = number(v, significant)
    return text.rstrip("0").rstrip(".") if "." in text else text


def price(v: float | None, tick: float | None = None) -> str:
    """To the instrument's tick when known, else six significant digits (at least two decimals) at any
    magnitude: a meme coin's 1.23457e-8 must not read as 0.0000000123, nor 2.5e-12 as zero."""
    if v is None or not math.isfinite(v):
        return DASH
    if tick:
        return _no_negative_zero(f"{v:,.{_decimals(tick, 1, PRICE_MAX_DECIMALS)}f}")
    places = _decimals(v, PRICE_SIGNIFICANT, cap=PRICE_MAX_DECIMALS + 1)
    if places > PRICE_MAX_DECIMALS:
        return f"{v:.{PRICE_SIGNIFICANT - 1}e}"
    return _no_negative_zero(f"{v:,.{max(places, 2)}f}")


def _percent(v: float | None) -> float | None:
    """v as a percent, None where v or its percent is not finite (1e307 * 100 overflows to inf)."""
    if v is None or not math.isfinite(v * 100):
        return None
    return v * 100


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a signed percent: 0.0123 -> +1.23%."""
    if (p := _percent(v)) is None:
        return DASH
    return _no_negative_zero(f"{p:+.{digits}f}%", "+")


def share(v: float | None, digits: int = 1) -> str:
    """A fraction of a whole as a percent without sign: 0.4902 -> 49.0%."""
    if (p := _percent(v)) is None:
        return DASH
    return _no_negative_zero(f"{p:.{digits}f}%")


def signed(v: float | None, digits: int = 3) -> str:
    """A change with its sign: +0.012 / -1.3."""
    if v is None or not math.isfinite(v):
        return DASH
    return _no_negative_zero(f"{v:+.{digits}f}", "+")


def duration(seconds: float | None) -> str:
    """3d 4h / 5h 12m / 7m 3s / 0.8s; a negative one keeps its minus (-5.0s: an exit stamped before its
    entry must not read as a real holding time), one that rounds to zero has none."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    text = _duration_text(abs(seconds))
    return _no_negative_zero("-" + text) if seconds < 0 else text


def _duration_text(s: float) -> str:
    """duration's text of s >= 0 seconds."""
    if s < 60:
        return f"{s:.1f}s" if s < 10 else f"{s:.0f}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts, rest = [], int(round(s))
    for name, size in units:
        if rest >= size:
            parts.append(f"{rest // size}{name}")
            rest %= size
    return " ".join(parts[:2])


def utc_time(ms: int | float | None) -> str:
    """Epoch ms as 2025-03-10 14:00 UTC; a dash for NaN or a time no date holds (1e15 ms is past year 9999:
    a corrupt *_at must not stop the report's rendering)."""
    if ms is None or not math.isfinite(ms):
        return DASH
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):  # past datetime's years, the C time_t, or the platform's range
        return DASH


def drawdown(v: float) -> str:
    """A drawdown as the loss it is: -0.0045 -> -0.45% (0 -> +0.00%); an older report's positive 0.0045 too."""
    return pct(-abs(v)) if v else pct(0.0)


def by_kind(v: Any, kind: str | None) -> str:
    """One value formatted by its kind (None -> a dash); strings pass through."""
    if v is None:
        return DASH
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return {"price": price, "pct": pct, "share": share, "signed": signed, "count": number, "duration": duration,
            "time": utc_time, "drawdown": drawdown}.get(kind or "", number)(v)


def cell(column: str, v: Any) -> str:
    """HTML-escaped text of a table cell for a column of the report."""
    return html.escape(by_kind(v, COLUMN_KINDS.get(column)))
