"""All registered features on 62.5k, 250k and 1M 1m bars (dbt on DuckDB) vs TA-Lib and pandas on an
equivalent 14-indicator subset."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time

import duckdb
import numpy as np
import pandas as pd

from bench.common import best_of, peak_rss_mib, print_stage, save, scaling_exponent, stage_result
from python_assets.config import DBT_PROJECT_DIR, Paths, export_data_dir
from python_assets.features.registry import load_registry

SIZES = (62_500, 250_000, 1_000_000)
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
                   cast(1 as bigint) as minute_count, 'ticks' as source
            from src
        """)


def dbt_run(paths: Paths, *select: str, window: tuple[str, str] | None = None) -> dict[str, float]:
    """Run dbt models (a full refresh, or an incremental run of the window [min_date, max_date));
    returns seconds per model from run_results.json."""
    target = paths.data_dir / "dbt_target"
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}
    mode = ["--vars", json.dumps({"min_date": window[0], "max_date": window[1]})] if window else ["--full-refresh"]
    subprocess.run(["dbt", "run", "--quiet", "--profiles-dir", ".", "--target-path", str(target), *mode,
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


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """All feature models (dbt wall time, full refresh) on 1x, 4x, 16x 1m bars vs TA-Lib and pandas
    computing a 14-indicator subset of them on the same bars."""
    paths = Paths(export_data_dir().data_dir / "bench_features")
    registry = load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")
    n_features = len(registry)
    ours, talib_s, pandas_s, per_model, rows = [], [], [], {}, 0
    for n in sizes:
        bars = synthetic_bars(n)
        load_bars(paths, bars)
        dbt_run(paths, "stg_candles", "stg_books", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d", "int_bars_unioned")
        t0 = time.perf_counter()
        per_model = dbt_run(paths, "int_bars_unioned+", "--exclude", "daily_market_summary")
        ours.append(time.perf_counter() - t0)
        t_talib, _ = best_of(lambda: talib_subset(bars))
        t_pandas, _ = best_of(lambda: pandas_subset(bars), repeat=1)
        talib_s.append(t_talib), pandas_s.append(t_pandas)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute("select count(*) from feat_price").fetchall()[0][0]
    by_model = {m: sum(f.model == m for f in registry) for m in dict.fromkeys(f.model for f in registry)}
    per_value_by_model = {m: round(per_model[m] / (rows * k) * 1e9, 1) for m, k in by_model.items() if m in per_model}
    per_value = {"ours": ours[-1] / (rows * n_features) * 1e9, "talib": talib_s[-1] / (sizes[-1] * 14) * 1e9,
                 "pandas": pandas_s[-1] / (sizes[-1] * 14) * 1e9}
    res = stage_result("features: every feature model in dbt on DuckDB (1m bars + rollups)", "bars", list(sizes), ours,
                       "TA-Lib, 14 indicators", talib_s, "per feature value <= 10x TA-Lib's and >= 3x faster than pandas",
                       per_value["ours"] <= 10 * per_value["talib"] and per_value["pandas"] >= 3 * per_value["ours"],
                       features=n_features, feature_rows_all_timeframes=rows, pandas_seconds=pandas_s,
                       pandas_ratio=pandas_s[-1] / ours[-1], pandas_scaling_exponent=scaling_exponent(list(sizes), pandas_s),
                       per_model_seconds_at_largest=per_model, peak_rss_mib=peak_rss_mib(),
                       dbt_peak_rss_mib=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                       ns_per_value=per_value, ns_per_value_by_model=per_value_by_model)
    save("features", res)
    print_stage(res)
    print(f"pandas (same 14 indicators): {', '.join(f'{t:.2f} s' for t in pandas_s)} -> "
          f"{res['pandas_ratio']:.2f}x pandas' time over ours at {sizes[-1]:,} bars "
          f"(exponent {res['pandas_scaling_exponent']:.2f})")
    per = res["ns_per_value"]
    print(f"per feature value computed ({rows:,} rows x {n_features} features vs {sizes[-1]:,} bars x 14 indicators): "
          f"ours {per['ours']:.0f} ns, TA-Lib {per['talib']:.1f} ns, pandas {per['pandas']:.0f} ns: "
          f"{per['ours'] / per['talib']:.0f}x TA-Lib's (goal <= 10x), pandas' / ours {per['pandas'] / per['ours']:.2f} (goal >= 3)")
    print("ns per feature value by model (its time in the run, two models at a time, over its rows x its features): "
          + ", ".join(f"{m} {ns:.0f}" for m, ns in sorted(per_value_by_model.items(), key=lambda kv: -kv[1])))
    print(f"peak resident memory of the dbt process (largest child): {res['dbt_peak_rss_mib']:,.0f} MiB")
    print("slowest models at the largest size: " + ", ".join(
        f"{m} {t:.1f} s" for m, t in sorted(per_model.items(), key=lambda kv: -kv[1])[:4]))
    return res
