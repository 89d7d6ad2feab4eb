"""Pure bookkeeping of the recorder (no I/O): trade-id continuity and time order, which trades reached a
hole (its REST back-fill, late ones on the stream) and its status, and splitting intervals at UTC midnights.

BloFin trade ids are integers increasing by one per instrument; a jump in ids between two consecutive
trades is a hole of exactly that many trades. Non-integer ids fall back to time order only. An id at or
below the last kept one is not new: it is a repeat, or a trade of a recorded hole arriving late (HoleFill
says which: a late one is stored once, and its hole's status follows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_assets.platform.timeframes import DAY_MS


def trade_int(trade_id: str) -> int | None:
    """The trade id as an integer, or None when it is not one."""
    try:
        return int(trade_id)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Hole:
    """Trades missing between the last trade kept (after_id at after_ts) and the next one seen."""

    after_id: int
    after_ts: int
    before_id: int
    before_ts: int
    cause: str

    @property
    def missing(self) -> int:
        """How many trade ids the hole spans."""
        return self.before_id - self.after_id - 1


@dataclass
class TradeTracker:
    """The last trade kept for one symbol; check() sorts a batch into new trades and holes."""

    last_id: int | None = None
    last_ts: int | None = None
    out_of_order: int = 0

    def check(self, trades: list[tuple[str, int]], cause: str = "trade_id_gap") -> tuple[list[int], list[Hole]]:
        """Given (trade_id, ts) in arrival order: indexes of new trades (id above the last kept) and the
        holes between them; trades at or below the last id are repeats and skipped. A time going
        backwards with rising ids is counted in out_of_order (kept: the id is the truth)."""
        keep: list[int] = []
        holes: list[Hole] = []
        order = sorted(range(len(trades)), key=lambda i: (trade_int(trades[i][0]) or 0, trades[i][1]))
        for i in order:
            tid, ts = trade_int(trades[i][0]), int(trades[i][1])
            if tid is None:
                keep.append(i)
                continue
            if self.last_id is not None and tid <= self.last_id:
                continue
            if self.last_id is not None and tid > self.last_id + 1:
                holes.append(Hole(self.last_id, self.last_ts or ts, tid, ts, cause))
            if self.last_ts is not None and ts < self.last_ts:
                self.out_of_order += 1
            keep.append(i)
            self.last_id, self.last_ts = tid, max(ts, self.last_ts or ts)
        return keep, holes


@dataclass
class HoleFill:
    """The ids of one recorded hole that reached the buffer: from its REST back-fill or late on the stream."""

    hole: Hole
    rest: set[int] = field(default_factory=set)
    late: set[int] = field(default_factory=set)
    unusable: int = 0  # trades of the hole its back-fill held but the lake refuses (quarantined)
    refused: set[int] = field(default_factory=set)  # ids of late trades quarantined (unusable): a repeat is a duplicate
    detail: str | None = None  # the detail of its written gap row (part of the row's key), None until written

    def wants(self, tid: int | None) -> bool:
        """Whether tid is an id of the hole that has not reached the buffer yet."""
        return tid is not None and self.hole.after_id < tid < self.hole.before_id and tid not in self.rest | self.late

    def status(self) -> str:
        """'recovered' when every id of the hole arrived, 'partial' when some, 'lost' when none."""
        got = len(self.rest | self.late)
        return "recovered" if got >= self.hole.missing else "partial" if got else "lost"


def split_days(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The half-open interval [start, end) cut at UTC midnights (an empty one stays whole)."""
    if end_ms <= start_ms:
        return [(start_ms, end_ms)]
    out = []
    s = start_ms
    while s < end_ms:
        e = min(end_ms, (s // DAY_MS + 1) * DAY_MS)
        out.append((s, e))
        s = e
    return out
