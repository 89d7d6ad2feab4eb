"""The recorder's lake datasets in dbt (issue 22): feat_book against hand-computed book numbers and
the as-of rule (a later book is never used), recorder_coverage against hand-counted segments and gaps,
and the check that flags backtests over unusable symbol-days. One small lake, built once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import broken_rules, day_window_env, run_dbt, undocumented_relations

from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.research.fill_stress import stress_execution
from python_assets.research.tuner import Market
from python_assets.exchange.recorder_quality import backtests_over_unusable_days

D0 = 1_741_564_800_000  # 2025-03-10 00:00 UTC
DAY1, DAY2 = date(2025, 3, 10), date(2025, 3, 11)
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
SELECT = ("stg_books", "stg_recorder_segments", "stg_recorder_gaps", "stg_mark_prices", "recorder_coverage", "+feat_book")

# Book A (a sample at 01:15): mid 100, spread 2 bps. Distances from mid: bids 1, 5, 20, 40, 100 bps;
# asks 1, 12, 20, 45, 100 bps.
BOOK_A = {"bid": [(99.99, 2.0), (99.95, 3.0), (99.80, 5.0), (99.60, 7.0), (99.00, 11.0)],
          "ask": [(100.01, 1.0), (100.12, 4.0), (100.20, 6.0), (100.45, 8.0), (101.00, 13.0)]}
# Book B (a snapshot at 00:02:59.999, the last ms of the 00:02 bar), and a sample stamped the same ms that the
# snapshot must win over; book C (a sample stamped exactly 00:03:00, that bar's close = the 00:03 bar's first ms).
BOOK_B = {"bid": [(199.0, 1.0)], "ask": [(201.0, 3.0)]}
BOOK_B_SAMPLE = {"bid": [(150.0, 1.0)], "ask": [(151.0, 1.0)]}
BOOK_C = {"bid": [(299.0, 4.0)], "ask": [(300.0, 1.0)]}


def write(table: pa.Table | dict[str, list], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table if isinstance(table, pa.Table) else pa.table(table), path)


def book_rows(ts: int, kind: str, seq: int, book: dict[str, list[tuple[float, float]]]) -> list[tuple]:
    return [(ts, kind, seq, side, level, price, size)
            for side, levels in book.items() for level, (price, size) in enumerate(levels, start=1)]


def write_books(lake: Path, symbol: str, day: date, rows: list[tuple]) -> None:
    cols = list(zip(*rows))
    write(pa.table({"ts": pa.array(cols[0], pa.int64()), "kind": pa.array(cols[1], pa.string()),
                    "seq_id": pa.array(cols[2], pa.int64()), "side": pa.array(cols[3], pa.string()),
                    "level": pa.array(cols[4], pa.int32()), "price": pa.array(cols[5], pa.float64()),
                    "size": pa.array(cols[6], pa.float64())}),
          lake / "books" / f"symbol={symbol}" / f"date={day}" / "books.parquet")


def write_intervals(lake: Path, dataset: str, symbol: str, day: date, rows: list[dict]) -> None:
    """segments (dataset, start_ms, end_ms, session_id) or gaps (+ cause, status, recovered_rows, detail)."""
    name = {"recorder_segments": "segments", "recorder_gaps": "gaps"}[dataset]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.cast(pa.schema([(f.name, pa.int64() if f.name.endswith(("_ms", "_rows")) else pa.string())
                                         for f in table.schema])),
                   _mkdir(lake / dataset / f"symbol={symbol}" / f"date={day}") / f"{name}.parquet")


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def seg(dataset: str, start: int, end: int, session: str = "s1") -> dict:
    return {"dataset": dataset, "start_ms": start, "end_ms": end, "session_id": session}


def gap(dataset: str, start: int, end: int, cause: str, status: str) -> dict:
    return {"dataset": dataset, "start_ms": start, "end_ms": end, "cause": cause, "status": status,
            "recovered_rows": 5 if status == "recovered" else 0, "detail": ""}


def write_recorder_intervals(lake: Path) -> None:
    """The recorder's segments and gaps of ETH-USDT (DAY1, DAY2) and SOL-USDT (DAY1, one books segment into DAY2)."""
    # ETH-USDT, day 1: trades [0h, 10h) and [8h, 20h) overlap by 2 h (counted once), then [23h, 24h), the first
    # part of a segment across midnight that the recorder split; day 2 continues it [0h, 24h).
    write_intervals(lake, "recorder_segments", "ETH-USDT", DAY1, [
        seg("trades", D0, D0 + 10 * HOUR, "a"), seg("trades", D0 + 8 * HOUR, D0 + 20 * HOUR, "b"),
        seg("trades", D0 + 23 * HOUR, D0 + DAY, "c"), seg("books", D0 + 23 * HOUR, D0 + DAY, "c")])
    write_intervals(lake, "recorder_gaps", "ETH-USDT", DAY1, [
        gap("trades", D0 + 5 * HOUR, D0 + 5 * HOUR + 10_000, "trade_id_gap", "lost"),
        gap("trades", D0 + 20 * HOUR, D0 + 23 * HOUR, "disconnect", "recovered")])
    write_intervals(lake, "recorder_segments", "ETH-USDT", DAY2, [
        seg("trades", D0 + DAY, D0 + 2 * DAY, "c"), seg("books", D0 + DAY, D0 + 2 * DAY, "c")])
    write_intervals(lake, "recorder_gaps", "ETH-USDT", DAY2, [
        gap("trades", D0 + DAY + HOUR, D0 + DAY + HOUR + 30_000, "disconnect", "recovered"),
        gap("books", D0 + DAY + HOUR, D0 + DAY + HOUR + 30_000, "disconnect", "lost")])
    # SOL-USDT, day 1: a whole day of trades but one hole only partly back-filled; a books segment that
    # the recorder did not split crosses midnight (clipped into both days).
    write_intervals(lake, "recorder_segments", "SOL-USDT", DAY1, [
        seg("trades", D0, D0 + DAY), seg("books", D0 + 22 * HOUR, D0 + DAY + HOUR)])
    write_intervals(lake, "recorder_gaps", "SOL-USDT", DAY1, [
        gap("trades", D0 + 12 * HOUR, D0 + 12 * HOUR + 2_000, "stall", "partial")])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    paths = Paths((tmp_path_factory.mktemp("recorder") / "data").resolve())
    lake = paths.data_dir / "lake"
    # BTC-USDT: one trade per minute 00:00 .. 00:04 (five 1m bars) and the books A, B, C
    ts = [D0 + m * MIN + 1_000 for m in range(5)]
    write({"trade_id": [f"t{i}" for i in range(5)], "ts": pa.array(ts, pa.int64()), "price": [100.0] * 5,
           "size": [1.0] * 5, "side": ["buy"] * 5, "seq": pa.array(range(5), pa.int64())},
          lake / "trades" / "symbol=BTC-USDT" / f"date={DAY1}" / "trades.parquet")
    write_books(lake, "BTC-USDT", DAY1, book_rows(D0 + 75_000, "sample", 10, BOOK_A)
                + book_rows(D0 + 3 * MIN - 1, "snapshot", 20, BOOK_B)
                + book_rows(D0 + 3 * MIN - 1, "sample", 21, BOOK_B_SAMPLE) + book_rows(D0 + 3 * MIN, "sample", 22, BOOK_C))
    write({"ts": pa.array([D0 + 1_000], pa.int64()), "mark_price": [100.0], "index_price": pa.array([None], pa.float64())},
          lake / "mark_prices" / "symbol=BTC-USDT" / f"date={DAY1}" / "mark.parquet")
    write_recorder_intervals(lake)
    # the bars' own data tests are test_bars.py's business: only this issue's models are tested here
    run_dbt(paths, "build", "--select", *SELECT, "--exclude", "resource_type:test,path:models/bars",
            "--indirect-selection", "cautious", "--exclude-resource-type", "unit_test")
    return paths


