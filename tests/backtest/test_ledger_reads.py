"""The daily ledger's reads: a synthetic warehouse with history before the window and rows after its
end gives the ledger rows pinned below (recorded with the per-symbol whole-history reads this replaced);
nothing after the partition's end reaches the rows, history before the window's warm-up changes nothing,
and the batched reads return only the window (plus the contract-spec version valid at its start)."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pandas as pd

from python_assets.backtest import runner
from python_assets.backtest.engine import Costs
from python_assets.backtest.spec import compile_instances, instance_id, resolve_params
from python_assets.backtest.spec_files import STRATEGY_DIR, load_specs
from python_assets.platform.timeframes import DAY_MS, HOUR_MS

START_MS = 1_740_787_200_000  # 2025-03-01 UTC: the warehouse's first bar
HISTORY_DAYS, WINDOW_DAYS = 20, 6
END_MS = START_MS + HISTORY_DAYS * DAY_MS  # the partition's end; the warehouse holds 3 days after it
FUTURE_DAYS = 3
SYMBOLS = ("AAA-USDT", "BBB-USDT", "CCC-USDT", "DDD-USDT")
FUNDING_MS = 8 * HOUR_MS
# pinned before the reads were bounded and batched; rows must stay bit-identical. Re-pinned (2026-12-07) when a
# fill at a settlement's open came to follow the settlement (the same trades and times; funding, and the sizes
# and pnl the equity carries, changed)
LEDGER_DIGEST = "08773c2d9b426b75ce56dd5dd12f7fac62477a84d20ddd2028df824ba42f3f40"


def _walk(seed: int, n: int) -> tuple[np.ndarray, ...]:
    """OHLC from products of (1 + r) only (no exp: the same bits on every CPU)."""
    rng = np.random.default_rng(seed)
    c = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    o = np.r_[100.0, c[:-1]]
    return o, np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.003, n))), np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.003, n))), c


def bars_table(history_days: int = HISTORY_DAYS) -> pd.DataFrame:
    """1h bars from history_days before END_MS to FUTURE_DAYS after it: AAA full, BBB with a 10-hour gap in
    the window, CCC listed mid-window, DDD delisted before the window (no rows in it)."""
    first = END_MS - history_days * DAY_MS
    frames = []
    for k, sym in enumerate(SYMBOLS):
        ms = first + np.arange((history_days + FUTURE_DAYS) * 24, dtype=np.int64) * HOUR_MS
        if sym == "BBB-USDT":
            ms = ms[(ms < END_MS - 3 * DAY_MS) | (ms >= END_MS - 3 * DAY_MS + 10 * HOUR_MS)]
        if sym == "CCC-USDT":
            ms = ms[ms >= END_MS - 4 * DAY_MS + 5 * HOUR_MS]
        if sym == "DDD-USDT":
            ms = ms[ms < END_MS - (WINDOW_DAYS + 2) * DAY_MS]
        o, h, lo, c = _walk(k, len(ms))
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": ms, "open": o, "high": h,
                                    "low": lo, "close": c}))
    return pd.concat(frames, ignore_index=True)


def funding_table() -> pd.DataFrame:
    """8-hourly settlements over the whole span (before, inside and after the window) for AAA..CCC."""
    ms = np.arange(START_MS - 2 * DAY_MS, END_MS + FUTURE_DAYS * DAY_MS, FUNDING_MS, dtype=np.int64)
    return pd.concat([pd.DataFrame({"symbol": sym, "funding_at_ms": ms,
                                    "funding_rate": 0.0001 * (k + 1) * np.cos(np.arange(len(ms)))})
                      for k, sym in enumerate(SYMBOLS[:3])], ignore_index=True)


def instruments_table() -> pd.DataFrame:
    """Contract-spec versions: AAA before the window, inside it, a bad one (dropped) and one after its end;
    BBB only from inside the window; CCC none."""
    w0 = END_MS - WINDOW_DAYS * DAY_MS
    rows = [("AAA-USDT", START_MS - DAY_MS, 0.1, 1.0, 1.0), ("AAA-USDT", START_MS + 3 * DAY_MS, 0.01, 1.0, 2.0),
            ("AAA-USDT", w0 - 2 * DAY_MS, 0.0, 1.0, 1.0), ("AAA-USDT", w0 + 2 * DAY_MS, 0.05, 2.0, None),
            ("AAA-USDT", END_MS + DAY_MS, 1000.0, 1000.0, 1000.0),
            ("BBB-USDT", w0 + DAY_MS, 0.1, 1.0, 5.0), ("DDD-USDT", START_MS, 1.0, 1.0, 1.0)]
    return pd.DataFrame(rows, columns=["symbol", "valid_from_ms", "contract_value", "lot_size", "min_size"])


def warehouse(con: duckdb.DuckDBPyConnection, bars: pd.DataFrame, funding: pd.DataFrame,
              instruments: pd.DataFrame, signals_bars: pd.DataFrame | None = None) -> runner.BacktestJob:
    """The warehouse relations the daily step reads, as tables; the job of one partition day."""
    spec = load_specs(STRATEGY_DIR)["sma_cross"]
    grid = [resolve_params(spec, p) for p in ({"fast": 3, "slow": 12}, {"fast": 5, "slow": 20})]
    for name, frame in (("int_bars_unioned", bars), ("stg_funding_rates", funding), ("dim_instruments", instruments),
                        ("signal_bars", bars if signals_bars is None else signals_bars)):
        con.register("_frame", frame)
        con.execute(f"create or replace table {name} as select * from _frame")
        con.unregister("_frame")
    sql = compile_instances([(instance_id(spec, p), spec, p) for p in grid], frozenset(), "signal_bars", "1h")
    con.execute(f"create or replace table backtest_signals as {sql}")
    return runner.BacktestJob(spec=spec, grid=grid, symbols=None, timeframe="1h",
                              start_ms=END_MS - WINDOW_DAYS * DAY_MS, end_ms=END_MS, costs=Costs(),
                              run_id="daily-test", kind="daily", source="warehouse",
                              signals_relation="backtest_signals", walk_forward=runner.WalkForward(2.0, 1.0),
                              partition_date="2025-03-20")


def ledger_frames(con: duckdb.DuckDBPyConnection) -> list[pd.DataFrame]:
    """The ledger's rows in a fixed order, minus the run-time columns (created_at, code_version)."""
    runs = con.execute("select * exclude (created_at, code_version) from backtest_runs order by backtest_id").df()
    trades = con.execute("select * from backtest_trades order by backtest_id, entry_at_ms").df()
    equity = con.execute("select * from backtest_equity order by backtest_id, bar_at_ms").df()
    return [runs, trades, equity]


