{#- The backtest ledger's tables (written by python_assets/backtest/ledger.py, read by the ledger
    models). Created before every dbt run so the sources and their unit tests exist on a fresh
    warehouse. Python executes the same statements (it reads the block between the markers), so
    the schema is defined once, here. A column added later is appended last in the create and by
    an `add column if not exists` for warehouses made before it (periods_per_year: the bars per
    year that annualise a run's Sharpe/Sortino, NULL for the 24/7 default). -#}
{% macro create_backtest_ledger() -%}
  {{ return(adapter.dispatch('create_backtest_ledger', 'blofin_stack')()) }}
{%- endmacro %}

{#- Other engines: python_assets writes the ledger into its DuckDB working copy and the warehouse resource
    hands it to Spark before each dbt call (macros/landing.sql), so nothing is created here. -#}
{% macro default__create_backtest_ledger() -%}
  select 1
{%- endmacro %}

{% macro duckdb__create_backtest_ledger() %}
-- ledger-ddl:begin
create table if not exists backtest_runs (
    backtest_id varchar primary key, run_id varchar not null, kind varchar not null,
    created_at timestamptz not null, partition_date date, strategy varchar not null,
    strategy_version varchar not null, strategy_id varchar not null, params json not null,
    symbol varchar not null, timeframe varchar not null, bar_ms bigint not null,
    window_id varchar not null, window_kind varchar not null,
    window_start timestamptz not null, window_end timestamptz not null,
    taker_fee double not null, maker_fee double not null, slippage_bps double not null,
    initial_equity double not null, source varchar not null, code_version varchar not null,
    periods_per_year double
);
alter table backtest_runs add column if not exists periods_per_year double;
create table if not exists backtest_trades (
    backtest_id varchar not null, trade_no integer not null, symbol varchar not null, side varchar not null,
    size double not null, entry_at timestamptz not null, entry_at_ms bigint not null, entry_price double not null,
    exit_at timestamptz not null, exit_at_ms bigint not null, exit_price double not null,
    entry_fee double not null, exit_fee double not null, funding double not null, gross_pnl double not null,
    pnl double not null, return_pct double not null, bars_held integer not null, exit_reason varchar not null,
    closed_at_end boolean not null, primary key (backtest_id, trade_no)
);
create table if not exists backtest_equity (
    backtest_id varchar not null, bar_at timestamptz not null, bar_at_ms bigint not null,
    open double not null, close double not null, equity double not null, position double not null,
    primary key (backtest_id, bar_at_ms)
);
-- ledger-ddl:end
{% endmacro %}

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

{#- Pre-hook of the incremental ledger models: drop rows whose backtest left the ledger (a day rerun
    with fewer strategies), which delete+insert on backtest_id alone would keep. -#}
{% macro prune_deleted_backtests() -%}
{% if is_incremental() %}
delete from {{ this }}
where backtest_id not in (select backtest_id from {{ source('backtest_ledger', 'backtest_runs') }})
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
