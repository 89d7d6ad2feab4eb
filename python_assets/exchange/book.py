"""BloFin `books` channel state machine (pure, no I/O): a full snapshot, then incremental updates whose
prevSeqId must equal the book's current seqId. A broken chain is a sequence gap (resubscribe for a fresh
snapshot); an update at or below the book's seqId is stale (dropped, the book stays valid). Levels with
size 0 are deletions. A message that would leave the book crossed or locked (best bid >= best ask) is refused
like an unreadable one (BAD): nothing applied, the book invalid until a fresh snapshot (a crossed book sampled
gave feat_book a negative spread). top_n() gives the best N levels per side as (price, size) lists."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


class Applied(str, Enum):
    """What one message did to the book."""

    SNAPSHOT = "snapshot"
    UPDATE = "update"
    SEQ_GAP = "seq_gap"          # prevSeqId != book seqId: the book is invalid until a fresh snapshot
    STALE = "stale_update"       # seqId <= book seqId (older than the snapshot): ignored
    NO_BOOK = "no_book"          # an update before any snapshot (or after a gap): ignored
    BAD = "bad_message"          # a field missing or unreadable, or a crossed/locked result: nothing applied, the book
                                 # invalid until a snapshot


@dataclass
class Book:
    """One instrument's book: price -> size per side, the last applied seqId and exchange time."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    seq_id: int | None = None
    ts: int | None = None
    valid: bool = False

    def _set(self, side: dict[float, float], levels: list[tuple[float, float]]) -> None:
        """Apply parsed (price, size) levels to one side; size 0 deletes the level."""
        for price, size in levels:
            if size == 0.0:
                side.pop(price, None)
            else:
                side[price] = size

    def apply(self, action: str, data: dict) -> Applied:
        """Apply one books message (action 'snapshot' | 'update', data with asks/bids/ts/seqId/prevSeqId). The
        whole message is read and checked before anything is applied: an unreadable one, or one that would cross or
        lock the book (best bid >= best ask), changes no level and leaves the book invalid (BAD) until a fresh
        snapshot."""
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
        new_bids, new_asks = ({}, {}) if action == "snapshot" else (dict(self.bids), dict(self.asks))
        self._set(new_bids, bids)
        self._set(new_asks, asks)
        if new_bids and new_asks and max(new_bids) >= min(new_asks):  # crossed or locked: not a real book
            self.valid = False
            return Applied.BAD
        self.bids, self.asks, self.seq_id, self.ts, self.valid = new_bids, new_asks, seq, ts, True
        return Applied.SNAPSHOT if action == "snapshot" else Applied.UPDATE

    def top_n(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Best n bids (highest first) and asks (lowest first)."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:n]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:n]
        return bids, asks


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
