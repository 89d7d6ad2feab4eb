"""The dbt project on Apache Spark computes what it computes on DuckDB, model by model.

One small lake (the synthetic market, 2 symbols x 3 days of ticks, plus a symbol with one day of
imported 1m candles and no ticks, plus the awkward series of write_awkward_lake) is built twice: `dbt build` on DuckDB (target dev) and
`dbt build --target spark` (dbt-spark `method: session`, pyspark local mode; Python models run in that
session by spark_dbt.py). Every model of the covered layers is then compared row by row: the same
columns, the same row count, non-float columns (keys, counts, strings, dates, timestamps) exactly,
float columns within 1e-9 relative (1e-12 absolute near zero), NULLs in the same places. Then the next
daily run on both engines: the last two days again, incrementally, for the bars, every feature model, the
daily summary and recorder_coverage (NEXT_DAY_MODELS: each rewrites those days' partitions in the table
the build left), with the last day's trades gone from the lake meanwhile (a corrupt day removed), so that day must leave
every table: DuckDB deletes the window first, Spark drops its date partitions (clear_partition_window;
its dynamic insert_overwrite alone replaces only the partitions the new rows fill). DuckDB's run goes to a
copy of its warehouse; the two are compared the same way.

Left out (NOT_COMPARED): feat_recursive.resume_state, a known difference (NaN on DuckDB, 0.0 on
Spark in unseeded slots of the carried state); its features match.

Covered layers (LAYERS): staging, bars, features (with the intermediate union and the Python model
feat_recursive), labels, backtest signals (empty: no strategy specs are published by dbt alone) and
the metrics marts that read only the lake (daily_market_summary, recorder_coverage from two days of
recorder books, segments and gaps, dim_instruments from three days of instrument snapshots).
The models over the landing tables python_assets writes (backtest ledger models, strategy_backtest_results,
portfolio, research, fill_sensitivity, the report marts) are compared by test_spark_graph.py, which runs
the whole daily graph with dbt on Spark.

Skipped with one reason when Java or pyspark is missing. `make test-spark` runs it alone; it takes
~2.5 minutes on 2 cores under some load (the fixture 141 s, 2026-12-07; small data, 2 shuffle partitions, UI
off).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from awkward_lake import day_ms, high_priced, hourly_candles, instrument_rows, settlement_funding, tiny_priced
from conftest import run_dbt
from edge_candles import edge_candles
from spark_two_calls import BUILD_RESULTS, moved_aside
from test_recorder_models import D0, DAY, HOUR, book_rows, gap, seg, write_books, write_intervals

from python_assets.config import DBT_PROJECT_DIR, DBT_WINDOW_ENV, Paths
from python_assets.exchange.rec_store import write_instruments
from python_assets.lake.store import write_candles, write_funding, write_trades
from python_assets.ingest.market import generate_market

# the first test carries the two builds (~4-6 min on a busy 2-core machine): above the suite's 600 s default
pytestmark = [pytest.mark.spark, pytest.mark.timeout(1500)]

SYMBOLS = ("BTC-USDT", "SOL-USDT")
DAYS = (date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12))
CANDLE_SYMBOL = "GAPS-USDT"  # one imported day of 1m candles (2025-03-10), no ticks
RECORDER_SYMBOL = "SOL-USDT"  # the live recorder's books, segments and gaps on DAYS[1]
RECORDER_DAY_MS = D0 + DAY  # DAYS[1] 00:00 UTC
# Awkward ticks (tests/dbt/awkward_lake.py): a pair priced ~1.5e6 on a 0.01 tick, with no trade on DAYS[1];
# a pair priced ~2.5e-8 listed at DAYS[1] 12:00, whose recorder wrote 1.005 % of DAYS[2]; 1h candles only
HIGH_SYMBOL, TINY_SYMBOL, HOURLY_SYMBOL = "HIPR-USDT", "TINY-USDT", "HRLY-USDT"
TINY_LISTED_MS = D0 + DAY + 12 * HOUR
RTOL, ATOL = 1e-9, 1e-12

STAGING = ["stg_trades", "stg_funding_rates", "stg_candles", "stg_books", "stg_mark_prices", "stg_instruments",
           "stg_quarantined_trades", "stg_recorder_gaps", "stg_recorder_segments"]
LAYERS = {
    "staging": STAGING,
    "bars": ["bars_1m", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d"],
    "features": ["int_bars_unioned", "feat_price", "feat_volatility", "feat_volume", "feat_technical", "feat_book",
                 "feat_recursive", "feat_regime", "feat_htf_context", "features"],
    "labels": ["labels_h12", "ml_training_set"],
    "backtest signals": ["backtest_signals"],
    "metrics marts": ["daily_market_summary", "dim_instruments", "recorder_coverage"],
}
MODELS = [m for models in LAYERS.values() for m in models]
# Run again for the last two days, incrementally (built fixture): the bars, every model of models/features/,
# the daily summary and recorder_coverage (its window holds the recorder day; dbt's selector `features`
# names that folder as well as the model).
NEXT_DAY_MODELS = [*LAYERS["bars"], *(m for m in LAYERS["features"] if m != "int_bars_unioned"), "daily_market_summary",
                   "recorder_coverage"]
NEXT_WINDOW = {DBT_WINDOW_ENV["min_date"]: DAYS[-2].isoformat(), DBT_WINDOW_ENV["max_date"]: (DAYS[-1] + timedelta(days=1)).isoformat()}
# Columns left out of the comparison, each with why. Known difference, not yet fixed: feat_recursive's
# resume_state (the carry the DuckDB branch continues from; Spark recomputes a full pass and never
# reads it) holds 0.0 on Spark where DuckDB holds NaN in the not-yet-seeded slots.
NOT_COMPARED = {"feat_recursive": {"resume_state"}}
SPARK_TWO_CALLS = Path(__file__).resolve().parent / "spark_two_calls.py"  # runs dagster_defs/dbt/spark_dbt.py's run_dbt twice


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (requirements-dev.lock: dbt-spark[session])"
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (Spark 4 needs Java 17+)"
    return None


def write_lake(paths: Paths) -> None:
    """Ticks and funding of the synthetic market, one day of imported 1m candles, and one day of the live
    recorder's books, segments and gaps (the gaps written out of the order recorder_coverage lists them in)."""
    write_candles(paths, CANDLE_SYMBOL, "1m", edge_candles()[CANDLE_SYMBOL])
    lake, day, start = paths.data_dir / "lake", DAYS[1], RECORDER_DAY_MS
    book = {"bid": [(99.0, 2.0), (98.5, 3.0)], "ask": [(101.0, 1.0), (101.5, 4.0)]}
    write_books(lake, RECORDER_SYMBOL, day, book_rows(start + HOUR + 15_000, "sample", 1, book)
                + book_rows(start + 2 * HOUR, "snapshot", 2, book) + book_rows(start + 2 * HOUR, "sample", 3, book))
    write_intervals(lake, "recorder_segments", RECORDER_SYMBOL, day, [seg("trades", start, start + DAY),
                                                                      seg("books", start, start + DAY)])
    write_intervals(lake, "recorder_gaps", RECORDER_SYMBOL, day, [
        gap("trades", start + 20 * HOUR, start + 20 * HOUR + 5_000, "disconnect", "recovered"),
        gap("trades", start + 5 * HOUR, start + 5 * HOUR + 2_000, "trade_id_gap", "lost"),
        gap("trades", start + 5 * HOUR, start + 5 * HOUR + 10_000, "stall", "partial"),
        gap("books", start + 3 * HOUR, start + 3 * HOUR + 30_000, "disconnect", "lost")])
    write_awkward_lake(paths)
    synthetic_copied_in(paths)


