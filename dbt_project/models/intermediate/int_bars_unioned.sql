{#- Every timeframe's bars in one relation, keyed by (symbol, timeframe, bar_at_ms), so each feature
    is defined once and computed per (symbol, timeframe) series. Volumes become DOUBLE here: features
    are floating-point arithmetic. -#}
{% set timeframes = timeframe_ms() %}
-- depends_on: {{ ref('timeframes') }} (the seed that timeframe_ms() is generated from)

with

{% for tf, ms in timeframes.items() %}
bars_{{ tf }} as (
    select
        symbol,
        '{{ tf }}' as timeframe,
        cast({{ ms }} as bigint) as timeframe_ms,
        bar_at_ms,
        bar_at,
        bar_date,
        open,
        high,
        low,
        close,
        cast(volume as double) as volume,
        cast(volume_quote as double) as volume_quote,
        vwap,
        trade_count,
        cast(buy_volume as double) as buy_volume,
        cast(sell_volume as double) as sell_volume
    from {{ ref('bars_' ~ tf) }}
),
{% endfor %}

unioned as (
    {% for tf in timeframes %}
    select * from bars_{{ tf }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from unioned
