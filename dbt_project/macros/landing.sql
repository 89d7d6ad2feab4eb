{#- The landing tables python_assets writes (the sources in schema `main`) as dbt on Spark sees them.
    Python keeps them in its DuckDB working copy of the warehouse; before each dbt call on Spark the
    warehouse resource (dagster_defs/resources.py) exports each one as Parquet under
    BLOFIN_SPARK_LANDING/<table>/ and names them in BLOFIN_SPARK_LANDING_TABLES, and this hook
    (on-run-start) points the external table main.<table> at that folder, so every `source(...)` of a
    landing table resolves on Spark as it does on DuckDB. Read only at execution (no re-parse per call). -#}
{% macro register_landing_tables() -%}
  {{ return(adapter.dispatch('register_landing_tables', 'blofin_stack')()) }}
{%- endmacro %}

{#- DuckDB: the landing tables are the warehouse's own tables; nothing to register. -#}
{% macro default__register_landing_tables() -%}
  select 1
{%- endmacro %}

{% macro spark__register_landing_tables() -%}
  {%- set root = env_var('BLOFIN_SPARK_LANDING', '') if execute else '' -%}
  {%- if root -%}
    {%- set names = env_var('BLOFIN_SPARK_LANDING_TABLES', '').split(',') | reject('equalto', '') | list -%}
    {%- do run_query('create database if not exists main') -%}
    {#- a table registered by an earlier call that Python no longer has is dropped, so a model sees it absent -#}
    {%- for row in run_query('show tables in main') -%}
      {%- if not row[2] and row[1] not in names -%}
        {%- do run_query('drop table if exists main.`' ~ row[1] ~ '`') -%}
      {%- endif -%}
    {%- endfor -%}
    {%- for name in names -%}
      {#- an external table: dropping it leaves the files; recreated so a changed column list is seen -#}
      {%- set location = (root ~ '/' ~ name) | replace('\\', '\\\\') | replace("'", "\\'") -%}
      {%- do run_query('drop table if exists main.`' ~ name ~ '`') -%}
      {%- do run_query('create table main.`' ~ name ~ "` using parquet location '" ~ location ~ "'") -%}
    {%- endfor -%}
  {%- endif -%}
  select 1
{%- endmacro %}
