{#- Candles are optional (imported files, `blofin-stack fetch-ohlcv`): an empty typed relation stands in. -#}
{% if lake_has_files('candles/*/*/*/candles.parquet') %}
with

source as (
    select * from {{ lake_source('candles') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        cast(timeframe as {{ sql_type('varchar') }}) as timeframe,
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
        cast({{ adapter.quote('date') }} as date) as bar_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('timeframe', 'varchar'),
    ('candle_source', 'varchar'),
    ('open', 'double'),
    ('high', 'double'),
    ('low', 'double'),
    ('close', 'double'),
    ('volume', 'double'),
    ('volume_quote', 'double'),
    ('trade_count', 'bigint'),
    ('bar_at_ms', 'bigint'),
    ('bar_at', 'timestamptz'),
    ('bar_date', 'date')
]) }}
{% endif %}
