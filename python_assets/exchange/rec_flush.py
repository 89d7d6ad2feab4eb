"""The lake writes of one recorded symbol's taken batch (SymbolRecorder.take): its hour files, funding, segments and
the merge of finished hours. A write the lake refuses for the symbol (it holds synthetic data, or another market
under the symbol's name: SyntheticDataHeld, MarketRefused) or that fails is said once (and stays on the status line
until it is written), and what it held is kept to be written again: a refused merge's trades in their live hour
files, refused funding in the symbol's buffers, a failed batch back in them whole (every write of a batch keeps
the stored row, so a row written twice is stored once); the symbol's other datasets and the other symbols go on.
No network here; write_batch runs in the recorder's worker thread, keep in its event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pandas as pd
import pyarrow as pa

from python_assets.exchange import rec_store as store
from python_assets.exchange.errors import MarketRefused
from python_assets.exchange.recorder import LIVE_SCHEMA, _read, _union, hour_file, merge_closed_hours
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.sources import SyntheticDataHeld
from python_assets.lake.store import write_funding
from python_assets.platform.timeframes import HOUR_MS

if TYPE_CHECKING:
    from python_assets.exchange.rec_symbol import SymbolRecorder

REFUSED = (MarketRefused, SyntheticDataHeld)  # a lake write of the symbol refused until its data dir changes
BATCH = "lake write"  # the name of a whole batch's failure in SymbolRecorder.refused


def write_batch(rec: SymbolRecorder, batch: dict, merge: bool) -> dict:
    """Write a taken batch (merging finished hours when asked); returns what is to be written again (keep): the
    funding a refusal held, or the whole batch when a write failed (said once, the other symbols still written)."""
    try:
        held = _write(rec, batch, merge)
    except Exception as exc:  # noqa: BLE001 - one symbol's failed write ends neither the flusher nor the others'
        _refused(rec, BATCH, f"{type(exc).__name__}: {exc}", "its rows kept in memory, written at the next flush")
        return batch
    _written(rec, BATCH)
    return held


def keep(rec: SymbolRecorder, held: dict) -> None:
    """Put what a write left back into the symbol's buffers, before what came since (in the event loop)."""
    rec.trades[:0], rec.books[:0], rec.marks[:0] = held.get("trades", []), held.get("books", []), held.get("marks", [])
    rec.ended[:0] = held.get("segments", [])  # an open segment's later end, taken next, wins
    for ts, rate in held.get("funding", {}).items():
        rec.announced.setdefault(ts, rate)  # settled: taken again at the next flush
    rec.confirmed = {**held.get("confirmed", {}), **rec.confirmed}


def _write(rec: SymbolRecorder, batch: dict, merge: bool) -> dict:
    """The writes of a batch; a refused funding write is held (returned), a refused trades merge leaves its hours
    in live_trades."""
    held: dict = {}
    if batch["trades"]:
        rows = pd.DataFrame(batch["trades"], columns=LIVE_SCHEMA.names)
        for hour, part in rows.groupby(rows["ts"] // HOUR_MS * HOUR_MS):
            path = hour_file(rec.paths, rec.symbol, int(hour))
            write_table_atomic(pa.Table.from_pandas(_union(_read(path), part), schema=LIVE_SCHEMA,
                                                    preserve_index=False), path)
    store.append_live(rec.paths, store.BOOKS, rec.symbol, batch["books"])
    store.append_live(rec.paths, store.MARKS, rec.symbol, batch["marks"])
    if batch["funding"] and not _attempt(rec, "funding", "kept in memory, written at a later flush",
                                         lambda: _write_settled(rec, batch["funding"])):
        held["funding"] = batch["funding"]
    confirmed = batch.get("confirmed") or {}
    if confirmed and not _attempt(rec, "settled funding", "kept in memory, written at a later flush",
                                  lambda: _replace_settled(rec, confirmed)):
        held["confirmed"] = confirmed
    store.write_segments(rec.paths, rec.symbol, batch["segments"], rec.session_id)
    if merge:
        merge_finished(rec, batch["now"])
    return held


def _write_settled(rec: SymbolRecorder, settled: dict[int, float]) -> None:
    """Store the stream's settled rates unless another is (that one stays and is said); one replaces a stored NaN."""
    stats = write_funding(rec.paths, rec.symbol, pd.DataFrame({"funding_ts": list(settled),
                                                               "funding_rate": list(settled.values())}))
    for ts in sorted(int(t) for t in (*stats.replaced, *stats.conflicts)):
        said = ("which replaces the unknown (NaN) rate stored for that settlement" if ts in stats.replaced
                else "another rate is stored for that settlement and stays")
        rec.out(f"{rec.symbol} funding at {ts}: the stream announced {settled[ts]}, {said}")


def _replace_settled(rec: SymbolRecorder, confirmed: dict[int, float]) -> None:
    """Store the exchange's settled rates (REST history) over the stream's announcements, each change said."""
    for ts in store.replace_funding(rec.paths, rec.symbol, confirmed):
        rec.out(f"{rec.symbol} funding at {ts}: the exchange's settled rate {confirmed[ts]} replaces "
                "the rate the stream announced")


def merge_finished(rec: SymbolRecorder, now: int) -> None:
    """Merge finished hours into the day partitions and mark finished days complete: trades days only up to a
    hole still to be back-filled (and not while a refused merge leaves their hours in live_trades), and a marked
    day merged into again is marked again (a new revision)."""
    touched = {name: frozenset(store.due_days(rec.paths, name, rec.symbol, now))
               for name in ("live_trades", "live_books", "live_mark_prices")}
    _attempt(rec, "trades merge", "its hours stay in live_trades, merged at a later merge",
             lambda: merge_closed_hours(rec.paths, rec.symbol, now))
    store.merge_live(rec.paths, store.BOOKS, rec.symbol, now)
    store.merge_live(rec.paths, store.MARKS, rec.symbol, now)
    store.mark_day_complete(rec.paths, rec.symbol, "trades", "live_trades", now, pending_from=rec.hole_floor(),
                            touched=touched["live_trades"] | rec.regapped)  # a marked day's coverage changed
    rec.regapped = set()
    store.mark_day_complete(rec.paths, rec.symbol, "books", "live_books", now, touched=touched["live_books"])
    store.mark_day_complete(rec.paths, rec.symbol, "mark_prices", "live_mark_prices", now, label="mark",
                            touched=touched["live_mark_prices"])


def _attempt(rec: SymbolRecorder, step: str, kept: str, write: Callable[[], object]) -> bool:
    """One lake write of the symbol; True when written, False when the lake refused it (said once)."""
    try:
        write()
    except REFUSED as exc:
        _refused(rec, step, str(exc).removeprefix(f"{rec.symbol}: "), kept)  # the line names the symbol first
        return False
    _written(rec, step)
    return True


def _refused(rec: SymbolRecorder, step: str, reason: str, kept: str) -> None:
    """Say a refused or failed write once per reason, and hold it for the status line until it is written."""
    if rec.refused.get(step) != reason:
        rec.out(f"{rec.symbol}: {step} not written ({kept}): {reason}")
    rec.refused[step] = reason


def _written(rec: SymbolRecorder, step: str) -> None:
    """A write refused before went through: said, and off the status line."""
    if rec.refused.pop(step, None) is not None:
        rec.out(f"{rec.symbol}: {step} written again")
