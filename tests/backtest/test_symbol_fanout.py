"""Per-symbol work side by side gives the same rows as one process: the backtest ledger rows and the
tuning trials are bit-identical with 1 worker and with 2 workers, at any batch size, whatever order the
workers finish in; a full-window backtest also matches the engine run directly on the same bars."""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest import runner
from python_assets.backtest.engine import Costs
from python_assets.backtest.spec import resolve_params
from python_assets.backtest.spec_files import STRATEGY_DIR, load_specs
from python_assets.platform.fanout import batch_mapper, batches, map_in_process
from python_assets.research.tuner import Market, TuneTask, tune_designs
from python_assets.platform.timeframes import DAY_MS, HOUR_MS

SYMBOLS = ("AAA-USDT", "BBB-USDT", "CCC-USDT", "DDD-USDT", "EEE-USDT")
START_MS = 1_740_787_200_000  # 2025-03-01 UTC


def bars_frame(days: int = 12) -> pd.DataFrame:
    """Seeded random-walk 1h OHLCV bars, one distinct walk per symbol."""
    frames = []
    for k, sym in enumerate(SYMBOLS):
        rng = np.random.default_rng(100 + k)
        n = days * (DAY_MS // HOUR_MS)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        open_ = np.r_[100.0, close[:-1]]
        wiggle = np.abs(rng.normal(0, 0.003, n))
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": START_MS + np.arange(n) * HOUR_MS,
                                    "open": open_, "high": np.maximum(open_, close) * (1 + wiggle),
                                    "low": np.minimum(open_, close) * (1 - wiggle), "close": close,
                                    "volume": rng.uniform(1, 5, n)}))
    return pd.concat(frames, ignore_index=True)


def _job(frame: pd.DataFrame) -> runner.BacktestJob:
    spec = load_specs(STRATEGY_DIR)["sma_cross"]
    grid = [resolve_params(spec, p) for p in ({"fast": 3, "slow": 12}, {"fast": 5, "slow": 20}, {"fast": 8, "slow": 30})]
    end_ms = int(frame["bar_at_ms"].max()) + HOUR_MS
    return runner.BacktestJob(spec=spec, grid=grid, symbols=None, timeframe="1h", start_ms=START_MS + DAY_MS,
                              end_ms=end_ms, costs=Costs(), run_id="fanout-test", kind="cli", source="test",
                              features_relation="file_bars", bars_relation="file_bars",
                              walk_forward=runner.WalkForward(4.0, 2.0))


def _tasks(frame: pd.DataFrame) -> list[runner.SymbolTask]:
    """What run_job reads before it fans out, read here the same way."""
    job = _job(frame)
    instances = tuple((runner.instance_id(job.spec, p), p, runner.rules_for(job.spec, p)) for p in job.grid)
    with duckdb.connect() as con:
        con.register("file_bars", frame)
        sql = runner.compile_instances([(sid, job.spec, p) for sid, p, _ in instances], frozenset(), "file_bars", "1h")
        events = runner.signal_events(con, sql, [sid for sid, _, _ in instances])
        return runner.symbol_tasks(con, job, instances, events, list(SYMBOLS), "v-test")


def _flat(out: list[list]) -> list[pd.DataFrame]:
    return [frame for per_symbol in out for rows in per_symbol for frame in (rows.runs, rows.trades, rows.equity)]


