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
from ({{ engine_sql(row[1]) | replace('__FEATURES__', features | string) }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% else %}
{{ empty_relation([
    ('strategy_id', 'varchar'),
    ('symbol', 'varchar'),
    ('timeframe', 'varchar'),
    ('bar_at_ms', 'bigint'),
    ('bar_at', 'timestamptz'),
    ('entry_long', 'boolean'),
    ('exit_long', 'boolean'),
    ('entry_short', 'boolean'),
    ('exit_short', 'boolean')
]) }}
{% endif %}
