{{ config(materialized=ledger_materialization(), incremental_strategy='delete+insert', unique_key='backtest_id',
          on_schema_change='sync_all_columns', pre_hook="{{ prune_backtests_to_rebuild() }}") }}

{#-
  Per backtest: bar returns of the equity curve and the path metrics (volatility, downside
  deviation, drawdown depth and duration, exposure, buy-and-hold). Equity is marked at each bar
  close; the first bar's return is against the initial equity. Incremental: a run computes only
  its partition's backtests (ledger_backtests_in_scope), and every DOUBLE aggregate adds its rows in
  bar order (ordered_agg), so reruns give the same bits.
-#}

with

runs as (
    select backtest_id, bar_ms, initial_equity
    from {{ source('backtest_ledger', 'backtest_runs') }}
    where backtest_id in ({{ ledger_backtests_in_scope(source('backtest_ledger', 'backtest_runs')) }})
),

-- backtests whose position was still open after the last bar: closed at its close, it held through that bar
held_to_end as (
    select distinct backtest_id
    from {{ source('backtest_ledger', 'backtest_trades') }}
    where closed_at_end and backtest_id in ({{ ledger_backtests_in_scope(source('backtest_ledger', 'backtest_runs')) }})
),

equity as (
    select
        e.backtest_id,
        e.bar_at_ms,
        e.open,
        e.close,
        e.equity,
        e.position,
        r.bar_ms,
        r.initial_equity,
        coalesce(lag(e.equity) over by_bar, r.initial_equity) as prev_equity,
        -- the window spelled out: Spark SQL cannot extend a named window with a frame
        greatest(max(e.equity) over (partition by e.backtest_id order by e.bar_at_ms
                                     rows between unbounded preceding and current row), r.initial_equity)
            as peak_equity,
        min(e.bar_at_ms) over (partition by e.backtest_id) as first_bar_ms,
        -- the last bar of a position held to the end: marked flat after its end-of-data close, but in the market
        -- all through the bar (backtesting.py's finalized Exposure Time counts it too)
        e.position <> 0 or (h.backtest_id is not null
                            and e.bar_at_ms = max(e.bar_at_ms) over (partition by e.backtest_id)) as in_market
    from {{ source('backtest_ledger', 'backtest_equity') }} as e
    inner join runs as r using (backtest_id)
    left join held_to_end as h on e.backtest_id = h.backtest_id
    window by_bar as (partition by e.backtest_id order by e.bar_at_ms)
),

underwater as (
    select
        *,
        {{ safe_divide('equity', 'prev_equity') }} - 1 as bar_return,
        equity / peak_equity - 1 as drawdown,
        -- when the running peak was last set (a bar's close time); the initial equity counts as
        -- set at the first bar's open
        coalesce(
            max(case when equity >= peak_equity then bar_at_ms + bar_ms end) over (
                partition by backtest_id order by bar_at_ms rows between unbounded preceding and current row
            ),
            first_bar_ms
        ) as peak_at_ms
    from equity
)

select
    backtest_id,
    count(*) as bars,
    min(bar_at_ms) as first_bar_ms,
    max(bar_at_ms) + max(bar_ms) as end_ms,
    max(bar_ms) as bar_ms,
    max(initial_equity) as initial_equity,
    {{ last_by('equity', 'bar_at_ms') }} as final_equity,
    {{ ordered_agg('avg', 'bar_return', 'bar_at_ms') }} as mean_bar_return,
    {{ ordered_agg('stddev_samp', 'bar_return', 'bar_at_ms') }} as stddev_bar_return,
    -- over the bars with a return, as the mean (after a wipe-out the return is NULL: least(NULL, 0) is 0)
    sqrt({{ ordered_agg('avg', 'case when bar_return is not null then power(least(bar_return, 0), 2) end', 'bar_at_ms') }}) as downside_deviation,
    least(min(drawdown), 0) as max_drawdown,
    max(bar_at_ms + bar_ms - peak_at_ms) as max_drawdown_duration_ms,
    -- DOUBLE 1 / 0: Spark averages DECIMAL(2, 1) literals to 5 decimals
    {{ ordered_agg('avg', 'case when in_market then cast(1 as double) else cast(0 as double) end', 'bar_at_ms') }} as exposure,
    {{ last_by('close', 'bar_at_ms') }} / {{ first_by('open', 'bar_at_ms') }} - 1 as buy_and_hold_return
from underwater
group by backtest_id
