"""A failing dbt test stops everything downstream in that run and shows up as a failed asset check."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TEST_DAYS

from dagster_defs.runner import materialize_days
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.store import trades_partition, write_trades
from python_assets.ingest.synthetic import generate_ticks


@pytest.mark.slow
def test_bad_rows_that_bypass_ingestion_fail_the_check_and_block_the_report(data_dir, monkeypatch):
    monkeypatch.setenv("BLOFIN_SOURCE", "lake")
    day = TEST_DAYS[0]
    write_trades(data_dir, "BTC-USDT", generate_ticks("BTC-USDT", day), synthetic=True)  # the generator's ticks
    # every writer in the code base refuses a negative price (python_assets/lake/trade_rules.py), so the bad
    # row is put in by hand, as a tool writing Parquet files into the lake itself might
    target = trades_partition(data_dir, "BTC-USDT", day)
    table = pq.read_table(target)
    prices = table.column("price").to_pylist()
    prices[100] = -1.0
    write_table_atomic(table.set_column(table.schema.get_field_index("price"), "price", pa.array(prices)), target)
    result = materialize_days(day, day, raise_on_error=False)
    assert not result.success
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["expression_is_true_stg_trades_price_0_and_size_0_and_is_finite_price_and_is_finite_size_and_trade_date_epoch_ms_to_utc_date_traded_at_ms_"] is False
    materialized = {e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "stg_trades" in materialized
    assert not {"bars_1m", "daily_market_summary", "daily_report"} & materialized
    assert not (data_dir.reports / f"{day.isoformat()}.json").exists()
