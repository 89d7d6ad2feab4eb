{#- Whether a relation (a source a Python asset creates) exists yet. True while dbt parses, so the
    model's source() calls are always recorded for lineage; at run time a model built on a fresh
    warehouse, before the research step ever ran, selects no rows instead of failing. -#}
{% macro relation_exists(relation) -%}
  {%- if not execute or relation.schema is none -%}
    {#- a unit test's given rows stand in for the relation (a CTE name, not a warehouse relation) -#}
    {{ return(true) }}
  {%- endif -%}
  {{ return(load_relation(relation) is not none) }}
{%- endmacro %}