def synthetic_copied_in(paths: Paths) -> None:
    """The synthetic market's ticks and funding for SYMBOLS, generated into a data dir of their own and copied into
    this lake's folders: a test lake mixing them with real and recorder data on purpose (the lake's writers refuse
    a mix either way round, and so does a run: dbt alone builds this lake)."""
    side = Paths(paths.data_dir.parent / "synthetic_side")
    generate_market(side, SYMBOLS, DAYS)
    for dataset in sorted(d for d in side.lake.iterdir() if d.is_dir()):  # trades, funding, the trade id index
        for folder in sorted(dataset.iterdir()):
            shutil.copytree(folder, paths.lake / dataset.name / folder.name, dirs_exist_ok=True)


def write_awkward_lake(paths: Paths) -> None:
    """What the synthetic market lacks (tests/dbt/awkward_lake.py): ticks priced ~1.5e6 around a missing day,
    ticks priced ~2.5e-8 from a listing in the middle of the window, funding on the settlement instants, a day
    of 1h candles only, three days of instrument snapshots, and a recorder day of 14m28.32s (1.005 %) with two
    gaps of one start and cause (the longer one written first)."""
    lake = paths.data_dir / "lake"
    for seed, day in enumerate((DAYS[0], DAYS[2])):
        write_trades(paths, HIGH_SYMBOL, high_priced(day, 10 + seed))
        write_funding(paths, HIGH_SYMBOL, settlement_funding(day))
    for seed, day in enumerate(DAYS[1:]):
        write_trades(paths, TINY_SYMBOL, tiny_priced(day, 20 + seed, TINY_LISTED_MS))
    write_candles(paths, HOURLY_SYMBOL, "1h", hourly_candles(DAYS[1]))
    for index, day in enumerate(DAYS):
        write_instruments(paths, instrument_rows(day, index), day_ms(day) + 30_000)
    start = day_ms(DAYS[2])
    write_intervals(lake, "recorder_segments", TINY_SYMBOL, DAYS[2], [seg("trades", start + 10 * HOUR, start + 10 * HOUR + 868_320)])
    write_intervals(lake, "recorder_gaps", TINY_SYMBOL, DAYS[2], [
        gap("trades", start + 11 * HOUR, start + 11 * HOUR + 10_000, "stall", "recovered"),
        gap("trades", start + 11 * HOUR, start + 11 * HOUR + 2_000, "stall", "recovered")])


