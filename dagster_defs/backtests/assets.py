"""Backtest assets: publish the strategy specs (compiled to SQL for dbt's backtest_signals), then run
every active strategy on every symbol over the partition's trailing window into the ledger."""

from datetime import timedelta

import dagster as dg
from pydantic import Field
from dagster_dbt import get_asset_key_for_model

from dagster_defs.dbt.assets import warehouse_dbt_assets
from dagster_defs.partitions import daily_partitions, day_start_ms, window_days
from dagster_defs.resources import WAREHOUSE_POOL, MlByDay, SymbolFanout, Warehouse
from python_assets.backtest import ledger
from python_assets.backtest.catalog import active_specs, feature_columns, publish_specs, strategy_folder
from python_assets.backtest.defaults import MAKER_FEE, SLIPPAGE_BPS, TAKER_FEE
from python_assets.backtest.engine import Costs
from python_assets.backtest.ml_strategies import run_ml_strategies
from python_assets.backtest.runner import BacktestJob, WalkForward, run_job
from python_assets.backtest.spec import resolve_params
from python_assets.platform.logs import log_event
from python_assets.platform.timeframes import DAY_MS, MAX_LOOKBACK_DAYS


class BacktestConfig(dg.Config):
    """Trailing window (days >= 1) and walk-forward folds (train and test days > 0) of the daily backtest;
    BloFin taker/maker defaults (fees and slippage >= 0). Checked before any step runs."""

    lookback_days: int = Field(default=30, ge=1, le=MAX_LOOKBACK_DAYS)
    train_days: float = Field(default=14.0, gt=0, allow_inf_nan=False)
    test_days: float = Field(default=4.0, gt=0, allow_inf_nan=False)
    anchored: bool = False
    taker_fee: float = Field(default=TAKER_FEE, ge=0, allow_inf_nan=False)
    maker_fee: float = Field(default=MAKER_FEE, ge=0, allow_inf_nan=False)
    slippage_bps: float = Field(default=SLIPPAGE_BPS, ge=0, allow_inf_nan=False)


@dg.asset(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run(), group_name="backtests",
          pool=WAREHOUSE_POOL,
          kinds={"python", "duckdb"},
          check_specs=[dg.AssetCheckSpec(
              "strategy_files_all_valid", asset="strategy_specs",
              description="Every YAML file in python_assets/backtest/strategies validates; one that does not is left "
                          "out of the day (the other specs run) and named here with its problem.")])
def strategy_specs(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Validated YAML specs (python_assets/backtest/strategies) compiled to SQL in the strategy_specs table; a
    file that does not validate is left out, like an inactive spec, with a failed non-blocking check naming it
    (one bad user file stopped the whole day: bars, features, ML, research and the report were not built)."""
    folder = strategy_folder()
    with warehouse.connect() as con:
        ids = publish_specs(con, folder.active)
    lines = folder.lines
    for line in lines:
        context.log.warning(f"strategy file left out: {line}")
    log_event("strategy_specs_published", strategies=ids, left_out=lines)
    check = dg.AssetCheckResult(check_name="strategy_files_all_valid", passed=not lines,
                                severity=dg.AssetCheckSeverity.WARN, description="; ".join(lines) or None,
                                metadata={"left_out": dg.MetadataValue.json(folder.left_out)})
    return dg.MaterializeResult(metadata={"strategies": ids, "count": len(ids),
                                          **({"left_out": "\n".join(lines)} if lines else {})},
                                check_results=[check])


@dg.asset(
    deps=[get_asset_key_for_model([warehouse_dbt_assets], "backtest_signals"),
          get_asset_key_for_model([warehouse_dbt_assets], "int_bars_unioned"),
          get_asset_key_for_model([warehouse_dbt_assets], "stg_funding_rates"),
          get_asset_key_for_model([warehouse_dbt_assets], "dim_instruments")],
    ins={"ml_results": dg.AssetIn()},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="backtests",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def backtest_ledger(context: dg.AssetExecutionContext, config: BacktestConfig,
                    warehouse: Warehouse, symbol_fanout: SymbolFanout, ml_results: MlByDay) -> dg.MaterializeResult:
    """Every active strategy on every symbol over the trailing window ending with the partition day
    (the full window plus walk-forward folds), and the ML strategies over the models' out-of-sample
    span (kind 'ml'); a rerun of a day replaces that day's backtests. The symbols of each strategy run
    side by side on symbol_fanout's workers; this step alone reads and writes the warehouse."""
    specs = active_specs()
    costs = Costs(config.taker_fee, config.maker_fee, config.slippage_bps)
    wf = WalkForward(config.train_days, config.test_days, config.anchored)
    markets = warehouse.markets()  # a spot symbol is traded long only, unlevered, unfunded (backtest/markets.py)
    written = 0
    with warehouse.connect() as con, symbol_fanout.mapper() as map_batches:
        for day in window_days(*context.partition_time_window):
            end_ms = day_start_ms(day + timedelta(days=1))
            ledger.delete_runs(con, "kind in ('daily', 'ml') and partition_date = ?", [day])
            shared: dict = {}  # funding and contract specs of the day's window, read once for all strategies
            for spec in specs.values():
                job = BacktestJob(
                    spec=spec, grid=[resolve_params(spec, {})], symbols=None, timeframe=spec.timeframe,
                    start_ms=end_ms - config.lookback_days * DAY_MS, end_ms=end_ms, costs=costs,
                    run_id=f"daily-{day.isoformat()}", kind="daily", source="warehouse",
                    signals_relation="backtest_signals", walk_forward=wf, partition_date=day.isoformat(),
                    columns=feature_columns(), markets=markets,
                )
                written += len(run_job(con, job, map_batches, shared))
            oos = ml_results.get(day.isoformat())  # the day's ML value, when that day's models ran
            if oos is not None and oos.timeframe and not oos.frame.empty:
                written += len(run_ml_strategies(con, oos.frame, oos.timeframe, costs, day.isoformat(), markets))
            log_event("backtests_written", day=day.isoformat(), backtests=written)
    return dg.MaterializeResult(metadata={"backtests": written})


defs = dg.Definitions(assets=[strategy_specs, backtest_ledger])
