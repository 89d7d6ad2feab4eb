"""Strategy research in the daily graph: design -> tune -> rank (three assets, one step that runs them day
after day), over the trailing window of warehouse features ending with the partition day."""

from datetime import date, timedelta

import dagster as dg
from pydantic import Field, field_validator
from dagster_dbt import get_asset_key_for_model

from dagster_defs.computed_days import mark_days_computed
from dagster_defs.dbt.assets import warehouse_dbt_assets
from dagster_defs.partitions import daily_partitions, day_start_ms, window_days
from dagster_defs.resources import WAREHOUSE_POOL, SymbolFanout, Warehouse
from python_assets.platform.fanout import in_child
from python_assets.platform.logs import log_event
from python_assets.platform.timeframes import MAX_LOOKBACK_DAYS, known_timeframe
from python_assets.research.daily import ResearchConfig
from python_assets.research.markets import LOOKBACK_DAYS
from python_assets.research.montecarlo import MonteCarloConfig
from python_assets.research.fill_stress import TOP_K
from python_assets.research.ranker import RankConfig
from python_assets.research.step import fill_stress_days, research_days
from python_assets.warehouse.connection import connect_warehouse


class ResearchRunConfig(dg.Config):
    """Seeded search on the features of one timeframe (one of seeds/timeframes.csv) over the trailing window;
    trials by count (reruns store the same trials), budget_seconds only a guard that fails the step when tuning
    runs far too long. The portfolio and the fill stress run each day on the market its research recorded
    (timeframe and lookback_days: research_markets), so the three steps cannot disagree. Each field's range
    is checked before any step runs (run_config.run_config_problem) and again when the step builds it."""

    seed: int = ResearchConfig.seed
    timeframe: str = ResearchConfig.timeframe
    lookback_days: int = Field(default=LOOKBACK_DAYS, ge=1, le=MAX_LOOKBACK_DAYS)
    trials_per_design: int = Field(default=ResearchConfig.trials_per_design, ge=1)
    new_designs_max: int = Field(default=ResearchConfig.new_designs_max, ge=0)
    max_rounds: int = Field(default=ResearchConfig.max_rounds, ge=1)
    budget_seconds: float = Field(default=ResearchConfig.budget_seconds, gt=0)
    target_active: int = Field(default=RankConfig.target_active, ge=1)
    min_trades: int = Field(default=RankConfig.min_trades, ge=0)
    archive_days: int = Field(default=RankConfig.archive_days, ge=1)
    max_pbo: float = Field(default=RankConfig.max_pbo, ge=0, le=1)
    min_pbo_trials: int = Field(default=RankConfig.min_pbo_trials, ge=0)
    monte_carlo_top_k: int = Field(default=MonteCarloConfig.top_k, ge=0)
    monte_carlo_paths: int = Field(default=MonteCarloConfig.n_paths, ge=1)

    _timeframe = field_validator("timeframe")(known_timeframe)

    def research(self) -> ResearchConfig:
        return ResearchConfig(seed=self.seed, timeframe=self.timeframe, trials_per_design=self.trials_per_design,
                              new_designs_max=self.new_designs_max, max_rounds=self.max_rounds, budget_seconds=self.budget_seconds,
                              rank=RankConfig(target_active=self.target_active, min_trades=self.min_trades,
                                              archive_days=self.archive_days,
                                              max_pbo=self.max_pbo, min_pbo_trials=self.min_pbo_trials),
                              monte_carlo=MonteCarloConfig(top_k=self.monte_carlo_top_k, n_paths=self.monte_carlo_paths,
                                                           seed=self.seed))


def _days(context: dg.AssetExecutionContext):
    return window_days(*context.partition_time_window)


def day_ends(context: dg.AssetExecutionContext) -> list[tuple[date, int]]:
    """Each day of the partition window with its end (epoch ms): what the research-group children are handed."""
    return [(day, day_start_ms(day + timedelta(days=1))) for day in _days(context)]


_COMMON = dict(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run(), group_name="research",
               kinds={"python", "duckdb"}, pool=WAREHOUSE_POOL)


