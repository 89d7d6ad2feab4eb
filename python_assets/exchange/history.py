"""Candle and funding-rate history from the exchange into the lake: paginated, rate-limited, retried and
resumable. A fetch asks only for what of the requested range the lake lacks (coverage.py: neither stored nor
a hole the exchange has), so a hole anywhere in it is filled, whatever order ranges were fetched in. Each UTC day is
written to the lake in one atomic write once all its pages arrived, so a day's file is whole or absent: a
killed fetch loses at most a day of pages, and the next run asks for the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ccxt
import pandas as pd

from python_assets.config import Paths
from python_assets.exchange.client import (ExchangeConfig, FetchError, MarketRefused, call_with_retries, lake_symbol,
                                           make_exchange, resolve_market)
from python_assets.exchange.coverage import missing, record_holes
from python_assets.exchange.fetch_checks import (candle_faults, conflicting, funding_faults, record_time, split_bad,
                                                 when)
from python_assets.exchange.recorder import merge_closed_hours
from python_assets.ingest.importers import MARKET_LABELS, claim_market, stored_market
from python_assets.lake.sources import fetched_source, synthetic_refusal
from python_assets.lake.store import now_ms, stored_range_ms, write_candles, write_funding
from python_assets.platform.progress import Ticker
from python_assets.lake.trade_rules import MIN_TS_MS
from python_assets.platform.timeframes import DAY_MS, HOUR_MS, TIMEFRAME_MS, off_grid_bar

PAGE_LIMIT = 100  # BloFin serves at most 100 candles / funding rates a call
FUNDING_INTERVAL_MS = 8 * HOUR_MS
LATE_MS = HOUR_MS  # no exchange hole is recorded in the last hour: a bar or settlement served late is asked again


@dataclass(frozen=True)
class FetchStats:
    """What one fetch did: the lake symbol, requests made, rows received, rows new to the lake, the range."""

    symbol: str
    requests: int
    received: int
    added: int
    start_ms: int | None
    end_ms: int | None
    bad: int = 0  # records skipped as bad (value checks, conflicting values): not stored, no hole, asked again
    bad_notes: tuple[str, ...] = ()  # the first few, as 'time: reason'


def _stats(name: str, walk: "_Walk", ranges: list[tuple[int, int]], end: int, bad: dict[int, str]) -> FetchStats:
    """A fetch's FetchStats, the bad records counted and the first three named."""
    notes = tuple(f"{when(t)}: {why}" for t, why in sorted(bad.items())[:3])
    return FetchStats(name, walk.requests, walk.received, walk.added, ranges[0][0] if ranges else None, end,
                      len(bad), notes)


def timeframe_ms(timeframe: str) -> int:
    """A timeframe's bar length in ms; ValueError for one the bar models do not read (its candles would make no bars)."""
    if timeframe not in TIMEFRAME_MS:
        raise ValueError(f"--timeframe {timeframe}: {timeframe} candles make no bars here (bars are "
                         f"{', '.join(TIMEFRAME_MS)}): fetch one of those timeframes")
    return TIMEFRAME_MS[timeframe]


def fetch_range(call: Callable[[int], list], start: int, end: int, step: int, time_of: Callable) -> Iterator[list]:
    """Yield pages covering [start, end) from an endpoint that returns the newest records before `until`
    (BloFin's `after` cursor). Each next call ends at the oldest record so far, until a page brings none or
    reaches start (records are at least `step` apart): a short page is no sign that nothing lies below it.
    An empty answer is asked once more before it ends the window (one empty page in passing must not become
    an exchange hole); an answer of records none of which lies before `until` and some after it (the cursor
    was ignored), or one stamped before 2009 (not epoch ms), is a FetchError rather than an empty window."""
    until = end
    while until > start:
        raw = call(until) or call(until)
        times = [time_of(r) for r in raw]
        if times and min(times) < MIN_TS_MS:
            raise FetchError(f"the exchange sent a record stamped {min(times)}, before 2009: not epoch milliseconds, "
                             "nothing from its page on stored")
        if times and min(times) >= until and max(times) > until:  # a record at `until` alone: an inclusive cursor
            raise FetchError(f"asked for records before {when(until)}, the exchange sent only later ones (from "
                             f"{when(min(times))}): it ignored the cursor, nothing from its page on stored")
        page = [r for r, t in zip(raw, times) if start <= t < until]
        if not page:
            return
        yield page
        until = min(time_of(r) for r in page)
        if until - step < start:
            return


