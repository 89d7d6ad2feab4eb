"""One symbol's recording state in the WebSocket recorder: trade continuity, the order book, funding
announcements, mark prices, open segments and pending gaps, and the buffers it flushes to the lake.
No network here: the service (ws_recorder.py) feeds it parsed messages and REST answers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from python_assets.config import Paths
from python_assets.exchange import rec_flush
from python_assets.exchange import rec_store as store
from python_assets.exchange.book import MAX_CROSSED_MS, Applied, Book, book_rows
from python_assets.exchange.continuity import Hole, HoleFill, TradeTracker, trade_int
from python_assets.exchange.rec_checks import faults, hole_detail, objects, own_ts, restored_fill, trade_row
from python_assets.ingest.trades import FUTURE_TOLERANCE_MS
from python_assets.platform.timeframes import DAY_MS

DATASETS = ("trades", "books", "funding", "mark")
MAX_OPEN_HOLES = 100  # the newest recorded trade holes a late trade may still fill; older back-filled ones are final


@dataclass
class LastGap:
    """The newest gap seen, for the status line."""

    symbol: str
    dataset: str
    cause: str
    at_ms: int


@dataclass
class SymbolRecorder:
    """State and buffers of one symbol; see the module docstring."""

    paths: Paths
    symbol: str
    inst_id: str
    contract_value: float
    depth: int
    session_id: str
    clock: Callable[[], int]
    on_gap: Callable[[LastGap], None] = lambda g: None
    out: Callable[[str], None] = lambda line: None  # one line per funding rate refused or changed after it was stored
    tracker: TradeTracker = field(default_factory=TradeTracker)
    book: Book = field(default_factory=Book)
    trades: list[tuple] = field(default_factory=list)
    books: list[tuple] = field(default_factory=list)
    marks: list[tuple] = field(default_factory=list)
    announced: dict[int, float] = field(default_factory=dict)  # the stream's rate per coming settlement
    confirmed: dict[int, float] = field(default_factory=dict)  # REST's settled rates, not yet written
    open_seg: dict[str, int] = field(default_factory=dict)
    trade_cause: tuple[str, int] | None = None      # why the next trade hole happened, and since when
    book_cause: tuple[str, int, str] | None = None  # (cause, start_ms, detail) of a book gap awaiting a snapshot
    ended: list[tuple[str, int, int]] = field(default_factory=list)  # closed segments not yet written
    filling: list[int] = field(default_factory=list)  # after_ts of the holes handed out and not yet filled
    holes: list[HoleFill] = field(default_factory=list)  # the newest holes handed out: what reached them so far
    regapped: set[str] = field(default_factory=set)  # days whose trade hole rows a late trade rewrote since a merge
    refused: dict[str, str] = field(default_factory=dict)  # lake writes not written (step -> why) until they are
    # every stream trade is counted once: stored ('trades'), 'quarantined' or a 'duplicates' repeat (REST's apart);
    # 'crossed_skips': book samples and snapshots not written because the book was crossed or locked then
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("trades", "backfilled", "books", "gaps", "duplicates", "quarantined", "bad_messages", "crossed_skips"), 0))

    # ---- start -------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Pick up where an earlier session stopped: its last stored trade (however long ago) and segment ends
        become 'restart' holes, and its open holes are restored; with no stored trade id to continue from, the
        restart gap is recorded as lost."""
        now = self.clock()
        ends = store.previous_segment_ends(self.paths, self.symbol, self.session_id, now)
        last = store.last_stored_trade(self.paths, self.symbol, now, lake_too="trades" in ends)
        if last is not None:
            self.tracker.last_id, self.tracker.last_ts = last
            self._restore_holes(now)
        if "trades" in ends or last is not None:
            self.trade_cause = ("restart", int(ends.get("trades", self.tracker.last_ts or now)))
        if "books" in ends:
            self.book_cause = ("restart", int(ends["books"]), "recorder restarted")

    def _restore_holes(self, now: int) -> None:
        """Rebuild the records of the newest holes an earlier session left lost or partial (their gap rows and the
        ids stored in them), so that a late trade of one is stored once, not taken for a repeat."""
        rows = [r for r in store.open_hole_rows(self.paths, self.symbol, now)  # a late trade is not a day late
                if r[2] >= now - DAY_MS][-MAX_OPEN_HOLES:]
        ids = store.stored_trade_ids(self.paths, self.symbol, [(r[1], r[2]) for r in rows])
        self.holes = [f for r in rows if (f := restored_fill(*r, ids)) is not None]

    # ---- messages ----------------------------------------------------------------------------------
    def _seen(self, dataset: str) -> None:
        self.open_seg.setdefault(dataset, self.clock())

    def gap(self, dataset: str, start: int, end: int, cause: str, status: str, rows: int = 0, detail: str = "") -> None:
        """Record one gap now (gaps are rare: written at once, not buffered)."""
        store.write_gap(self.paths, self.symbol, dataset, start, end, cause, status, rows, detail)
        self.counts["gaps"] += 1
        self.on_gap(LastGap(self.symbol, dataset, cause, self.clock()))

    def on_trades(self, data: list) -> list[Hole]:
        """Keep the new trades of a message; returns the holes the REST back-fill should try to fill. A trade
        that cannot be stored (stamped outside the sane window, a field missing or unreadable, or a value the lake
        refuses) counts for id continuity at the last time, is quarantined with its reason, and the message's other
        trades are kept. An id at or below the last one is a late trade of a recorded hole (stored once) or a
        repeat (counted, dropped)."""
        self._seen("trades")
        data = objects(data)
        bad = self._faults(data)
        safe, top = self.tracker.last_ts or self.clock(), self.clock() + FUTURE_TOLERANCE_MS
        pairs = [(str(t.get("tradeId")), int(t["ts"]) if i not in bad else own_ts(t, top) or safe)
                 for i, t in enumerate(data)]
        cause = self.trade_cause[0] if self.trade_cause else "trade_id_gap"
        first_last = self.tracker.last_id
        keep, holes = self.tracker.check(pairs, cause)
        good = [i for i in keep if i not in bad]
        self.trades += [self._trade_row(data[i]) for i in good]
        self.counts["trades"] += len(good)
        if self.trade_cause and keep and not holes:
            lost_since, first_ts = self.trade_cause[1], max(self.trade_cause[1], pairs[keep[0]][1])
            if first_last is not None:
                self.gap("trades", lost_since, first_ts, cause, "recovered", 0,
                         "no trade id missing across the interruption")
            else:  # nothing stored to check the ids against: whatever traded in between is unknown, so lost
                self.gap("trades", lost_since, first_ts, cause, "lost", 0,
                         "no earlier trade id to continue from: trades in between unknown")
        if keep:
            self.trade_cause = None
        for i in keep:
            if i in bad:
                self._reject(data[i], pairs[i][1], bad[i])
                self.counts["quarantined"] += 1
        kept = set(keep)
        self._late([i for i in range(len(data)) if i not in kept], data, bad)
        self.filling += [h.after_ts for h in holes]
        self._remember([HoleFill(h) for h in holes])
        return holes

    def _remember(self, fills: list[HoleFill]) -> None:
        """Keep the newest MAX_OPEN_HOLES holes for late trades, and any older one whose back-fill is still under way:
        its record holds the ids that came late, which the back-fill must not store (and count) a second time."""
        held = self.holes + fills
        self.holes = [f for f in held[:-MAX_OPEN_HOLES] if f.hole.after_ts in self.filling] + held[-MAX_OPEN_HOLES:]

    def _late(self, idx: list[int], data: list[dict], bad: dict[int, str]) -> None:
        """Trades at or below the last id: one of a recorded hole that has not reached the buffer arrived late (it
        is stored, or quarantined when unusable, and the hole's gap row is rewritten when already written); any other
        is a repeat of a stored or quarantined trade, counted in 'duplicates' and dropped."""
        for i in idx:
            tid = trade_int(str(data[i].get("tradeId")))
            fill = next((f for f in self.holes if f.wants(tid)), None)
            if fill is None or tid is None or (i in bad and tid in fill.refused):
                self.counts["duplicates"] += 1
            elif i in bad:
                fill.refused.add(tid)
                self._reject(data[i], fill.hole.after_ts, bad[i], fill.hole)
                self.counts["quarantined"] += 1
            else:
                fill.late.add(tid)
                self.trades.append(self._trade_row(data[i]))
                self.counts["trades"] += 1
                if fill.detail is not None:
                    self._write_hole(fill)

    def _faults(self, data: list[dict]) -> dict[int, str]:
        """Why each trade that cannot be stored cannot (rec_checks.faults, against the local clock now)."""
        return faults(data, self.clock() + FUTURE_TOLERANCE_MS, self.contract_value)

    def _reject(self, trade: dict, at: int, reason: str, hole: Hole | None = None) -> None:
        """Quarantine a trade that cannot be stored; one that arrived live (not in a hole's back-fill) is also a
        lost gap ('bad_timestamp' for a time outside the window, else 'bad_trade')."""
        store.quarantine_trade(self.paths, self.symbol, trade, reason)
        if hole is not None:
            return
        if reason == "time_outside_window":
            self.gap("trades", at, at, "bad_timestamp", "lost", 0,
                     f"trade id {trade.get('tradeId')} stamped {trade.get('ts')}: before 2009 or past the "
                     f"local clock + {FUTURE_TOLERANCE_MS // 1000} s, quarantined")
        else:
            self.gap("trades", at, at, "bad_trade", "lost", 0,
                     f"trade id {trade.get('tradeId')}: {reason}, quarantined")

    def _trade_row(self, t: dict) -> tuple:
        """A readable trade message as a live_trades row (rec_checks.trade_row, in this symbol's contract value)."""
        return trade_row(t, self.contract_value)

    def fill(self, hole: Hole, rest: list) -> str:
        """Add what REST still had of a hole (and the stream had not delivered late) to the buffer and record the
        gap; returns its status (a trade of the hole that cannot be stored is quarantined and counts as missing)."""
        if hole.after_ts in self.filling:
            self.filling.remove(hole.after_ts)
        fill = next((f for f in self.holes if f.hole == hole), None)
        if fill is None:
            fill = HoleFill(hole)
            self._remember([fill])
        rest = objects(rest)
        bad = self._faults(rest)
        for i, t in enumerate(rest):
            tid = trade_int(str(t.get("tradeId")))
            if i not in bad and tid is not None and fill.wants(tid):
                fill.rest.add(tid)
                self.trades.append(self._trade_row(t))
        refused = {str(rest[i].get("tradeId")): i for i in bad
                   if hole.after_id < (trade_int(str(rest[i].get("tradeId"))) or -1) < hole.before_id}
        for i in refused.values():
            self._reject(rest[i], hole.after_ts, bad[i], hole)
        fill.unusable = len(refused)
        self.counts["backfilled"] += len(fill.rest)
        self._write_hole(fill)
        return fill.status()

    def _write_hole(self, fill: HoleFill) -> None:
        """Write a hole's gap row with what reached it so far; a row written before for it (a late trade changed
        its status and count) is replaced, not kept beside the new one."""
        h, detail = fill.hole, hole_detail(fill)
        end, got = max(h.after_ts, h.before_ts), len(fill.rest | fill.late)
        if fill.detail is None:
            self.gap("trades", h.after_ts, end, h.cause, fill.status(), got, detail)
        else:
            self.regapped |= store.write_gap(self.paths, self.symbol, "trades", h.after_ts, end, h.cause,
                                             fill.status(), got, detail, replaces=fill.detail)  # days to run again
        fill.detail = detail

    def on_book(self, action: str, data: dict) -> Applied:
        """Apply a books message; a sequence gap, an unreadable message or a book crossed for too long leaves the book
        invalid (nothing sampled) until the caller's resubscribe brings a snapshot, and the time in between is recorded
        as a lost gap. A crossed or locked snapshot is applied but not written (counted in 'crossed_skips')."""
        self._seen("books")
        before_ts = self.book.ts
        result = self.book.apply(action, data, self.clock())
        if result is Applied.SNAPSHOT:
            self._rows("snapshot")
            if self.book_cause:
                cause, start, detail = self.book_cause
                self.gap("books", start, max(start, self.book.ts), cause, "lost", 0, detail)
                self.book_cause = None
        elif result is Applied.SEQ_GAP:
            start = before_ts if before_ts is not None else int(data["ts"])
            self.book_cause = ("seq_gap", start, f"prevSeqId {data.get('prevSeqId')} != book seqId {self.book.seq_id}")
        elif result is Applied.CROSSED:
            self._crossed_too_long()
        elif result is Applied.BAD and self.book_cause is None:
            start = before_ts if before_ts is not None else self.clock()
            self.book_cause = ("bad_message", start, f"unreadable books {action} (seqId "
                               f"{str(data.get('seqId') if isinstance(data, dict) else None)[:40]}"
                               "): book dropped until a fresh snapshot")
        elif result is Applied.STALE:
            ts = int(data["ts"])
            self.gap("books", ts, ts, "stale_update", "recovered", 0,
                     f"update seqId {data['seqId']} <= book seqId {self.book.seq_id}: ignored")
        self.counts["books"] += 1
        return result

    def sample(self) -> bool:
        """Top-N of the current book as 'sample' rows (nothing while the book is invalid); True when the book has just
        been dropped as crossed too long (a quiet symbol sends no message to find that out): the caller resubscribes."""
        if self.book.valid and self.book.timed_out(self.clock()):
            self._crossed_too_long()
            return True
        if self.book.valid:
            self._rows("sample")
        return False

    def _crossed_too_long(self) -> None:
        """The book was dropped as crossed past MAX_CROSSED_MS: the time until a fresh snapshot is a lost gap."""
        if self.book_cause is None:
            self.book_cause = ("crossed_book", self.book.crossed_since, f"book crossed or locked (best bid "
                               f"{self.book.best_bid} >= ask {self.book.best_ask}) for over {MAX_CROSSED_MS // 1000} s")

    def _rows(self, kind: str) -> None:
        """Buffer the book's top-N levels as rows of this kind, unless it is crossed or locked now: feat_book must
        never see such a book (a negative spread), so it is counted in 'crossed_skips' instead."""
        if self.book.crossed:
            self.counts["crossed_skips"] += 1
        else:
            self.books += book_rows(self.book, self.depth, kind, self.contract_value)

    def on_funding(self, data: list[dict]) -> None:
        """Remember the announced rate of each coming settlement time; a rate that is not a finite number (NaN,
        inf) is refused, said and counted in 'bad_messages', and the last good announcement stays."""
        self._seen("funding")
        for row in data:
            if row.get("fundingTime") not in (None, "") and row.get("fundingRate") not in (None, ""):
                ts, rate = int(row["fundingTime"]), float(row["fundingRate"])
                if math.isfinite(rate):
                    self.announced[ts] = rate
                else:
                    self.counts["bad_messages"] += 1
                    self.out(f"{self.symbol} funding at {ts}: announced rate {row['fundingRate']!r} is not a finite "
                             "number, refused")

    def on_mark(self, mark: tuple[int, float, float | None] | None) -> None:
        """A polled mark/index price (None: the poll failed, the mark segment ends)."""
        if mark is None:
            self._close("mark")
            return
        self._seen("mark")
        self.marks.append(mark)

    def connection_lost(self, cause: str) -> None:
        """The stream stopped: close the segments, and make the next trade/book hole carry the cause."""
        now = self.clock()
        self._close("trades", "books", "funding")
        if cause == "shutdown":
            return
        self.trade_cause = self.trade_cause or (cause, self.tracker.last_ts or now)
        if self.book.valid or self.book_cause is None:
            self.book_cause = (cause, self.book.ts or now, f"stream lost ({cause})")
        self.book.valid = False

    def _close(self, *datasets: str) -> None:
        """End the open segments of these datasets now (written at the next flush)."""
        now = self.clock()
        self.ended += [(ds, start, max(start, now)) for ds in datasets
                       if (start := self.open_seg.pop(ds, None)) is not None]

    # ---- flush -------------------------------------------------------------------------------------
    def pending_rows(self) -> int:
        return len(self.trades) + len(self.books) + len(self.marks)

    def take(self, final: bool = False) -> dict:
        """Hand the buffers over for writing (in the event loop; write() then runs in a worker thread):
        rows, settled funding, and the segments (closed ones, open ones with end = now)."""
        now = self.clock()
        if final:
            self._close(*list(self.open_seg))
            if self.book_cause and self.book_cause[0] != "shutdown":  # the book never came back before we stopped
                cause, start, detail = self.book_cause
                self.gap("books", start, max(start, now), cause, "lost", 0, detail + "; no fresh snapshot before shutdown")
                self.book_cause = None
        settled = {t: r for t, r in self.announced.items() if t <= now}
        for t in settled:
            del self.announced[t]
        confirmed, self.confirmed = self.confirmed, {}
        settled = {t: r for t, r in settled.items() if t not in confirmed}
        batch = {"now": now, "trades": self.trades, "books": self.books, "marks": self.marks, "funding": settled,
                 "confirmed": confirmed,
                 "segments": self.ended + [(ds, s, max(s, now)) for ds, s in self.open_seg.items()]}
        self.trades, self.books, self.marks, self.ended = [], [], [], []
        return batch

    def write(self, batch: dict, merge: bool) -> dict:
        """Write a taken batch (rec_flush.write_batch); returns what is to be written again (keep() it)."""
        return rec_flush.write_batch(self, batch, merge)

    def keep(self, held: dict) -> None:
        """Put what a write left back into the buffers (rec_flush.keep)."""
        rec_flush.keep(self, held)

    def flush(self, merge: bool, final: bool = False) -> None:
        """take(), write() and keep() in one go (tests, and the last flush on the way out)."""
        self.keep(self.write(self.take(final), merge))

    def merge(self, now: int) -> None:
        """Merge finished hours and mark finished days complete (rec_flush.merge_finished)."""
        rec_flush.merge_finished(self, now)

    def hole_floor(self) -> int | None:
        """The earliest time a pending trade hole (a cause awaiting the next trade, or a back-fill under way)
        may still add trades at, or None when none is pending."""
        starts = list(self.filling)
        if self.trade_cause:
            starts += [self.trade_cause[1], self.tracker.last_ts or self.trade_cause[1]]
        return min(starts) if starts else None
