"""The training rows a partition may see: bars closed by its end, labels only once their horizon closed."""

from __future__ import annotations

import re
from contextlib import contextmanager

import duckdb
import numpy as np

from python_assets.ml import dataset
from python_assets.ml.dataset import LABELS, export_training_set, join_sides_kept, training_select

BAR_MS = 300_000
END_MS = 100 * BAR_MS  # the partition ends after bar 99


def training_table(con: duckdb.DuckDBPyConnection, bars: int = 130) -> None:
    """One symbol's 5m rows with a feature, the baseline and labels known 12 bars after each bar closes."""
    labels = ", ".join(f"i * 1.0 as {c}" for c in LABELS)
    con.execute(f"""create table ml_training_set as
        select 'BTC-USDT' as symbol, '5m' as timeframe, i * {BAR_MS} as bar_at_ms, i * 2.0 as rsi_14,
               0.1 as baseline_vol_12, 100.0 + i as close, {labels},
               case when i + 12 < {bars} then (i + 13) * {BAR_MS} end as label_known_at_ms
        from range({bars}) as t(i)""")


def test_a_partition_sees_bars_closed_by_its_end_and_labels_known_by_it():
    with duckdb.connect() as con:
        training_table(con)
        sql, params = training_select("5m", ["rsi_14"], BAR_MS, END_MS)
        frame = con.execute(sql, params).df()
    assert frame["bar_at_ms"].max() + BAR_MS == END_MS and len(frame) == 100
    known = frame["bar_at_ms"] + 13 * BAR_MS <= END_MS  # the label of bar t closes with bar t+12
    for label in LABELS:
        assert frame.loc[known, label].notna().all() and frame.loc[~known, label].isna().all(), label
    assert int(known.sum()) == 100 - 12
    np.testing.assert_array_equal(frame["rsi_14"], np.arange(100) * 2.0)


def test_later_rows_do_not_change_what_a_partition_sees():
    with duckdb.connect() as short, duckdb.connect() as long:
        training_table(short, bars=100)  # the warehouse as it was at the partition's end
        training_table(long, bars=400)  # later days already built
        sql, params = training_select("5m", ["rsi_14"], BAR_MS, END_MS)
        a, b = short.execute(sql, params).df(), long.execute(sql, params).df()
    assert a.equals(b)


def test_the_trailing_window_keeps_bars_from_its_start_and_earlier_history_changes_nothing():
    start = 40 * BAR_MS
    with duckdb.connect() as con:
        training_table(con)
        sql, params = training_select("5m", ["rsi_14"], BAR_MS, END_MS, start_ms=start)
        frame = con.execute(sql, params).df()
        full = con.execute(*training_select("5m", ["rsi_14"], BAR_MS, END_MS)).df()
    np.testing.assert_array_equal(frame["bar_at_ms"], np.arange(40, 100) * BAR_MS)
    # the window's rows are exactly the full export's rows from its start: same labels known, same values
    assert frame.equals(full[full["bar_at_ms"] >= start].reset_index(drop=True))


def test_a_scoring_only_export_keeps_the_days_bars_and_each_symbols_newest_bar():
    """A day whose models all score with saved versions exports the day's rows and each symbol's newest bar
    (what the models score), here ETH's from before the day: it has a gap."""
    day_from = 88 * BAR_MS
    with duckdb.connect() as con:
        training_table(con)
        con.execute(f"insert into ml_training_set by name select 'ETH-USDT' as symbol, timeframe, bar_at_ms, rsi_14, "
                    f"baseline_vol_12, close, label_known_at_ms, {', '.join(LABELS)} from ml_training_set where bar_at_ms < 50 * {BAR_MS}")
        full = con.execute(*training_select("5m", ["rsi_14"], BAR_MS, END_MS)).df()
        sql, params = training_select("5m", ["rsi_14"], BAR_MS, END_MS, score_from_ms=day_from)
        scoring = con.execute(sql, params).df()
    newest = full.groupby("symbol")["bar_at_ms"].transform("max") == full["bar_at_ms"]
    expected = full[(full["bar_at_ms"] >= day_from) | newest].reset_index(drop=True)
    assert scoring.equals(expected)
    assert sorted(scoring.loc[scoring["symbol"] == "ETH-USDT", "bar_at_ms"]) == [49 * BAR_MS]
    assert (scoring["symbol"] == "BTC-USDT").sum() == 12  # bars 88..99