def query(paths: Paths, sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def book_at(paths: Paths, bar_minute: int) -> dict:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        cur = con.execute("select * from feat_book where symbol = 'BTC-USDT' and timeframe = '1m' and bar_at_ms = ?",
                          [D0 + bar_minute * MIN])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone()))


def test_book_features_match_hand_computed_values(warehouse: Paths) -> None:
    b = book_at(warehouse, 1)  # closes 00:02:00: the last book is A (01:15)
    assert b["book_at_ms"] == D0 + 75_000 and b["book_kind"] == "sample" and b["book_age_ms"] == 45_000
    assert b["best_bid"] == 99.99 and b["best_ask"] == 100.01 and b["mid"] == pytest.approx(100.0)
    assert b["spread_bps"] == pytest.approx(2.0)  # 0.02 / 100 x 10^4
    assert b["microprice"] == pytest.approx((99.99 * 1 + 100.01 * 2) / 3)  # bid px x ask size + ask px x bid size
    assert (b["bid_depth_10bps"], b["ask_depth_10bps"]) == pytest.approx((2 + 3, 1))
    assert (b["bid_depth_25bps"], b["ask_depth_25bps"]) == pytest.approx((2 + 3 + 5, 1 + 4 + 6))
    assert (b["bid_depth_50bps"], b["ask_depth_50bps"]) == pytest.approx((2 + 3 + 5 + 7, 1 + 4 + 6 + 8))
    assert b["imbalance_10bps"] == pytest.approx((5 - 1) / 6)
    assert b["imbalance_l1"] == pytest.approx((2 - 1) / 3)
    assert (b["bid_levels"], b["ask_levels"], b["book_seq_id"]) == (5, 5, 10)


