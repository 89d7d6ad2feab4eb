"""No lookahead and incremental == full: features (and the labels' columns known at t) recomputed on
truncated or partial data agree bit for bit."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import copy_tree, day_window_env, run_dbt

from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.features.registry import load_registry
from python_assets.lake.store import write_trades
from python_assets.ingest.synthetic import generate_ticks

DAYS = (date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12))
SYMBOL = "SOL-USDT"
FEATURES = [f.name for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")]
CUTS = {
    "mid-day": datetime(2025, 3, 11, 13, 37, 21, tzinfo=timezone.utc),
    "midnight": datetime(2025, 3, 12, 0, 0, tzinfo=timezone.utc),
    "late": datetime(2025, 3, 12, 18, 5, 30, tzinfo=timezone.utc),
}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def build(paths: Paths, ticks: pd.DataFrame, *args: str) -> None:
    write_trades(paths, SYMBOL, ticks)
    run_dbt(paths, "run", "--select", "+features", *args)  # the features and what they read, nothing after


def read_features(paths: Paths) -> pd.DataFrame:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute(
            "select f.*, b.timeframe_ms from features f join int_bars_unioned b using (symbol, timeframe, bar_at_ms) "
            "order by timeframe, bar_at_ms"
        ).df()


@pytest.fixture(scope="module")
def ticks() -> pd.DataFrame:
    return pd.concat([generate_ticks(SYMBOL, d) for d in DAYS], ignore_index=True)


@pytest.fixture(scope="module")
def full(tmp_path_factory, ticks) -> pd.DataFrame:
    paths = Paths(tmp_path_factory.mktemp("full") / "data")
    build(paths, ticks)
    return read_features(paths)


def build_before(tmp_path_factory, ticks: pd.DataFrame, name: str) -> Paths:
    """The features built in one run on the ticks before the cut `name`, in a new data dir."""
    paths = Paths(tmp_path_factory.mktemp(f"cut-{name}") / "data")
    build(paths, ticks[ticks["ts"] < _ms(CUTS[name])])
    return paths


@pytest.fixture(scope="module")
def first_two_days(tmp_path_factory, ticks) -> Paths:
    """The midnight cut's build (the days before the last, in one run): a template that tests read or copy,
    never write, shared by the truncated builds and the incremental test's first run."""
    return build_before(tmp_path_factory, ticks, "midnight")


@pytest.fixture(scope="module")
def truncated(tmp_path_factory, ticks, first_two_days) -> dict[str, pd.DataFrame]:
    return {name: read_features(first_two_days if name == "midnight" else build_before(tmp_path_factory, ticks, name))
            for name in CUTS}


def same_values(got: pd.Series, want: pd.Series) -> bool:
    """Equal bit for bit, NULLs and labels included: every rolling sum, mean and variance folds its
    window's values in one fixed order, so how many rows a run holds cannot move a last bit."""
    if not (pd.api.types.is_numeric_dtype(got) and pd.api.types.is_numeric_dtype(want)):
        return [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want]
    return bool(np.array_equal(got.to_numpy(float), want.to_numpy(float), equal_nan=True))


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("feature", FEATURES)
def test_feature_uses_no_data_after_its_bar(full, truncated, feature, cut):
    """Rows of bars closed before the cut are identical whether or not later ticks exist."""
    t = _ms(CUTS[cut])
    part = truncated[cut]
    closed = part[part["bar_at_ms"] + part["timeframe_ms"] <= t]
    ref = full.merge(closed[["timeframe", "bar_at_ms"]], on=["timeframe", "bar_at_ms"])
    assert len(closed) > 1000 and len(ref) == len(closed)
    assert same_values(closed[feature].reset_index(drop=True), ref[feature].reset_index(drop=True))


def test_incremental_next_day_equals_full_rebuild_for_every_feature_table(tmp_path, ticks, full, first_two_days):
    inc = copy_tree(first_two_days, tmp_path / "inc")  # the first two days built in one run, then the third's window
    build(inc, ticks, "--vars", '{"min_date": "2025-03-12", "max_date": "2025-03-13"}')
    got = read_features(inc)
    assert len(got) == len(full)
    pd.testing.assert_frame_equal(got[["timeframe", "bar_at_ms"]], full[["timeframe", "bar_at_ms"]])
    different = [f for f in FEATURES if not same_values(got[f], full[f])]
    assert different == [], [(f, _debug(got, full, f)) for f in different]


