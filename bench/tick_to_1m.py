"""tick -> 1m bars: the real bars_1m SQL on DuckDB vs a pandas groupby, on >= 10M synthetic lake ticks."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date, timedelta

import duckdb
import pandas as pd
import pyarrow.dataset as ds

from bench.common import best_of, peak_rss_mib, save, table
from python_assets.config import DBT_PROJECT_DIR, Paths, export_data_dir
from python_assets.market import generate_market

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
FIRST_DAY = date(2024, 1, 1)


def bench_lake(min_ticks: int) -> tuple[Paths, int]:
    """A lake of synthetic ticks under <data>/bench, grown (deterministically) to >= min_ticks."""
    paths = Paths(export_data_dir().data_dir / "bench")
    days = max(1, min_ticks // 125_000 + 1)  # BTC+ETH+SOL give ~125k ticks a day
    generate_market(paths, SYMBOLS, [FIRST_DAY + timedelta(days=i) for i in range(days)])
    n = duckdb.connect().execute(f"select count(*) from read_parquet('{paths.trades}/*/*/trades.parquet')").fetchall()[0][0]
    return paths, int(n)


def compiled_bars_1m_sql(paths: Paths) -> str:
    """bars_1m's full-refresh SELECT as dbt compiles it, reading the lake through stg_trades."""
    target = paths.data_dir / "dbt_target"
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}
    subprocess.run(
        ["dbt", "compile", "--quiet", "--profiles-dir", ".", "--target-path", str(target), "--select", "stg_trades", "bars_1m"],
        cwd=DBT_PROJECT_DIR, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    compiled = target / "compiled" / "blofin_stack" / "models"
    stg = (compiled / "staging" / "lake" / "stg_trades.sql").read_text()
    bars = (compiled / "bars" / "bars_1m.sql").read_text()
    bars = re.sub(r'"[^"]+"\."main"\."stg_trades"', "(" + stg + ")", bars)
    return bars


def pandas_1m(t: pd.DataFrame) -> pd.DataFrame:
    """Reference: the same bars with a pandas groupby (first/last by time, extremes, sums)."""
    t = t.assign(bar=t["ts"] // 60_000 * 60_000, notional=t["price"] * t["size"],
                 buy=t["size"].where(t["side"] == "buy", 0.0), sell=t["size"].where(t["side"] == "sell", 0.0))
    g = t.groupby(["symbol", "bar"], sort=False)
    return g.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
                 volume=("size", "sum"), notional=("notional", "sum"), n=("price", "size"),
                 buy=("buy", "sum"), sell=("sell", "sum"))


def run(min_ticks: int = 10_000_000) -> dict:
    paths, n = bench_lake(min_ticks)
    sql = compiled_bars_1m_sql(paths)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    t_duck, bars = best_of(lambda: con.execute(f"select count(*) from ({sql})").fetchall()[0][0])

    def pandas_from_lake():
        t = ds.dataset(str(paths.trades), format="parquet", partitioning="hive").to_table(
            columns=["symbol", "ts", "price", "size", "side"]).to_pandas()
        return len(pandas_1m(t))

    t_pd, pd_bars = best_of(pandas_from_lake, repeat=1)
    assert pd_bars == bars, (pd_bars, bars)
    # Aggregation alone, both from memory (same ticks already loaded).
    arrow = ds.dataset(str(paths.trades), format="parquet", partitioning="hive").to_table()
    con.register("ticks_mem", arrow)
    mem_sql = sql.replace(f"read_parquet('{paths.lake}/trades/*/*/trades.parquet', hive_partitioning = true)", "ticks_mem")
    t_duck_mem, _ = best_of(lambda: con.execute(f"select count(*) from ({mem_sql})").fetchall()[0][0])
    frame = arrow.select(["symbol", "ts", "price", "size", "side"]).to_pandas()
    t_pd_mem, _ = best_of(lambda: len(pandas_1m(frame)), repeat=1)
    res = {
        "ticks": n, "bars_1m": bars,
        "duckdb_lake_ticks_per_s": n / t_duck, "pandas_lake_ticks_per_s": n / t_pd, "ratio_lake": t_pd / t_duck,
        "duckdb_mem_ticks_per_s": n / t_duck_mem, "pandas_mem_ticks_per_s": n / t_pd_mem, "ratio_mem": t_pd_mem / t_duck_mem,
        "seconds": {"duckdb_lake": t_duck, "pandas_lake": t_pd, "duckdb_mem": t_duck_mem, "pandas_mem": t_pd_mem},
        "peak_rss_mib": peak_rss_mib(), "goal": ">= 50M ticks/s and >= 4x pandas on 2 cores",
    }
    save("tick_to_1m", res)
    print(f"\ntick -> 1m bars ({n:,} lake ticks, {bars:,} bars; goal {res['goal']})")
    print(table([
        ("lake -> 1m, DuckDB (bars_1m SQL)", f"{n / t_duck / 1e6:,.1f} M ticks/s", f"pandas {n / t_pd / 1e6:,.1f} M ticks/s", f"{t_pd / t_duck:.1f}x"),
        ("in memory, DuckDB", f"{n / t_duck_mem / 1e6:,.1f} M ticks/s", f"pandas {n / t_pd_mem / 1e6:,.1f} M ticks/s", f"{t_pd_mem / t_duck_mem:.1f}x"),
        ("peak memory", f"{res['peak_rss_mib']:,.0f} MiB", "", ""),
    ]))
    return res


