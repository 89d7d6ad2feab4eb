{#-
  Walk-forward summary per partition day, strategy and symbol: the mean in-sample and out-of-sample
  Sharpe over the day's folds of the daily backtests (the report's walk-forward table), added in fold
  order so a rebuild gives the same bits whatever order the result rows were inserted in. A fold whose
  equity never moved has no Sharpe: the means leave it out and scored_folds says how many are in them.
-#}

with

folds as (
    select partition_date, strategy, symbol, window_id, window_kind, sharpe
    from {{ ref('strategy_backtest_results') }}
    where kind = 'daily' and window_kind <> 'full'
),

summarised as (
    select
        partition_date,
        strategy,
        symbol,
        count(case when window_kind = 'out_of_sample' then 1 end) as folds,
        count(case when window_kind = 'out_of_sample' then sharpe end) as scored_folds,
        {{ ordered_avg("case when window_kind = 'in_sample' then sharpe end", 'window_id, sharpe') }} as in_sample_sharpe,
        {{ ordered_avg("case when window_kind = 'out_of_sample' then sharpe end", 'window_id, sharpe') }} as out_of_sample_sharpe
    from folds
    group by partition_date, strategy, symbol
)

select * from summarised
