{#-
  The newest bar's prediction per model and symbol, per partition day: the report's prediction table.
-#}

{%- set predictions_src = source('ml_outputs', 'ml_predictions') -%}
{% if relation_exists(predictions_src) %}

with

predictions as (
    select partition_date, model, version, symbol, timeframe, bar_at_ms, bar_at, prediction, p_down, p_flat, p_up
    from {{ predictions_src }}
)

select * from predictions

{% else %}

{{ empty_relation([('partition_date', 'date'), ('model', 'varchar'), ('version', 'varchar'), ('symbol', 'varchar'),
                   ('timeframe', 'varchar'), ('bar_at_ms', 'bigint'), ('bar_at', 'timestamp with time zone'),
                   ('prediction', 'double'), ('p_down', 'double'), ('p_flat', 'double'), ('p_up', 'double')]) }}

{% endif %}
