{#- The quarantine is empty until a bad row arrives; an empty typed relation stands in until then. -#}
{% if lake_has_files('quarantine/trades/*/*.parquet') %}
with

source as (
    select * from {{ lake_source('quarantined_trades') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
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
{{ empty_relation([
    ('symbol', 'varchar'),
    ('source_file', 'varchar'),
    ('source_row', 'bigint'),
    ('reason', 'varchar'),
    ('raw_record', 'varchar'),
    ('traded_at_ms', 'bigint'),
    ('trade_date', 'date')
]) }}
{% endif %}
