{{ config(materialized='table', tags=['portfolio']) }}

{#-
  The portfolio's forward record: one row per run_date and rule, the account over the designs an earlier
  ranking made active (selected_on < run_date) run on run_date's bars only, chained day by day. Unlike
  portfolio_backtest_results (members judged on the window they then run on) each day is out of sample for
  its members' choice. A day whose earlier ranking made nothing active (or none of its members had a bar)
  is a cash day: a row of 0 bars, its return the fee of closing what the account held. Chained figures use
  the rows up to each run_date only; a liquidated day (-100 %) ends the chain at -1. A table rebuilt from
  the landing table each run (a few rows a day).
-#}

with

days as (
    select * from {{ source('portfolio_outputs', 'portfolio_forward_days') }}
),

chained as (
    select
        *,
        count(*) over (partition by rule order by run_date rows between unbounded preceding and current row)
            as days_recorded,
        max(case when day_return <= -1 then 1 else 0 end) over (
            partition by rule order by run_date rows between unbounded preceding and current row) as wiped_out,
        sum(ln(case when day_return > -1 then 1 + day_return end)) over (
            partition by rule order by run_date rows between unbounded preceding and current row) as log_growth,
        avg(day_return) over (
            partition by rule order by run_date rows between unbounded preceding and current row) as mean_day_return,
        stddev_samp(day_return) over (
            partition by rule order by run_date rows between unbounded preceding and current row) as sd_day_return
    from days
)

select
    run_date,
    rule,
    selected_on,
    members,
    bars,
    {{ epoch_ms_to_timestamptz('start_ms') }} as window_start,
    {{ epoch_ms_to_timestamptz('end_ms') }} as window_end,
    day_return,
    fees_paid,
    fees_paid / initial_equity as fee_drag,
    gross_leverage_max,
    min_history,
    rebalances,
    fallback_rebalances,
    liquidated_at_ms is not null as liquidated,
    days_recorded,
    case when wiped_out = 1 then -1.0 else exp(log_growth) - 1 end as cumulative_return,
    mean_day_return,
    case when days_recorded >= 2 and {{ varies_beyond_rounding('sd_day_return', 'mean_day_return') }}
         then mean_day_return / sd_day_return * sqrt(365.0) end as sharpe_daily
from chained
