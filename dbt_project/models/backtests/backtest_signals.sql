{#-
  Signal events of every active strategy spec: one row per (strategy instance, symbol, bar) where an
  entry or exit condition holds. One generic model fed by the specs: python_assets compiles each
  YAML spec to a SELECT over the features (placeholder __FEATURES__) and publishes it in the
  strategy_specs table; this model stitches them together. Conditions read bars <= t only.
-#}
{%- set specs = source('backtest_inputs', 'strategy_specs') -%}
{%- set features = ref('features') -%}
{%- set rows = [] -%}
{%- if execute -%}
    {%- set found = adapter.get_relation(database=specs.database, schema=specs.schema, identifier=specs.identifier) -%}
    {%- if found -%}
        {%- set rows = run_query("select strategy_id, signal_sql from " ~ specs ~ " where active order by strategy_id").rows -%}
    {%- endif -%}
{%- endif -%}

{% if rows | length > 0 %}
{% for row in rows %}
select strategy_id, symbol, timeframe, bar_at_ms, {{ epoch_ms_to_timestamptz('bar_at_ms') }} as bar_at,
    entry_long, exit_long, entry_short, exit_short
from ({{ row[1] | replace('__FEATURES__', features | string) }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% else %}
select
    cast(null as varchar) as strategy_id,
    cast(null as varchar) as symbol,
    cast(null as varchar) as timeframe,
    cast(null as bigint) as bar_at_ms,
    cast(null as timestamptz) as bar_at,
    cast(null as boolean) as entry_long,
    cast(null as boolean) as exit_long,
    cast(null as boolean) as entry_short,
    cast(null as boolean) as exit_short
where false
{% endif %}
