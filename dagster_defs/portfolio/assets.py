"""The portfolio backtest in the daily graph: after strategy_ranking, the day's active designs run on
every symbol and combined into one account per allocation rule; then the portfolio marts (dbt)."""

import dagster as dg
from pydantic import Field

from dagster_defs.partitions import daily_partitions
from dagster_defs.research.assets import day_ends
from dagster_defs.resources import WAREHOUSE_POOL, Warehouse
from python_assets.backtest.portfolio import PortfolioConfig
from python_assets.backtest.portfolio_daily import PortfolioDayConfig
from python_assets.platform.fanout import in_child
from python_assets.platform.logs import log_event
from python_assets.research.step import portfolio_days
from python_assets.platform.timeframes import HOUR_MS


class PortfolioRunConfig(dg.Config):
    """The allocation limits (max_weight and gross_leverage > 0, lookback_bars >= 2, as PortfolioConfig requires)
    and the rebalance period in hours (>= 1; 24 = at the last close of each UTC day). The market is the one
    the day's research recorded (its timeframe and window: research_markets), not a setting of its own: a
    portfolio timeframe of its own ran the designs on bars they were not tuned on when only the research's
    was set (1h designs at 15m: Sharpe +28 -> -17). Checked before any step runs."""

    rebalance_hours: int = Field(default=24, ge=1)
    lookback_bars: int = Field(default=PortfolioConfig.lookback, ge=2)
    min_history: int = Field(default=PortfolioConfig.min_history, ge=0)
    max_weight: float = Field(default=PortfolioConfig.max_weight, gt=0, allow_inf_nan=False)
    gross_leverage: float = Field(default=PortfolioConfig.gross_leverage, gt=0, allow_inf_nan=False)

    def day_config(self) -> PortfolioDayConfig:
        return PortfolioDayConfig(rebalance_ms=self.rebalance_hours * HOUR_MS, lookback=self.lookback_bars,
                                  min_history=self.min_history, max_weight=self.max_weight,
                                  gross_leverage=self.gross_leverage)


@dg.asset(deps=[dg.AssetKey("strategy_ranking")], partitions_def=daily_partitions,
          backfill_policy=dg.BackfillPolicy.single_run(), group_name="research", kinds={"python", "duckdb"},
          pool=WAREHOUSE_POOL)
def portfolio(context: dg.AssetExecutionContext, config: PortfolioRunConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """One account over the active ranked strategies (equal, inverse-vol, risk-parity weights)."""
    with warehouse.locked() as paths:  # in a child (its own connection): the engine's imports leave with it
        summary = in_child(portfolio_days, paths.warehouse, day_ends(context), config.day_config(), warehouse.markets())
    log_event("portfolio_done", **summary)
    return dg.MaterializeResult(metadata=summary)


defs = dg.Definitions(assets=[portfolio])
