{#- True when a glob under the lake matches at least one file. At parse time (no execution) it
    answers true so that the source() call after it is always recorded in the DAG. -#}
{% macro lake_has_files(relative_glob) -%}
  {%- if not execute -%}
    {{ return(true) }}
  {%- endif -%}
  {%- set query -%}
    select count(*) from glob('{{ lake_dir() }}/{{ relative_glob }}')
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Root of the Parquet lake; the Python side pins BLOFIN_DATA_DIR to an absolute path. -#}
{% macro lake_dir() -%}
  {{ env_var('BLOFIN_DATA_DIR', '../data') }}/lake
{%- endmacro %}
