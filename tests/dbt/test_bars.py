"""dbt bars on DuckDB against independent pandas aggregations of the same ticks; incremental == full."""

from __future__ import annotations

import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DAYS, broken_rules, copy_tree, day_window_env, run_dbt, shared_file

from python_assets.config import Paths
from python_assets.ingest.trades import ingest_file
from python_assets.ingest.market import generate_market
from python_assets.platform.timeframes import TIMEFRAME_MS

SYMBOLS = ("BTC-USDT", "SOL-USDT")
INTERVALS = TIMEFRAME_MS
BAR_COLUMNS = ["symbol", "bar_at_ms", "open", "high", "low", "close", "volume", "vwap", "trade_count", "buy_volume", "sell_volume"]


def lake_ticks(paths: Paths) -> pd.DataFrame:
    """All ticks in the lake, read straight from the Parquet files (not through dbt)."""
    frames = []
    for f in sorted(paths.trades.glob("symbol=*/date=*/trades.parquet")):
        t = pd.read_parquet(f)
        t["symbol"] = f.parent.parent.name.removeprefix("symbol=")
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def pandas_bars(ticks: pd.DataFrame, interval_ms: int) -> pd.DataFrame:
    """freqtrade's rule: bucket = floor(ts); open/close first/last by time; absent when no trade."""
    t = ticks.sort_values(["symbol", "ts"], kind="mergesort").assign(
        bar_at_ms=lambda d: d["ts"] // interval_ms * interval_ms,
        notional=lambda d: d["price"] * d["size"],
        buy=lambda d: d["size"].where(d["side"] == "buy", 0.0),
        sell=lambda d: d["size"].where(d["side"] == "sell", 0.0),
        sided=lambda d: d["side"].isin(["buy", "sell"]),
    )
    g = t.groupby(["symbol", "bar_at_ms"], sort=True)
    out = g.agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("size", "sum"), notional=("notional", "sum"), trade_count=("price", "size"),
        buy_volume=("buy", "sum"), sell_volume=("sell", "sum"), sided=("sided", "any"),
    ).reset_index()
    # a bar none of whose trades says its taker side has unknown buy/sell volume (NULL), not 0
    out[["buy_volume", "sell_volume"]] = out[["buy_volume", "sell_volume"]].where(out["sided"])
    out["vwap"] = out["notional"] / out["volume"]
    return out[BAR_COLUMNS]


def warehouse_bars(paths: Paths, timeframe: str) -> pd.DataFrame:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.sql(f"select {', '.join(BAR_COLUMNS)} from bars_{timeframe} order by symbol, bar_at_ms").df()


def assert_bars_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want)
    for col in BAR_COLUMNS:
        g, w = got[col].to_numpy(), want[col].to_numpy()
        if col in ("symbol", "bar_at_ms", "trade_count", "open", "high", "low", "close"):
            assert (g == w).all(), col  # exact: picked, not computed
        else:
            np.testing.assert_allclose(g.astype(float), w.astype(float), rtol=1e-9, atol=1e-12, err_msg=col)


# The bars and the mart built from them (their tests included): what these tests compare; the whole
# project on the same days is built by the graph tests (tests/dagster_defs/test_pipeline.py).
BARS = ("--select", "+daily_market_summary")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Paths:
    paths = Paths(tmp_path_factory.mktemp("bars") / "data")
    generate_market(paths, SYMBOLS, TEST_DAYS)
    run_dbt(paths, "build", *BARS)
    return paths


@pytest.mark.parametrize("timeframe", list(INTERVALS))
def test_bars_equal_a_direct_pandas_aggregation_of_the_ticks(built, timeframe):
    assert_bars_equal(warehouse_bars(built, timeframe), pandas_bars(lake_ticks(built), INTERVALS[timeframe]))


def test_minutes_without_trades_have_no_1m_bar(built):
    ticks = lake_ticks(built)
    traded_minutes = ticks.groupby("symbol")["ts"].apply(lambda s: (s // 60_000).nunique())
    bars = warehouse_bars(built, "1m").groupby("symbol").size()
    assert bars.to_dict() == traded_minutes.to_dict()
    assert (bars < 1440 * len(TEST_DAYS)).any(), "the synthetic days should contain at least one quiet gap"


@pytest.fixture(scope="module")
def eth_first_day(tmp_path_factory) -> Paths:
    """ETH-USDT's first test day alone, built in one run: a template that tests read or copy, never write."""
    paths = Paths(tmp_path_factory.mktemp("eth_first_day") / "data")
    generate_market(paths, ["ETH-USDT"], TEST_DAYS[:1])
    run_dbt(paths, "build", *BARS)
    return paths


def test_incremental_next_day_equals_full_rebuild(tmp_path, eth_first_day):
    incremental, full = copy_tree(eth_first_day, tmp_path / "inc"), Paths(tmp_path / "full")  # the first day built
    first, second = TEST_DAYS
    generate_market(incremental, ["ETH-USDT"], [second])
    # the window as Dagster passes it: in the environment, read at execution, so dbt reuses its parse
    done = run_dbt(incremental, "build", *BARS, env=day_window_env(second))
    assert "Unable to do partial parsing" not in done.stdout, done.stdout
    generate_market(full, ["ETH-USDT"], TEST_DAYS)
    run_dbt(full, "build", *BARS)
    for table in [f"bars_{tf}" for tf in INTERVALS] + ["daily_market_summary"]:
        key = "symbol, report_date" if table == "daily_market_summary" else "symbol, bar_at_ms"
        q = f"select * from {table} order by {key}"
        with duckdb.connect(str(incremental.warehouse), read_only=True) as a, duckdb.connect(
            str(full.warehouse), read_only=True
        ) as b:
            got, want = a.sql(q).df(), b.sql(q).df()
        # Exact, float columns included: volumes are DECIMAL sums, so the order in which a
        # parallel aggregation adds them cannot change a bit.
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=table)



def test_a_symbol_day_removed_from_the_lake_leaves_the_rebuilt_day_as_a_full_rebuild_does(tmp_path, eth_first_day):
    # delete+insert on (symbol, date) deletes only keys the new rows have: a symbol-day whose lake file was
    # removed (a corrupt file taken out) kept its bars and summary row after the day's rebuild
    paths, full = Paths(tmp_path / "inc"), eth_first_day  # full: the day's lake without SOL-USDT, built apart
    day = TEST_DAYS[0]
    generate_market(paths, ["ETH-USDT", "SOL-USDT"], [day])
    run_dbt(paths, "build", *BARS)
    shutil.rmtree(paths.trades / "symbol=SOL-USDT" / f"date={day.isoformat()}")
    run_dbt(paths, "build", *BARS, env=day_window_env(day))
    for table in [f"bars_{tf}" for tf in INTERVALS] + ["daily_market_summary"]:
        with duckdb.connect(str(paths.warehouse), read_only=True) as a, duckdb.connect(str(full.warehouse), read_only=True) as b:
            assert a.execute(f"select distinct symbol from {table}").fetchall() == [("ETH-USDT",)], table
            got, want = (c.sql(f"select * from {table} order by all").df() for c in (a, b))
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=table)