def test_book_is_taken_as_of_the_bar_close_never_later(warehouse: Paths) -> None:
    first = book_at(warehouse, 0)  # closes 00:01:00, before any book
    assert first["book_at_ms"] is None and first["mid"] is None and first["spread_bps"] is None
    # closes 00:03:00 (exclusive): the snapshot of its last ms, not C stamped at the close itself (the next bar's
    # first ms: a book then may already hold that bar's trades)
    at_close = book_at(warehouse, 2)
    assert at_close["book_at_ms"] == D0 + 3 * MIN - 1 and at_close["book_kind"] == "snapshot"
    assert at_close["book_age_ms"] == 1
    assert at_close["mid"] == pytest.approx(200.0) and at_close["imbalance_l1"] == pytest.approx((1 - 3) / 4)
    after = book_at(warehouse, 3)  # closes 00:04:00: C, 60 s old (the limit is inclusive)
    assert after["book_at_ms"] == D0 + 3 * MIN and after["mid"] == pytest.approx(299.5)
    stale = book_at(warehouse, 4)  # closes 00:05:00: C is 120 s old (> 60 s): no book
    assert stale["book_at_ms"] is None and stale["microprice"] is None
    assert query(warehouse, "select count(*) from feat_book where book_at_ms >= closes_at_ms") == [(0,)]
    assert query(warehouse, "select count(*) from feat_book where timeframe = '1m'") == [(5,)]


def test_the_spread_fill_takes_the_book_at_the_signal_bars_close_from_feat_book(warehouse: Paths) -> None:
    """The fill stress reads feat_book: the order filling on 1m bar t pays half the spread of the book at bar
    t-1's close, the snapshot B of bar 2's last ms for the fill on bar 3, never C stamped at bar 2's close."""
    with duckdb.connect(str(warehouse.warehouse), read_only=True) as con:
        frame = con.execute("select symbol, timeframe, bar_at_ms, open, high, low, close, volume from int_bars_unioned "
                            "where symbol = 'BTC-USDT' and timeframe = '1m' order by bar_at_ms").df()
        market = Market.from_frame(frame, "1m")
        ex = stress_execution(con, market)["BTC-USDT"]
    a, b, c = 0.02 / 100.0, 2.0 / 200.0, 1.0 / 299.5  # the books' spreads over their mids
    # no bar before the first; no book by the first bar's close and a flat minute: no estimate (NaN), so the
    # research bar's own range estimate fills (fills.execution_horizon)
    assert np.isnan(ex.spread[0]) and np.isnan(ex.spread[1])
    assert ex.spread[2:] == pytest.approx([a / 2, b / 2, c / 2], rel=1e-9)
    assert ex.from_book.tolist() == [False, False, True, True, True]


