{#- Epoch milliseconds -> TIMESTAMPTZ (UTC). Exact: integer microseconds, no float rounding. -#}
{% macro epoch_ms_to_timestamptz(column) -%}
  {{ return(adapter.dispatch('epoch_ms_to_timestamptz', 'blofin_stack')(column)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamptz(column) -%}
  timestamp_millis({{ column }})
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamptz(column) -%}
  make_timestamptz(({{ column }})::bigint * 1000)
{%- endmacro %}

{#- Start of the UTC bucket of width interval_ms that contains an epoch-ms timestamp. -#}
{% macro floor_epoch_ms(column, interval_ms) -%}
  ({{ column }} - ({{ column }} % {{ interval_ms }}))
{%- endmacro %}

{#- Whole minutes in a span of ms, rounded down on every engine: cast(ms / 60000 as bigint) rounds in
    DuckDB but truncates in Spark, which differ for a span off the minute grid. Exact below 2^53 ms. -#}
{% macro floor_minutes(ms) -%}
  cast(floor(({{ ms }}) / {{ minute_ms() }}) as bigint)
{%- endmacro %}

{#- Rows whose date column lies in the partition window [min_date, max_date), widened by lookback days. -#}
{% macro in_partition_window(date_column, lookback_days=0) -%}
  {{ date_column }} >= (date '{{ partition_bound("min_date") }}' - interval '{{ lookback_days }} day')
  and {{ date_column }} < date '{{ partition_bound("max_date") }}'
{%- endmacro %}

{#- Rows a build for the partition window may read or write: the window (widened by lookback days) in an
    incremental run; every day before the window's end in a full build (a first build, --full-refresh), so
    that a day's build never writes a later day (recorder_coverage). -#}
{% macro in_build_window(date_column, lookback_days=0) -%}
  {%- if is_incremental() -%}
  {{ in_partition_window(date_column, lookback_days) }}
  {%- else -%}
  {{ date_column }} < date '{{ partition_bound("max_date") }}'
  {%- endif -%}
{%- endmacro %}

{#- A bound of the partition window [min_date, max_date) as 'YYYY-MM-DD': the var when given (`dbt build
    --vars` by hand), else BLOFIN_DBT_MIN_DATE / BLOFIN_DBT_MAX_DATE (how Dagster passes a run's window),
    else everything. The environment is read only when executing: a window known at parse time (a new
    --vars each day) makes dbt re-parse the whole project, about 6 s a run; the SQL parsed never runs. -#}
{% macro partition_bound(name) -%}
  {%- set defaults = {'min_date': '1970-01-01', 'max_date': '2100-01-01'} -%}
  {%- set given = var(name, none) -%}
  {%- if given is not none and given | string != '' -%}
    {{ return((given | string)[:10]) }}
  {%- elif execute -%}
    {{ return(env_var('BLOFIN_DBT_' ~ name | upper, defaults[name])[:10]) }}
  {%- endif -%}
  {{ return(defaults[name]) }}
{%- endmacro %}

{#- UTC calendar date of an epoch-ms timestamp, independent of the session time zone. -#}
{% macro epoch_ms_to_utc_date(column) -%}
  {{ return(adapter.dispatch('epoch_ms_to_utc_date', 'blofin_stack')(column)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_utc_date(column) -%}
  cast(timestamp_millis({{ column }}) as date)
{%- endmacro %}

{% macro duckdb__epoch_ms_to_utc_date(column) -%}
  cast(epoch_ms(({{ column }})::bigint) as date)
{%- endmacro %}

{#- Spark: whole UTC days since the epoch, so the session time zone plays no part. -#}
{% macro spark__epoch_ms_to_utc_date(column) -%}
  date_from_unix_date(cast(floor(({{ column }}) / {{ day_ms() }}) as int))
{%- endmacro %}

{#- Epoch ms of 00:00 UTC of a DATE column. -#}
{% macro date_to_epoch_ms(column) -%}
  {{ return(adapter.dispatch('date_to_epoch_ms', 'blofin_stack')(column)) }}
{%- endmacro %}

{#- unix_date is an INT: widened first, or days x day_ms overflows (silently, outside ANSI mode). -#}
{% macro default__date_to_epoch_ms(column) -%}
  (cast(unix_date({{ column }}) as bigint) * {{ day_ms() }})
{%- endmacro %}

{% macro duckdb__date_to_epoch_ms(column) -%}
  (cast(date_diff('day', date '1970-01-01', {{ column }}) as bigint) * {{ day_ms() }})
{%- endmacro %}

{#- numerator / denominator as DOUBLE, NULL when the denominator is 0 or NULL (vwap of DECIMAL volumes).
    DuckDB divides DECIMALs as DOUBLEs; Spark would keep a DECIMAL(38, 6) quotient (6 decimals only). -#}
{% macro ratio_as_double(numerator, denominator) -%}
  {{ return(adapter.dispatch('ratio_as_double', 'blofin_stack')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__ratio_as_double(numerator, denominator) -%}
  cast({{ safe_divide(numerator, denominator) }} as double)
{%- endmacro %}

{% macro spark__ratio_as_double(numerator, denominator) -%}
  {{ safe_divide('cast(' ~ numerator ~ ' as double)', 'cast(' ~ denominator ~ ' as double)') }}
{%- endmacro %}

{#- Pre-hook of the date-windowed incremental models (bars, the feature families, the daily summary):
    delete the window's days before the run writes them again. delete+insert on (symbol, date) keys
    deletes only the keys the new rows have, so a symbol-day gone from the lake (a corrupt file removed)
    stayed in those tables, unlike a full rebuild. A Python model (feat_recursive) commits the delete
    and starts a new transaction: dbt-duckdb writes its batch from another cursor, which a transaction
    that had already read the warehouse cannot see (the schema-change check then found no columns, and
    a table from before bar_date never gained its new ones); a table without the date column yet is
    left to that run's full pass. On Spark too: its dynamic insert_overwrite replaces only the date
    partitions the new rows fill, so a day of the window that now yields no row kept its old ones. -#}
{% macro clear_partition_window(date_column) -%}
  {{ return(adapter.dispatch('clear_partition_window', 'blofin_stack')(date_column)) }}
{%- endmacro %}

{% macro default__clear_partition_window(date_column) -%}{%- endmacro %}

{#- Spark: drop the window's date partitions (Parquet tables have no DELETE), listed from the metastore, in
    one statement; Delta (Databricks, not run here) deletes them. Only a table partitioned by date_column:
    the others on Spark (labels_h12, feat_recursive) are rebuilt whole every run. -#}
{% macro spark__clear_partition_window(date_column) -%}
  {%- if is_incremental() and config.get('partition_by') == date_column -%}
    {%- if config.get('file_format') == 'delta' -%}
  delete from {{ this }} where {{ in_partition_window(date_column) }}
    {%- else -%}
      {%- set low, high = partition_bound('min_date'), partition_bound('max_date') -%}
      {%- set days = [] -%}
      {%- for row in run_query('show partitions ' ~ this) -%}
        {%- set day = (row[0] | string).split('=', 1)[-1] -%}
        {%- if low <= day < high -%}{%- do days.append(day) -%}{%- endif -%}
      {%- endfor -%}
      {%- if days -%}
  alter table {{ this }} drop if exists
        {%- for day in days %} partition ({{ date_column }} = '{{ day }}'){{ ',' if not loop.last }}{% endfor %}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__clear_partition_window(date_column) -%}
  {%- if is_incremental() -%}
    {%- if model.language == 'python' -%}
      {#- run_query opens no transaction (adapter.get_columns_in_relation would) -#}
      {%- set found = run_query("select count(*) from (describe " ~ this ~ ") where column_name = '" ~ date_column ~ "'") -%}
      {%- if found.columns[0].values()[0] > 0 -%}
  delete from {{ this }} where {{ in_partition_window(date_column) }}; commit; begin transaction
      {%- endif -%}
    {%- else -%}
  delete from {{ this }} where {{ in_partition_window(date_column) }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
