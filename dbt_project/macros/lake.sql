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

{#- Spark: list the lake's files once per session (a temp view over binaryFile, contents never read) and
    match the glob against their paths: reading a path that matches nothing fails on Spark. -#}
{% macro spark__lake_has_files(relative_glob) -%}
  {#- anchored at the lake dir's own name: listed paths carry a scheme (file:, s3a:), the setting may not -#}
  {%- set root = lake_location().rstrip('/').split('/')[-1] -%}
  {%- set pattern = '/' ~ modules.re.escape(root ~ '/' ~ relative_glob).replace('\\*', '[^/]*') ~ '$' -%}
  {%- do run_query("create or replace temporary view blofin_lake_files using binaryFile options (path '"
      ~ spark_string(lake_location()) ~ "', recursiveFileLookup 'true', pathGlobFilter '*.parquet')") -%}
  {%- set query -%}
    select count(*) from blofin_lake_files where path rlike '{{ spark_string(pattern) }}'
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- The text of a Spark SQL string literal ('...'): a backslash escapes there, so \ and ' are escaped with it
    (a lake path with a quote in it broke the statement). -#}
{% macro spark_string(text) -%}
  {{ return(text | replace('\\', '\\\\') | replace("'", "\\'")) }}
{%- endmacro %}

{% macro duckdb__lake_has_files(relative_glob) -%}
  {%- set query -%}
    select count(*) from glob('{{ dbt.escape_single_quotes(lake_dir() | trim) }}/{{ relative_glob }}')
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Root of the Parquet lake at run time (the Python side pins BLOFIN_DATA_DIR to an absolute path), for
    checks made while dbt runs; what views store names `lake/...` relative to the data dir instead. -#}
{% macro lake_dir() -%}
  {{ env_var('BLOFIN_DATA_DIR', '../data') }}/lake
{%- endmacro %}

{#- A lake dataset to select from (name: a table of the `lake` source). DuckDB: the source itself (its
    meta.external_location is a read_parquet over the hive-partitioned glob). Spark: a direct Parquet read
    of the dataset's root directory, which discovers the partition columns (symbol, timeframe, date). -#}
{% macro lake_source(name) -%}
  {{ return(adapter.dispatch('lake_source', 'blofin_stack')(source('lake', name), name)) }}
{%- endmacro %}

{% macro default__lake_source(relation, name) -%}
  {{ return(relation) }}
{%- endmacro %}

{% macro spark__lake_source(relation, name) -%}
  {%- set node = graph.sources.get('source.blofin_stack.lake.' ~ name) if execute else none -%}
  {%- if node is none -%}{{ return(relation) }}{%- endif -%}
  {#- 'lake/trades/*/*/trades.parquet' -> the dataset root 'trades' -#}
  {%- set glob = modules.re.search("'lake/([^']*)'", node.meta.external_location).group(1) -%}
  {%- set root = glob.split('*')[0].rstrip('/') -%}
  parquet.`{{ lake_location() }}/{{ root }}`
{%- endmacro %}

{#- Where Spark reads the lake: BLOFIN_LAKE_URI (s3a://..., abfss://... on a cluster), else the local lake dir. -#}
{% macro lake_location() -%}
  {{ return(env_var('BLOFIN_LAKE_URI', lake_dir() | trim)) }}
{%- endmacro %}

{#- A SQL type name of the engine for a DuckDB-style name (varchar, timestamptz): the models spell
    types one way, Spark needs string and timestamp (its session-zone TIMESTAMP_LTZ, UTC here). -#}
{% macro sql_type(name) -%}
  {{ return(adapter.dispatch('sql_type', 'blofin_stack')(name)) }}
{%- endmacro %}

{% macro default__sql_type(name) -%}
  {{ return(name) }}
{%- endmacro %}

{% macro spark__sql_type(name) -%}
  {{ return({'varchar': 'string', 'timestamptz': 'timestamp', 'timestamp with time zone': 'timestamp',
             'json': 'string'}.get(name | lower, name)) }}
{%- endmacro %}

{#- A relation with the given (name, type) columns and no rows: what a staging model returns while
    the lake has no files for it yet (read_parquet fails on an empty glob). -#}
{% macro empty_relation(columns) -%}
select
    {%- for name, type in columns %}
    cast(null as {{ sql_type(type) }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
where false
{%- endmacro %}

{#- For `make docs` only, on its copy of the warehouse: a view named as each lake source that has files (schema
    lake), so that dbt docs' catalog gives the lake's columns their types, as it gives the models' (the sources
    are read_parquet calls, which a catalog does not list). Never run on the warehouse itself. -#}
{% macro docs_lake_views() -%}
  {{ return(adapter.dispatch('docs_lake_views', 'blofin_stack')()) }}
{%- endmacro %}

{% macro default__docs_lake_views() -%}
  {{ log("docs_lake_views: only the DuckDB target catalogs the lake this way", info=true) }}
{%- endmacro %}

{% macro duckdb__docs_lake_views() -%}
  {%- if not target.path.endswith('docs_warehouse.duckdb') -%}
    {{ exceptions.raise_compiler_error("docs_lake_views makes views for dbt docs in make docs' copy of the warehouse "
                                       ~ "(docs_warehouse.duckdb), never in " ~ target.path) }}
  {%- endif -%}
  {%- for source in graph.sources.values() if source.source_name == 'lake' and source.meta.external_location -%}
    {%- set found = modules.re.search("'lake/([^']*)'", source.meta.external_location) -%}
    {%- if found and lake_has_files(found.group(1)) -%}
      {%- do run_query('create schema if not exists ' ~ adapter.quote(source.schema)) -%}
      {%- do run_query('create or replace view ' ~ adapter.quote(source.schema) ~ '.' ~ adapter.quote(source.identifier)
                       ~ ' as select * from ' ~ source.meta.external_location) -%}
    {%- endif -%}
  {%- endfor -%}
{%- endmacro %}
