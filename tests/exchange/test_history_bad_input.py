"""History fetches against a misbehaving exchange (a review's findings): an empty page in passing, a cursor
ignored or bad records never become permanent exchange holes or stored values; holes can be asked again."""

from __future__ import annotations

import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, FetchError
from python_assets.exchange.coverage import read_holes
from python_assets.exchange.fetch_checks import when
from python_assets.exchange.history import fetch_funding_history, fetch_ohlcv_history
from python_assets.lake.store import FUNDING_SCHEMA, funding_partition, read_partition, write_funding

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = 1_750_000_000_000 // DAY * DAY + 5 * HOUR + 123
MARKET = {"id": "BTC-USDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
          "type": "swap", "spot": False, "swap": True, "future": False, "option": False, "contract": True,
          "contractSize": 0.001, "expiry": None}
CFG = ExchangeConfig(max_retries=0, backoff_s=0.0, max_backoff_s=0.0)


def bar(t: int) -> list:
    p = 100.0 + (t // MIN) % 50
    return [t, p, p + 1, p - 1, p + 0.5, 1.0]


class StubExchange:
    """An in-process ccxt stand-in: the newest 100 records before `until` and from `since` (BloFin's cursors),
    from `bars` / `funding`; `answer` may rewrite each answer (call number, until, rows) -> rows."""

    def __init__(self, bars: list[list] | None = None, funding: list[dict] | None = None, answer=None) -> None:
        self.markets, self.bars, self.funding = {MARKET["symbol"]: MARKET}, bars or [], funding or []
        self.answer, self.calls, self.last_json_response = answer or (lambda n, until, rows: rows), 0, None

    def load_markets(self) -> dict:
        return self.markets

    def _page(self, rows: list, time_of, since: int | None, until: int) -> list:
        self.calls += 1
        got = [r for r in rows if (time_of(r) is None or since is None or time_of(r) >= since)
               and (time_of(r) is None or time_of(r) < until)][-100:]
        return self.answer(self.calls, until, got)

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None, params=None):
        return self._page(self.bars, lambda r: r[0], since, params["until"])

    def fetch_funding_rate_history(self, symbol, since=None, limit=None, params=None):
        return self._page(self.funding, lambda r: r["timestamp"], since, params["until"])


def stored_bars(paths: Paths) -> list[int]:
    import duckdb
    glob = f"{paths.candles}/symbol=BTC-USDT/timeframe=1m/*/*.parquet"
    return [r[0] for r in duckdb.sql(f"select bar_at_ms from read_parquet('{glob}') order by 1").fetchall()]


def holes(paths: Paths) -> list:
    return read_holes(paths.candles / "symbol=BTC-USDT" / "timeframe=1m")


