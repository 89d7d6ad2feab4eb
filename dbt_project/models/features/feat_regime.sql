{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#-
  Market regime per bar, from inputs that are features themselves:
  - high_vol   when realized_vol_20 is in the top decile of its last 100 values (vol_percentile_100 >= 0.9)
               and above 0 (a flat market's zero volatility ties with its whole window, rank 1.0: not high);
  - trend_up   otherwise when adx_14 >= 25 and +DI > -DI;
  - trend_down otherwise when adx_14 >= 25 and -DI > +DI;
  - range      otherwise.
  variance_ratio_20 (> 1 trending, < 1 mean-reverting) and efficiency_ratio_20 (Kaufman) are
  published beside the label as further evidence. NULL until every input has warmed up.
-#}
{% set lookback = 120 %}
{% set keys = ['symbol', 'timeframe', 'bar_at_ms'] %}

with

bars as (
    {{ series_with_history(ref('int_bars_unioned'), keys + ['bar_at', 'bar_date', 'close'], lookback) }}
),

volatility as (
    select symbol, timeframe, bar_at_ms, realized_vol_20 from {{ ref('feat_volatility') }}
),

recursive as (
    select symbol, timeframe, bar_at_ms, adx_14, plus_di_14, minus_di_14 from {{ ref('feat_recursive') }}
),

price as (
    select symbol, timeframe, bar_at_ms, log_ret_1, log_ret_5 from {{ ref('feat_price') }}
),

joined as (
    select
        bars.*,
        volatility.realized_vol_20,
        recursive.adx_14,
        recursive.plus_di_14,
        recursive.minus_di_14,
        price.log_ret_1,
        price.log_ret_5
    from bars
    left join volatility using (symbol, timeframe, bar_at_ms)
    left join recursive using (symbol, timeframe, bar_at_ms)
    left join price using (symbol, timeframe, bar_at_ms)
),

inputs as (
    select
        *,
        {{ rolling_percent_rank('realized_vol_20', 100) }} as vol_percentile_100,
        case when {{ rolling('count(log_ret_5)', 20) }} = 20
            then {{ safe_divide(rolling_variance_of_returns('log_ret_5', 20), '5 * ' ~ rolling_variance_of_returns('log_ret_1', 20)) }}
        end as variance_ratio_20,
        {#- Kaufman: net move over the sum of the 20 bar-to-bar moves, added newest first, from lags
            of close (in the same pass as the other windows). -#}
        {%- set closes = rows_back('close', 21) %}
        {%- set moves = [] %}
        {%- for k in range(20) %}{% do moves.append('abs(' ~ closes[k] ~ ' - ' ~ closes[k + 1] ~ ')') %}{% endfor %}
        case when {{ closes[20] }} is not null
            then {{ safe_divide('abs(' ~ closes[0] ~ ' - ' ~ closes[20] ~ ')', moves | join(' + ')) }}
        end as efficiency_ratio_20
    from joined
),

computed as (
    select
        {{ series_keys() }},
        vol_percentile_100,
        variance_ratio_20,
        efficiency_ratio_20,
        case
            when vol_percentile_100 is null or adx_14 is null then null
            when vol_percentile_100 >= 0.9 and realized_vol_20 > 0 then 'high_vol'
            when adx_14 >= 25 and plus_di_14 > minus_di_14 then 'trend_up'
            when adx_14 >= 25 and minus_di_14 > plus_di_14 then 'trend_down'
            else 'range'
        end as regime
    from inputs
)

select * from computed
{{ keep_partition_window() }}
