{#- Ticks are optional when candles stand in (imported histories): an empty typed relation then. -#}
{% if lake_has_files('trades/*/*/trades.parquet') %}
with

source as (
    select * from {{ source('lake', 'trades') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as varchar) as symbol,
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
        cast("date" as date) as trade_date
    from source
)

select * from renamed
{% else %}
select
    cast(null as varchar) as symbol,
    cast(null as varchar) as trade_id,
    cast(null as bigint) as trade_seq,
    cast(null as double) as price,
    cast(null as double) as size,
    cast(null as double) as notional_quote,
    cast(null as varchar) as side,
    cast(null as boolean) as is_buy,
    cast(null as boolean) as is_sell,
    cast(null as bigint) as traded_at_ms,
    cast(null as timestamptz) as traded_at,
    cast(null as date) as trade_date
where false
{% endif %}
