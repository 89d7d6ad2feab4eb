{#- Funding is optional (ingested trade files come without it): an empty typed relation stands in. -#}
{% if lake_has_files('funding/*/*/funding.parquet') %}
with

source as (
    select * from {{ lake_source('funding_rates') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,

        ---------- numerics
        funding_rate,

        ---------- timestamps
        funding_ts - funding_ts % 1000 as funding_at_ms,
        funding_ts as stamped_at_ms,
        cast({{ adapter.quote('date') }} as date) as funding_date
    from source
),

-- a settlement's instant is a whole second: exchanges' and freqtrade's funding files stamp it a few ms late
-- (08:00:00.007), and the backtests compare it with bar opens, where those ms moved it after the 08:00 open
-- (an entry there paid it, an exit there did not: unlike the same settlement stamped 08:00:00.000)
settled as (
    select
        symbol,
        funding_rate,
        funding_at_ms,
        {{ epoch_ms_to_timestamptz('funding_at_ms') }} as funding_at,
        funding_date,
        stamped_at_ms
    from renamed
)

select * from settled
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('funding_rate', 'double'),
    ('funding_at_ms', 'bigint'),
    ('funding_at', 'timestamptz'),
    ('funding_date', 'date'),
    ('stamped_at_ms', 'bigint')
]) }}
{% endif %}
