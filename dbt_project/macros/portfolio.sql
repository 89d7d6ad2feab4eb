{#- The portfolio backtest's landing tables (written by python_assets/backtest/portfolio_store.py, read
    by the portfolio marts). Created before every dbt run so the sources exist on a fresh warehouse;
    Python executes the same statements (the block between the markers), so the schema is defined once. -#}
{% macro create_portfolio_tables() -%}
  {{ return(adapter.dispatch('create_portfolio_tables', 'blofin_stack')()) }}
{%- endmacro %}

{#- Other engines: the portfolio tables land in Python's DuckDB working copy and reach Spark as the other
    landing tables do (macros/landing.sql). -#}
{% macro default__create_portfolio_tables() -%}
  select 1
{%- endmacro %}

{% macro duckdb__create_portfolio_tables() %}
-- portfolio-ddl:begin
create table if not exists portfolio_runs (
    run_date date not null, rule varchar not null, timeframe varchar not null, members integer not null,
    start_ms bigint not null, end_ms bigint not null, bars integer not null, rebalance_ms bigint not null,
    lookback integer not null, max_weight double not null, gross_leverage_cap double not null,
    taker_fee double not null, initial_equity double not null, final_equity double not null,
    total_return double not null, sharpe double, max_drawdown double not null, gross_leverage_mean double not null,
    gross_leverage_max double not null, fees_paid double not null, liquidated_at_ms bigint,
    primary key (run_date, rule)
);
create table if not exists portfolio_equity_bars (
    run_date date not null, rule varchar not null, bar_at_ms bigint not null, equity double not null,
    gross_leverage double not null, fees double not null, primary key (run_date, rule, bar_at_ms)
);
create table if not exists portfolio_members (
    run_date date not null, member_id varchar not null, design_id varchar not null, symbol varchar not null,
    params json not null, total_return double not null, sharpe double, max_drawdown double not null,
    trades integer not null, weight_equal double, weight_inverse_vol double, weight_risk_parity double,
    primary key (run_date, member_id)
);
create table if not exists portfolio_correlations (
    run_date date not null, member_a varchar not null, member_b varchar not null, correlation double,
    primary key (run_date, member_a, member_b)
);
-- portfolio-ddl:end
{% endmacro %}