FAMILIES = ("fa", "fb", "fc", "fd")


def features_warehouse(path) -> None:
    """A warehouse shaped like dbt's: ml_training_set joins the labels to a features view that LEFT JOINs
    family tables onto the bars, three timeframes of 20,000 bars (enough rows for DuckDB to reorder them)."""
    labels = ", ".join(f"close * 0.5 as {c}" for c in LABELS)
    with duckdb.connect(str(path)) as con:
        con.execute("create table bars as select 'S' || (i % 3) as symbol, tf as timeframe, i * 60000 as bar_at_ms, "
                    "i * 1.0 as close from range(20000) as t(i), (values ('1m'), ('5m'), ('1h')) as v(tf)")
        for f in FAMILIES:
            con.execute(f"create table {f} as select symbol, timeframe, bar_at_ms, close * 2 as {f}_x from bars")
        con.execute(f"create table labels_h12 as select symbol, timeframe, bar_at_ms, 0.1 as baseline_vol_12, {labels}, "
                    f"bar_at_ms + 13 * {BAR_MS} as label_known_at_ms from bars")
        joins = " ".join(f"left join {f} using (symbol, timeframe, bar_at_ms)" for f in FAMILIES)
        con.execute(f"create view features as select bars.*, {', '.join(f + '_x' for f in FAMILIES)} from bars {joins}")
        con.execute("create view ml_training_set as select features.*, labels.* exclude (symbol, timeframe, bar_at_ms) "
                    "from features inner join labels_h12 as labels using (symbol, timeframe, bar_at_ms)")


def join_types(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[str]:
    return re.findall(r"Join Type: (\w+)", con.execute(f"explain {sql}", params).fetchall()[0][1])


def test_the_export_builds_each_hash_join_on_its_family_and_keeps_the_rows(tmp_path, monkeypatch):
    """Left to itself DuckDB makes the later family joins RIGHT joins whose hash tables hold the growing
    left side (the export of 120 days of the demo: ~145 MiB more); the export keeps them as written while it
    runs (the plan inside it: all LEFT), writes the rows the plain query returns, and then gives the
    database its setting back (every connection to the file shares it)."""
    warehouse, out = tmp_path / "warehouse.duckdb", tmp_path / "ml_dataset.parquet"
    features_warehouse(warehouse)
    names = [f"{f}_x" for f in FAMILIES]
    sql, params = training_select("5m", names, BAR_MS, 15_000 * 60_000, 1_000 * 60_000)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert "RIGHT" in join_types(con, sql, params)  # the shape reproduces the reordering
        want = con.execute(sql, params).fetchall()
    plans = []

    def kept(con):
        with join_sides_kept(con):
            plans.append(join_types(con, sql, params))
            yield

    monkeypatch.setattr(dataset, "join_sides_kept", contextmanager(kept))
    rows = export_training_set(warehouse, "5m", names, out, BAR_MS, 15_000 * 60_000, 1_000 * 60_000)
    assert plans and sorted(plans[0]) == ["INNER"] + ["LEFT"] * len(FAMILIES)  # INNER: the labels' join
    assert rows == len(want) > 1000
    with duckdb.connect() as con:
        assert con.execute(f"select * from read_parquet('{out}')").fetchall() == want
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set disabled_optimizers = 'join_order'")
        with join_sides_kept(con):
            assert con.execute("select current_setting('disabled_optimizers')").fetchone()[0] == "join_order,build_side_probe_side"
        assert con.execute("select current_setting('disabled_optimizers')").fetchone()[0] == "join_order"
