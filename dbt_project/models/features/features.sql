{#- One row per symbol, timeframe and bar with every registered feature: the table strategies and
    models read. A view over the family models (no copy of the data). -#}

with

bars as (
    select symbol, timeframe, bar_at_ms, bar_at, bar_date, open, high, low, close, volume
    from {{ ref('int_bars_unioned') }}
)

select
    bars.*,
    {% for family in ['feat_price', 'feat_volume', 'feat_volatility', 'feat_technical', 'feat_recursive', 'feat_regime', 'feat_htf_context'] %}
    {{ family }}.* exclude (symbol, timeframe, bar_at_ms{% if family != 'feat_recursive' %}, bar_at, bar_date{% endif %}){% if not loop.last %},{% endif %}
    {% endfor %}
from bars
{% for family in ['feat_price', 'feat_volume', 'feat_volatility', 'feat_technical', 'feat_recursive', 'feat_regime', 'feat_htf_context'] %}
left join {{ ref(family) }} as {{ family }} using (symbol, timeframe, bar_at_ms)
{% endfor %}