def raw_candle_extras(ex: ccxt.Exchange) -> dict[int, tuple[float | None, bool]]:
    """{open time: (quote volume, closed?)} from the last raw BloFin candle response, which ccxt's
    unified rows drop (index 7 volCurrencyQuote, index 8 confirm); empty for other payloads."""
    body = getattr(ex, "last_json_response", None)
    rows = body.get("data") if isinstance(body, dict) else None
    out: dict[int, tuple[float | None, bool]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, list) and len(row) >= 9:
            try:
                out[int(row[0])] = (float(row[7]), str(row[8]) != "0")
            except (TypeError, ValueError):
                continue
    return out


def walk_windows(a: int, b: int, width: int, down: bool) -> list[tuple[int, int]]:
    """[a, b) cut into windows of `width`, oldest first, or newest first when `down`."""
    if down:
        return [(max(hi - width, a), hi) for hi in range(b, a, -width)]
    return [(lo, min(lo + width, b)) for lo in range(a, b, width)]


def walked(a: int, b: int, lo: int, hi: int, unstored_days: list[int], down: bool) -> tuple[int, int]:
    """What of range [a, b) is walked and stored once window [lo, hi) is: up to hi (down from lo when
    walking newest first), short of the days (their start times) still waiting to be stored."""
    if down:
        return max([lo] + [d + DAY_MS for d in unstored_days]), b
    return a, min([hi] + unstored_days)


