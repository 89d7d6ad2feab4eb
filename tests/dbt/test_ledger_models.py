"""The ledger metric models give the same bits whatever order the ledger's rows are stored or read
in, and a day's incremental run writes that day's backtests only (plus new CLI runs)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pytest
from conftest import VOLATILE_COLUMNS, run_dbt

from python_assets.backtest import ledger
from python_assets.backtest.engine import Costs, Rules, simulate
from python_assets.config import Paths

BAR_MS = 3_600_000
DAYS = (date(2025, 3, 10), date(2025, 3, 11))
MODELS = ("bt_equity_stats", "bt_trade_stats", "strategy_backtest_results")


def backtests(seed: int = 3, per_day: int = 6) -> list[ledger.LedgerRows]:
    """Engine runs on random-walk bars for each day, and one CLI run (no partition date)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, day in enumerate([*DAYS, None]):
        for j in range(per_day if day else 1):
            n = 2_000
            close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
            open_ = np.r_[100.0, close[:-1]]
            high, low = np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998
            ms = 1_700_000_000_000 // BAR_MS * BAR_MS + np.arange(n, dtype=np.int64) * BAR_MS
            signals = {"entry_long": rng.random(n) < 0.05, "exit_long": rng.random(n) < 0.05,
                       "entry_short": rng.random(n) < 0.05, "exit_short": rng.random(n) < 0.05}
            result = simulate(open_, high, low, close, ms, BAR_MS, signals, Rules(allow_short=True), Costs())
            meta = ledger.RunMeta(run_id=f"daily-{day}" if day else "cli-run", kind="daily" if day else "cli",
                                  strategy="random", strategy_version="1", strategy_id=f"random_{j}", params={"j": j},
                                  symbol=f"S{k}", timeframe="1h", bar_ms=BAR_MS, window_id="full", window_kind="full",
                                  window_start_ms=int(ms[0]), window_end_ms=int(ms[-1]) + BAR_MS, costs=Costs(),
                                  source="test", partition_date=day.isoformat() if day else None)
            out.append(ledger.ledger_rows(meta, ms, open_, close, result, "test"))
    return out


def shuffled(rows: list[ledger.LedgerRows], seed: int) -> list[ledger.LedgerRows]:
    """The same backtests with their order and the order of their trade and equity rows permuted."""
    rng = np.random.default_rng(seed)
    return [replace(r, trades=r.trades.sample(frac=1, random_state=int(rng.integers(1 << 30))),
                    equity=r.equity.sample(frac=1, random_state=int(rng.integers(1 << 30))))
            for r in (rows[i] for i in rng.permutation(len(rows)))]


def model_rows(paths: Paths, where: str = "true") -> dict[str, list[tuple]]:
    out = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for model in MODELS:
            cols = [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = ? "
                                              "order by ordinal_position", [model]).fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c not in VOLATILE_COLUMNS)
            out[model] = con.execute(f"select {keep} from {model} where backtest_id in "
                                     f"(select backtest_id from backtest_runs where {where}) order by all").fetchall()
    return out


def build(paths: Paths, batch: list[ledger.LedgerRows], *vars_: str) -> None:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(paths.warehouse)) as con:
        ledger.write(con, batch)
    run_dbt(paths, "run", "--select", "tag:ledger", *vars_)


def day_vars(day: date) -> tuple[str, str]:
    return "--vars", json.dumps({"min_date": day.isoformat(), "max_date": date.fromordinal(day.toordinal() + 1).isoformat()})


@pytest.fixture(scope="module")
def rows() -> list[ledger.LedgerRows]:
    return backtests()


def test_ledger_metrics_have_the_same_bits_whatever_order_rows_are_stored_in(tmp_path, rows):
    a, b = Paths(tmp_path / "a"), Paths(tmp_path / "b")
    build(a, shuffled(rows, 1))
    build(b, shuffled(rows, 2))
    got, want = model_rows(a), model_rows(b)
    assert all(len(want[m]) == len(rows) for m in ("bt_equity_stats", "strategy_backtest_results"))
    assert got == want


def test_a_days_incremental_run_writes_its_own_backtests_and_new_cli_runs_only(tmp_path, rows):
    paths = Paths(tmp_path / "w")
    daily = [r for r in rows if r.runs["partition_date"].iloc[0] is not None]
    cli = [r for r in rows if r.runs["partition_date"].iloc[0] is None]
    day0 = f"partition_date = date '{DAYS[0]}'"
    build(paths, daily)
    first = model_rows(paths, day0)
    with duckdb.connect(str(paths.warehouse)) as con:  # mark the later day's rows: the rerun must not rewrite them
        con.execute("update strategy_backtest_results set sharpe = -123 where partition_date = ?", [DAYS[1]])
    build(paths, cli, *day_vars(DAYS[0]))  # day 0 rerun, with a CLI run stored since the last build
    assert model_rows(paths, day0) == first  # recomputed, same bits
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        later = {r[0] for r in con.execute("select sharpe from strategy_backtest_results where partition_date = ?",
                                           [DAYS[1]]).fetchall()}
        cli_rows = con.execute("select count(*) from strategy_backtest_results where kind = 'cli'").fetchall()[0][0]
    assert later == {-123} and cli_rows == 1
    # a backtest removed from the ledger leaves every metric model on the next run
    gone = daily[0].backtest_id
    with duckdb.connect(str(paths.warehouse)) as con:
        ledger.delete_runs(con, "backtest_id = ?", [gone])
    run_dbt(paths, "run", "--select", "tag:ledger", *day_vars(DAYS[1]))
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for model in MODELS:
            assert con.execute(f"select count(*) from {model} where backtest_id = ?", [gone]).fetchall()[0][0] == 0