def node_seconds(target: Path, name: str = "run_results.json") -> dict[str, float]:
    """{model: execution seconds} from a dbt target's run_results.json (or another file of that form)."""
    results = json.loads((target / name).read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results if r["unique_id"].startswith("model.")}


def swap_warehouses(a: Path, b: Path) -> None:
    """Two DuckDB files trade places, each with its write-ahead log (<file>.wal, where one was left)."""
    for suffix in ("", ".wal"):
        x, y = Path(f"{a}{suffix}"), Path(f"{b}{suffix}")
        between = x.with_name(x.name + ".swap")
        for src, dst in ((x, between), (y, x), (between, y)):
            if src.exists():
                src.rename(dst)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The lake built by dbt on DuckDB and on Spark, then the next daily run on both; Spark's models exported as
    Parquet after each."""
    if reason := spark_missing():
        pytest.skip(reason)
    paths = Paths(tmp_path_factory.mktemp("spark_parity") / "data")
    write_lake(paths)
    duck_target = paths.data_dir / "target_duckdb"
    # cautious: a relationships test that also reads an unselected model (a mart) is left out
    run_dbt(paths, "build", "--indirect-selection", "cautious", "--select", *MODELS, target=duck_target)
    duck_seconds = node_seconds(duck_target)
    # The next daily run on both built warehouses (DuckDB's copy): the last two days again, incrementally
    # (feat_recursive, a Python model whose write differs from its first; features, a table of date partitions
    # on Spark only), with the last day's trades moved out of the lake while it runs (put back for the tests
    # that read DuckDB's staging views).
    # (the copy keeps the file name: dbt-duckdb names the catalog after it, and the views not rebuilt name it)
    # The run goes to the warehouse in place and the two files trade places after it: dbt pointed at another
    # warehouse path sees a changed profile and parses the whole project again (~3 s).
    duck_next = paths.data_dir / "next_day" / paths.warehouse.name
    duck_next.parent.mkdir()
    shutil.copy(paths.warehouse, duck_next)
    gone, aside = sorted(paths.trades.glob(f"symbol=*/date={DAYS[-1]}")), paths.data_dir / "trades_aside"
    with moved_aside(gone, aside):
        proc = run_dbt(paths, "run", "--select", *NEXT_DAY_MODELS, target=duck_target, env=NEXT_WINDOW)
    assert "Unable to do partial parsing" not in proc.stdout, proc.stdout[-2000:]
    swap_warehouses(paths.warehouse, duck_next)
    # Spark: the build, then the same next run on the lake without that day, in one process (one JVM start-up)
    spark_target, exported = paths.data_dir / "target_spark", paths.data_dir / "spark_export"
    next_day, spec = paths.data_dir / "spark_export_next_day", paths.data_dir / "spark_calls.json"
    spec.write_text(json.dumps({
        "build": ["build", "--target", "spark", "--profiles-dir", ".", "--target-path", str(spark_target),
                  "--indirect-selection", "cautious", "--select", *MODELS, "--export", str(exported)],
        "next": ["run", "--target", "spark", "--profiles-dir", ".", "--target-path", str(spark_target),
                 "--select", *NEXT_DAY_MODELS, "--export", str(next_day)],
        "next_env": NEXT_WINDOW, "aside": [str(f) for f in gone], "aside_dir": str(aside), "target": str(spark_target)}))
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), "BLOFIN_SPARK_DIR": str(paths.data_dir / "spark"),
           "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run([sys.executable, str(SPARK_TWO_CALLS), str(spec)], cwd=DBT_PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=1200)
    failed = {1: "dbt build --target spark", 3: "the next day's run on spark"}.get(proc.returncode, "spark_two_calls.py")
    assert proc.returncode == 0, f"{failed} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    # the removed day is back in the lake for the tests that read DuckDB's staging views
    assert all(folder.is_dir() for folder in gone)
    # Hive's session resources folder lies in the Spark dir (profiles.yml), not one more left in /tmp each call
    assert (paths.data_dir / "spark" / "hive_resources").is_dir()
    seconds = (duck_seconds, node_seconds(spark_target, BUILD_RESULTS))
    return {"paths": paths, "exported": exported, "next_day": next_day, "duck_next": duck_next, "gone": len(gone),
            "seconds": seconds}


def duckdb_rows(paths: Paths, model: str, warehouse: Path | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse or paths.warehouse), read_only=True) as con:
        con.execute(f"set file_search_path = '{paths.data_dir}'")  # the staging views name lake/... paths
        return con.sql(f'select * from "{model}"').df()


def spark_rows(exported: Path, model: str, like: pd.DataFrame) -> pd.DataFrame:
    files = sorted((exported / model).glob("*.parquet"))
    if not files:
        return like.iloc[0:0]
    with duckdb.connect() as con:
        return con.sql(f"select * from read_parquet({[str(f) for f in files]})").df()


def is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s)


def is_list(s: pd.Series) -> bool:
    """A LIST column (feat_recursive.resume_state): cells are arrays or NULL."""
    return s.dtype == object and any(isinstance(v, (list, tuple, np.ndarray)) for v in s.dropna().head(50))


def lists_close(a: pd.Series, b: pd.Series) -> bool:
    """Element-wise within the tolerance, NULL cells in the same rows."""
    def missing(v) -> bool:
        return not isinstance(v, (list, tuple, np.ndarray)) and pd.isna(v)

    for x, y in zip(a, b):
        if missing(x) != missing(y):
            return False
        if not missing(x) and (len(x) != len(y) or not np.allclose(np.asarray(x, float), np.asarray(y, float),
                                                                   rtol=RTOL, atol=ATOL, equal_nan=True)):
            return False
    return True


def comparable(frame: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
    """Columns in one order, timestamps as UTC microseconds, rows sorted by the non-float columns."""
    out = frame[columns].copy()
    for c in columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return out.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)


def differences(duck: pd.DataFrame, spark: pd.DataFrame) -> list[str]:
    """What differs between the two builds of a model (empty: parity)."""
    if set(duck.columns) != set(spark.columns):
        return [f"columns differ: duckdb only {set(duck.columns) - set(spark.columns)}, spark only {set(spark.columns) - set(duck.columns)}"]
    if len(duck) != len(spark):
        return [f"rows: duckdb {len(duck)}, spark {len(spark)}"]
    columns = list(duck.columns)
    lists = [c for c in columns if is_list(duck[c]) or is_list(spark[c])]
    keys = [c for c in columns if not is_float(duck[c]) and c not in lists]
    d, s = comparable(duck, columns, keys), comparable(spark, columns, keys)
    found = [f"{c}: lists differ" for c in lists if not lists_close(d[c], s[c])]
    for c in (c for c in columns if c not in lists):
        a, b = d[c], s[c]
        if a.isna().to_numpy().tolist() != b.isna().to_numpy().tolist():
            found.append(f"{c}: NULLs differ")
            continue
        if c in keys and not is_float(b):
            if not (a.dropna().astype(str).to_numpy() == b.dropna().astype(str).to_numpy()).all():
                found.append(f"{c}: values differ")
            continue
        x, y = a.dropna().to_numpy(dtype=float), b.dropna().to_numpy(dtype=float)
        if not np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True):
            worst = np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), ATOL))
            found.append(f"{c}: numbers differ (worst relative {worst:.2e})")
    return found


@pytest.mark.parametrize("model", MODELS)
def test_the_model_has_the_same_rows_on_spark_and_duckdb(built, model):
    skip = NOT_COMPARED.get(model, set())
    duck = duckdb_rows(built["paths"], model).drop(columns=list(skip))
    spark = spark_rows(built["exported"], model, duck)
    assert differences(duck, spark.drop(columns=[c for c in skip if c in spark.columns])) == [], model


@pytest.mark.parametrize("model", NEXT_DAY_MODELS)
def test_the_next_days_incremental_run_on_spark_keeps_the_rows_of_duckdb(built, model):
    """An incremental run on Spark rewrites what it owns and keeps the rest, as DuckDB's does; a day whose trades
    left the lake leaves the model. (feat_recursive's table was once partitioned by its config, which dbt-spark's
    Python write ignores: the incremental `insert overwrite ... partition (bar_date)` failed on every second
    day; a day yielding no row kept its old partition on Spark: 6,960 bars_1m rows on a 3-symbol lake.)"""
    skip = NOT_COMPARED.get(model, set())
    duck = duckdb_rows(built["paths"], model, built["duck_next"]).drop(columns=list(skip))
    spark = spark_rows(built["next_day"], model, duck)
    assert len(spark) == len(duck) > 0
    assert differences(duck, spark.drop(columns=[c for c in skip if c in spark.columns])) == [], model


def test_the_removed_day_left_the_tables(built):
    """Not vacuous: the last day (trades only: the candle and book days are earlier) was in the first build and
    is in no table of the next run, which still has the earlier days."""
    assert built["gone"] == len(SYMBOLS) + 2  # HIGH_SYMBOL and TINY_SYMBOL trade on the last day too
    for model, column in (("bars_1m", "bar_date"), ("bars_1d", "bar_date"), ("feat_price", "bar_date"),
                          ("daily_market_summary", "report_date")):
        first = set(pd.to_datetime(duckdb_rows(built["paths"], model)[column]).dt.date)
        after = set(pd.to_datetime(duckdb_rows(built["paths"], model, built["duck_next"])[column]).dt.date)
        assert first == set(DAYS) and after == set(DAYS[:-1]), model


def test_the_lake_reaches_every_layer_on_both_engines(built):
    """Not vacuous: ticks and the imported candle day arrive, every timeframe and the features have rows."""
    paths = built["paths"]
    bars = duckdb_rows(paths, "bars_1m")
    assert set(bars["symbol"]) == {*SYMBOLS, CANDLE_SYMBOL, HIGH_SYMBOL, TINY_SYMBOL}
    assert set(bars.loc[bars["symbol"] == CANDLE_SYMBOL, "source"]) == {"edge"}  # the candles' own source
    assert set(bars.loc[bars["symbol"].isin([*SYMBOLS, HIGH_SYMBOL, TINY_SYMBOL]), "source"]) == {"ticks"}
    # the hive partition column reaches the bars on Spark too (it once was NULL there: "date" quoted as in DuckDB)
    assert spark_rows(built["exported"], "bars_1m", bars)["bar_date"].notna().all()
    for model in ("bars_1d", "features", "feat_recursive", "labels_h12", "feat_book", "recorder_coverage"):
        assert len(spark_rows(built["exported"], model, duckdb_rows(paths, model))) > 0, model
    # the gaps of a day are listed by start, then cause, on both engines (neither the order they were
    # written in nor the text's own order: the parity test compares Spark's list with this one)
    coverage = duckdb_rows(paths, "recorder_coverage")
    trades = coverage[(coverage["dataset"] == "trades") & (coverage["symbol"] == RECORDER_SYMBOL)]
    assert trades["gaps"].tolist() == ["05:00:00-05:00:10 stall partial; 05:00:00-05:00:02 trade_id_gap lost; "
                                       "20:00:00-20:00:05 disconnect recovered"]


def test_the_awkward_series_reach_the_features_and_marts(built):
    """Not vacuous: the ~1.5e6 pair has flat 20-bar windows (z-score NULL) and moving ones, the ~2.5e-8 pair
    starts at its listing, the 1h-candle day is the day's resolution, each instrument change is a version, and
    the recorder's 1.005 % day reads 1.01 % (half up) with its two same-start gaps shortest first."""
    paths = built["paths"]
    price = duckdb_rows(paths, "feat_price")
    high = price[(price["symbol"] == HIGH_SYMBOL) & (price["timeframe"] == "1m")]
    assert high["close_zscore_20"].notna().sum() > 1000 and high["close_zscore_20"].isna().sum() > 100
    assert duckdb_rows(paths, "bars_1m").query("symbol == @TINY_SYMBOL")["bar_at_ms"].min() >= TINY_LISTED_MS
    summary = duckdb_rows(paths, "daily_market_summary")
    assert summary.loc[summary["symbol"] == HOURLY_SYMBOL, "resolution"].tolist() == ["1h"]
    versions = duckdb_rows(paths, "dim_instruments").groupby("symbol")["version"].max().to_dict()
    assert versions == {HIGH_SYMBOL: 3, TINY_SYMBOL: 2, "SOL-USDT": 1}
    coverage = duckdb_rows(paths, "recorder_coverage").query("symbol == @TINY_SYMBOL")
    assert coverage[["gaps", "unusable_reason"]].values.tolist() == [
        ["11:00:00-11:00:02 stall recovered; 11:00:00-11:00:10 stall recovered", "trades: recorded 1.01% of the day (< 99.0%)"]]