@dataclass
class _Walk:
    """One history fetch: what to ask for a page, how to store it, and the counters."""

    label: str
    window_ms: int
    step: int  # least spacing of two records (a bar's length; 1 where unknown)
    page: Callable[[int, int], list]  # (cursor, until) -> records
    time_of: Callable[[object], int]
    store: Callable[[list], int]  # records -> rows new to the lake
    record: Callable[[int, int], None]  # (start, end) walked to the end and stored -> its exchange holes recorded
    requests: int = 0
    received: int = 0
    added: int = 0

    def run(self, ranges: list[tuple[int, int]], first_stored: int | None,
            progress: Callable[[str], None] | None, bar: bool = False) -> None:
        """Walk each range window by window and store each UTC day's rows in one write once all of them are
        in, so a day's file is whole or absent, and record the exchange holes of the part walked and stored
        as days are stored. A range below what is stored is walked newest first, so a kill leaves the stored span
        unbroken. With `bar`, a progress bar over the windows (one page or more each) of a fetch of several."""
        walks = [(a, b, first_stored is not None and b <= first_stored) for a, b in ranges]
        plan = [walk_windows(a, b, self.window_ms, down) for a, b, down in walks]
        total = sum(len(p) for p in plan)
        ticker = Ticker(total, f"fetch {self.label}", show=bar and total > 1)
        for (a, b, down), windows in zip(walks, plan):
            pending: dict[int, list] = {}
            mark = b if down else a  # how far the range's holes are recorded
            for lo, hi in windows:
                for rows in fetch_range(lambda until: self._page(lo, until), lo, hi, self.step, self.time_of):
                    self.received += len(rows)
                    for r in rows:
                        pending.setdefault(self.time_of(r) // DAY_MS, []).append(r)
                done = [d for d in pending if (d * DAY_MS >= lo if down else (d + 1) * DAY_MS <= hi)]
                self._store_days(pending, sorted(done, reverse=down), progress)
                if done:
                    to = walked(a, b, lo, hi, [d * DAY_MS for d in pending], down)[0 if down else 1]
                    mark = self._record(mark, to, down)
                ticker.tick()
            self._store_days(pending, sorted(pending, reverse=down), progress)
            self._record(mark, a if down else b, down)

    def _record(self, mark: int, to: int, down: bool) -> int:
        """Record the holes of the range's part walked and stored since `mark`, up to `to`; the new mark."""
        self.record(*((to, mark) if down else (mark, to)))
        return to

    def _store_days(self, pending: dict[int, list], days: list[int], progress: Callable[[str], None] | None) -> None:
        for d in days:
            self.added += self.store(pending.pop(d))
            if progress:
                progress(f"{self.label}: stored {pd.Timestamp(d * DAY_MS, unit='ms', tz='UTC').date()}")

    def _page(self, cursor: int, until: int) -> list:
        self.requests += 1
        return self.page(cursor, until)


def market_kind(market: dict, cfg: ExchangeConfig) -> str:
    """'spot' or 'perp' for a ccxt market; MarketRefused for a dated future or an option, whose lake name
    (lake_symbol keeps the pair only) would be the perpetual swap's."""
    if market.get("spot"):
        return "spot"
    if market.get("future") or market.get("option") or market.get("expiry"):
        raise MarketRefused(f"{cfg.exchange_id} {market['symbol']} is a {market.get('type') or 'dated'} market: only "
                            "perpetual swaps and spot markets are fetched (its bars would go under the swap's name)")
    return "perp"


def market_guard(paths: Paths, name: str, market: dict, kind: str, cfg: ExchangeConfig, what: str) -> Callable[[], None]:
    """A writer's guard (lake.store.Guard) refusing `name` when it holds the other market's data (spot against
    perpetual swap, as `import` refuses it), and recording `kind` (market_kind) for it otherwise (claim_market):
    checked now, so a refused fetch sends no request, then under the symbol's lock before each write. A symbol
    holding synthetic data is refused too (real data never joins it)."""
    if what == "funding rates" and kind == "spot":
        raise MarketRefused(f"{cfg.exchange_id} {market['symbol']} is a spot market: funding rates exist for "
                            "perpetual swaps only")
    exchange = cfg.exchange_id

    def guard(claim: bool = True) -> None:
        if refusal := synthetic_refusal(paths, name):
            raise MarketRefused(refusal)
        said = "funding rates" if what == "funding rates" else \
            f"candles fetched from {exchange}'s {'spot' if kind == 'spot' else 'swap'} market"
        held = claim_market(paths, name, kind, said) if claim else stored_market(paths, name)
        if held is not None and held[0] != kind:
            raise MarketRefused(f"{name}: {exchange} {market['symbol']} is a {MARKET_LABELS[kind]} market, but "
                                f"{name} already holds {MARKET_LABELS[held[0]]} data ({held[1]}); spot and swap prices "
                                f"differ, so its {what} were not fetched: fetch them into another data dir")

    guard(claim=False)
    return guard


def fetch_ohlcv_history(ex: ccxt.Exchange, paths: Paths, symbol: str, timeframe: str, since_ms: int,
                        until_ms: int | None, cfg: ExchangeConfig, now: int | None = None,
                        progress: Callable[[str], None] | None = None, bar: bool = False,
                        refetch_holes: bool = False) -> FetchStats:
    """Closed candles of [since, until) into lake/candles, window by window of PAGE_LIMIT bars (`bar`: show a
    progress bar over them; `refetch_holes`: ask again for the recorded exchange holes too). A candle failing
    the import's value checks is skipped and counted (FetchStats.bad); one without a usable time is a FetchError."""
    tf_ms = timeframe_ms(timeframe)
    market = resolve_market(ex, symbol, cfg)
    name = lake_symbol(market)
    kind = market_kind(market, cfg)
    guard = market_guard(paths, name, market, kind, cfg, "candles")
    source = fetched_source(cfg.exchange_id, kind == "spot")
    now = now if now is not None else now_ms()
    end = min(until_ms if until_ms is not None else now, now) // tf_ms * tf_ms  # bars still open are left out
    since = -(-since_ms // tf_ms) * tf_ms
    root = paths.candles / f"symbol={name}" / f"timeframe={timeframe}"
    first, _ = stored_range_ms(root, "bar_at_ms")
    ranges = missing(root, "bar_at_ms", since, end, tf_ms, tf_ms, PAGE_LIMIT * tf_ms, holes=not refetch_holes)
    bad: dict[int, str] = {}  # open time -> why the exchange's candle there was not stored
    open_from = [(now - LATE_MS) // tf_ms * tf_ms]  # no exchange hole is recorded from here on (see LATE_MS)

    def page(cursor: int, until: int) -> list:
        rows = call_with_retries(ex, lambda: ex.fetch_ohlcv(market["symbol"], timeframe, since=cursor, limit=PAGE_LIMIT,
                                                            params={"until": until}),
                                 cfg, f"fetch_ohlcv {market['symbol']} {timeframe} until {until}")
        times = [record_time(r[0]) if isinstance(r, (list, tuple)) and r else None for r in rows]
        if None in times:
            raise FetchError(f"{name} {timeframe}: the exchange sent a candle without a usable open time "
                             f"({str(rows[times.index(None)])[:200]}): refused, nothing from its page on stored")
        rows = [[t, *r[1:]] for t, r in zip(times, rows)]
        if off_grid := off_grid_bar([r[0] for r in rows], timeframe, tf_ms):  # as import refuses them
            at, grid = off_grid
            raise FetchError(f"{name} {timeframe}: the exchange's bar at {pd.Timestamp(rows[at][0], unit='ms', tz='UTC')} "
                             f"is not on {grid}: refused, nothing from its page on stored")
        extras = raw_candle_extras(ex)
        out = []
        for r in rows:
            quote, closed = extras.get(r[0], (None, True))
            if closed:  # a candle the exchange still calls open is left for a later run
                out.append([*r, quote])
            else:
                open_from[0] = min(open_from[0], r[0])
        return out

    def store(rows: list) -> int:
        frame = pd.DataFrame(rows, columns=["bar_at_ms", "open", "high", "low", "close", "volume", "volume_quote"])
        frame["volume"] = frame["volume"].where(frame["volume"].notna(), 0.0)  # a volume ccxt left out: 0
        frame, skipped = split_bad(frame, candle_faults(frame), "bar_at_ms")
        frame = frame.astype({c: "float64" for c in ("open", "high", "low", "close", "volume")}).assign(source=source)
        bad.update(skipped | conflicting(frame, "bar_at_ms", ["open", "high", "low", "close", "volume"]))
        stats = write_candles(paths, name, timeframe, frame, guard=guard)
        bad.update({int(t): "conflicting_values (the stored bar kept)" for t in stats.conflicts})
        return stats.added

    walk = _Walk(f"{name} {timeframe}", PAGE_LIMIT * tf_ms, tf_ms, page, lambda r: r[0], store,
                 lambda a, b: record_holes(root, "bar_at_ms", a, min(b, open_from[0]), tf_ms, tf_ms, list(bad)))
    walk.run(ranges, first, progress, bar)
    return _stats(name, walk, ranges, end, bad)


def fetch_funding_history(ex: ccxt.Exchange, paths: Paths, symbol: str, since_ms: int, until_ms: int | None,
                          cfg: ExchangeConfig, now: int | None = None,
                          progress: Callable[[str], None] | None = None, bar: bool = False,
                          refetch_holes: bool = False) -> FetchStats:
    """Funding settlements of [since, until) into lake/funding, window by window of PAGE_LIMIT intervals
    (`bar`, `refetch_holes`: as for candles). A settlement failing the import's checks (or off the hour grid)
    is skipped and counted; one without a usable time is a FetchError."""
    market = resolve_market(ex, symbol, cfg)
    name = lake_symbol(market)
    guard = market_guard(paths, name, market, market_kind(market, cfg), cfg, "funding rates")
    now = now if now is not None else now_ms()
    end = min(until_ms if until_ms is not None else now + 1, now + 1)
    root = paths.funding / f"symbol={name}"
    first, _ = stored_range_ms(root, "funding_ts")
    ranges = missing(root, "funding_ts", since_ms, end, FUNDING_INTERVAL_MS, 1, PAGE_LIMIT * FUNDING_INTERVAL_MS,
                     holes=not refetch_holes)
    bad: dict[int, str] = {}  # settlement time -> why the exchange's rate there was not stored

    def page(cursor: int, until: int) -> list:
        rows = call_with_retries(ex, lambda: ex.fetch_funding_rate_history(market["symbol"], since=cursor, limit=PAGE_LIMIT,
                                                                           params={"until": until}),
                                 cfg, f"fetch_funding_rate_history {market['symbol']} until {until}")
        times = [record_time(r.get("timestamp")) if isinstance(r, dict) else None for r in rows]
        if None in times:
            raise FetchError(f"{name} funding: the exchange sent a settlement without a usable time "
                             f"({str(rows[times.index(None)])[:200]}): refused, nothing from its page on stored")
        return [{**r, "timestamp": t} for r, t in zip(rows, times)]

    def store(rows: list) -> int:
        rate = pd.to_numeric(pd.Series([r.get("fundingRate") for r in rows], dtype=object), errors="coerce")
        frame = pd.DataFrame({"funding_ts": [r["timestamp"] for r in rows], "funding_rate": rate.astype("float64")})
        frame, skipped = split_bad(frame, funding_faults(frame["funding_ts"], frame["funding_rate"]), "funding_ts")
        bad.update(skipped | conflicting(frame, "funding_ts", ["funding_rate"]))
        stats = write_funding(paths, name, frame, guard=guard)
        bad.update({int(t): "conflicting_values (the stored rate kept)" for t in stats.conflicts})
        return stats.added

    walk = _Walk(f"{name} funding", PAGE_LIMIT * FUNDING_INTERVAL_MS, 1, page, lambda r: r["timestamp"], store,
                 lambda a, b: record_holes(root, "funding_ts", a, min(b, now - LATE_MS), FUNDING_INTERVAL_MS, 1,
                                           list(bad)))
    walk.run(ranges, first, progress, bar)
    return _stats(name, walk, ranges, end, bad)


def fetch_window(paths: Paths, symbols: list[str], start_ms: int, end_ms: int, cfg: ExchangeConfig,
                 timeframe: str = "1m") -> dict[str, dict[str, int]]:
    """A partition's worth of exchange data per symbol: candles and funding of [start, end), and the
    recorder's finished hours merged into the trades lake. What the Dagster ingest asset runs. A symbol whose
    market the lake refuses is left out and named in one MarketRefused at the end, after the others."""
    ex = make_exchange(cfg)
    out: dict[str, dict[str, int]] = {}
    refused: list[str] = []
    for symbol in symbols:
        try:
            candles = fetch_ohlcv_history(ex, paths, symbol, timeframe, start_ms, end_ms, cfg)
            funding = fetch_funding_history(ex, paths, symbol, start_ms, end_ms, cfg)
            out[candles.symbol] = {"candles_added": candles.added, "funding_added": funding.added,
                                   "recorded_hours_merged": merge_closed_hours(paths, candles.symbol, now_ms())}
        except MarketRefused as exc:  # the other symbols' data still lands; the step then fails naming this one
            refused.append(str(exc))
    if refused:
        raise MarketRefused("; ".join(refused))
    return out