def _run(symbol: str, day: date | None, o, c, signals, rules=Rules()) -> ledger.LedgerRows:
    """One engine run through the ledger writer (high/low at the open/close)."""
    ms = 1_700_000_000_000 // BAR_MS * BAR_MS + np.arange(len(o), dtype=np.int64) * BAR_MS
    result = simulate(o, np.maximum(o, c), np.minimum(o, c), c, ms, BAR_MS, signals, rules, Costs())
    meta = ledger.RunMeta(run_id=f"daily-{day}", kind="daily", strategy="hand", strategy_version="1",
                          strategy_id="hand_0", params={}, symbol=symbol, timeframe="1h", bar_ms=BAR_MS, window_id="full",
                          window_kind="full", window_start_ms=int(ms[0]), window_end_ms=int(ms[-1]) + BAR_MS, costs=Costs(),
                          source="test", partition_date=day.isoformat() if day else None)
    return ledger.ledger_rows(meta, ms, o, c, result, "test")


def test_a_day_rerun_whose_backtest_no_longer_trades_keeps_no_old_trade_stats(tmp_path):
    # the rerun backtest has the same id and no trades: bt_trade_stats makes no row for it, and
    # delete+insert deletes only the ids its output has, so the old trade count stood beside the new equity
    c = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 300)))
    o = np.r_[100.0, c[:-1]]
    every = {"entry_long": np.arange(300) % 20 == 0, "exit_long": np.arange(300) % 20 == 10}
    trading, idle = _run("S0", DAYS[0], o, c, every), _run("S0", DAYS[0], o, c, {})
    assert trading.backtest_id == idle.backtest_id and len(trading.trades) > 5 and len(idle.trades) == 0
    paths, fresh = Paths(tmp_path / "w"), Paths(tmp_path / "fresh")
    build(paths, [trading])
    with duckdb.connect(str(paths.warehouse)) as con:
        ledger.delete_runs(con, "backtest_id = ?", [idle.backtest_id])
    build(paths, [idle], *day_vars(DAYS[0]))
    build(fresh, [idle])
    got = model_rows(paths)
    assert got == model_rows(fresh) and got["bt_trade_stats"] == []
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("select trade_count, win_rate, fees_paid from strategy_backtest_results").fetchall() == [(0, None, 0)]


def test_downside_deviation_after_a_wipe_out_uses_the_bars_with_a_return(tmp_path):
    # a 5x long through a -90 % open: equity 0 from bar 10 on, whose returns are undefined (0 / 0); the
    # mean skips them, and so must the downside deviation (least(NULL, 0) is 0: they counted as no downside)
    c = np.r_[np.full(10, 100.0), np.full(10, 10.0)] * (1 + 0.001 * np.arange(20))
    o = np.r_[c[0], c[:-1]]
    o[10] = c[10]
    rows = _run("S0", DAYS[0], o, c, {"entry_long": np.arange(20) == 2}, Rules(fraction=5.0))
    equity = rows.equity.sort_values("bar_at_ms")["equity"].to_numpy()
    prev = np.r_[Costs().initial_equity, equity[:-1]]
    returns = (equity / np.where(prev > 0, prev, np.nan) - 1)[prev > 0]
    assert equity[-1] == 0 and len(returns) < 20
    paths = Paths(tmp_path / "w")
    build(paths, [rows])
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        mean, downside = con.execute("select mean_bar_return, downside_deviation from bt_equity_stats").fetchone()
    assert mean == pytest.approx(returns.mean(), rel=1e-12)
    assert downside == pytest.approx(np.sqrt(np.mean(np.minimum(returns, 0) ** 2)), rel=1e-12)


def test_a_constant_growth_equity_has_no_sharpe(tmp_path):
    # equity x 1.001 every bar: every return is 0.001 up to rounding, stddev_samp 1e-16 and a Sharpe of
    # ~8.5e12 x sqrt(bars per year); a stddev within 1e-12 of the mean's magnitude is flat: NULL, as for
    # an exactly flat curve. A curve that truly varies keeps mean / stddev x sqrt(bars per year).
    c = np.full(200, 100.0)
    idle = _run("S0", DAYS[0], c, c, {})
    grown = replace(idle, equity=idle.equity.assign(equity=Costs().initial_equity * 1.001 ** np.arange(1, 201)))
    other = _run("S1", DAYS[0], c, c, {})
    r = np.where(np.arange(200) % 2, 0.002, 0.001)
    varied = replace(other, equity=other.equity.assign(equity=Costs().initial_equity * np.cumprod(1 + r)))
    paths = Paths(tmp_path / "w")
    build(paths, [grown, varied])
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        got = con.execute("select mean_bar_return, stddev_bar_return, sharpe, bars_per_year from strategy_backtest_results "
                          "order by mean_bar_return").fetchall()
    (mean, sd, sharpe, _), (_, _, varied_sharpe, per_year) = got
    assert mean == pytest.approx(0.001) and 0 < sd < 1e-14 and sharpe is None
    assert varied_sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(per_year), rel=1e-9)
