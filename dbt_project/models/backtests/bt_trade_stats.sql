{{ config(materialized=ledger_materialization(), incremental_strategy='delete+insert', unique_key='backtest_id',
          on_schema_change='sync_all_columns', pre_hook="{{ prune_backtests_to_rebuild() }}") }}

{#-
  Per backtest: the trade-list metrics. A win is a trade with net pnl > 0 (after fees and funding);
  every other trade is a loss. Streaks are runs of consecutive wins or losses in trade order.
  Incremental like bt_equity_stats; DOUBLE aggregates add trades in trade order (ordered_agg).
-#}

with

trades as (
    select
        backtest_id,
        trade_no,
        pnl,
        return_pct,
        entry_fee + exit_fee as fees,
        funding,
        exit_at_ms - entry_at_ms as holding_ms,
        pnl > 0 as is_win
    from {{ source('backtest_ledger', 'backtest_trades') }}
    where backtest_id in ({{ ledger_backtests_in_scope(source('backtest_ledger', 'backtest_runs')) }})
),

streaks as (
    select
        backtest_id,
        is_win,
        count(*) as streak_length
    from (
        select
            *,
            trade_no - row_number() over (partition by backtest_id, is_win order by trade_no) as streak_id
        from trades
    )
    group by backtest_id, is_win, streak_id
),

longest as (
    select
        backtest_id,
        coalesce(max(case when is_win then streak_length end), 0) as max_consecutive_wins,
        coalesce(max(case when not is_win then streak_length end), 0) as max_consecutive_losses
    from streaks
    group by backtest_id
)

select
    t.backtest_id,
    count(*) as trade_count,
    count(*) filter (where is_win) as winning_trades,
    count(*) filter (where not is_win) as losing_trades,
    coalesce({{ ordered_agg('sum', 'pnl', 'trade_no') }} filter (where is_win), 0) as gross_profit,
    coalesce(-{{ ordered_agg('sum', 'pnl', 'trade_no') }} filter (where not is_win), 0) as gross_loss,
    {{ ordered_agg('sum', 'pnl', 'trade_no') }} as net_pnl,
    {{ ordered_agg('avg', 'pnl', 'trade_no') }} as expectancy,
    {{ ordered_agg('avg', 'return_pct', 'trade_no') }} as expectancy_pct,
    {{ ordered_agg('avg', 'pnl', 'trade_no') }} filter (where is_win) as avg_win,
    {{ ordered_agg('avg', 'pnl', 'trade_no') }} filter (where not is_win) as avg_loss,
    {{ ordered_agg('sum', 'fees', 'trade_no') }} as fees_paid,
    {{ ordered_agg('sum', 'funding', 'trade_no') }} as funding_paid,
    {{ ordered_agg('avg', 'holding_ms', 'trade_no') }} / {{ hour_ms() }}.0 as avg_holding_hours,
    max(l.max_consecutive_wins) as max_consecutive_wins,
    max(l.max_consecutive_losses) as max_consecutive_losses
from trades as t
inner join longest as l using (backtest_id)
group by t.backtest_id
