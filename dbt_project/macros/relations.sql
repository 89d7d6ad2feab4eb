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

{#- dbt-duckdb 1.11 writes the "temporary" relation of an incremental Python model run as a real
    table (py_write_table ignores `temporary`) and then leaves it, as it only drops non-temporary
    ones: one stray table per daily run. A post-hook of such a model drops them after the merge. -#}
{% macro drop_python_model_temp_tables() -%}
  {{ return(adapter.dispatch('drop_python_model_temp_tables', 'blofin_stack')()) }}
{%- endmacro %}

{#- Other engines: dbt's own temporary relations, nothing left to drop. -#}
{% macro default__drop_python_model_temp_tables() -%}
{%- endmacro %}

{% macro duckdb__drop_python_model_temp_tables() -%}
  {%- if execute -%}
    {%- set stray = run_query("select table_name from information_schema.tables where table_catalog = '" ~ this.database
        ~ "' and table_schema = '" ~ this.schema ~ "' and starts_with(table_name, '" ~ this.identifier ~ "__dbt_tmp')") -%}
    {%- for row in stray.rows %}drop table if exists {{ this.database }}.{{ this.schema }}."{{ row[0] }}";{% endfor -%}
  {%- endif -%}
{%- endmacro %}
