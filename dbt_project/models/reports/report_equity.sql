{#-
  Equity and close at each bar of the full-window daily and ML backtests, with their partition day:
  the report's equity charts of the top strategies.
-#}

with

runs as (
    select backtest_id, partition_date
    from {{ ref('report_strategies') }}
),

equity as (
    select backtest_id, bar_at_ms, equity, close
    from {{ source('backtest_ledger', 'backtest_equity') }}
),

equity_of_runs as (
    select runs.partition_date, equity.*
    from equity
    inner join runs on runs.backtest_id = equity.backtest_id
)

select * from equity_of_runs
