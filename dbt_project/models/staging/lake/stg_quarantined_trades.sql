{#- The quarantine is empty until a bad row arrives; an empty typed relation stands in until then. -#}
{% if lake_has_files('quarantine/trades/*/*.parquet') %}
with

source as (
    select * from {{ source('lake', 'quarantined_trades') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as varchar) as symbol,
        source_file,
        source_row,

        ---------- strings
        reason,
        raw_record,

        ---------- timestamps
        ts as traded_at_ms,
        {{ epoch_ms_to_utc_date('ts') }} as trade_date
    from source
)

select * from renamed
{% else %}
select
    cast(null as varchar) as symbol,
    cast(null as varchar) as source_file,
    cast(null as bigint) as source_row,
    cast(null as varchar) as reason,
    cast(null as varchar) as raw_record,
    cast(null as bigint) as traded_at_ms,
    cast(null as date) as trade_date
where false
{% endif %}