START = (NOW - 10 * HOUR) // MIN * MIN
END = (NOW - 2 * HOUR) // MIN * MIN
GRID = [bar(t) for t in range(START - DAY, NOW // MIN * MIN, MIN)]


def test_one_empty_page_in_passing_is_asked_again_and_becomes_no_hole(data_dir: Paths) -> None:
    ex = StubExchange(GRID, answer=lambda n, until, rows: [] if n == 3 else rows)
    st = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", START, END, CFG, now=NOW)
    assert stored_bars(data_dir) == list(range(START, END, MIN)) and st.added == (END - START) // MIN
    assert holes(data_dir) == []


def test_refetch_holes_asks_again_and_replaces_the_holes_with_what_it_found(data_dir: Paths) -> None:
    gone = set(range(START + 30 * MIN, START + 40 * MIN, MIN))
    fetch_ohlcv_history(StubExchange([b for b in GRID if b[0] not in gone]), data_dir, "BTC-USDT", "1m", START, END,
                        CFG, now=NOW)
    assert holes(data_dir) == [(START + 30 * MIN, START + 40 * MIN)]
    ex = StubExchange(GRID)
    assert fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", START, END, CFG, now=NOW).requests == 0
    st = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", START, END, CFG, now=NOW, refetch_holes=True)
    assert st.added == 10 and holes(data_dir) == [] and stored_bars(data_dir) == list(range(START, END, MIN))


def test_an_exchange_ignoring_the_cursor_is_an_error_not_a_hole(data_dir: Paths) -> None:
    newest = [b for b in GRID if b[0] >= END][-100:]
    with pytest.raises(FetchError, match="ignored the cursor"):
        fetch_ohlcv_history(StubExchange(GRID, answer=lambda n, until, rows: newest), data_dir, "BTC-USDT", "1m",
                            START, END, CFG, now=NOW)
    assert holes(data_dir) == []


def test_bad_candles_are_skipped_counted_and_never_holes(data_dir: Paths) -> None:
    t_none, t_neg, t_inv, t_dup = START + 5 * MIN, START + 6 * MIN, START + 7 * MIN, START + 8 * MIN
    bars = [[t, 1.0, 2.0, 0.5, None, 1.0] if t == t_none else [t, -5.0, -10.0, 3.0, -1.0, -2.0] if t == t_neg
            else [t, 10.0, 9.0, 8.0, 9.5, 1.0] if t == t_inv else b for b in GRID for t in [b[0]]]
    bars.append([t_dup, 1.0, 2.0, 0.5, 1.5, 7.0])  # a second, different candle at one time
    bars.sort(key=lambda b: b[0])
    st = fetch_ohlcv_history(StubExchange(bars), data_dir, "BTC-USDT", "1m", START, START + HOUR, CFG, now=NOW)
    assert stored_bars(data_dir) == sorted(set(range(START, START + HOUR, MIN)) - {t_none, t_neg, t_inv})
    assert st.bad == 4 and "missing_price" in st.bad_notes[0] and "non_positive_price" in st.bad_notes[1]
    assert "high_low_incoherent" in st.bad_notes[2]
    assert holes(data_dir) == []  # the exchange has candles there: asked again next time, not a hole


def test_a_candle_without_a_time_is_one_clear_error(data_dir: Paths) -> None:
    ex = StubExchange(GRID, answer=lambda n, until, rows: rows + [[None, 1.0, 1.0, 1.0, 1.0, 1.0]])
    with pytest.raises(FetchError, match="candle without a usable open time"):
        fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", START, START + HOUR, CFG, now=NOW)


def funding(t: int, rate: object = 0.0001) -> dict:
    return {"timestamp": t, "fundingRate": rate, "symbol": MARKET["symbol"]}


def test_bad_funding_rates_are_skipped_and_counted(data_dir: Paths) -> None:
    first = (NOW - 5 * DAY) // (8 * HOUR) * 8 * HOUR
    times = list(range(first, NOW - 2 * HOUR, 8 * HOUR))
    rows = [funding(t) for t in times]
    rows[1], rows[2], rows[3] = funding(times[1], None), funding(times[2], 5.0), funding(times[3] + 17)
    st = fetch_funding_history(StubExchange(funding=rows), data_dir, "BTC-USDT", first, None, CFG, now=NOW)
    assert st.added == len(times) - 3 and st.bad == 3
    assert [n.split(": ")[1] for n in st.bad_notes] == ["missing_rate", "rate_out_of_range", "off_hour_grid"]
    assert not any(a <= t < b for a, b in read_holes(data_dir.funding / "symbol=BTC-USDT") for t in times[1:3])


def test_a_funding_record_without_a_time_is_one_clear_error(data_dir: Paths) -> None:
    first = (NOW - 5 * DAY) // (8 * HOUR) * 8 * HOUR
    ex = StubExchange(funding=[funding(t) for t in range(first, NOW, 8 * HOUR)],
                      answer=lambda n, until, rows: rows + [{"timestamp": None, "fundingRate": 0.1}])
    with pytest.raises(FetchError, match="settlement without a usable time"):
        fetch_funding_history(ex, data_dir, "BTC-USDT", first, None, CFG, now=NOW)


def test_a_fetched_rate_replaces_an_unknown_rate_the_lake_holds(data_dir: Paths) -> None:
    """A settlement an older recorder stored as NaN: the exchange's rate for it was refused as a conflict ('the
    stored rate kept', counted bad) and the lake kept no rate there; it takes the NaN's place, a known rate stays."""
    first = (NOW - 5 * DAY) // (8 * HOUR) * 8 * HOUR
    times = list(range(first, NOW - 2 * HOUR, 8 * HOUR))
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [times[2], times[4]],
                                                      "funding_rate": [float("nan"), 0.0002]}))
    st = fetch_funding_history(StubExchange(funding=[funding(t) for t in times]), data_dir, "BTC-USDT", first, None,
                               CFG, now=NOW)
    assert st.bad_notes == (f"{when(times[4])}: conflicting_values (the stored rate kept)",)
    rates = {t: read_partition(funding_partition(data_dir, "BTC-USDT", pd.Timestamp(t, unit="ms").date()),
                               FUNDING_SCHEMA).set_index("funding_ts")["funding_rate"][t] for t in times}
    assert rates[times[2]] == 0.0001 and rates[times[4]] == 0.0002
