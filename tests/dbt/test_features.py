"""Features: registry, TA-Lib/pandas cross-checks, NULL warm-ups, no lookahead, incremental == full."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DAYS, run_dbt, shared_file
from edge_candles import DAY_START_MS, edge_candles
from feature_reference import all_references

from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.features.registry import load_registry
from python_assets.lake.store import write_candles, write_trades
from python_assets.ingest.market import generate_market
from python_assets.platform.timeframes import TIMEFRAME_MS

SERIES_COLUMNS = "symbol, timeframe, bar_at_ms, open, high, low, close, volume, vwap, buy_volume, sell_volume"


def registry():
    return load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")


def features_frame(paths: Paths) -> pd.DataFrame:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        feats = con.execute("select * from features order by symbol, timeframe, bar_at_ms").df()
        series = con.execute(f"select {SERIES_COLUMNS} from int_bars_unioned").df()
    return feats.merge(series[["symbol", "timeframe", "bar_at_ms", "vwap", "buy_volume", "sell_volume"]],
                       on=["symbol", "timeframe", "bar_at_ms"])


@pytest.fixture(scope="module")
def synthetic_features(tmp_path_factory) -> pd.DataFrame:
    paths = Paths(tmp_path_factory.mktemp("features") / "data")
    generate_market(paths, ["SOL-USDT"], [date(2025, 3, 4) + timedelta(days=i) for i in range(8)])
    # the features, what they read, and the tests of only those (cautious: not a mart test reaching bars_1d)
    run_dbt(paths, "build", "--select", "+features", "--indirect-selection", "cautious")
    return features_frame(paths)


@pytest.fixture(scope="module")
def synthetic_series(synthetic_features) -> Series:
    return Series(synthetic_features)


@pytest.fixture(scope="module")
def edge_build(tmp_path_factory) -> Paths:
    """The series of edge_candles.py (low price, flat runs, gaps, 100x trend) as 1m candles, one dbt build."""
    paths = Paths(tmp_path_factory.mktemp("edge") / "data")
    for symbol, candles in edge_candles().items():
        write_candles(paths, symbol, "1m", candles)
    run_dbt(paths, "build", "--select", "+features", "--exclude", "daily_market_summary")
    return paths


@pytest.fixture(scope="module")
def edge_series(edge_build) -> Series:
    return Series(features_frame(edge_build))


def non_finite_values(paths: Paths) -> dict[str, int]:
    """{table.column: rows holding NaN or an infinity} over every DOUBLE column of the feat_* tables the build made
    (a NULL is no value; a NaN or an infinity is a wrong one: pandas reads all three as NaN, so this asks DuckDB)."""
    found = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        doubles: dict[str, list[str]] = {}
        for table, column in con.execute("select table_name, column_name from information_schema.columns where "
                                         "starts_with(table_name, 'feat_') and data_type = 'DOUBLE'").fetchall():
            doubles.setdefault(table, []).append(column)
        for table, columns in doubles.items():
            counts = con.execute("select " + ", ".join(f'count(*) filter (where isnan("{c}") or isinf("{c}"))' for c in columns)
                                 + f" from {table}").fetchall()[0]
            found.update({f"{table}.{c}": n for c, n in zip(columns, counts) if n})
    return found


def test_a_flat_market_is_not_high_vol(edge_series):
    """Zero realized volatility ties with its whole flat window (percentile rank 1.0): it is no high_vol bar."""
    flat = pd.concat([g[(g["realized_vol_20"] == 0) & (g["vol_percentile_100"] >= 0.9)] for _, g, _ in edge_series.parts])
    assert len(flat) > 100  # the edge series' flat runs reach the case
    assert set(flat["regime"]) <= {"range", "trend_up", "trend_down"}


def test_no_feature_is_nan_or_infinite_on_the_edge_series(edge_build):
    assert non_finite_values(edge_build) == {}


def test_dust_volumes_leave_no_nan_or_infinity_in_the_features(data_dir):
    """Candles whose volume the bars' DECIMAL(38, 12) stores as 0 (below 5e-13) are dropped like zero-volume
    ones, and a candle without a quote volume has no VWAP: no 0 / 0 volume ratio, no close / 0 VWAP deviation."""
    n = 60
    close = 1.0 + 0.001 * np.sin(np.arange(n))
    frame = pd.DataFrame({"bar_at_ms": TIMEFRAME_MS["1m"] * np.arange(n) + DAY_START_MS, "open": close,
                          "high": close * 1.001, "low": close * 0.999, "close": close, "source": "edge"})
    dust = frame.assign(volume=np.where(np.arange(n) < 25, 2.0, 1e-13), volume_quote=lambda f: f["volume"] * f["close"])
    write_candles(data_dir, "DUST-USDT", "1m", dust)
    write_candles(data_dir, "NOQUOTE-USDT", "1m", frame.assign(volume=1.0, volume_quote=0.0))
    run_dbt(data_dir, "build", "--select", "+feat_volume", "--indirect-selection", "cautious")
    assert non_finite_values(data_dir) == {}
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        bars = dict(con.execute("select symbol, count(*) from bars_1m group by 1").fetchall())
        assert bars == {"DUST-USDT": 25, "NOQUOTE-USDT": n}  # the dust candles are dropped, not zero-volume bars
        assert con.execute("select count(*), count(vwap) from bars_1m where symbol = 'NOQUOTE-USDT'").fetchall() == [(n, 0)]
        ratios = con.execute("select count(volume_ratio_20), count(vwap_dev) from feat_volume where symbol = 'DUST-USDT' "
                             "and timeframe = '1m'").fetchall()
        assert ratios == [(25 - 19, 25)]  # a value wherever a 20-bar mean of real volumes exists


def test_the_taker_imbalance_window_needs_twenty_bars_of_trades_where_candles_meet_trades(data_dir):
    """Imported 1m candles (no taker volumes) for a day, then a morning of trades, then candles again: the
    20-bar imbalance is NULL until 20 bars with taker volumes fill its window (pandas rolling(20,
    min_periods=20)); the sums skipped the candle bars, so the first trade bars had a '20-bar' value of 1..19."""
    candles = edge_candles()["TREND-USDT"]
    write_candles(data_dir, "MIX-USDT", "1m", candles)
    rng, start = np.random.default_rng(5), DAY_START_MS + 86_400_000
    ts = np.sort(start + rng.integers(0, 3 * 3_600_000, 3_000))
    price = np.round(float(candles["close"].iloc[-1]) * np.exp(np.cumsum(rng.normal(0, 1e-4, len(ts)))), 4)
    write_trades(data_dir, "MIX-USDT", pd.DataFrame({
        "trade_id": [f"m{i}" for i in range(len(ts))], "ts": ts, "price": price,
        "size": np.round(rng.uniform(0.01, 5, len(ts)), 2), "side": np.where(rng.random(len(ts)) < 0.5, "buy", "sell")}))
    later = candles.assign(bar_at_ms=candles["bar_at_ms"] + 2 * 86_400_000).iloc[:120]
    write_candles(data_dir, "MIX-USDT", "1m", later)
    run_dbt(data_dir, "build", "--select", "+feat_volume", "--indirect-selection", "cautious")
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        frame = con.execute(f"select {SERIES_COLUMNS}, f.buy_sell_imbalance_20 from int_bars_unioned "
                            "join feat_volume f using (symbol, timeframe, bar_at_ms)").df()
    one = frame[frame["timeframe"] == "1m"].sort_values("bar_at_ms")
    traded = one["buy_volume"].notna().to_numpy()
    assert traded.sum() >= 150 and not traded[:1440].any() and not traded[-120:].any()
    first = np.flatnonzero(traded)[0]
    assert one["buy_sell_imbalance_20"].iloc[first:first + 19].isna().all()
    assert one["buy_sell_imbalance_20"].iloc[first + 19:first + 21].notna().all()
    assert one["buy_sell_imbalance_20"].iloc[-120:].isna().all()  # candles after trades: no taker data
    assert_matches_reference(Series(frame), "buy_sell_imbalance_20", min_rows=100)


class Series:
    """Feature frame split into (symbol, timeframe) series, each with its references computed once."""

    def __init__(self, frame: pd.DataFrame):
        self.parts = []
        for key, g in frame.groupby(["symbol", "timeframe"]):
            g = g.sort_values("bar_at_ms").reset_index(drop=True)
            self.parts.append((key, g, all_references(g)))


def assert_matches_reference(series: Series, feature: str, min_rows: int = 1) -> int:
    """Compare one feature with its reference on every series; returns the number of values compared."""
    compared = 0
    for (symbol, tf), g, refs in series.parts:
        want = refs[feature]
        got = g[feature].to_numpy()
        if feature == "regime":
            got_list = [None if pd.isna(x) else x for x in got]
            assert got_list == list(want), f"{feature} on {symbol} {tf}"
            compared += sum(w is not None for w in want)
            continue
        got, want = got.astype(float), np.asarray(want, dtype=float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (
            f"{feature} on {symbol} {tf}: NULL pattern differs at rows "
            f"{np.flatnonzero(np.isnan(got) != np.isnan(want))[:10]}"
        )
        ok = ~np.isnan(want)
        # the absolute slack is relative to the series' own scale: 1e-10 alone let a pair priced ~1e-3 (an
        # ATR ~1e-6) differ by 1e-4 relative
        scale = float(np.max(np.abs(want[ok]))) if ok.any() else 0.0
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6, atol=min(1e-10, 1e-9 * scale),
                                   err_msg=f"{feature} on {symbol} {tf}")
        compared += int(ok.sum())
    assert compared >= min_rows, f"{feature}: only {compared} values compared"
    return compared


def test_registry_has_at_least_60_features_in_groups_with_warmups():
    reg = registry()
    assert len(reg) >= 60
    assert {f.group for f in reg} == {"price", "volume", "volatility", "technical", "regime"}
    assert all(f.name.startswith("htf_") == (f.higher_timeframe is not None) for f in reg)
    assert all(f.description and f.warmup_bars >= 0 for f in reg)
    sql = [f for f in reg if f.model != "feat_recursive"]
    assert len(sql) / len(reg) >= 0.75, "at least 75% of the features must be plain SQL models"


def test_every_registered_feature_is_a_column_of_features(synthetic_features):
    missing = [f.name for f in registry() if f.name not in synthetic_features.columns]
    assert missing == []


SINGLE_SERIES = [f.name for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json") if not f.higher_timeframe]
CONTEXT = [f for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json") if f.higher_timeframe]


@pytest.mark.parametrize("feature", SINGLE_SERIES)
def test_feature_matches_its_reference_on_synthetic_bars(synthetic_series, feature):
    assert_matches_reference(synthetic_series, feature, min_rows=100)


# Candles carry no taker split: the two taker-imbalance features are NULL on every edge series.
EDGE = [f for f in SINGLE_SERIES if f not in ("buy_sell_imbalance", "buy_sell_imbalance_20")]
HAS_TALIB = {f.name for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json") if f.talib}


def test_edge_series_have_the_edges_they_stand_for():
    """Guards the fixture: each edge series really is what its parity test claims to cover."""
    candles = edge_candles()
    low = candles["LOWP-USDT"]
    flow_14 = ((low["high"] + low["low"] + low["close"]) / 3 * low["volume"]).rolling(14).sum()
    assert low["close"].between(0.001, 0.01).all() and (low["volume"] < 1).all() and flow_14.max() < 1
    flat = candles["FLAT-USDT"]
    is_flat = (flat["high"] == flat["low"]) & (flat["close"] == flat["close"].shift())
    assert is_flat.groupby((~is_flat).cumsum()).sum().max() >= 150
    steps = np.diff(candles["GAPS-USDT"]["bar_at_ms"])
    assert (steps > 60_000).sum() >= 100 and steps.max() >= 3 * 3_600_000
    trend = candles["TREND-USDT"]["close"]
    assert trend.iloc[-1] / trend.iloc[0] >= 80


@pytest.mark.parametrize("feature", EDGE)
def test_feature_matches_its_reference_on_edge_series(edge_series, feature):
    """Same tolerance as on synthetic bars (rtol 1e-6, atol 1e-10, identical NULLs), on every timeframe
    of the four edge series; a feature with a TA-Lib twin is compared on at least 5,000 values."""
    assert_matches_reference(edge_series, feature, min_rows=5000 if feature in HAS_TALIB else 100)


@pytest.mark.parametrize("feature", SINGLE_SERIES)
def test_warmup_rows_are_null_and_the_next_row_is_not(synthetic_features, feature):
    spec = next(f for f in registry() if f.name == feature)
    g = synthetic_features[synthetic_features["timeframe"] == "1m"].sort_values("bar_at_ms")
    values = g[feature].tolist()
    assert all(pd.isna(v) for v in values[: spec.warmup_bars])
    assert not pd.isna(values[spec.warmup_bars]) or feature in ("body_ratio", "upper_wick_ratio", "lower_wick_ratio")


def test_features_match_talib_on_freqtrade_candles(tmp_path):
    """Real candles (5m ETH/BTC from freqtrade's test data) loaded as a bar series."""
    candles = pd.read_feather(shared_file("freqtrade/ETH_BTC-5m.feather"))
    paths = Paths(tmp_path / "data")
    paths.data_dir.mkdir(parents=True)
    generate_market(paths, ["BTC-USDT"], TEST_DAYS[:1])  # the lake must exist for the staging views
    run_dbt(paths, "run", "--select", "staging", "bars")
    with duckdb.connect(str(paths.warehouse)) as con:
        frame = pd.DataFrame({
            "symbol": "ETH-BTC", "bar_at_ms": (candles["date"].dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms"),
            "open": candles["open"], "high": candles["high"], "low": candles["low"], "close": candles["close"],
            "volume": candles["volume"],
        })
        con.register("candles", frame)
        con.execute("delete from bars_1m")
        con.execute("""
            insert into bars_1m
            select symbol, make_timestamptz(bar_at_ms * 1000), bar_at_ms, cast(epoch_ms(bar_at_ms) as date),
                   open, high, low, close, volume, volume * close, close, 1, volume / 2, volume / 2, 1, 'ticks'
            from candles
        """)
    run_dbt(paths, "run", "--select", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d", "int_bars_unioned+",
            "--exclude", "daily_market_summary", "--full-refresh")
    frame = features_frame(paths)
    frame = frame[frame["timeframe"] == "1m"]
    assert len(frame) == len(candles)
    series = Series(frame)
    for name in SINGLE_SERIES:
        assert_matches_reference(series, name, min_rows=1)


@pytest.mark.parametrize("feature", CONTEXT, ids=lambda f: f.name)
def test_higher_timeframe_context_comes_from_the_last_closed_higher_bar(synthetic_features, feature):
    """pandas merge_asof on close times: the higher bar must have closed by the lower bar's close."""
    width = TIMEFRAME_MS
    source = feature.name.removeprefix(f"htf_{feature.higher_timeframe}_")
    higher = synthetic_features[synthetic_features["timeframe"] == feature.higher_timeframe]
    higher = higher.assign(closes=higher["bar_at_ms"] + width[feature.higher_timeframe])[["symbol", "closes", source]]
    checked = 0
    for tf, ms in width.items():
        lower = synthetic_features[synthetic_features["timeframe"] == tf].sort_values("bar_at_ms")
        if ms >= width[feature.higher_timeframe]:
            assert lower[feature.name].isna().all()
            continue
        lower = lower.assign(closes=lower["bar_at_ms"] + ms)
        want = pd.merge_asof(lower[["symbol", "closes"]], higher.sort_values("closes"), on="closes", by="symbol")[source]
        got = lower[feature.name].reset_index(drop=True)
        assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want], tf
        checked += int(want.notna().sum())
    assert checked > 0 or higher[source].isna().all()  # short data: the higher timeframe is still warming up


def test_features_cli_lists_the_registry(capsys):
    from blofin_cli.main import main

    assert main(["features", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == len(registry()) and {"name", "group", "warmup_bars", "talib", "description"} <= set(listed[0])
