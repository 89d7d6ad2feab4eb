{#- True when a glob under the lake matches at least one file. At parse time (no execution) it
    answers true so that the source() call after it is always recorded in the DAG. -#}
{% macro lake_has_files(relative_glob) -%}
  {%- if not execute -%}
    {{ return(true) }}
  {%- endif -%}
  {{ return(adapter.dispatch('lake_has_files', 'blofin_stack')(relative_glob)) }}
{%- endmacro %}

{#- Engines without a SQL glob (Spark, Trino) read a lake that the ingestion jobs keep populated. -#}
{% macro default__lake_has_files(relative_glob) -%}
  {{ return(true) }}
{%- endmacro %}

{% macro duckdb__lake_has_files(relative_glob) -%}
  {%- set query -%}
    select count(*) from glob('{{ lake_dir() }}/{{ relative_glob }}')
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Root of the Parquet lake at run time (the Python side pins BLOFIN_DATA_DIR to an absolute path), for
    checks made while dbt runs; what views store names `lake/...` relative to the data dir instead. -#}
{% macro lake_dir() -%}
  {{ env_var('BLOFIN_DATA_DIR', '../data') }}/lake
{%- endmacro %}

{#- A relation with the given (name, type) columns and no rows: what a staging model returns while
    the lake has no files for it yet (read_parquet fails on an empty glob). -#}
{% macro empty_relation(columns) -%}
select
    {%- for name, type in columns %}
    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
where false
{%- endmacro %}
