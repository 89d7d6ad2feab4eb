{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#- Price features: returns over several horizons, candle shape, distance to rolling extremes, z-score. -#}
{% set lookback = 60 %}

with

bars as (
    {{ series_with_history(ref('int_bars_unioned'),
        ['symbol', 'timeframe', 'bar_at_ms', 'bar_at', 'bar_date', 'open', 'high', 'low', 'close'], lookback) }}
),

{#- The z-score's mean and stddev, named once: its rounding test and its ratio both read them. -#}
windows as (
    select
        *,
        {{ rolling_full('avg(close)', 20) }} as close_sma_20,
        {{ rolling_full('stddev_pop(close)', 20) }} as close_sd_20
    from bars
),

computed as (
    select
        {{ series_keys() }},

        ---------- returns
        close / {{ lag_by('close', 1) }} - 1 as ret_1,
        close / {{ lag_by('close', 5) }} - 1 as ret_5,
        close / {{ lag_by('close', 20) }} - 1 as ret_20,
        ln(close / {{ lag_by('close', 1) }}) as log_ret_1,
        ln(close / {{ lag_by('close', 5) }}) as log_ret_5,
        ln(close / {{ lag_by('close', 20) }}) as log_ret_20,
        ln(close / {{ lag_by('close', 60) }}) as log_ret_60,
        open / {{ lag_by('close', 1) }} - 1 as gap_pct,

        ---------- candle shape
        {{ safe_divide('close - open', 'high - low') }} as body_ratio,
        {{ safe_divide('high - greatest(open, close)', 'high - low') }} as upper_wick_ratio,
        {{ safe_divide('least(open, close) - low', 'high - low') }} as lower_wick_ratio,
        (high - low) / close as hl_range_pct,

        ---------- position in the recent range
        close / {{ rolling_full('max(high)', 20) }} - 1 as dist_high_20,
        close / {{ rolling_full('min(low)', 20) }} - 1 as dist_low_20,
        {#- NULL on a window whose stddev is within rounding of its mean (a flat one, or closes one ulp
            apart: 0.3 and 0.1 + 0.2 made +-2), as on an exactly flat window. -#}
        case when not {{ within_rounding('close_sd_20', 'close_sma_20') }}
            then (close - close_sma_20) / close_sd_20 end as close_zscore_20
    from windows
)

select * from computed
{{ keep_partition_window() }}