def test_kraken_trades_to_1m_bars_match_the_pandas_reference(data_dir):
    path = shared_file("freqtrade/kraken-BCHEUR-trades.csv")
    result = ingest_file(data_dir, path, "BCH-EUR")
    assert result.quarantined == 0
    run_dbt(data_dir, "build", "--select", "stg_trades", "stg_candles", "bars_1m")
    raw = pd.read_csv(path, header=None, names=["ts_s", "price", "size"])
    ticks = pd.DataFrame(
        {"symbol": "BCH-EUR", "ts": np.round(raw["ts_s"] * 1000).astype("int64"), "price": raw["price"],
         "size": raw["size"], "side": None}
    )
    want = pandas_bars(ticks, 60_000)
    assert_bars_equal(warehouse_bars(data_dir, "1m"), want)
    assert len(want) > 50
    assert date.fromtimestamp(want["bar_at_ms"].iloc[0] / 1000) >= date(2023, 1, 1)


def test_an_absurd_tick_is_quarantined_and_ticks_at_the_bounds_build_every_bar(data_dir, tmp_path):
    """Issue 18: price 1e20 x size 1e10 once failed the DECIMAL(38,12) cast and the day's run; now it is
    quarantined, and ticks at the bounds of python_assets/lake/trade_rules.py build every timeframe."""
    t = 1_741_564_800_000
    path = tmp_path / "extremes.csv"
    path.write_text("id,ts,price,size,side\n"
                    f"a,{t},1e20,1e10,buy\n"  # the run-killer: quarantined
                    f"b,{t + 1},1e12,1e3,buy\n"  # at the price and notional bounds
                    f"c,{t + 2},1e-3,1e15,sell\n"  # at the size bound
                    f"d,{t + 3},100,1,buy\n")
    result = ingest_file(data_dir, path, "X-USDT", now=t + 86_400_000)
    assert (result.rows_added, result.reasons) == (3, {"price_out_of_range": 1})
    run_dbt(data_dir, "run", "--select", "stg_trades", "stg_candles", *(f"bars_{tf}" for tf in INTERVALS))
    for timeframe in INTERVALS:
        bars = warehouse_bars(data_dir, timeframe)
        assert bars["volume"].tolist() == [1e3 + 1e15 + 1]
        assert bars["trade_count"].tolist() == [3] and bars["high"].tolist() == [1e12]


def test_bar_tests_fail_on_a_nan_price_and_on_a_bar_dated_another_day(built, tmp_path):
    """NaN compares above every number in DuckDB, so high >= greatest(open, close) held for a NaN high;
    a bar whose bar_date is not the UTC day of bar_at (what a trade stamped on another day than its lake
    file makes: a second row for its minute under the file's date) passed too, and the key tests, which
    read one window of days, never see both rows."""
    paths = Paths(tmp_path / "data")
    shutil.copytree(built.data_dir, paths.data_dir)
    first = "bar_at_ms = (select min(bar_at_ms) from {t} where symbol = 'BTC-USDT') and symbol = 'BTC-USDT'"
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute(f"update bars_1m set high = 'NaN'::double where {first.format(t='bars_1m')}")
        con.execute(f"update bars_5m set close = 'NaN'::double, vwap = 'Infinity'::double where {first.format(t='bars_5m')}")
        con.execute(f"update bars_1h set bar_date = bar_date + 1 where {first.format(t='bars_1h')}")
    with pytest.raises(AssertionError) as failed:
        run_dbt(paths, "test", "--select", "bars_1m", "bars_5m", "bars_1h", target=tmp_path / "target")
    got = {(m, rules) for m in ("bars_1m", "bars_5m", "bars_1h")
           for _symbol, rules in broken_rules(paths, tmp_path / "target", f"{m}_row_rules")}
    assert got == {("bars_1m", "high_is_the_top_and_prices_finite"),
                   ("bars_5m", "high_is_the_top_and_prices_finite, vwap_within_the_range"),
                   ("bars_1h", "low_is_the_bottom_and_bar_date_its_utc_day")}, failed.value
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"} == {f"{m}_row_rules" for m, _ in got}
