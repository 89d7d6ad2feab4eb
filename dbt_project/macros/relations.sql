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

{#- The Python that writes a Python model's returned table. dbt-duckdb's (called from its create_table_as)
    first imports pyarrow.dataset for an Arrow table, a workaround for an old DuckDB that could not scan one
    without it (duckdb#6584). DuckDB 2.x scans it as is, and that import (Arrow's dataset and Parquet
    libraries, ~45 MiB) stayed in the dbt process for every later model of the build. A root-project macro
    of this name replaces every adapter's (dbt-spark's has other arguments), so any other adapter gets its
    own back through `dbt.` (the internal packages' namespace), with the arguments it passed. -#}
{% macro py_write_table() -%}
  {{ return(adapter.dispatch('py_write_table', 'blofin_stack')(**kwargs)) }}
{%- endmacro %}

{% macro default__py_write_table() -%}
  {{ return(dbt.py_write_table(**kwargs)) }}
{%- endmacro %}

{#- dbt-duckdb's statements without the pyarrow.dataset import. -#}
{% macro duckdb__py_write_table(temporary, relation, compiled_code, partitioned_by=none, sorted_by=none) -%}
{{ compiled_code }}

def materialize(df, con):
    tmp_name = '__dbt_python_model_df_' + '{{ relation.identifier }}'
    con.register(tmp_name, df)
    {% if partitioned_by or sorted_by %}
    con.execute('create table {{ relation }} as select * from ' + tmp_name + ' limit 0')
    {% if partitioned_by %}
    con.execute('alter table {{ relation }} set partitioned by ({{ partitioned_by }})')
    {% endif %}
    {% if sorted_by %}
    con.execute('alter table {{ relation }} set sorted by ({{ sorted_by }})')
    {% endif %}
    con.execute('insert into {{ relation }} select * from ' + tmp_name)
    {% else %}
    con.execute('create table {{ relation }} as select * from ' + tmp_name)
    {% endif %}
    con.unregister(tmp_name)
{%- endmacro %}
