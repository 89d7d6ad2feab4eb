{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#- Higher-timeframe context on every lower-timeframe bar: regime and RSI of the last *closed*
    1h, 4h and 1d bar (NULL on bars of that timeframe or above). -#}
{% set higher_timeframes = higher_timeframe_ms() %}

with

lower as (
    select symbol, timeframe, bar_at_ms, bar_at, bar_date, timeframe_ms, bar_at_ms + timeframe_ms as closes_at_ms
    from {{ ref('int_bars_unioned') }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    {% endif %}
),

{% for tf, ms in higher_timeframes.items() %}
higher_{{ tf }} as (
    select
        regime.symbol,
        regime.bar_at_ms + {{ ms }} as closes_at_ms,
        regime.regime,
        recursive.rsi_14
    from {{ ref('feat_regime') }} as regime
    inner join {{ ref('feat_recursive') }} as recursive using (symbol, timeframe, bar_at_ms)
    where regime.timeframe = '{{ tf }}'
),

{% endfor %}

{#- One join after another on the lower bars (no join back by key per timeframe). -#}
computed as (
    select
        lower.symbol,
        lower.timeframe,
        lower.bar_at_ms,
        lower.bar_at,
        lower.bar_date,
        {%- for tf, ms in higher_timeframes.items() %}
        case when lower.timeframe_ms < {{ ms }} then higher_{{ tf }}.regime end as htf_{{ tf }}_regime,
        case when lower.timeframe_ms < {{ ms }} then higher_{{ tf }}.rsi_14 end as htf_{{ tf }}_rsi_14{{ ',' if not loop.last }}
        {%- endfor %}
    from lower
    {%- for tf in higher_timeframes %}
    {{ join_last_closed('lower', 'higher_' ~ tf) }}
    {%- endfor %}
)

select * from computed
