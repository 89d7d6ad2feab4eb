"""BloFin `books` channel state machine (pure, no I/O): a full snapshot, then incremental updates whose
prevSeqId must equal the book's current seqId. A broken chain is a sequence gap (resubscribe for a fresh
snapshot); an update at or below the book's seqId is stale (dropped, the book stays valid). Levels with
size 0 are deletions. A book left crossed or locked (best bid >= best ask) is applied as sent, since live feeds
(OKX, whose API BloFin's mirrors; Bitfinex) send such books for a moment and the next update uncrosses them, but
`crossed` tells the recorder not to sample it (a sampled crossed book gave feat_book a negative spread); one that
stays crossed past MAX_CROSSED_MS on the recorder's own clock (`now`, checked on each message and each sample, so
a quiet symbol's crossed book and a far-future exchange ts cannot keep it) is broken (CROSSED: invalid until a
fresh snapshot). top_n() gives the best N levels per side as (price, size) lists."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


# How long (the recorder's clock, from receiving the message that first left it so) a book may stay crossed or locked
# before it is taken as broken rather than a fast feed's passing cross: transient ones last a message or a few, well
# under a second; 10 s without the exchange uncrossing it means the book went wrong, so it is dropped and fetched afresh.
MAX_CROSSED_MS = 10_000


class Applied(str, Enum):
    """What one message did to the book."""

    SNAPSHOT = "snapshot"
    UPDATE = "update"
    SEQ_GAP = "seq_gap"          # prevSeqId != book seqId: the book is invalid until a fresh snapshot
    STALE = "stale_update"       # seqId <= book seqId (older than the snapshot): ignored
    NO_BOOK = "no_book"          # an update before any snapshot (or after a gap): ignored
    BAD = "bad_message"          # a field missing or unreadable: nothing applied, the book invalid until a snapshot
    CROSSED = "crossed_book"     # applied, but the book has been crossed or locked for over MAX_CROSSED_MS: invalid
                                 # until a snapshot


@dataclass
class Book:
    """One instrument's book: price -> size per side, the last applied seqId and exchange time."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    seq_id: int | None = None
    ts: int | None = None
    valid: bool = False
    best_bid: float | None = None
    best_ask: float | None = None
    crossed_since: int | None = None  # exchange time of the message that left the book crossed or locked, if it is
    crossed_at: int | None = None     # the caller's clock (local ms) when that message arrived

    @property
    def crossed(self) -> bool:
        """Whether the book is crossed or locked now (best bid >= best ask): not a book to sample."""
        return self.crossed_since is not None

    def timed_out(self, now: int | None) -> bool:
        """Whether the book has been crossed for over MAX_CROSSED_MS by the caller's clock (now, local ms; None: no
        clock, never); such a book is made invalid here, until a fresh snapshot."""
        if now is None or self.crossed_at is None or now - self.crossed_at <= MAX_CROSSED_MS:
            return False
        self.valid = False
        return True

    def apply(self, action: str, data: dict, now: int | None = None) -> Applied:
        """Apply one books message (action 'snapshot' | 'update', data with asks/bids/ts/seqId/prevSeqId) received at
        now (the caller's clock, local ms). The whole message is read before anything is applied: an unreadable one
        changes no level and leaves the book invalid (BAD) until a fresh snapshot. A crossed or locked result is
        applied and marked `crossed`; crossed for over MAX_CROSSED_MS of the caller's clock since it became so
        (timed_out), the book is invalid (CROSSED) until a fresh snapshot."""
        try:
            seq, ts = int(data["seqId"]), int(data["ts"])
            prev = int(data.get("prevSeqId", -1))
            bids, asks = _levels(data.get("bids") or []), _levels(data.get("asks") or [])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            if action != "snapshot" and not self.valid:
                return Applied.NO_BOOK  # no book to spoil: a snapshot is awaited anyway
            self.valid = False
            return Applied.BAD
        if action != "snapshot":
            if not self.valid or self.seq_id is None:
                return Applied.NO_BOOK
            if seq <= self.seq_id:
                return Applied.STALE
            if prev != self.seq_id:
                self.valid = False
                return Applied.SEQ_GAP
        else:
            self.bids, self.asks, self.best_bid, self.best_ask, self.crossed_since = {}, {}, None, None, None
            self.crossed_at = None
        self.best_bid = _apply_side(self.bids, bids, self.best_bid, max)
        self.best_ask = _apply_side(self.asks, asks, self.best_ask, min)
        self.seq_id, self.ts, self.valid = seq, ts, True
        if self.best_bid is None or self.best_ask is None or self.best_bid < self.best_ask:
            self.crossed_since = self.crossed_at = None
        elif self.crossed_since is None:
            self.crossed_since, self.crossed_at = ts, now
        elif self.timed_out(now):
            return Applied.CROSSED
        elif self.crossed_at is None:
            self.crossed_at = now
        return Applied.SNAPSHOT if action == "snapshot" else Applied.UPDATE

    def top_n(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Best n bids (highest first) and asks (lowest first)."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:n]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:n]
        return bids, asks


def _apply_side(side: dict[float, float], levels: list[tuple[float, float]], best: float | None,
                top: Callable[..., float]) -> float | None:
    """Apply parsed (price, size) levels to one side (size 0 deletes the level) and return its best price after
    (top: max for bids, min for asks); the side is scanned only when its best level was deleted, not copied."""
    rescan = False
    for price, size in levels:
        if size == 0.0:
            rescan |= side.pop(price, None) is not None and price == best
        else:
            side[price] = size
            best = price if best is None else top(best, price)
    return (top(side) if side else None) if rescan else best


def _levels(levels: list) -> list[tuple[float, float]]:
    """[price, size, ...] levels as (price, size) floats; ValueError for a non-finite or negative one."""
    out = [(float(level[0]), float(level[1])) for level in levels]
    if not all(math.isfinite(p) and math.isfinite(q) and p > 0 and q >= 0 for p, q in out):
        raise ValueError("a level with a non-finite, non-positive price or a negative size")
    return out


def book_rows(symbol_book: Book, n: int, kind: str, contract_value: float) -> list[tuple]:
    """Rows (ts, kind, seq_id, side, level, price, size_base) of the book's top n levels."""
    bids, asks = symbol_book.top_n(n)
    out: list[tuple] = []
    for side, levels in (("bid", bids), ("ask", asks)):
        for i, (price, size) in enumerate(levels, start=1):
            out.append((symbol_book.ts, kind, symbol_book.seq_id, side, i, price, size * contract_value))
    return out
