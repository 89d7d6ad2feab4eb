{#-
  Closed trades of the full-window daily and ML backtests, with their partition day: the report's
  "recent trades of the top strategies" (it keeps the last few of each backtest it shows).
-#}

with

runs as (
    select backtest_id, partition_date
    from {{ ref('report_strategies') }}
),

trades as (
    select
        backtest_id, trade_no, symbol, side, entry_at_ms, entry_price, exit_at_ms, exit_price,
        (exit_at_ms - entry_at_ms) / 1000.0 as held_seconds, return_pct, pnl, exit_reason
    from {{ source('backtest_ledger', 'backtest_trades') }}
),

trades_of_runs as (
    select runs.partition_date, trades.*
    from trades
    inner join runs on runs.backtest_id = trades.backtest_id
)

select * from trades_of_runs
