"""Pure checks of the WebSocket recorder (no I/O): which trade messages can become live_trades rows and why not
(the quarantine reason), the row a readable one becomes, and the detail text of a trade hole's gap row (written,
and read back into the hole's record after a restart).
rec_symbol.py calls these for every trade message; what it does with the answers (store, quarantine, record a gap)
stays there."""

from __future__ import annotations

import re

from python_assets.exchange.continuity import Hole, HoleFill
from python_assets.lake.trade_rules import MIN_TS_MS, record_fault, side_of, value_fault


def objects(data: list) -> list[dict]:
    """A message's records, each one that is not an object wrapped as {"raw": it} (to be quarantined)."""
    if not isinstance(data, list):
        raise TypeError(f"data is a {type(data).__name__}, not a list")
    return [t if isinstance(t, dict) else {"raw": t} for t in data]


def trade_fault(t: dict) -> str | None:
    """Why a trade message cannot become a row (a missing or unreadable id, ts, price or size), or None."""
    return record_fault(t, "tradeId", (("ts", int), ("price", float), ("size", float)))


def own_ts(t: dict, top: int) -> int | None:
    """A trade's ts when readable (as trade_fault reads it) and in [MIN_TS_MS, top], else None: a trade refused for
    a value is filed at its own time (its day), only one without a usable time at the last trade's."""
    try:
        ts = int(t["ts"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return ts if MIN_TS_MS <= ts <= top else None


def trade_row(t: dict, contract_value: float) -> tuple:
    """A readable trade message as a live_trades row; its side read as ingest reads it (trade_rules.side_of: 'BUY',
    'b', 'bid' are 'buy', a missing one or 'null' stays NULL, another text is for value_fault to judge)."""
    return (str(t["tradeId"]), int(t["ts"]), float(t["price"]), float(t["size"]) * contract_value,
            side_of(t.get("side")))


def faults(data: list[dict], top: int, contract_value: float) -> dict[int, str]:
    """Why each trade that cannot be stored cannot (index -> quarantine reason): a missing or unreadable
    field, a time before MIN_TS_MS or past top (the local clock + the future tolerance), or a value the lake
    refuses (trade_rules.value_fault, checked here so that the trade gets its gap, not only at the merge; one
    trade at a time, no DataFrame: this runs for every trade message on the event loop all symbols share)."""
    out: dict[int, str] = {}
    for i, t in enumerate(data):
        if (why := trade_fault(t)) is None and own_ts(t, top) is None:
            why = "time_outside_window"
        if (why := why or value_fault(*trade_row(t, contract_value)[1:])) is not None:
            out[i] = why
    return out


def hole_detail(fill: HoleFill) -> str:
    """The detail of a trade hole's gap row: its id range and what reached it so far (part of the row's key)."""
    h = fill.hole
    return (f"trade ids {h.after_id + 1}..{h.before_id - 1} missing ({h.missing}), {len(fill.rest)} from REST"
            + (f", {fill.unusable} unusable (quarantined)" if fill.unusable else "")
            + (f", {len(fill.late)} late on the stream" if fill.late else ""))


HOLE_DETAIL = re.compile(r"trade ids (\d+)\.\.(\d+) missing \(\d+\), (\d+) from REST"
                         r"(?:, (\d+) unusable \(quarantined\))?(?:, \d+ late on the stream)?")


def restored_fill(cause: str, start_ms: int, end_ms: int, detail: str, stored: set[int]) -> HoleFill | None:
    """The record of a hole an earlier session wrote a gap row for (None when the detail names no id range), rebuilt
    for a restart from that row and the stored trade ids, so a late trade of it is stored once, not taken for a
    repeat. Which stored id came from REST and which late the lake does not say: the row's counts need only that
    as many as it said came from REST."""
    if (m := HOLE_DETAIL.fullmatch(detail)) is None:
        return None
    first, last = int(m[1]), int(m[2])
    got = sorted(t for t in stored if first <= t <= last)
    rest = int(m[3])
    return HoleFill(Hole(first - 1, start_ms, last + 1, end_ms, cause), set(got[:rest]), set(got[rest:]),
                    int(m[4] or 0), detail=detail)
