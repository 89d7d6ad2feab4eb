{{ config(materialized=ledger_materialization(), incremental_strategy='delete+insert', unique_key='backtest_id',
          on_schema_change='sync_all_columns', tags=['ledger'], pre_hook="{{ prune_backtests_to_rebuild() }}") }}

{#-
  One row per backtest: run x strategy instance x symbol x timeframe x window, every metric in SQL
  from the ledger. Annualisation: the run's periods_per_year (a file's calendar or --periods-per-year),
  else backtest/periods.py's rule on the backtest's own equity rows (bars_per_year_of_bars): 24/7's
  365 days of bars (365 x 86,400,000 / bar_ms) when the bars cover more than 13/14 of their span, else
  the bars counted per 365 days, so a thin market's 1m bars, one a day, are not annualised as 525,600
  a year; Sharpe and Sortino use per-bar returns of the
  equity curve with a zero risk-free rate: mean / stddev_samp x sqrt(bars_per_year), Sortino with
  the downside deviation sqrt(mean(min(r, 0)^2)). CAGR compounds over the window's calendar length.
  composite_score (macros/composite_score.sql; a wipe-out ranks last): risk-adjusted return,
  discounted when there are few trades to trust it and by the depth of the worst drawdown.
  Incremental: a daily run writes only its partition's backtests (and new CLI runs), never a later
  day's rows.
-#}

with

runs as (
    select * from {{ source('backtest_ledger', 'backtest_runs') }}
    where backtest_id in ({{ ledger_backtests_in_scope(source('backtest_ledger', 'backtest_runs')) }})
),

equity as (
    select * from {{ ref('bt_equity_stats') }}
),

trades as (
    select * from {{ ref('bt_trade_stats') }}
),

joined as (
    select
        runs.backtest_id,
        runs.run_id,
        runs.kind,
        runs.created_at,
        runs.partition_date,
        runs.strategy,
        runs.strategy_version,
        runs.strategy_id,
        runs.params,
        runs.symbol,
        runs.timeframe,
        runs.window_id,
        runs.window_kind,
        runs.window_start,
        runs.window_end,
        runs.taker_fee,
        runs.maker_fee,
        runs.slippage_bps,
        runs.source,
        runs.initial_equity,
        equity.final_equity,
        equity.bars,
        coalesce(runs.periods_per_year,
                 {{ bars_per_year_of_bars('equity.bars', 'equity.end_ms - equity.first_bar_ms', 'equity.bar_ms') }}) as bars_per_year,
        -- DOUBLE divisors: Spark reads a decimal literal such as a day length with .0 as a DECIMAL and keeps 6 decimals of the quotient
        (equity.end_ms - equity.first_bar_ms) / cast({{ day_ms() }} as double) as duration_days,
        equity.mean_bar_return,
        equity.stddev_bar_return,
        equity.downside_deviation,
        equity.max_drawdown,
        equity.max_drawdown_duration_ms / cast({{ day_ms() }} as double) as max_drawdown_duration_days,
        equity.exposure,
        equity.buy_and_hold_return,
        coalesce(trades.trade_count, 0) as trade_count,
        coalesce(trades.winning_trades, 0) as winning_trades,
        coalesce(trades.losing_trades, 0) as losing_trades,
        coalesce(trades.gross_profit, 0) as gross_profit,
        coalesce(trades.gross_loss, 0) as gross_loss,
        trades.expectancy,
        trades.expectancy_pct,
        trades.avg_win,
        trades.avg_loss,
        coalesce(trades.fees_paid, 0) as fees_paid,
        coalesce(trades.funding_paid, 0) as funding_paid,
        trades.avg_holding_hours,
        coalesce(trades.max_consecutive_wins, 0) as max_consecutive_wins,
        coalesce(trades.max_consecutive_losses, 0) as max_consecutive_losses
    from runs
    inner join equity using (backtest_id)
    left join trades using (backtest_id)
),

metrics as (
    select
        *,
        final_equity / initial_equity - 1 as total_return,
        case when final_equity > 0 and duration_days > 0
            then power(final_equity / initial_equity, 365.0 / duration_days) - 1 end as cagr,
        -- NULL when flat up to rounding, as when flat exactly
        case when {{ varies_beyond_rounding('stddev_bar_return', 'mean_bar_return') }}
            then mean_bar_return / stddev_bar_return * sqrt(bars_per_year) end as sharpe,
        case when downside_deviation > 0
            then mean_bar_return / downside_deviation * sqrt(bars_per_year) end as sortino,
        {{ safe_divide('winning_trades', 'trade_count') }} as win_rate,
        {{ safe_divide('gross_profit', 'gross_loss') }} as profit_factor
    from joined
)

select
    *,
    case when max_drawdown < 0 then cagr / -max_drawdown end as calmar,
    {{ composite_score('sharpe', 'trade_count', 'max_drawdown', 'final_equity') }} as composite_score
from metrics
