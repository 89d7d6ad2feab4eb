{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#- Classic technical indicators that are plain windows: moving averages, oscillators, channels. -#}
{% set lookback = 50 %}

with

bars as (
    {{ series_with_history(ref('int_bars_unioned'),
        ['symbol', 'timeframe', 'bar_at_ms', 'bar_at', 'bar_date', 'high', 'low', 'close'], lookback) }}
),

numbered as (
    select
        *,
        row_number() over ({{ series_order() }}) as series_row,
        (high + low + close) / 3 as typical_price,
        {#- Ultimate oscillator's terms: they need the previous close, so they come a pass before their sums. -#}
        {#- (least/greatest skip a NULL: the first bar, without a previous close, has no terms) -#}
        case when {{ lag_by('close') }} is not null then close - least(low, {{ lag_by('close') }}) end as buying_pressure,
        case when {{ lag_by('close') }} is not null
            then greatest(high, {{ lag_by('close') }}) - least(low, {{ lag_by('close') }}) end as ult_range
    from bars
),

{#- Every window below in one pass over the series (each further pass re-sorts every column). -#}
windows as (
    select
        *,
        {{ rolling_full('avg(close)', 10) }} as sma_10,
        {{ rolling_full('avg(close)', 20) }} as sma_20,
        {{ rolling_full('avg(close)', 50) }} as sma_50,
        {{ rolling_full('avg(close)', 12) }} as sma_12,
        {{ rolling_full('avg(close)', 26) }} as sma_26,
        {{ rolling_full_of(rolling_weighted_sum('close', 20), 20) }} as wma_20_numerator,
        {#- The 14-bar high and low j bars back (j = 0 .. 4: stochastic %K-fast for %K and %D), from
            lags: the window tree cannot end its frame before the current row cheaply. -#}
        {%- for j in range(5) %}
        case when series_row >= {{ 14 + j }} then greatest({{ rows_back('high', j + 14)[j:] | join(', ') }}) end as highest_14_back_{{ j }},
        case when series_row >= {{ 14 + j }} then least({{ rows_back('low', j + 14)[j:] | join(', ') }}) end as lowest_14_back_{{ j }},
        {{ rows_back('close', j + 1)[j] }} as close_back_{{ j }},
        {%- endfor %}
        {{ rolling_full('avg(typical_price)', 20) }} as typical_sma_20,
        {#- CCI's mean absolute deviation needs this mean beside each of the 20 values: the values are
            carried out of the pass as columns and folded below (inline, the mean would be recomputed
            for each term). -#}
        count(typical_price) over {{ rolling_frame(20) }} as typical_rows_20,
        {%- for k in range(1, 20) %}
        {{ lag_by('typical_price', k) }} as typical_price_back_{{ k }},
        {%- endfor %}
        {{ rows_since_extreme('high', 25, 'max') }} as rows_since_high_25,
        {{ rows_since_extreme('low', 25, 'min') }} as rows_since_low_25,
        count(*) over ({{ series_order() }} rows between 25 preceding and current row) as rows_26,
        {{ lag_by('close', 10) }} as close_10_back,
        {%- for n in [7, 14, 28] %}
        {{ rolling('sum(buying_pressure)', n) }} as ult_pressure_sum_{{ n }},
        {{ rolling('sum(ult_range)', n) }} as ult_range_sum_{{ n }},
        {%- endfor %}
        {{ rolling('count(ult_range)', 28) }} as ult_rows_28,
        {{ rolling_full('max(high)', 20) }} as donchian_high_20,
        {{ rolling_full('min(low)', 20) }} as donchian_low_20,
        {{ rolling_full_of(rolling_linreg_slope('close', 20), 20) }} as linreg_slope_20
    from numbered
),

fast_k as (
    select
        *,
        highest_14_back_0 as highest_14,
        lowest_14_back_0 as lowest_14,
        {#- Added newest first, NULLs skipped (TA-Lib CCI's divisor). -#}
        ({% for k in range(20) %}{{ ' + ' if k }}coalesce(abs({{ 'typical_price_back_' ~ k if k else 'typical_price' }} - typical_sma_20), 0){% endfor %})
            / nullif(typical_rows_20, 0) as typical_mad_20,
        {%- for j in range(5) %}
        case when not {{ within_rounding('highest_14_back_' ~ j ~ ' - lowest_14_back_' ~ j,
                                         'abs(highest_14_back_' ~ j ~ ') + abs(lowest_14_back_' ~ j ~ ')') }}
                 then 100 * (close_back_{{ j }} - lowest_14_back_{{ j }}) / (highest_14_back_{{ j }} - lowest_14_back_{{ j }})
             when highest_14_back_{{ j }} is not null then 0 end as stoch_fast_k_14_back_{{ j }}{{ ',' if not loop.last }}
        {%- endfor %}
    from windows
),

{#- %K j bars back: the mean of %K-fast j, j+1 and j+2 bars back (all three present), added newest
    first; %D (in computed) is the mean of %K 0, 1 and 2 bars back. -#}
oscillators as (
    select
        *,
        {%- for j in range(3) %}
        case when {% for i in range(j, j + 3) %}stoch_fast_k_14_back_{{ i }} is not null{{ ' and ' if not loop.last }}{% endfor %}
            then ({% for i in range(j, j + 3) %}stoch_fast_k_14_back_{{ i }}{{ ' + ' if not loop.last }}{% endfor %}) / 3 end as stoch_k_14_back_{{ j }}{{ ',' if not loop.last }}
        {%- endfor %}
    from fast_k
),

computed as (
    select
        {{ series_keys() }},

        ---------- moving averages
        sma_10,
        sma_20,
        sma_50,
        wma_20_numerator / 210.0 as wma_20,
        100 * (sma_12 - sma_26) / nullif(sma_26, 0) as ppo_12_26,
        linreg_slope_20,

        ---------- oscillators (stoch %K is published from the bar %D exists, as TA-Lib aligns them)
        case when stoch_k_14_back_2 is not null and stoch_k_14_back_1 is not null then stoch_k_14_back_0 end as stoch_k_14,
        case when stoch_k_14_back_2 is not null and stoch_k_14_back_1 is not null
            then (stoch_k_14_back_0 + stoch_k_14_back_1 + stoch_k_14_back_2) / 3 end as stoch_d_3,
        {#- TA-Lib WILLR and STOCH (0.8): a range within rounding of the prices is no range, 0 (closes
            0.3 and 0.1 + 0.2, one ulp apart, made -100). -#}
        case when not {{ within_rounding('highest_14 - lowest_14', 'abs(highest_14) + abs(lowest_14)') }}
                 then -100 * (highest_14 - close) / (highest_14 - lowest_14)
             when highest_14 is not null then 0 end as willr_14,
        {#- TA-Lib CCI (0.8): 0 when the deviation from the mean or the mean absolute deviation is within
            1e-14 of the mean, the rule TA-Lib applies (a flat window's mean here is exactly its value). -#}
        case when typical_sma_20 is null then null
             when {{ within_rounding('typical_price - typical_sma_20', 'typical_sma_20') }}
                  or {{ within_rounding('typical_mad_20', 'typical_sma_20') }} then 0
             else (typical_price - typical_sma_20) / (0.015 * typical_mad_20) end as cci_20,
        case when rows_26 = 26 then 100 * (25 - rows_since_high_25) / 25.0 end as aroon_up_25,
        case when rows_26 = 26 then 100 * (25 - rows_since_low_25) / 25.0 end as aroon_down_25,
        case when rows_26 = 26 then 100 * (rows_since_low_25 - rows_since_high_25) / 25.0 end as aroon_osc_25,
        100 * (close / close_10_back - 1) as roc_10,
        close - close_10_back as mom_10,
        {#- TA-Lib ULTOSC (0.8): a window whose true ranges sum to 0 (flat bars only) adds nothing, and
            the weights are not renormalised. -#}
        case when ult_rows_28 = 28 then 100 * (
            {%- for weight, n in [(4, 7), (2, 14), (1, 28)] %}
            {{ '+ ' if not loop.first }}{{ weight }} * case when ult_range_sum_{{ n }} > 0
                then ult_pressure_sum_{{ n }} / ult_range_sum_{{ n }} else 0 end
            {%- endfor %}
        ) / 7 end as ultosc_7_14_28,

        ---------- channels
        donchian_high_20,
        donchian_low_20,
        (donchian_high_20 + donchian_low_20) / 2 as donchian_mid_20
    from oscillators
)

select * from computed
{{ keep_partition_window() }}
