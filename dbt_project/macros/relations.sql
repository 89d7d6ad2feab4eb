{#- Every column of a joined relation but the listed ones (the join keys repeated by each family).
    DuckDB says it in one clause; other engines get the column list from the catalog. -#}
{% macro star_except(relation, alias, except) -%}
  {{ return(adapter.dispatch('star_except', 'blofin_stack')(relation, alias, except)) }}
{%- endmacro %}

{% macro default__star_except(relation, alias, except) -%}
  {%- if not execute -%}
    {{ return(alias ~ '.*') }}
  {%- endif -%}
  {%- set skip = except | map('lower') | list -%}
  {%- set names = [] -%}
  {%- for column in adapter.get_columns_in_relation(relation) if column.name | lower not in skip -%}
    {%- do names.append(alias ~ '.' ~ adapter.quote(column.name)) -%}
  {%- endfor -%}
  {{ return(names | join(', ')) }}
{%- endmacro %}

{% macro duckdb__star_except(relation, alias, except) -%}
  {{ return(alias ~ '.* exclude (' ~ (except | join(', ')) ~ ')') }}
{%- endmacro %}
