{#-
  Imported or fetched candles of one timeframe, shaped as bars, for the (symbol, UTC day)s that the
  CTE `covered` has no rows for: finer data (ticks, then finer candles) wins a whole day, so a day
  never mixes sources. Zero-volume candles are dropped: a bar means trades happened, the tick bars'
  rule; so are candles whose volume the bars' DECIMAL(38, 12) would store as 0 (below 5e-13).
  Unknown tick-level columns (taker split) are NULL; minute_count is the candle's width.
-#}
{% macro candle_bars(timeframe, interval_ms, covered, covered_date) %}
    select
        c.symbol,
        c.bar_at_ms,
        c.bar_date,
        c.open,
        c.high,
        c.low,
        c.close,
        cast(c.volume as decimal(38, 12)) as volume,
        cast(c.volume_quote as decimal(38, 12)) as volume_quote,
        c.trade_count,
        cast(null as decimal(38, 12)) as buy_volume,
        cast(null as decimal(38, 12)) as sell_volume,
        cast({{ interval_ms // minute_ms() }} as bigint) as minute_count,
        c.candle_source as source
    from {{ ref('stg_candles') }} as c
    where c.timeframe = '{{ timeframe }}'
      and cast(c.volume as decimal(38, 12)) > 0
      {% if is_incremental() %}
      and {{ in_partition_window('c.bar_date') }}
      {% endif %}
      and not exists (
          select 1 from {{ covered }} as f
          where f.symbol = c.symbol and f.{{ covered_date }} = c.bar_date
      )
{% endmacro %}
