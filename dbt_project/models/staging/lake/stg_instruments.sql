{#- Instrument snapshots come only from the live recorder: an empty typed relation stands in without them. -#}
{% if lake_has_files('instruments/*/instruments.parquet') %}
with

source as (
    select * from {{ lake_source('instruments') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        cast(status as {{ sql_type('varchar') }}) as status,

        ---------- numerics
        cast(contract_value as double) as contract_value,
        cast(lot_size as double) as lot_size,
        cast(min_size as double) as min_size,
        cast(tick_size as double) as tick_size,
        cast(max_leverage as double) as max_leverage,
        cast(funding_interval_hours as integer) as funding_interval_hours,

        ---------- timestamps
        snapshot_ms as snapshot_at_ms,
        {{ epoch_ms_to_timestamptz('snapshot_ms') }} as snapshot_at,
        cast({{ adapter.quote('date') }} as date) as snapshot_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('status', 'varchar'),
    ('contract_value', 'double'),
    ('lot_size', 'double'),
    ('min_size', 'double'),
    ('tick_size', 'double'),
    ('max_leverage', 'double'),
    ('funding_interval_hours', 'integer'),
    ('snapshot_at_ms', 'bigint'),
    ('snapshot_at', 'timestamptz'),
    ('snapshot_date', 'date')
]) }}
{% endif %}