def test_per_layer_wall_time_is_reported(built, capsys):
    """Seconds per layer on each engine (run_results.json), printed for docs/scaling.md; never asserted."""
    duck, spark = built["seconds"]
    with capsys.disabled():
        print("\nlayer             duckdb_s  spark_s  ratio")
        for layer, models in LAYERS.items():
            d, s = sum(duck.get(m, 0.0) for m in models), sum(spark.get(m, 0.0) for m in models)
            print(f"{layer:<17}{d:9.2f}{s:9.2f}{s / d if d else float('nan'):7.1f}")
    assert set(duck) >= set(MODELS) and set(spark) >= set(MODELS)


def test_a_difference_is_reported():
    """The comparison itself catches a changed number, a moved NULL and a missing row."""
    a = pd.DataFrame({"k": [1, 2, 3], "x": [1.0, None, 3.0]})
    assert differences(a, a.iloc[::-1].reset_index(drop=True)) == []
    assert differences(a, a.assign(x=[1.0, None, 3.0 * (1 + 1e-6)])) != []
    assert differences(a, a.assign(x=[1.0, 2.0, 3.0])) == ["x: NULLs differ"]
    assert differences(a, a.iloc[:2]) == ["rows: duckdb 3, spark 2"]
    b = pd.DataFrame({"k": [1, 2], "state": [np.array([1.0, 2.0]), None]})
    assert differences(b, b.assign(state=[np.array([1.0, 2.0 + 1e-13]), None])) == []
    assert differences(b, b.assign(state=[np.array([1.0, 2.1]), None])) == ["state: lists differ"]
