{#-
  OHLCV bars of width interval_ms rolled up from the next finer bars model (1m -> 5m -> 15m -> 1h
  -> 4h -> 1d): open/close of the first/last bar, extreme high/low, summed volumes (exact DECIMAL
  sums) and counts, vwap = quote volume / base volume. Buckets are aligned to 00:00 UTC, so every
  width up to 1d nests in a day and a daily partition window rebuilds whole buckets. Candles of this
  timeframe fill the (symbol, day)s the finer model has nothing for (candle_bars), so a 5m or 1h
  history imported without ticks still reaches every coarser timeframe. Shared by bars_5m .. bars_1d.
-#}
{% macro rollup_bars(interval_ms, timeframe, finer) %}
with

finer as (
    select
        symbol,
        bar_date,
        bar_at_ms,
        open,
        high,
        low,
        close,
        volume,
        volume_quote,
        trade_count,
        buy_volume,
        sell_volume,
        minute_count,
        source
    from {{ ref(finer) }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    {% endif %}
),

bucketed as (
    select
        *,
        {{ floor_epoch_ms('bar_at_ms', interval_ms) }} as bucket_ms
    from finer
),

aggregated as (
    select
        symbol,
        bucket_ms as bar_at_ms,
        min(bar_date) as bar_date,
        {{ first_by('open', 'bar_at_ms') }} as open,
        max(high) as high,
        min(low) as low,
        {{ last_by('close', 'bar_at_ms') }} as close,
        sum(volume) as volume,
        sum(volume_quote) as volume_quote,
        cast(sum(trade_count) as bigint) as trade_count,
        sum(buy_volume) as buy_volume,
        sum(sell_volume) as sell_volume,
        cast(sum(minute_count) as bigint) as minute_count,
        case when count(distinct source) = 1 then min(source) else 'mixed' end as source
    from bucketed
    group by symbol, bucket_ms
),

candle_bars as (
    {{ candle_bars(timeframe, interval_ms, 'finer', 'bar_date') }}
),

unioned as (
    select * from aggregated
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
        buy_volume,
        sell_volume,
        minute_count,
        source
    from unioned
)

select * from final
{% endmacro %}
