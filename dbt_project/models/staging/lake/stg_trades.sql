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
