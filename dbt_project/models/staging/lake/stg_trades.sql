{#- Ticks are optional when candles stand in (imported histories): an empty typed relation then. -#}
{% if lake_has_files('trades/*/*/trades.parquet') %}
with

source as (
    select * from {{ lake_source('trades') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        trade_id,
        seq as trade_seq,

        ---------- numerics
        price,
        size,
        price * size as notional_quote,
        side,
        side = 'buy' as is_buy,
        side = 'sell' as is_sell,

        ---------- timestamps
        ts as traded_at_ms,
        {{ epoch_ms_to_timestamptz('ts') }} as traded_at,
        cast({{ adapter.quote('date') }} as date) as trade_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('trade_id', 'varchar'),
    ('trade_seq', 'bigint'),
    ('price', 'double'),
    ('size', 'double'),
    ('notional_quote', 'double'),
    ('side', 'varchar'),
    ('is_buy', 'boolean'),
    ('is_sell', 'boolean'),
    ('traded_at_ms', 'bigint'),
    ('traded_at', 'timestamptz'),
    ('trade_date', 'date')
]) }}
{% endif %}