def run_ledger(**tables) -> list[pd.DataFrame]:
    with duckdb.connect() as con:
        job = warehouse(con, tables.get("bars", bars_table()), tables.get("funding", funding_table()),
                        tables.get("instruments", instruments_table()), tables.get("signals_bars"))
        runner.run_job(con, job)
        return ledger_frames(con)


def digest(frames: list[pd.DataFrame]) -> str:
    out = hashlib.sha256()
    for frame in frames:
        out.update(",".join(frame.columns).encode())
        for col in frame.columns:
            values = frame[col]
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            out.update(np.ascontiguousarray(values.to_numpy()).tobytes() if numeric
                       else values.astype(str).str.cat(sep="|").encode())
    return out.hexdigest()


def _same(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> None:
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_ledger_rows_are_the_pinned_ones():
    frames = run_ledger()
    runs, trades, equity = frames
    # the fixture exercises what it should: several symbols trade, funding is paid, DDD has no window rows
    assert set(runs["symbol"]) == {"AAA-USDT", "BBB-USDT", "CCC-USDT"}
    assert len(trades) > 20 and (trades["funding"] != 0).any()
    assert equity["bar_at_ms"].min() >= END_MS - WINDOW_DAYS * DAY_MS and equity["bar_at_ms"].max() < END_MS
    assert digest(frames) == LEDGER_DIGEST


def test_nothing_after_the_partition_end_reaches_the_ledger():
    """Rows after END_MS replaced by absurd ones (bars, funding, contract specs, symbols) change nothing."""
    bars, funding, inst = bars_table(), funding_table(), instruments_table()
    later = bars["bar_at_ms"] >= END_MS
    bars.loc[later, ["open", "high", "low", "close"]] = bars.loc[later, ["open", "high", "low", "close"]] * 7.0
    bars = pd.concat([bars, bars[later].assign(symbol="ZZZ-USDT")], ignore_index=True)  # listed after the end
    funding.loc[funding["funding_at_ms"] >= END_MS, "funding_rate"] = 0.5
    inst = pd.concat([inst, pd.DataFrame([("BBB-USDT", END_MS, 9.0, 9.0, 9.0)], columns=inst.columns)])
    cut = bars_table()
    cut = cut[cut["bar_at_ms"] < END_MS]
    _same(run_ledger(bars=bars, funding=funding, instruments=inst, signals_bars=cut), run_ledger())


def test_history_before_the_window_changes_nothing_but_the_signals_warm_up():
    """With signals from the same (long) history, a warehouse whose bars, funding and contract specs hold
    far more history gives the same rows."""
    long = bars_table(history_days=60)
    short = long[long["bar_at_ms"] >= END_MS - (WINDOW_DAYS + 1) * DAY_MS]
    _same(run_ledger(bars=long, signals_bars=long), run_ledger(bars=short, signals_bars=long))


def test_the_batched_reads_return_the_window_and_the_version_valid_at_its_start():
    """Each input read for the window holds no row after its end, none of the bars or funding before its
    start, and the contract-spec version in force at every window bar is the one the whole history gives."""
    from python_assets.backtest import reads

    w0 = END_MS - WINDOW_DAYS * DAY_MS
    with duckdb.connect() as con:
        warehouse(con, bars_table(), funding_table(), instruments_table())
        syms = reads.window_symbols(con, "int_bars_unioned", "1h", w0, END_MS)
        assert syms == ["AAA-USDT", "BBB-USDT", "CCC-USDT"]  # DDD ended before, ZZZ-like listings after: absent
        bars = reads.window_bars(con, "int_bars_unioned", [*syms, "DDD-USDT"], "1h", w0, END_MS)
        funding = reads.window_funding(con, [*syms, "DDD-USDT"], w0, END_MS)
        specs = reads.window_instruments(con, [*syms, "DDD-USDT"], w0, END_MS)
        for s in syms:
            full = reads.load_bars(con, "int_bars_unioned", s, "1h").window(w0, END_MS)
            np.testing.assert_array_equal(bars[s].ms, full.ms)
            np.testing.assert_array_equal(bars[s].close, full.close)
            fms, rate = funding[s]
            assert len(fms) == WINDOW_DAYS * 3 and fms.min() >= w0 and fms.max() < END_MS
            all_ms, all_rate = reads.load_funding(con, s)
            np.testing.assert_array_equal(rate, all_rate[(all_ms >= w0) & (all_ms < END_MS)])
        assert len(bars["DDD-USDT"].ms) == 0 and len(funding["DDD-USDT"][0]) == 0
        assert specs["CCC-USDT"] is None  # no version at all
        assert specs["DDD-USDT"].valid_from_ms.tolist() == [START_MS]  # from before the window, still valid in it
        whole = reads.load_instruments(con, "AAA-USDT")
        got = specs["AAA-USDT"]
        # the version valid at the start (the bad one after it dropped), the one inside, none after the end
        assert got.valid_from_ms.tolist() == [START_MS + 3 * DAY_MS, w0 + 2 * DAY_MS]
        assert got.min_size.tolist() == [2.0, 0.0]
        for ms in bars["AAA-USDT"].ms:
            a, b = np.searchsorted(got.valid_from_ms, ms, "right") - 1, np.searchsorted(whole.valid_from_ms, ms, "right") - 1
            assert got.contract_value[a] == whole.contract_value[b] and got.lot_size[a] == whole.lot_size[b]
        assert reads.window_instruments(con, ["BBB-USDT"], w0, END_MS)["BBB-USDT"].valid_from_ms.tolist() == [w0 + DAY_MS]


def test_inputs_shared_across_a_days_jobs_are_those_of_each_jobs_window():
    """The dict the asset shares across a day's strategies: a job on another window (the day before) run
    first with the same dict leaves the day's rows the pinned ones."""
    shared: dict = {}
    with duckdb.connect() as con:
        job = warehouse(con, bars_table(), funding_table(), instruments_table())
        day_before = runner.BacktestJob(**{**job.__dict__, "start_ms": job.start_ms - DAY_MS, "end_ms": job.end_ms - DAY_MS,
                                           "run_id": "daily-before", "partition_date": "2025-03-19"})
        runner.run_job(con, day_before, shared=shared)
        con.execute("delete from backtest_runs where run_id = 'daily-before'")
        con.execute("delete from backtest_trades where backtest_id not in (select backtest_id from backtest_runs)")
        con.execute("delete from backtest_equity where backtest_id not in (select backtest_id from backtest_runs)")
        runner.run_job(con, job, shared=shared)
        assert len(shared) == 2  # one entry per window (one round of symbols each)
        assert digest(ledger_frames(con)) == LEDGER_DIGEST


def test_signals_compiled_here_keep_their_warm_up_under_the_window_filter():
    """The CLI path compiles the signal SQL over the bars instead of reading backtest_signals: the window's
    filter on its events must not cut the moving averages' warm-up, so the rows are the pinned ones."""
    with duckdb.connect() as con:
        job = warehouse(con, bars_table(), funding_table(), instruments_table())
        job.signals_relation, job.features_relation = None, "int_bars_unioned"
        runner.run_job(con, job)
        assert digest(ledger_frames(con)) == LEDGER_DIGEST


def signals_table(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """A table `signals` of backtest_signals' columns holding rows (SQL value tuples)."""
    con.execute(f"create table signals as select * from (values {rows}) "
                "t(strategy_id, symbol, timeframe, bar_at_ms, entry_long, exit_long, entry_short, exit_short)")

def test_signal_events_are_each_series_rows_by_bar_time_and_only_the_window():
    """Rows stored in any order come back per (strategy, symbol), sorted by bar time, conditions as stored;
    a strategy without rows has no entry; [start_ms, end_ms) keeps only that span."""
    with duckdb.connect() as con:
        signals_table(con, "('a', 'X', '1h', 7200000::bigint, true, false, false, false), ('b', 'X', '1h', 0, false, false, true, true), "
                           "('a', 'Y', '1h', 0, false, true, false, false), ('a', 'X', '1h', 0, false, false, false, true), "
                           "('a', 'X', '1h', 3600000, true, true, false, false)")
        events = runner.signal_events(con, "signals", ["a", "b", "c"])
        windowed = runner.signal_events(con, "signals", ["a"], 3_600_000, 7_200_000)
    assert sorted(events) == [("a", "X"), ("a", "Y"), ("b", "X")]
    ax = events[("a", "X")]
    assert ax["bar_at_ms"].tolist() == [0, 3_600_000, 7_200_000]
    assert [ax[k].tolist() for k in ("entry_long", "exit_long", "exit_short")] == [
        [False, True, True], [False, True, False], [True, False, False]]
    assert events[("b", "X")]["entry_short"].tolist() == [True]
    assert list(windowed) == [("a", "X")] and windowed[("a", "X")]["bar_at_ms"].tolist() == [3_600_000]


def test_signal_events_keep_every_row_of_a_series_under_a_case_blind_collation():
    """Series are cut where the key changes, so a series' rows must lie together: under a collation that
    orders 'x' with 'X' they did not, and all but the last stretch of a series was dropped."""
    with duckdb.connect() as con:
        con.execute("set default_collation = 'nocase'")
        signals_table(con, "('a', 'x', '1h', 0::bigint, true, false, false, false), ('a', 'X', '1h', 3600000, true, false, false, false), "
                           "('a', 'x', '1h', 7200000, false, true, false, false)")
        events = runner.signal_events(con, "signals", ["a"])
    assert events[("a", "x")]["bar_at_ms"].tolist() == [0, 7_200_000]
    assert events[("a", "X")]["bar_at_ms"].tolist() == [3_600_000]
