{#- One row per symbol, timeframe and bar with every registered feature: the table strategies and
    models read. On DuckDB a view over the family models (no copy of the data); on Spark a table of the
    run's date partitions (dbt_project.yml says why). feat_recursive's resume_state (the carried
    recursion state of its incremental runs) is not a feature and stays out. -#}

with

bars as (
    select symbol, timeframe, bar_at_ms, bar_at, bar_date, open, high, low, close, volume
    from {{ ref('int_bars_unioned') }}
    {{ keep_partition_window() }}
)

select
    bars.*,
    {% for family in ['feat_price', 'feat_volume', 'feat_volatility', 'feat_technical', 'feat_recursive', 'feat_regime', 'feat_htf_context'] %}
    {%- set keys = ['symbol', 'timeframe', 'bar_at_ms', 'bar_date', 'resume_state'] if family == 'feat_recursive' else ['symbol', 'timeframe', 'bar_at_ms', 'bar_at', 'bar_date'] %}
    {{ star_except(ref(family), family, keys) }}{% if not loop.last %},{% endif %}
    {% endfor %}
from bars
{% for family in ['feat_price', 'feat_volume', 'feat_volatility', 'feat_technical', 'feat_recursive', 'feat_regime', 'feat_htf_context'] %}
left join {{ ref(family) }} as {{ family }} using (symbol, timeframe, bar_at_ms)
{% endfor %}
