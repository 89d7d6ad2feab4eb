{#- Written only by the live recorder: an empty typed relation stands in for imported/synthetic lakes. -#}
{% if lake_has_files('recorder_segments/*/*/segments.parquet') %}
with

source as (
    select * from {{ lake_source('recorder_segments') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        dataset,
        session_id,

        ---------- timestamps
        start_ms,
        end_ms,
        (end_ms - start_ms) / 1000.0 as segment_seconds,
        cast({{ adapter.quote('date') }} as date) as segment_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('dataset', 'varchar'),
    ('session_id', 'varchar'),
    ('start_ms', 'bigint'),
    ('end_ms', 'bigint'),
    ('segment_seconds', 'double'),
    ('segment_date', 'date')
]) }}
{% endif %}