# labels_h12's columns known at the bar's close: they read bars <= t only, so like the features they
# must not move when later ticks arrive. Several random-walk series: the engine sorts series together, and
# its window tree's rounding followed where a series fell among them, so one series alone hid the fault.
LABEL_SYMBOLS = [f"W{i}-USDT" for i in range(6)]
LABELS_KNOWN_AT_T = ["sigma_h", "baseline_vol_12"]


def walk_ticks(symbol: str, seed: int) -> pd.DataFrame:
    """A trade about every 30 s over DAYS, a log random walk (1e-3 a trade) on a 1e-4 price grid."""
    rng = np.random.default_rng(seed)
    start = _ms(datetime(DAYS[0].year, DAYS[0].month, DAYS[0].day, tzinfo=timezone.utc))
    span = len(DAYS) * 86_400_000
    ts = np.sort(start + rng.integers(0, span, span // 30_000))
    price = np.round(10.0 * (seed + 1) * np.exp(np.cumsum(rng.normal(0, 1e-3, len(ts)))), 4)
    return pd.DataFrame({"trade_id": [f"{symbol}-{i}" for i in range(len(ts))], "ts": ts, "price": price,
                         "size": np.round(rng.uniform(0.01, 10, len(ts)), 2),
                         "side": np.where(rng.random(len(ts)) < 0.5, "buy", "sell")})


def build_labels(paths: Paths, cut_ms: int | None = None) -> pd.DataFrame:
    """labels_h12 (and only what it reads) built on the ticks before cut_ms, with each bar's close time."""
    for seed, symbol in enumerate(LABEL_SYMBOLS):
        ticks = walk_ticks(symbol, seed)
        write_trades(paths, symbol, ticks if cut_ms is None else ticks[ticks["ts"] < cut_ms])
    run_dbt(paths, "run", "--select", "+labels_h12")
    return labels_known_at_t(paths)


def labels_known_at_t(paths: Paths) -> pd.DataFrame:
    """The columns of labels_h12 known at the bar's close, with each bar's close time."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute(
            f"select symbol, timeframe, bar_at_ms, b.timeframe_ms, {', '.join(LABELS_KNOWN_AT_T)} from labels_h12 "
            "join int_bars_unioned b using (symbol, timeframe, bar_at_ms) order by symbol, timeframe, bar_at_ms"
        ).df()


@pytest.fixture(scope="module")
def walks_built(tmp_path_factory) -> Paths:
    """labels_h12 (and what it reads) built in one run on the whole walks (a first build: a table of every
    bar): a template that tests read or copy, never write."""
    paths = Paths(tmp_path_factory.mktemp("labels-all") / "data")
    write_walks(paths)
    run_dbt(paths, "run", "--select", "+labels_h12")
    return paths


@pytest.fixture(scope="module")
def labels_full(walks_built) -> pd.DataFrame:
    return labels_known_at_t(walks_built)


@pytest.mark.parametrize("cut", list(CUTS))
def test_label_columns_known_at_t_use_no_data_after_their_bar(tmp_path, labels_full, cut):
    """sigma_h and baseline_vol_12 of bars closed before the cut are identical bit for bit whether or not
    later ticks exist: sigma_h was stddev_samp over the engine's window tree, whose rounding followed the
    partitions' lengths, so values known at t changed in their last bit when later bars arrived."""
    t = _ms(CUTS[cut])
    part = build_labels(Paths(tmp_path / "data"), t)
    closed = part[part["bar_at_ms"] + part["timeframe_ms"] <= t].reset_index(drop=True)
    ref = labels_full.merge(closed[["symbol", "timeframe", "bar_at_ms"]], on=["symbol", "timeframe", "bar_at_ms"])
    assert set(closed["symbol"]) == set(LABEL_SYMBOLS) and len(ref) == len(closed)
    for column in LABELS_KNOWN_AT_T:
        assert closed[column].notna().sum() > 1000
        assert same_values(closed[column], ref[column]), (column, _debug(closed, ref, column))


def labels_table(paths: Paths) -> pd.DataFrame:
    """Every row and column of labels_h12, in key order."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.sql("select * from labels_h12 order by symbol, timeframe, bar_at_ms").df()


def write_walks(paths: Paths, cut_ms: int | None = None, leave_out: tuple[str, date] | None = None) -> None:
    """The walk symbols' ticks before cut_ms into the lake, without leave_out's (symbol, day) file."""
    for seed, symbol in enumerate(LABEL_SYMBOLS):
        ticks = walk_ticks(symbol, seed)
        write_trades(paths, symbol, ticks if cut_ms is None else ticks[ticks["ts"] < cut_ms])
    if leave_out:
        shutil.rmtree(paths.trades / f"symbol={leave_out[0]}" / f"date={leave_out[1].isoformat()}")


def assert_same_labels(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same keys, and every column equal bit for bit (NULLs included)."""
    assert len(got) == len(want) > 1000
    pd.testing.assert_frame_equal(got[["symbol", "timeframe", "bar_at_ms"]], want[["symbol", "timeframe", "bar_at_ms"]])
    different = [c for c in want.columns if not same_values(got[c], want[c])]
    assert different == [], [(c, _debug(got, want, c)) for c in different]


@pytest.fixture(scope="module")
def labels_all_columns(walks_built) -> pd.DataFrame:
    """labels_h12 of a full build of the walks (a first build: a table of every bar)."""
    return labels_table(walks_built)


def test_labels_continued_day_by_day_equal_a_full_rebuild(tmp_path, labels_all_columns):
    """labels_h12 is incremental: a day's run recomputes its window's labels and those of the 12 bars before
    it (they looked into the new day); bit for bit what a full build gives, every column."""
    paths = Paths(tmp_path / "data")
    write_walks(paths, _ms(datetime(2025, 3, 11, tzinfo=timezone.utc)))
    run_dbt(paths, "run", "--select", "+labels_h12")
    for day in DAYS[1:]:
        write_walks(paths)
        run_dbt(paths, "run", "--select", "+labels_h12", env=day_window_env(day))
    assert_same_labels(labels_table(paths), labels_all_columns)


def test_a_backfilled_day_leaves_the_labels_of_a_full_build(tmp_path, walks_built):
    """A day rebuilt after later days (its lake now without one symbol's file): its labels, the 12 bars'
    before and the 99 bars' after it whose look-behind reaches into it, are what a full build of that lake
    gives, and the removed bars' labels are gone."""
    paths, full = copy_tree(walks_built, tmp_path / "inc"), Paths(tmp_path / "full")  # every day built, then:
    middle, gone = DAYS[1], LABEL_SYMBOLS[2]
    write_walks(paths, leave_out=(gone, middle))
    run_dbt(paths, "run", "--select", "+labels_h12", env=day_window_env(middle))
    write_walks(full, leave_out=(gone, middle))
    run_dbt(full, "run", "--select", "+labels_h12")
    got, want = labels_table(paths), labels_table(full)
    start = _ms(datetime(middle.year, middle.month, middle.day, tzinfo=timezone.utc))
    assert not ((want["symbol"] == gone) & want["bar_at_ms"].between(start, start + 86_399_999)).any()
    assert_same_labels(got, want)


def test_a_labels_table_from_before_bar_date_is_recomputed_whole_once(tmp_path, walks_built, labels_all_columns):
    """A warehouse built before labels_h12 was incremental holds a full table without bar_date whose
    vol columns came from avg over the engine's window tree (last bits apart): its next day's run
    recomputes every row once (bar_date appended), then runs incrementally."""
    paths = copy_tree(walks_built, tmp_path / "data")  # a full build, made older below
    with duckdb.connect(str(paths.warehouse)) as con:  # the older table: no bar_date, other last bits
        con.execute("alter table labels_h12 drop column bar_date")
        con.execute("update labels_h12 set fwd_realized_vol_12 = fwd_realized_vol_12 * (1 + 2e-16), "
                    "baseline_vol_12 = baseline_vol_12 * (1 - 2e-16)")
    run_dbt(paths, "run", "--select", "labels_h12", env=day_window_env(DAYS[-1]))
    assert_same_labels(labels_table(paths), labels_all_columns)
    run_dbt(paths, "run", "--select", "labels_h12", env=day_window_env(DAYS[-1]))
    compiled = (paths.data_dir / "dbt_target" / "compiled" / "blofin_stack" / "models" / "labels" / "labels_h12.sql").read_text()
    assert "before_window" in compiled  # the run after it is incremental again
    assert_same_labels(labels_table(paths), labels_all_columns)


def _debug(got, full, f):
    g, w = got[f].to_numpy(float), full[f].to_numpy(float)
    bad = np.flatnonzero(~((g == w) | (np.isnan(g) & np.isnan(w))))
    return [(full["timeframe"][i], int(full["bar_at_ms"][i]), g[i], w[i]) for i in bad[:5]], len(bad)
