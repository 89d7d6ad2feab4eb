{{ config(materialized='table', tags=['portfolio']) }}

{#- Account equity per run_date, rule and bar close, with the drawdown from its running peak (<= 0, as
    bt_equity_stats'); the initial equity is the first peak, as the run's max_drawdown (backtest/portfolio.curve_stats)
    counts it: equity 99, 98, 100 from 100 is a -2 % drawdown, not -1 %. -#}

select
    bars.run_date,
    bars.rule,
    bars.bar_at_ms,
    {{ epoch_ms_to_timestamptz('bars.bar_at_ms') }} as bar_at,
    bars.equity,
    bars.equity / nullif(greatest(runs.initial_equity, max(bars.equity) over (
        partition by bars.run_date, bars.rule order by bars.bar_at_ms rows between unbounded preceding and current row)), 0)
        - 1 as drawdown,
    bars.gross_leverage,
    bars.fees
from {{ source('portfolio_outputs', 'portfolio_equity_bars') }} as bars
left join {{ source('portfolio_outputs', 'portfolio_runs') }} as runs
    on runs.run_date = bars.run_date and runs.rule = bars.rule
