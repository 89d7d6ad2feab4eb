{{ config(materialized='table', tags=['portfolio']) }}

{#- Account equity per run_date, rule and bar close, with the drawdown from its running peak. -#}

select
    run_date,
    rule,
    bar_at_ms,
    {{ epoch_ms_to_timestamptz('bar_at_ms') }} as bar_at,
    equity,
    1 - equity / nullif(max(equity) over (partition by run_date, rule order by bar_at_ms
                                          rows between unbounded preceding and current row), 0) as drawdown,
    gross_leverage,
    fees
from {{ source('portfolio_outputs', 'portfolio_equity_bars') }}
