{#-
  Forward-looking ML labels at a 12-bar horizon, per symbol and timeframe. Labels look forward BY
  DESIGN; they live apart from the features and only ml_training_set may read them (enforced by a
  test on the dbt graph). A label is NULL unless all 12 following bars exist. The scale sigma_h
  (stddev of the last 100 one-bar log returns x sqrt(12)) uses data <= t only, folded like the
  features' rolling variances, so its bits at t are the same whatever bars follow t. label_known_at_ms
  is when the label became known (the close of bar t+12): a partition ending at E may train on a
  label only when label_known_at_ms <= E, so a backfilled day never sees a later day's prices.
-#}
{% set h = 12 %}
{#- the window spelled out where a frame follows it: Spark cannot extend a named window -#}
{% set series = 'partition by symbol, timeframe order by bar_at_ms' %}

with

bars as (
    select symbol, timeframe, timeframe_ms, bar_at_ms, low, close
    from {{ ref('int_bars_unioned') }}
),

steps as (
    select
        *,
        ln(close / lag(close) over by_bar) as log_ret_1
    from bars
    window by_bar as (partition by symbol, timeframe order by bar_at_ms)
),

windows as (
    select
        symbol,
        timeframe,
        bar_at_ms,
        close,
        lead(close, {{ h }}) over by_bar as close_ahead,
        lead(bar_at_ms, {{ h }}) over by_bar + timeframe_ms as label_known_at_ms,
        min(low) over ({{ series }} rows between 1 following and {{ h }} following) as low_ahead,
        count(*) over ({{ series }} rows between 1 following and {{ h }} following) as bars_ahead,
        sqrt(avg(log_ret_1 * log_ret_1) over ({{ series }} rows between 1 following and {{ h }} following)) as vol_ahead,
        sqrt(avg(log_ret_1 * log_ret_1) over ({{ series }} rows between {{ h - 1 }} preceding and current row)) as vol_behind,
        count(log_ret_1) over ({{ series }} rows between {{ h - 1 }} preceding and current row) as returns_behind,
        -- folded in one fixed order (macros/features.sql), not stddev_samp over the engine's window tree,
        -- which rounds by where the frame falls in the partitions it sorts together: a value known at t
        -- then moved in its last bit when later bars arrived (or another symbol's did)
        sqrt({{ rolling_variance_of_returns('log_ret_1', 100) }}) * sqrt({{ h }}) as sigma_h,
        count(log_ret_1) over ({{ series }} rows between 99 preceding and current row) as returns_for_sigma
    from steps
    window by_bar as (partition by symbol, timeframe order by bar_at_ms)
),

labelled as (
    select
        symbol,
        timeframe,
        bar_at_ms,
        {{ h }} as horizon_bars,
        label_known_at_ms,
        case when returns_for_sigma = 100 then sigma_h end as sigma_h,
        case when returns_behind = {{ h }} then vol_behind end as baseline_vol_12,
        case when bars_ahead = {{ h }} then close_ahead / close - 1 end as fwd_return_12,
        case when bars_ahead = {{ h }} then cast(close_ahead > close as integer) end as fwd_direction_12,
        case when bars_ahead = {{ h }} then vol_ahead end as fwd_realized_vol_12,
        case when bars_ahead = {{ h }} then low_ahead / close - 1 end as fwd_mae_12,
        close_ahead,
        low_ahead,
        bars_ahead,
        close
    from windows
)

select
    symbol,
    timeframe,
    bar_at_ms,
    horizon_bars,
    label_known_at_ms,
    sigma_h,
    baseline_vol_12,
    fwd_return_12,
    fwd_direction_12,
    case
        when fwd_return_12 is null or sigma_h is null then null
        when ln(close_ahead / close) > 0.5 * sigma_h then 2
        when ln(close_ahead / close) < -0.5 * sigma_h then 0
        else 1
    end as fwd_momentum_class_12,
    fwd_realized_vol_12,
    fwd_mae_12,
    case
        when fwd_mae_12 is null or sigma_h is null then null
        -- strictly beyond: on a flat market (sigma_h = 0) a low at the close has not fallen at all
        else cast(ln(low_ahead / close) < -sigma_h as integer)
    end as fwd_adverse_12
from labelled
