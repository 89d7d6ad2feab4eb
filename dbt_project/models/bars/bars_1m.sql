{{ config(unique_key=['symbol', 'bar_date']) }}

{#-
  One row per symbol and UTC minute that has at least one trade. Minutes without trades are
  absent (not forward-filled), freqtrade's rule: open/close = first/last trade by the lake's seq (ts, then
  integer trade id, else arrival order), high/low = extreme prices, volume = summed sizes. Incremental runs rebuild the
  partition window's days only, whole (symbol, day)s at a time: unique_key is the day, so a rebuilt
  day replaces every old row of it.

  Source precedence, per symbol and UTC day: ticks, else imported/fetched 1m candles (see
  candle_bars). `source` says which: 'ticks' or the candle source ('blofin', 'blofin:spot' for a spot market, 'import:<file>').
-#}

with

trades as (
    select
        symbol,
        trade_date,
        trade_seq,
        traded_at_ms,
        price,
        size,
        notional_quote,
        is_buy,
        is_sell
    from {{ ref('stg_trades') }}
    {% if is_incremental() %}
    where {{ in_partition_window('trade_date') }}
    {% endif %}
),

bucketed as (
    select
        *,
        {{ floor_epoch_ms('traded_at_ms', timeframe_ms()['1m']) }} as bar_at_ms
    from trades
),

aggregated as (
    select
        symbol,
        bar_at_ms,
        min(trade_date) as bar_date,
        {{ first_by('price', 'trade_seq') }} as open,
        max(price) as high,
        min(price) as low,
        {{ last_by('price', 'trade_seq') }} as close,
        {{ exact_sum('size') }} as volume,
        {{ exact_sum('notional_quote') }} as volume_quote,
        count(*) as trade_count,
        -- NULL when no trade has that side: `final` makes it 0 unless neither side has one
        {{ exact_sum('case when is_buy then size end') }} as buy_volume,
        {{ exact_sum('case when is_sell then size end') }} as sell_volume
    from bucketed
    group by symbol, bar_at_ms
),

tick_bars as (
    select
        *,
        cast(1 as bigint) as minute_count,
        'ticks' as source
    from aggregated
),

-- The (symbol, day)s that have ticks, from a separate scan of the two partition columns: reusing
-- `trades` here would make DuckDB buffer every tick for a second reader (4x slower).
tick_days as (
    select distinct symbol, trade_date
    from {{ ref('stg_trades') }}
    {% if is_incremental() %}
    where {{ in_partition_window('trade_date') }}
    {% endif %}
),

candle_bars as (
    {{ candle_bars('1m', timeframe_ms()['1m'], 'tick_days', 'trade_date') }}
),

unioned as (
    select * from tick_bars
    union all
    select * from candle_bars
),

final as (
    select
        symbol,
        {{ epoch_ms_to_timestamptz('bar_at_ms') }} as bar_at,
        bar_at_ms,
        bar_date,
        open,
        high,
        low,
        close,
        volume,
        volume_quote,
        {{ ratio_as_double('nullif(volume_quote, 0)', 'volume') }} as vwap,
        trade_count,
        -- NULL when no trade of the minute says its taker side (a file without sides: unknown, not 0), and for
        -- candles; sizes are > 0, so both side sums are NULL exactly then (two more count aggregates for it
        -- cost ~20 % of the tick -> 1m build)
        case when buy_volume is not null or sell_volume is not null then coalesce(buy_volume, 0) end as buy_volume,
        case when buy_volume is not null or sell_volume is not null then coalesce(sell_volume, 0) end as sell_volume,
        minute_count,
        source
    from unioned
)

select * from final