def _same(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_batches_keep_order_and_cover_every_item():
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([1, 2], 0) == [[1], [2]]
    assert list(map_in_process(lambda b: [x * 10 for x in b], [1, 2, 3], 2)) == [10, 20, 30]


def _slow_first(batch: list[float]) -> list[float]:
    """The first batch finishes last, so completion order differs from input order."""
    time.sleep(batch[0])
    return [x * 2 for x in batch]


def test_pool_results_come_back_in_input_order_not_completion_order():
    with batch_mapper(max_workers=2, batch_size=1) as run:
        assert list(run(_slow_first, [0.6, 0.0, 0.0, 0.1])) == [1.2, 0.0, 0.0, 0.2]


def test_backtest_rows_are_bit_identical_with_any_worker_count_and_batch_size():
    tasks = _tasks(bars_frame())
    sequential = [runner.backtest_symbol(t) for t in tasks]
    kinds = {r.runs["window_kind"].iloc[0] for per in sequential for r in per}
    assert kinds == {"full", "in_sample", "out_of_sample"}  # walk-forward folds are in the comparison
    assert sum(len(r.trades) for per in sequential for r in per) > 0
    for workers, size in ((1, 1), (2, 1), (2, 2), (2, 4)):
        with batch_mapper(workers, size) as run:
            _same(_flat(list(run(runner.backtest_symbols, tasks))), _flat(sequential))


def test_run_job_through_two_workers_matches_the_engine_run_directly():
    """Independent of the fan-out plumbing: backtest_frame runs one instance on one symbol's bars in a
    scratch DuckDB; the ledger rows run_job wrote through two workers hold the same equity curve."""
    frame = bars_frame()
    job = _job(frame)
    job.start_ms, job.walk_forward = START_MS, None  # the whole frame, as backtest_frame sees it
    with duckdb.connect() as con:
        con.register("file_bars", frame)
        with batch_mapper(2, 2) as run:
            written = runner.run_job(con, job, run)
        assert len(written) == len(SYMBOLS) * len(job.grid)
        for sym in ("AAA-USDT", "DDD-USDT"):
            sid = runner.instance_id(job.spec, job.grid[1])
            stored = con.execute("select e.equity from backtest_equity e join backtest_runs r using (backtest_id) "
                                 "where r.symbol = ? and r.strategy_id = ? order by e.bar_at_ms", [sym, sid]).fetchnumpy()
            one = frame[frame["symbol"] == sym].reset_index(drop=True)
            _, res = runner.backtest_frame(job.spec, job.grid[1], one, Costs())
            assert len(res.size) > 0  # the instance trades, so the curve is not trivially flat
            np.testing.assert_array_equal(stored["equity"], res.equity)


@pytest.mark.parametrize("workers,size", [(2, 1), (2, 2)])
def test_tuning_trials_are_identical_with_one_or_two_workers(workers, size):
    frame = bars_frame(days=20)
    market = Market.from_frame(frame, "1h")
    spec = load_specs(STRATEGY_DIR)["sma_cross"]
    tasks = [TuneTask(market, spec, 6, seed, Costs()) for seed in (1, 2, 3)]
    one = tune_designs(tasks)
    with batch_mapper(workers, size) as run:
        two = list(run(tune_designs, tasks))
    for (rows_a, best_a, ev_a, _), (rows_b, best_b, ev_b, _) in zip(one, two, strict=True):
        strip = lambda rows: pd.DataFrame([{k: v for k, v in r.items() if k not in ("seconds", "daily_returns")}  # noqa: E731
                                           for r in rows])
        assert len(rows_a) >= 3 and strip(rows_a)["is_trades"].sum() > 0
        pd.testing.assert_frame_equal(strip(rows_a), strip(rows_b), check_exact=True)
        for ra, rb in zip(rows_a, rows_b):
            pd.testing.assert_series_equal(ra["daily_returns"], rb["daily_returns"], check_exact=True)
        assert best_a == best_b
        np.testing.assert_array_equal(ev_a.oos_returns, ev_b.oos_returns)


def test_the_tuning_guard_still_stops_after_the_design_that_passed_it(monkeypatch):
    """In-process (the default), designs are tuned lazily: a guard of 0 s stops after the first one."""
    from datetime import date

    from python_assets.research import daily

    market = Market.from_frame(bars_frame(days=6), "1h")
    cfg = daily.ResearchConfig(include_catalog=False, trials_per_design=2, budget_seconds=0.0)
    tuned = []
    real = daily.tune_designs
    monkeypatch.setattr(daily, "tune_designs", lambda tasks: (tuned.extend(tasks), real(tasks))[1])
    with duckdb.connect() as con:
        n = len(daily.design_day(con, market.columns, date(2025, 3, 7), cfg))
        assert n >= 2
        with pytest.raises(daily.ResearchBudgetError, match=f"after 1 of {n} designs"):
            daily.tune_day(con, market, date(2025, 3, 7), cfg)
    assert len(tuned) == 1
