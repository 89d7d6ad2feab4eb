{#-
  Walk-forward summary per partition day, strategy and symbol: the mean in-sample and out-of-sample
  Sharpe of the day's backtest folds (the report's walk-forward table), each fold's in-sample and
  out-of-sample rows paired (same run, instance, timeframe and window_id: runner.WalkForward names both
  halves of fold k wfk). A fold whose equity never moved on either side has no Sharpe there: both means
  leave the whole fold out, so they are over the same folds (each side dropping its own flat folds once
  compared one fold's in-sample with another's out-of-sample), and scored_folds says how many. Added in
  fold order so a rebuild gives the same bits whatever order the result rows were inserted in. A mean of
  per-fold Sharpes, each annualised from a few days of bars: not the Sharpe of the folds chained.
-#}

with

folds as (
    select partition_date, strategy, symbol, run_id, strategy_id, timeframe, window_id, window_kind, sharpe
    from {{ ref('strategy_backtest_results') }}
    where kind = 'daily' and window_kind <> 'full'
),

paired as (
    select
        partition_date,
        strategy,
        symbol,
        window_id,
        max(case when window_kind = 'out_of_sample' then 1 else 0 end) as has_out_of_sample,
        max(case when window_kind = 'in_sample' then sharpe end) as in_sample,
        max(case when window_kind = 'out_of_sample' then sharpe end) as out_of_sample
    from folds
    group by partition_date, strategy, symbol, run_id, strategy_id, timeframe, window_id
),

scored as (
    select
        partition_date,
        strategy,
        symbol,
        window_id,
        has_out_of_sample,
        case when out_of_sample is not null then in_sample end as in_sample,
        case when in_sample is not null then out_of_sample end as out_of_sample
    from paired
),

summarised as (
    select
        partition_date,
        strategy,
        symbol,
        count(case when has_out_of_sample = 1 then 1 end) as folds,
        count(in_sample) as scored_folds,
        {{ ordered_avg('in_sample', 'window_id, in_sample') }} as in_sample_sharpe,
        {{ ordered_avg('out_of_sample', 'window_id, out_of_sample') }} as out_of_sample_sharpe
    from scored
    group by partition_date, strategy, symbol
)

select * from summarised
