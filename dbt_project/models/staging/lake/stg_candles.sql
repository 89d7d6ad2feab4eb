{#- Candles are optional (imported files, `blofin-stack fetch-ohlcv`): an empty typed relation stands in. -#}
{% if lake_has_files('candles/*/*/*/candles.parquet') %}
with

source as (
    select * from {{ source('lake', 'candles') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as varchar) as symbol,
        cast(timeframe as varchar) as timeframe,
        source as candle_source,

        ---------- numerics
        open,
        high,
        low,
        close,
        volume,
        volume_quote,
        trade_count,

        ---------- timestamps
        bar_at_ms,
        {{ epoch_ms_to_timestamptz('bar_at_ms') }} as bar_at,
        cast("date" as date) as bar_date
    from source
)

select * from renamed
{% else %}
select
    cast(null as varchar) as symbol,
    cast(null as varchar) as timeframe,
    cast(null as varchar) as candle_source,
    cast(null as double) as open,
    cast(null as double) as high,
    cast(null as double) as low,
    cast(null as double) as close,
    cast(null as double) as volume,
    cast(null as double) as volume_quote,
    cast(null as bigint) as trade_count,
    cast(null as bigint) as bar_at_ms,
    cast(null as timestamptz) as bar_at,
    cast(null as date) as bar_date
where false
{% endif %}
