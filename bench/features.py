"""All registered features on 1M 1m bars (dbt on DuckDB) vs TA-Lib and pandas on an equivalent subset."""

from __future__ import annotations

import json
import os
import subprocess
import time

import duckdb
import numpy as np
import pandas as pd

from bench.common import best_of, peak_rss_mib, save, table
from python_assets.config import DBT_PROJECT_DIR, Paths, export_data_dir

N_BARS = 1_000_000
START_MS = 1_704_067_200_000  # 2024-01-01


def synthetic_bars(n: int) -> pd.DataFrame:
    """n consecutive 1m bars of a random walk (no gaps), with the bars_1m columns."""
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0005, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0005, n)))
    volume = rng.lognormal(0, 1, n)
    bar_ms = START_MS + 60_000 * np.arange(n, dtype=np.int64)
    return pd.DataFrame({"bar_at_ms": bar_ms, "open": open_, "high": high, "low": low, "close": close, "volume": volume})


def load_bars(paths: Paths, bars: pd.DataFrame) -> None:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    paths.warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(paths.warehouse)) as con:
        con.register("src", bars)
        con.execute("""
            create table bars_1m as
            select 'BENCH-USDT' as symbol, make_timestamptz(bar_at_ms * 1000) as bar_at, bar_at_ms,
                   cast(epoch_ms(bar_at_ms) as date) as bar_date, open, high, low, close,
                   cast(volume as decimal(38, 12)) as volume, cast(volume * close as decimal(38, 12)) as volume_quote,
                   (high + low + close) / 3 as vwap, cast(10 as bigint) as trade_count,
                   cast(volume * 0.6 as decimal(38, 12)) as buy_volume, cast(volume * 0.4 as decimal(38, 12)) as sell_volume,
                   cast(1 as bigint) as minute_count
            from src
        """)


def dbt_run(paths: Paths, *select: str) -> dict[str, float]:
    """Run dbt models; returns seconds per model from run_results.json."""
    target = paths.data_dir / "dbt_target"
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}
    subprocess.run(["dbt", "run", "--quiet", "--profiles-dir", ".", "--target-path", str(target), "--full-refresh",
                    "--select", *select], cwd=DBT_PROJECT_DIR, env=env, check=True, stdout=subprocess.DEVNULL)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}


def talib_subset(b: pd.DataFrame) -> None:
    import talib

    o, h, lo, c, v = (b[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    talib.SMA(c, 20), talib.EMA(c, 12), talib.RSI(c, 14), talib.ATR(h, lo, c, 14), talib.BBANDS(c, 20, 2, 2)
    talib.ROC(c, 10), talib.MOM(c, 10), talib.WILLR(h, lo, c, 14), talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    talib.MFI(h, lo, c, v, 14), talib.MACD(c), talib.ADX(h, lo, c, 14), talib.OBV(c, v), talib.CCI(h, lo, c, 20)


def pandas_subset(b: pd.DataFrame) -> None:
    """The same 14 indicators written the usual pandas way (rolling / ewm)."""
    h, lo, c, v = b["high"], b["low"], b["close"], b["volume"]
    prev = c.shift()
    c.rolling(20).mean(), c.ewm(span=12, adjust=False).mean()
    d = c.diff()
    gain, loss = d.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean(), (-d.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    100 * gain / (gain + loss)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    atr = tr.ewm(alpha=1 / 14, adjust=False).mean()
    m, s = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    m + 2 * s, m - 2 * s
    c.pct_change(10) * 100, c.diff(10)
    hh, ll = h.rolling(14).max(), lo.rolling(14).min()
    -100 * (hh - c) / (hh - ll)
    k = (100 * (c - ll) / (hh - ll)).rolling(3).mean()
    k.rolling(3).mean()
    tp = (h + lo + c) / 3
    flow = tp * v
    pos, neg = flow.where(tp.diff() > 0, 0).rolling(14).sum(), flow.where(tp.diff() < 0, 0).rolling(14).sum()
    100 * pos / (pos + neg)
    macd = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
    macd.ewm(span=9, adjust=False).mean()
    up, down = h.diff(), -lo.diff()
    pdm = up.where((up > down) & (up > 0), 0).ewm(alpha=1 / 14, adjust=False).mean()
    mdm = down.where((down > up) & (down > 0), 0).ewm(alpha=1 / 14, adjust=False).mean()
    pdi, mdi = 100 * pdm / atr, 100 * mdm / atr
    (100 * (pdi - mdi).abs() / (pdi + mdi)).ewm(alpha=1 / 14, adjust=False).mean()
    (np.sign(c.diff()).fillna(0) * v).cumsum()
    tp.rolling(20).apply(lambda w: np.abs(w - w.mean()).mean(), raw=True)


def run(n_bars: int = N_BARS) -> dict:
    paths = Paths(export_data_dir().data_dir / "bench_features")
    bars = synthetic_bars(n_bars)
    load_bars(paths, bars)
    dbt_run(paths, "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d", "int_bars_unioned")
    t0 = time.perf_counter()
    per_model = dbt_run(paths, "int_bars_unioned+", "--exclude", "daily_market_summary")
    t_dbt_wall = time.perf_counter() - t0
    t_models = sum(per_model.values())
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute("select count(*) from feat_price").fetchall()[0][0]
    t_talib, _ = best_of(lambda: talib_subset(bars))
    t_pandas, _ = best_of(lambda: pandas_subset(bars), repeat=1)
    res = {
        "bars_1m": n_bars, "feature_rows_all_timeframes": rows, "features": 79,
        "seconds": {"features_models": t_models, "features_dbt_wall": t_dbt_wall, "talib_subset_14": t_talib, "pandas_subset_14": t_pandas},
        "per_model_seconds": per_model,
        "ratio_vs_talib": t_dbt_wall / t_talib, "ratio_vs_pandas": t_pandas / t_dbt_wall,
        "peak_rss_mib": peak_rss_mib(), "goal": "<= 3x TA-Lib and faster than pandas",
    }
    save("features", res)
    print(f"\nfeatures on {n_bars:,} 1m bars ({rows:,} rows over all timeframes; goal {res['goal']})")
    print(table([
        ("all 79 features, dbt wall time", f"{t_dbt_wall:.1f} s", f"TA-Lib 14-indicator subset {t_talib:.2f} s", f"{t_dbt_wall / t_talib:.1f}x TA-Lib's time"),
        ("", "", f"pandas 14-indicator subset {t_pandas:.1f} s", f"{t_pandas / t_dbt_wall:.2f}x pandas' speed"),
        ("sum of per-model times (2 threads)", f"{t_models:.1f} s", "", ""),
        ("peak memory (bench process)", f"{res['peak_rss_mib']:,.0f} MiB", "", ""),
    ]))
    for model, sec in sorted(per_model.items(), key=lambda kv: -kv[1]):
        print(f"  {model:<22} {sec:6.2f} s")
    return res
