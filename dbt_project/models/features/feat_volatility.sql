{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#- Volatility: true range, realized and range-based estimators (Parkinson, Garman-Klass,
    Rogers-Satchell, Yang-Zhang) per bar (not annualised), Bollinger bands (20, 2 population sd). -#}
{% set lookback = 21 %}
{% set yz_k = 0.34 / (1.34 + 21 / 19) %}

with

bars as (
    {{ series_with_history(ref('int_bars_unioned'),
        ['symbol', 'timeframe', 'bar_at_ms', 'bar_at', 'bar_date', 'open', 'high', 'low', 'close'], lookback) }}
),

terms as (
    select
        *,
        {{ lag_by('close') }} as prev_close,
        ln(close / {{ lag_by('close') }}) as log_ret_1,
        ln(open / {{ lag_by('close') }}) as log_overnight,
        ln(close / open) as log_open_close,
        pow(ln(high / low), 2) as log_hl_sq,
        ln(high / close) * ln(high / open) + ln(low / close) * ln(low / open) as rs_term
    from bars
),

windows as (
    select
        {{ series_keys() }},
        close,
        case when prev_close is not null
            then greatest(high - low, abs(high - prev_close), abs(low - prev_close)) end as true_range,
        case when {{ rolling('count(log_ret_1)', 20) }} = 20 then sqrt({{ rolling_variance_of_returns('log_ret_1', 20) }}) end as realized_vol_20,
        sqrt({{ rolling_full('avg(log_hl_sq)', 20) }} / (4 * ln(2))) as parkinson_vol_20,
        sqrt({{ rolling_full('avg(0.5 * log_hl_sq - (2 * ln(2) - 1) * pow(log_open_close, 2))', 20) }}) as garman_klass_vol_20,
        sqrt({{ rolling_full('avg(rs_term)', 20) }}) as rogers_satchell_vol_20,
        case when {{ rolling('count(log_overnight)', 20) }} = 20 then sqrt(
            {{ rolling_variance_of_returns('log_overnight', 20) }}
            + {{ yz_k }} * {{ rolling_variance_of_returns('log_open_close', 20) }}
            + (1 - {{ yz_k }}) * {{ rolling('avg(rs_term)', 20) }}
        ) end as yang_zhang_vol_20,
        {{ rolling_full('avg(close)', 20) }} as bb_middle_20,
        {{ rolling_full('stddev_pop(close)', 20) }} as bb_sd_20
    from terms
),

computed as (
    select
        {{ series_keys() }},
        true_range,
        realized_vol_20,
        parkinson_vol_20,
        garman_klass_vol_20,
        rogers_satchell_vol_20,
        yang_zhang_vol_20,
        bb_middle_20 + 2 * bb_sd_20 as bb_upper_20,
        bb_middle_20 - 2 * bb_sd_20 as bb_lower_20,
        {{ safe_divide('4 * bb_sd_20', 'bb_middle_20') }} as bb_width_20,
        {#- NULL where the band's stddev is within rounding of its middle (flat, or closes one ulp apart:
            %b came out 0), as on an exactly flat window. -#}
        case when not {{ within_rounding('bb_sd_20', 'bb_middle_20') }}
            then (close - (bb_middle_20 - 2 * bb_sd_20)) / (4 * bb_sd_20) end as bb_pctb_20
    from windows
)

select * from computed
{{ keep_partition_window() }}
