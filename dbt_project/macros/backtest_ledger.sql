{#- The ledger's backtests a run of the ledger models computes. A full build: all of them. An
    incremental run: the backtests of the partition window, plus those not computed yet (CLI runs
    carry no partition date), so a day's run writes only its own rows and never a later day's.
    `runs` is the model's own source('backtest_ledger', 'backtest_runs') (a unit test mocks it). -#}
{#- How the ledger models keep their rows: incremental by backtest_id (delete+insert) on DuckDB. Spark's
    Parquet tables have neither DELETE nor MERGE (those need Delta or Iceberg), so on other engines they are
    tables rebuilt from the whole ledger each run (is_incremental() is false there: no pre-hook delete). -#}
{% macro ledger_materialization() -%}
  {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{% macro ledger_backtests_in_scope(runs) -%}
select backtest_id from {{ runs }}
{% if is_incremental() %}
where ({{ in_partition_window('partition_date') }})
    or (partition_date is null and backtest_id not in (select backtest_id from {{ this }}))
{% endif %}
{%- endmacro %}

{#- Pre-hook of the incremental ledger models: drop the rows this run rebuilds and those whose backtest
    left the ledger (a day rerun with fewer strategies). delete+insert on backtest_id deletes only the
    ids the new output has: a rerun backtest without trades now (no bt_trade_stats row) kept its old
    trade count, win rate and profit factor beside its new equity. -#}
{% macro prune_backtests_to_rebuild() -%}
{% if is_incremental() %}
delete from {{ this }}
where backtest_id not in (select backtest_id from {{ source('backtest_ledger', 'backtest_runs') }})
    or backtest_id in ({{ ledger_backtests_in_scope(source('backtest_ledger', 'backtest_runs')) }})
{% endif %}
{%- endmacro %}

{#- An aggregate fed its rows in a fixed order. A parallel DOUBLE sum, avg or stddev adds rows in
    whatever order threads deliver them, so reruns differed in the last bit; DuckDB sorts an
    ordered aggregate's input first. Other engines get the plain aggregate (exact up to rounding). -#}
{% macro ordered_agg(function, expression, order_key) -%}
  {{ return(adapter.dispatch('ordered_agg', 'blofin_stack')(function, expression, order_key)) }}
{%- endmacro %}

{% macro default__ordered_agg(function, expression, order_key) -%}
  {{ function }}({{ expression }})
{%- endmacro %}

{% macro duckdb__ordered_agg(function, expression, order_key) -%}
  {{ function }}({{ expression }} order by {{ order_key }})
{%- endmacro %}

{#- Bars per year of a backtest with `bars` bars of bar_ms whose span (first open to last close) is
    span_ms: python_assets/backtest/periods.py's rule (periods_per_year_of_bars), bit for bit. Bars
    covering more than 13/14 of the span (compared in integers): 24/7's 365 days of bars; otherwise the
    bars counted per 365 days of the span, as a thin market's minutes without trades have no bar.
    Portable SQL: BIGINT products (bars x 31,536,000,000 is exact below 2.9e8 bars) and one division. -#}
{% macro bars_per_year_of_bars(bars, span_ms, bar_ms) -%}
  case when 14 * cast({{ bars }} as bigint) * {{ bar_ms }} > 13 * cast({{ span_ms }} as bigint)
       then 365.0 * {{ day_ms() }} / {{ bar_ms }}
       else cast(cast({{ bars }} as bigint) * {{ 365 * day_ms() }} as double) / ({{ span_ms }}) end
{%- endmacro %}
