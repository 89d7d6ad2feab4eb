{#- After each model of a one-thread run (every warehouse build: DbtRunConfig.build_threads): DuckDB's buffer manager
    keeps every table block a query read or wrote until its memory limit presses, and the default limit
    is 80 % of the machine, so a dbt process grows with each model it runs (120 days of the demo: ~250
    MiB of cached blocks by the last models, on top of the model at hand). A limit just above what is not
    cached (in-memory tables, which a lower one would spill to disk) evicts the cached blocks, which are
    on disk anyway, and hands their memory back; RESET then restores the default limit exactly. Not with
    two threads (another model's query may be running, and its allocations would fail under the brief
    limit), nor where the profile sets its own memory_limit in settings or config_options (RESET would drop
    it). An after-commit hook (dbt_project.yml): the model's writes are committed and its temporary
    relations gone before, and a failure here could not roll them back. Not after a view either: creating
    one reads no table block (a hook query and a statement saved per view). Other engines: nothing. -#}
{% macro release_buffer_cache() -%}
  {{ return(adapter.dispatch('release_buffer_cache', 'blofin_stack')()) }}
{%- endmacro %}

{% macro default__release_buffer_cache() -%}
{%- endmacro %}

{% macro duckdb__release_buffer_cache() -%}
  {%- set own = ((target.get('settings') or {}).keys() | list) + ((target.get('config_options') or {}).keys() | list) -%}
  {%- set own = own | map('lower') | list -%}
  {%- if execute and target.threads == 1 and 'memory_limit' not in own and 'max_memory' not in own
        and config.get('materialized') != 'view' -%}
    {%- set kept = run_query("select coalesce(sum(memory_usage_bytes), 0) // 1048576 from duckdb_memory() "
                             ~ "where tag <> 'BASE_TABLE'").columns[0].values()[0] -%}
    set memory_limit = '{{ kept + 64 }}MiB';
    reset memory_limit
  {%- endif -%}
{%- endmacro %}