_FEATURES = get_asset_key_for_model([warehouse_dbt_assets], "features")
_RESEARCH_SPECS = [
    dg.AssetSpec("strategy_designs", deps=[_FEATURES], kinds={"python", "duckdb"}, group_name="research",
                  description="New strategy specs from the condition grammar: random, mutations and crossovers of "
                              "the best active designs of the day before; more rounds of fresh designs on the day "
                              "while fewer than the target (20) are active."),
    dg.AssetSpec("strategy_tuning", deps=["strategy_designs"], kinds={"python", "duckdb"}, group_name="research",
                 description="Optuna (seeded TPE) over each new design's parameters: every trial in tuning_trials, its "
                             "daily returns in tuning_trial_returns, each design's probability of backtest overfitting "
                             "in tuning_pbo and the day's whole search's in search_pbo."),
    dg.AssetSpec("strategy_ranking", deps=["strategy_tuning"], kinds={"python", "duckdb"}, group_name="research",
                 description="Deflated-Sharpe ranking of every tuned design out of sample; lifecycle (PBO rule "
                             "included) in ranking_history; Monte Carlo of the top-ranked designs in monte_carlo_runs."),
]


@dg.multi_asset(specs=_RESEARCH_SPECS, partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
                pool=WAREHOUSE_POOL, can_subset=False)
def strategy_research(context: dg.AssetExecutionContext, config: ResearchRunConfig, warehouse: Warehouse,
                      symbol_fanout: SymbolFanout):
    """design -> tune -> rank, one day after the other: a day's designs breed from the day before's ranking,
    so a range run (a backfill, materialize --end) finishes each day before proposing the next; as three
    steps each over the whole range it proposed every day's designs before any day was ranked, and gave
    other designs and rankings than the same days run one by one. A day runs rounds of fresh designs while
    fewer than target_active are active (run_day). The designs are tuned side by side on symbol_fanout's
    workers; this step alone reads and writes."""
    with warehouse.locked() as paths:
        with connect_warehouse(paths.warehouse) as con:
            mark_days_computed(context, con)
        # in a child process (its own connection; this process holds the writer lock and no connection):
        # the tuning's imports and high-water mark leave with it (research/step.py)
        summary = in_child(research_days, paths.warehouse, day_ends(context), config.timeframe, config.lookback_days,
                           config.research(), symbol_fanout.max_workers, symbol_fanout.batch_size, warehouse.markets())
    made, trials, rounds = summary.pop("designs"), summary.pop("trials"), summary.pop("rounds")
    log_event("strategy_research_done", designs=made, trials=trials, rounds=rounds, **summary)
    yield dg.MaterializeResult(asset_key="strategy_designs", metadata={"new_designs": made, "rounds": rounds})
    yield dg.MaterializeResult(asset_key="strategy_tuning", metadata={"trials": trials})
    yield dg.MaterializeResult(asset_key="strategy_ranking", metadata=summary)


class FillStressConfig(dg.Config):
    """How many of the day's top-ranked designs are stressed (0: none); on the market the day's research
    recorded (research_markets), not a timeframe or window of its own."""

    top_k: int = Field(default=TOP_K, ge=0)


@dg.asset(deps=["strategy_ranking", get_asset_key_for_model([warehouse_dbt_assets], "bars_1m"),
                get_asset_key_for_model([warehouse_dbt_assets], "feat_book")], **_COMMON)
def strategy_fill_stress(context: dg.AssetExecutionContext, config: FillStressConfig,
                         warehouse: Warehouse) -> dg.MaterializeResult:
    """The day's top-ranked designs out of sample under each fill assumption (strict fills priced on the
    1m bars, the spread on the recorded books where feat_book has them); fill_stress_results."""
    with warehouse.locked() as paths:  # in a child (its own connection), as strategy_research
        summary = in_child(fill_stress_days, paths.warehouse, day_ends(context), config.top_k, warehouse.markets())
    log_event("strategy_fill_stress_done", **summary)
    return dg.MaterializeResult(metadata={k: v for k, v in summary.items() if k != "edge_lost"}
                                | {"edge_lost": ", ".join(summary.get("edge_lost", [])) or "none"})


defs = dg.Definitions(assets=[strategy_research, strategy_fill_stress])