def coverage(paths: Paths) -> dict[tuple[str, str, str], dict]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        cur = con.execute("select * from recorder_coverage")
        names = [d[0] for d in cur.description]
        out = {}
        for row in cur.fetchall():
            r = dict(zip(names, row))
            out[(r["symbol"], r["coverage_date"].isoformat(), r["dataset"])] = r
        return out


def test_coverage_unions_overlapping_segments_and_clips_at_midnight(warehouse: Paths) -> None:
    cov = coverage(warehouse)
    assert set(cov) == {("ETH-USDT", "2025-03-10", "trades"), ("ETH-USDT", "2025-03-10", "books"),
                        ("ETH-USDT", "2025-03-11", "trades"), ("ETH-USDT", "2025-03-11", "books"),
                        ("SOL-USDT", "2025-03-10", "trades"), ("SOL-USDT", "2025-03-10", "books"),
                        ("SOL-USDT", "2025-03-11", "books")}  # BTC-USDT (no segments or gaps) has no row
    eth1 = cov[("ETH-USDT", "2025-03-10", "trades")]
    assert eth1["seconds_covered"] == 21 * 3600  # 0-20h (0-10h and 8-20h overlap) + 23-24h
    assert eth1["covered_intervals"] == 2
    assert cov[("ETH-USDT", "2025-03-11", "trades")]["seconds_covered"] == 86_400
    assert cov[("SOL-USDT", "2025-03-10", "books")]["seconds_covered"] == 2 * 3600  # 22h-24h of day 1
    assert cov[("SOL-USDT", "2025-03-11", "books")]["seconds_covered"] == 3600  # 0h-1h of day 2


def test_coverage_counts_lost_and_recovered_gaps(warehouse: Paths) -> None:
    cov = coverage(warehouse)
    eth1 = cov[("ETH-USDT", "2025-03-10", "trades")]
    assert (eth1["gap_count"], eth1["recovered_gaps"], eth1["lost_gaps"], eth1["partial_gaps"]) == (2, 1, 1, 0)
    assert eth1["gap_seconds"] == 10 + 3 * 3600 and eth1["lost_seconds"] == 10
    assert eth1["gaps"] == "05:00:00-05:00:10 trade_id_gap lost; 20:00:00-23:00:00 disconnect recovered"
    eth2_books = cov[("ETH-USDT", "2025-03-11", "books")]
    assert (eth2_books["gap_count"], eth2_books["lost_gaps"], eth2_books["lost_seconds"]) == (1, 1, 30)
    assert cov[("ETH-USDT", "2025-03-11", "trades")]["gaps"] == "01:00:00-01:00:30 disconnect recovered"
    assert cov[("SOL-USDT", "2025-03-10", "books")]["gaps"] is None


def test_is_usable_needs_recovered_trades_and_enough_trades_coverage(warehouse: Paths) -> None:
    cov = coverage(warehouse)
    usable = {(s, d): r["is_usable"] for (s, d, _), r in cov.items()}
    # ETH day 1: a lost trades hole and 87.5% coverage; day 2: full, its trades hole recovered (a lost
    # books hole does not matter); SOL day 1: full but a partial trades hole; SOL day 2: no trades recorded
    assert usable == {("ETH-USDT", "2025-03-10"): False, ("ETH-USDT", "2025-03-11"): True,
                      ("SOL-USDT", "2025-03-10"): False, ("SOL-USDT", "2025-03-11"): False}
    assert "not recovered" in cov[("SOL-USDT", "2025-03-10", "books")]["unusable_reason"]
    assert "0.0% of the day" in cov[("SOL-USDT", "2025-03-11", "books")]["unusable_reason"]
    assert cov[("ETH-USDT", "2025-03-11", "books")]["unusable_reason"] is None


