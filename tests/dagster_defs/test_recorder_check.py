"""The asset check on strategy_backtest_results warns about backtests over symbol-days the live
recorder left unusable, and passes where there is no recorder data (the demo)."""

from __future__ import annotations

import dagster as dg
import duckdb

from dagster_defs.checks import backtests_avoid_unusable_recorder_days
from dagster_defs.resources import Warehouse
from python_assets.config import Paths

BACKTESTS = """create table strategy_backtest_results as select * from (values
    ('spans_hole', 'ETH-USDT', date '2025-03-11', timestamptz '2025-03-09 00:00:00+00', timestamptz '2025-03-12 00:00:00+00'),
    ('clean', 'BTC-USDT', date '2025-03-11', timestamptz '2025-03-09 00:00:00+00', timestamptz '2025-03-12 00:00:00+00'))
    as t(backtest_id, symbol, partition_date, window_start, window_end)"""


def run_check(paths: Paths, coverage_rows: str) -> dg.AssetCheckResult:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute(BACKTESTS)
        con.execute(f"""create table recorder_coverage as select * from (values {coverage_rows})
                        as t(symbol, coverage_date, dataset, is_usable, unusable_reason)""")
    context = dg.build_asset_check_context(resources={"warehouse": Warehouse()})
    return backtests_avoid_unusable_recorder_days(context)


def test_warns_about_a_backtest_over_an_unusable_day(data_dir: Paths) -> None:
    result = run_check(data_dir, "('ETH-USDT', date '2025-03-10', 'trades', false, '2 gaps not recovered'), "
                                 "('ETH-USDT', date '2025-03-11', 'trades', true, null), "
                                 "('BTC-USDT', date '2025-03-12', 'trades', false, 'x')")  # after the window ends
    assert result.passed is False and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["flagged_backtests"].value == 1
    assert result.metadata["backtests"].value == [{"backtest_id": "spans_hole", "symbol": "ETH-USDT",
                                                   "unusable_days": ["2025-03-10"]}]
    # the UI says why: the symbol, how many backtests, the day and the recorder's reason
    assert result.description == ("ETH-USDT: 1 backtest spans 2025-03-10 (2 gaps not recovered), "
                                  "a day the recorder left unusable")


def test_passes_without_recorder_data(data_dir: Paths) -> None:
    result = run_check(data_dir, "(null, null, null, null, null)")
    assert result.passed is True and result.description is None
