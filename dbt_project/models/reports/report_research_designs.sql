{#-
  The designs each research day proposed (catalog, random, mutation, crossover) with their parents:
  the report's "new designs" list.
-#}

{%- set designs_src = source('research_outputs', 'strategy_designs') -%}
{% if relation_exists(designs_src) %}

with

designs as (
    select created_date, design_id, design_key, origin, cast(parents as {{ sql_type('varchar') }}) as parents, timeframe
    from {{ designs_src }}
)

select * from designs

{% else %}

{{ empty_relation([('created_date', 'date'), ('design_id', 'varchar'), ('design_key', 'varchar'),
                   ('origin', 'varchar'), ('parents', 'varchar'), ('timeframe', 'varchar')]) }}

{% endif %}