def test_backtests_over_unusable_days_are_flagged(warehouse: Paths) -> None:
    with duckdb.connect(str(warehouse.warehouse)) as con:
        con.execute("""create temp table strategy_backtest_results as select * from (values
            ('over_hole', 'ETH-USDT', date '2025-03-11', timestamptz '2025-03-09 00:00:00+00', timestamptz '2025-03-11 00:00:00+00'),
            ('after_hole', 'ETH-USDT', date '2025-03-11', timestamptz '2025-03-11 00:00:00+00', timestamptz '2025-03-12 00:00:00+00'),
            ('no_recorder', 'BTC-USDT', date '2025-03-11', timestamptz '2025-03-01 00:00:00+00', timestamptz '2025-03-12 00:00:00+00'),
            ('sol', 'SOL-USDT', date '2025-03-10', timestamptz '2025-03-10 12:00:00+00', timestamptz '2025-03-10 13:00:00+00'))
            as t(backtest_id, symbol, partition_date, window_start, window_end)""")
        flagged = backtests_over_unusable_days(con)
        assert flagged == [{"backtest_id": "over_hole", "symbol": "ETH-USDT", "unusable_days": ["2025-03-10"]},
                           {"backtest_id": "sol", "symbol": "SOL-USDT", "unusable_days": ["2025-03-10"]}]
        assert backtests_over_unusable_days(con, DAY2) == flagged[:1]


def test_every_built_relation_and_column_is_documented(warehouse: Paths) -> None:
    # the project's manifest (a build through blofin-dbt writes none in its target dir; the project is the same)
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    with duckdb.connect(str(warehouse.warehouse), read_only=True) as con:
        assert undocumented_relations(manifest, con) == []


def test_a_book_stamped_at_midnight_is_not_the_book_of_the_bars_closing_then(data_dir: Paths) -> None:
    """A book stamped exactly 00:00:00.000 is the next day's first millisecond (closes_at_ms is the exclusive end):
    every bar closing then takes the 23:59:30 book, in a full build and in the day's incremental run (the
    midnight book was once taken: up to 1 ms of lookahead)."""
    lake = data_dir.data_dir / "lake"
    minutes = range(-10, 10)  # one trade a minute, 23:50 .. 00:09 around the midnight ending DAY1
    write({"trade_id": [f"t{m}" for m in minutes], "ts": pa.array([D0 + DAY + m * MIN + 5_000 for m in minutes], pa.int64()),
           "price": [100.0 + m for m in minutes], "size": [1.0] * 20, "side": ["buy"] * 20,
           "seq": pa.array(range(20), pa.int64())}, lake / "trades" / "symbol=BTC-USDT" / f"date={DAY1}" / "trades.parquet")
    write_books(lake, "BTC-USDT", DAY1, book_rows(D0 + DAY - 30_000, "snapshot", 1, {"bid": [(99.0, 1.0)], "ask": [(101.0, 1.0)]}))
    write_books(lake, "BTC-USDT", DAY2, book_rows(D0 + DAY, "snapshot", 2, {"bid": [(199.0, 1.0)], "ask": [(201.0, 1.0)]}))
    at_midnight = f"select timeframe, book_at_ms, mid from feat_book where closes_at_ms = {D0 + DAY} order by timeframe"
    run_dbt(data_dir, "run", "--select", "+feat_book")
    full = query(data_dir, at_midnight)
    assert len(full) == 6 and {(ms, mid) for _, ms, mid in full} == {(D0 + DAY - 30_000, 100.0)}  # 1m .. 1d
    run_dbt(data_dir, "run", "--select", "+feat_book", env=day_window_env(DAY1))  # the daily run of DAY1
    assert query(data_dir, at_midnight) == full


