"""tick -> 1m bars: the real bars_1m SQL on DuckDB vs a pandas groupby on the same synthetic lake, at
~0.75M, 3M and 12M ticks."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds

from bench.common import best_of, peak_rss_mib, print_stage, save, stage_result
from python_assets.config import DBT_PROJECT_DIR, Paths, export_data_dir
from python_assets.ingest.market import generate_market

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
FIRST_DAY = date(2024, 1, 1)
DAY_COUNTS = (6, 24, 96)  # ~0.75M, 3M, 12M ticks


def bench_lake(days: int) -> Paths:
    """A lake of `days` days of synthetic ticks (3 symbols, ~125k ticks a day) under <data>/bench."""
    paths = Paths(export_data_dir().data_dir / "bench")
    generate_market(paths, SYMBOLS, [FIRST_DAY + timedelta(days=i) for i in range(days)])
    return paths


def sub_lake(paths: Paths, days: int) -> Path:
    """A lake root holding only the first `days` days (links to the same Parquet files)."""
    root = paths.data_dir / f"lake_{days}d"
    for symbol_dir in sorted(paths.trades.iterdir()):
        for i in range(days):
            day_dir = symbol_dir / f"date={FIRST_DAY + timedelta(days=i)}"
            link = root / "trades" / symbol_dir.name / day_dir.name
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(day_dir, target_is_directory=True)
    return root


def tick_count(lake: Path) -> int:
    return int(duckdb.connect().execute(f"select count(*) from read_parquet('{lake}/trades/*/*/trades.parquet')").fetchall()[0][0])


def compiled_bars_1m_sql(paths: Paths) -> str:
    """bars_1m's full-refresh SELECT as dbt compiles it, its staging views (lake ticks, candles)
    inlined: the exact SQL a first build runs, on a plain DuckDB connection."""
    target = paths.data_dir / "dbt_target"
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}
    subprocess.run(
        ["dbt", "compile", "--quiet", "--profiles-dir", ".", "--target-path", str(target),
         "--select", "stg_trades", "stg_candles", "bars_1m"],
        cwd=DBT_PROJECT_DIR, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    compiled = target / "compiled" / "blofin_stack" / "models"
    bars = (compiled / "bars" / "bars_1m.sql").read_text()
    for name in ("stg_trades", "stg_candles"):
        staged = (compiled / "staging" / "lake" / f"{name}.sql").read_text()
        bars = re.sub(rf'"[^"]+"\."main"\."{name}"', lambda _m, q=staged: "(" + q + ")", bars)
    return bars


def pandas_1m(t: pd.DataFrame) -> pd.DataFrame:
    """Reference: the same bars with a pandas groupby (first/last by time, extremes, sums)."""
    t = t.assign(bar=t["ts"] // 60_000 * 60_000, notional=t["price"] * t["size"],
                 buy=t["size"].where(t["side"] == "buy", 0.0), sell=t["size"].where(t["side"] == "sell", 0.0))
    g = t.groupby(["symbol", "bar"], sort=False)
    return g.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
                 volume=("size", "sum"), notional=("notional", "sum"), n=("price", "size"),
                 buy=("buy", "sum"), sell=("sell", "sum"))


def build_bars(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Every column of the bars built into a table, as dbt's first build does; returns their count. A
    count(*) over the query let DuckDB drop every aggregate and only group (~3x less work than dbt's)."""
    con.execute(f"create or replace temp table bench_bars as {sql}")
    return con.execute("select count(*) from bench_bars").fetchall()[0][0]


def run(day_counts: tuple[int, ...] = DAY_COUNTS) -> dict:
    """bars_1m's SQL on 1x, 4x and 16x the ticks, against pandas reading the same lake."""
    paths = bench_lake(max(day_counts))
    sql = compiled_bars_1m_sql(paths)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    sizes, ours, ref, bars_out = [], [], [], []
    for days in day_counts:
        lake = sub_lake(paths, days)
        n = tick_count(lake)
        # the compiled staging view reads the lake relative to the data dir ('lake/trades/...'): point it at
        # the sub-lake (and fail here, not with a DuckDB error, if the compiled text stops matching)
        sized = sql.replace("'lake/trades/", f"'{lake}/trades/")
        assert sized != sql, "bars_1m's compiled SQL no longer reads 'lake/trades/...': update the bench"
        t_duck, bars = best_of(lambda: build_bars(con, sized))

        def pandas_from_lake():
            t = ds.dataset(str(lake / "trades"), format="parquet", partitioning="hive").to_table(
                columns=["symbol", "ts", "price", "size", "side"]).to_pandas()
            return len(pandas_1m(t))

        t_pd, pd_bars = best_of(pandas_from_lake)
        assert pd_bars == bars, (days, pd_bars, bars)
        sizes.append(n), ours.append(t_duck), ref.append(t_pd), bars_out.append(bars)
    rate = sizes[-1] / ours[-1]
    res = stage_result("tick -> 1m bars (bars_1m SQL on DuckDB, lake to bars)", "ticks", sizes, ours,
                       "pandas groupby", ref, ">= 50M ticks/s", rate >= 50e6, bars_1m=bars_out,
                       ticks_per_s=rate, peak_rss_mib=peak_rss_mib())
    save("tick_to_1m", res)
    print_stage(res)
    return res
