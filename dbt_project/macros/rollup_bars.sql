{#-
  OHLCV bars of width interval_ms rolled up from bars_1m: open/close of the first/last minute,
  extreme high/low, summed volumes (exact DECIMAL sums) and counts, vwap = quote volume / base volume. Buckets are
  aligned to 00:00 UTC, so every width up to 1d nests in a day and a daily partition window
  rebuilds whole buckets. Shared by bars_5m .. bars_1d (one definition, no copies).
-#}
{% macro rollup_bars(interval_ms) %}
with

bars_1m as (
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
        sell_volume
    from {{ ref('bars_1m') }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    {% endif %}
),

bucketed as (
    select
        *,
        {{ floor_epoch_ms('bar_at_ms', interval_ms) }} as bucket_ms
    from bars_1m
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
        count(*) as minute_count
    from bucketed
    group by symbol, bucket_ms
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
        cast({{ safe_divide('volume_quote', 'volume') }} as double) as vwap,
        trade_count,
        buy_volume,
        sell_volume,
        minute_count
    from aggregated
)

select * from final
{% endmacro %}
