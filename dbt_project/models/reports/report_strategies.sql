{#-
  One row per full-window daily or ML backtest per partition day, with the change of its composite
  score since the previous day's run of the same strategy instance (kind, parameters, timeframe) on the
  same symbol, and whether its symbol traded on the day: what the report's strategy table shows (it keeps
  the day's best by composite_score among backtests of symbols that traded on the day).
-#}

with

results as (
    select
        partition_date, backtest_id, strategy, kind, symbol, timeframe, trade_count, total_return, sharpe,
        max_drawdown, win_rate, profit_factor, buy_and_hold_return, composite_score, bars, bars_per_year,
        duration_days, cast(params as {{ sql_type('varchar') }}) as params, initial_equity
    from {{ ref('strategy_backtest_results') }}
    where window_kind = 'full' and kind in ('daily', 'ml')
),

previous_day as (
    select
        cast({{ dbt.dateadd('day', 1, 'partition_date') }} as date) as partition_date,
        strategy,
        kind,
        symbol,
        timeframe,
        params,
        composite_score as previous_composite_score
    from results
),

traded_days as (
    select symbol, bar_date from {{ ref('bars_1d') }}
),

with_change as (
    select
        results.*,
        traded_days.symbol is not null as symbol_traded_on_day,
        -- last (readers take it as the one column that moves when the day before is backfilled)
        results.composite_score - previous_day.previous_composite_score as composite_change
    from results
    left join traded_days
        on traded_days.symbol = results.symbol
        and traded_days.bar_date = results.partition_date
    left join previous_day
        on previous_day.partition_date = results.partition_date
        and previous_day.strategy = results.strategy
        and previous_day.kind = results.kind
        and previous_day.symbol = results.symbol
        and previous_day.timeframe = results.timeframe
        and previous_day.params is not distinct from results.params
)

select * from with_change