def test_book_depth_is_the_same_bits_whatever_order_the_levels_are_stored_in(data_dir: Paths) -> None:
    """A plain DOUBLE sum adds a book's levels in the order the join hands them over: sizes 2^53, 1, 1 make
    2^53 one way and 2^53 + 2 the other; ordered_agg adds them in level order."""
    lake = data_dir.data_dir / "lake"
    write({"trade_id": ["t0"], "ts": pa.array([D0 + 5_000], pa.int64()), "price": [100.0], "size": [1.0],
           "side": ["buy"], "seq": pa.array([0], pa.int64())},
          lake / "trades" / "symbol=BTC-USDT" / f"date={DAY1}" / "trades.parquet")
    rows = book_rows(D0 + 30_000, "snapshot", 1, {"bid": [(99.99, 2.0 ** 53), (99.98, 1.0), (99.97, 1.0)],
                                                   "ask": [(100.01, 1.0), (100.02, 1.0), (100.03, 2.0 ** 53)]})
    depth = "select bid_depth_50bps, ask_depth_50bps from feat_book where timeframe = '1m'"
    write_books(lake, "BTC-USDT", DAY1, rows)
    run_dbt(data_dir, "run", "--select", "+feat_book")
    forward = query(data_dir, depth)
    write_books(lake, "BTC-USDT", DAY1, rows[::-1])
    run_dbt(data_dir, "run", "--select", "feat_book", "--full-refresh")
    assert len(forward) == 1 and query(data_dir, depth) == forward


@pytest.mark.parametrize("share, shown", [(0.57, "(< 57.0%)"), (0.99, "(< 99.0%)"), (0.995, "(< 99.5%)")])
def test_the_unusable_reason_shows_the_threshold_as_set(data_dir: Paths, share: float, shown: str) -> None:
    """0.57 * 100 is 56.99999999999999 in floating point: the reason rounds it, as a person wrote it."""
    run_dbt(data_dir, "compile", "--quiet", "--select", "recorder_coverage",
            "--vars", json.dumps({"recorder_min_trades_coverage": share}))
    sql = next((data_dir.data_dir / "dbt_target" / "compiled").rglob("recorder_coverage.sql")).read_text()
    assert f"% of the day {shown}'" in sql


def test_an_interval_crossing_two_midnights_fails_the_staging_row_rules(data_dir: Paths) -> None:
    """recorder_coverage counts an interval in its start's day and the next only (the recorder splits at midnight;
    an incremental run reads one day back): a hand-made gap of 22:00 on DAY1 to 02:00 two days later would leave
    the middle day without a row, counted usable. The staging check says so instead; one midnight passes."""
    lake = data_dir.data_dir / "lake"
    write_intervals(lake, "recorder_gaps", "ETH-USDT", DAY1, [
        gap("trades", D0 + 22 * HOUR, D0 + 2 * DAY + 2 * HOUR, "disconnect", "lost"),
        gap("trades", D0 + 23 * HOUR, D0 + DAY + HOUR, "disconnect", "lost")])
    write_intervals(lake, "recorder_segments", "ETH-USDT", DAY1, [
        seg("trades", D0, D0 + 22 * HOUR), seg("trades", D0 + HOUR, D0 + DAY)])
    target = data_dir.data_dir / "dbt_target"
    with pytest.raises(AssertionError, match="stg_recorder_gaps_row_rules"):
        run_dbt(data_dir, "build", "--select", "stg_recorder_gaps", "stg_recorder_segments", target=target)
    assert broken_rules(data_dir, target, "stg_recorder_gaps_row_rules") == [("ETH-USDT", "crosses_at_most_one_midnight")]
    assert broken_rules(data_dir, target, "stg_recorder_segments_row_rules") == []
