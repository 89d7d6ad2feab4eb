{{ config(
    materialized=('table' if target.type in ['spark', 'databricks'] else 'incremental'),
    incremental_strategy='delete+insert',
    unique_key=['symbol', 'timeframe', 'bar_at_ms'],
    on_schema_change='append_new_columns',
    pre_hook="{{ clear_partition_window(epoch_ms_to_utc_date('bar_at_ms')) }}"
) }}

{#-
  Forward-looking ML labels at a 12-bar horizon, per symbol and timeframe. Labels look forward BY
  DESIGN; they live apart from the features and only ml_training_set may read them (enforced by a
  test on the dbt graph). A label is NULL unless all 12 following bars exist. The scale sigma_h
  (stddev of the last 100 one-bar log returns x sqrt(12)) uses data <= t only, folded like the
  features' rolling variances, so its bits at t are the same whatever bars follow t. label_known_at_ms
  is when the label became known (the close of bar t+12): a partition ending at E may train on a
  label only when label_known_at_ms <= E, so a backfilled day never sees a later day's prices.

  Incremental on DuckDB (a table rebuilt whole on Spark): a run recomputes the labels its window's bars
  can move, in each series: the window's bars, the h bars before it (they look into the window) and the
  sigma_n after it (a backfilled day with later days: their sigma_h folds the first later bar's return,
  which reads the window's last close), from those bars and the sigma_n + h before and after (what the
  first and last of them read). Every sum is folded in one fixed order (macros/features.sql), so the rows
  are those of a full rebuild, bit for bit (tests/dbt/test_feature_causality.py). The pre-hook first drops
  the window's rows: a bar gone from the window takes its label with it. A table from before bar_date (a
  full table whose vol_ahead / vol_behind came from avg over the window tree: last bits apart) is
  recomputed whole once: its every row upserted, and bar_date appended (on_schema_change).
-#}
{%- set incremental = is_incremental() -%}
{%- if execute and incremental -%}
    {%- set incremental = 'bar_date' in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
{%- endif -%}
{% set h = 12 %}
{% set sigma_n = 100 %}
{#- the window spelled out where a frame follows it: Spark cannot extend a named window -#}
{% set series = 'partition by symbol, timeframe order by bar_at_ms' %}
{% set columns = 'symbol, timeframe, timeframe_ms, bar_at_ms, low, close' %}

with

-- side: 0 in the window (every row of a full build), -k for the k-th bar before it, k for the k-th after it
bars as (
    select {{ columns }}, 0 as side
    from {{ ref('int_bars_unioned') }}
    {% if incremental %}
    where {{ in_partition_window('bar_date') }}
    union all
    select {{ columns }}, -side from (
        select {{ columns }}, row_number() over (partition by symbol, timeframe order by bar_at_ms desc) as side
        from {{ ref('int_bars_unioned') }}
        where bar_date < date '{{ partition_bound("min_date") }}'
    ) as before_window
    where side <= {{ sigma_n + h }}
    union all
    select {{ columns }}, side from (
        select {{ columns }}, row_number() over (partition by symbol, timeframe order by bar_at_ms) as side
        from {{ ref('int_bars_unioned') }}
        where bar_date >= date '{{ partition_bound("max_date") }}'
    ) as after_window
    where side <= {{ sigma_n + h }}
    {% endif %}
),

steps as (
    select
        *,
        ln(close / lag(close) over by_bar) as log_ret_1,
        ln(close / lag(close) over by_bar) * ln(close / lag(close) over by_bar) as log_ret_1_sq
    from bars
    window by_bar as (partition by symbol, timeframe order by bar_at_ms)
),

-- Sums folded in one fixed order (macros/features.sql), not avg or stddev_samp over the engine's window
-- tree, which rounds by where the frame falls in the partitions it sorts together: a value known at t then
-- moved in its last bit when later bars arrived (or another symbol's did), and an incremental run's
-- partitions start elsewhere than a full build's.
behind as (
    select
        *,
        {{ rolling('avg(log_ret_1_sq)', h) }} as mean_sq_behind,
        count(log_ret_1) over ({{ series }} rows between {{ h - 1 }} preceding and current row) as returns_behind,
        sqrt({{ rolling_variance_of_returns('log_ret_1', sigma_n) }}) * sqrt({{ h }}) as sigma_h,
        count(log_ret_1) over ({{ series }} rows between {{ sigma_n - 1 }} preceding and current row) as returns_for_sigma
    from steps
),

windows as (
    select
        symbol,
        timeframe,
        bar_at_ms,
        side,
        close,
        lead(close, {{ h }}) over by_bar as close_ahead,
        lead(bar_at_ms, {{ h }}) over by_bar + timeframe_ms as label_known_at_ms,
        min(low) over ({{ series }} rows between 1 following and {{ h }} following) as low_ahead,
        count(*) over ({{ series }} rows between 1 following and {{ h }} following) as bars_ahead,
        -- bars t+1..t+h are the h bars behind bar t+h
        sqrt(lead(mean_sq_behind, {{ h }}) over by_bar) as vol_ahead,
        sqrt(mean_sq_behind) as vol_behind,
        returns_behind,
        sigma_h,
        returns_for_sigma
    from behind
    window by_bar as (partition by symbol, timeframe order by bar_at_ms)
),

labelled as (
    select
        symbol,
        timeframe,
        bar_at_ms,
        {{ h }} as horizon_bars,
        label_known_at_ms,
        case when returns_for_sigma = {{ sigma_n }} then sigma_h end as sigma_h,
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
    where side between {{ -h }} and {{ sigma_n }}
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
    end as fwd_adverse_12,
    -- last: where an older table gets it appended
    {{ epoch_ms_to_utc_date('bar_at_ms') }} as bar_date
from labelled
