"""Instrument snapshots in the lake -> stg_instruments -> dim_instruments (point-in-time versions), on
hand-built daily files (the empty relation without files is built by tests/dbt/test_unit_tests.py)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import broken_rules, run_dbt

from python_assets.config import Paths

DAY_MS = 86_400_000
D0 = 1_741_564_800_000  # 2025-03-10 00:00 UTC
SCHEMA = pa.schema([("symbol", pa.string()), ("snapshot_ms", pa.int64()), ("contract_value", pa.float64()),
                    ("lot_size", pa.float64()), ("min_size", pa.float64()), ("tick_size", pa.float64()),
                    ("max_leverage", pa.float64()), ("funding_interval_hours", pa.int32()), ("status", pa.string())])


def write_snapshot(paths: Paths, day: str, rows: list[tuple]) -> None:
    folder = paths.lake / "instruments" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in rows], schema=SCHEMA),
                   folder / "instruments.parquet")


def dim_rows(paths: Paths) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute("select symbol, version, lot_size, min_size, funding_interval_hours, valid_from_ms, "
                           "valid_to_ms, is_current from dim_instruments order by symbol, version").fetchall()


def test_daily_snapshots_become_versions_only_when_an_attribute_changes(data_dir: Paths):
    btc = ("BTC-USDT", 0.001, 1.0, 1.0, 0.1, 100.0, 8, "live")
    eth_1h = ("ETH-USDT", 0.01, 1.0, 2.0, 0.01, 50.0, 1, "live")
    for k, (btc_lot, eth) in enumerate([(1.0, eth_1h), (1.0, eth_1h), (0.1, eth_1h)]):
        day = f"2025-03-{10 + k}"
        ts = D0 + k * DAY_MS + 60_000
        write_snapshot(data_dir, day, [(btc[0], ts, btc[1], btc_lot, *btc[3:]), (eth[0], ts, *eth[1:])])
    run_dbt(data_dir, "build", "--quiet", "--select", "stg_instruments", "dim_instruments")
    t0, t2 = D0 + 60_000, D0 + 2 * DAY_MS + 60_000
    assert dim_rows(data_dir) == [
        ("BTC-USDT", 1, 1.0, 1.0, 8, t0, t2, False),
        ("BTC-USDT", 2, 0.1, 1.0, 8, t2, None, True),
        ("ETH-USDT", 1, 1.0, 2.0, 1, t0, None, True),
    ]
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'dim_instruments'").fetchall())
    assert types["valid_from_ms"] == "BIGINT" and types["lot_size"] == "DOUBLE" and types["version"] == "INTEGER"


def test_a_snapshot_breaking_the_spec_rules_fails_one_check_naming_each_broken_rule(data_dir: Paths):
    """stg_instruments' row rules (tests/generic/row_rules.sql): a zero lot, a negative minimum size, a
    missing contract value (NULL breaks a rule, as in expression_is_true) each fail, in one check whose
    failing rows say which rules they broke; a good row passes."""
    good = ("BTC-USDT", D0 + 60_000, 0.001, 1.0, 1.0, 0.1, 100.0, 8, "live")
    write_snapshot(data_dir, "2025-03-10", [good, ("ETH-USDT", D0, 0.01, 0.0, -1.0, 0.01, 50.0, 8, "live"),
                                            ("SOL-USDT", D0, None, 1.0, 1.0, 0.01, 20.0, 8, "live")])
    target = data_dir.data_dir / "dbt_target"
    with pytest.raises(AssertionError, match=r"(?s)stg_instruments_row_rules.*Got 2 results"):
        run_dbt(data_dir, "build", "--select", "stg_instruments", target=target)
    assert dict(broken_rules(data_dir, target, "stg_instruments_row_rules")) == {"ETH-USDT": "lot_size_positive, min_size_not_negative", "SOL-USDT": "contract_value_positive"}
