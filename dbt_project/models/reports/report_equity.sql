{#-
  Equity and close at each bar of the full-window daily and ML backtests, with their partition day and
  what buying and holding the symbol from the window's first open would be worth at each close (the same
  rule as the table's buy_and_hold_return: last close / first open - 1): the report's equity charts.
-#}

with

runs as (
    select backtest_id, partition_date, initial_equity
    from {{ ref('report_strategies') }}
),

equity as (
    select
        backtest_id,
        bar_at_ms,
        equity,
        close,
        first_value(open) over (
            partition by backtest_id order by bar_at_ms rows between unbounded preceding and unbounded following
        ) as first_open
    from {{ source('backtest_ledger', 'backtest_equity') }}
),

equity_of_runs as (
    select
        runs.partition_date,
        equity.backtest_id,
        equity.bar_at_ms,
        equity.equity,
        equity.close,
        case when equity.first_open > 0 then runs.initial_equity * equity.close / equity.first_open end
            as buy_and_hold_equity
    from equity
    inner join runs on runs.backtest_id = equity.backtest_id
)

select * from equity_of_runs
