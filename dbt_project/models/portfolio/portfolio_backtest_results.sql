{{ config(materialized='table', tags=['portfolio']) }}

{#-
  One row per run_date and allocation rule: the portfolio of the day's active designs (one account,
  shared margin) beside the mean and best of its members' own results. A table rebuilt from the
  landing tables each run (small: a few rows a day), so a rerun with fewer rules leaves nothing stale.
-#}

with

runs as (
    select * from {{ source('portfolio_outputs', 'portfolio_runs') }}
),

-- the DOUBLE means add members in member_id order (ordered_agg): a plain avg follows the table's row
-- order, and the same members stored in another order gave other last bits
members as (
    select run_date, {{ ordered_agg('avg', 'total_return', 'member_id') }} as member_return_mean,
           max(total_return) as member_return_best,
           {{ ordered_agg('avg', 'sharpe', 'member_id') }} as member_sharpe_mean
    from {{ source('portfolio_outputs', 'portfolio_members') }}
    group by run_date
)

select
    runs.run_date,
    runs.rule,
    runs.timeframe,
    runs.members,
    {{ epoch_ms_to_timestamptz('runs.start_ms') }} as window_start,
    {{ epoch_ms_to_timestamptz('runs.end_ms') }} as window_end,
    runs.bars,
    runs.rebalance_ms,
    runs.lookback,
    runs.max_weight,
    runs.gross_leverage_cap,
    runs.taker_fee,
    runs.initial_equity,
    runs.final_equity,
    runs.total_return,
    runs.sharpe,
    runs.max_drawdown,
    runs.gross_leverage_mean,
    runs.gross_leverage_max,
    runs.fees_paid,
    runs.min_history,
    runs.rebalances,
    runs.fallback_rebalances,
    runs.liquidated_at_ms is not null as liquidated,
    {{ epoch_ms_to_timestamptz('runs.liquidated_at_ms') }} as liquidated_at,
    members.member_return_mean,
    members.member_return_best,
    members.member_sharpe_mean
from runs
left join members using (run_date)
