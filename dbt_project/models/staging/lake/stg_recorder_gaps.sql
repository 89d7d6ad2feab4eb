{#- Written only by the live recorder: an empty typed relation stands in for imported/synthetic lakes. -#}
{% if lake_has_files('recorder_gaps/*/*/gaps.parquet') %}
with

source as (
    select * from {{ lake_source('recorder_gaps') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        dataset,
        cause,
        status,
        detail,

        ---------- numerics
        recovered_rows,

        ---------- timestamps
        start_ms,
        end_ms,
        (end_ms - start_ms) / 1000.0 as gap_seconds,
        cast({{ adapter.quote('date') }} as date) as gap_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('dataset', 'varchar'),
    ('cause', 'varchar'),
    ('status', 'varchar'),
    ('detail', 'varchar'),
    ('recovered_rows', 'bigint'),
    ('start_ms', 'bigint'),
    ('end_ms', 'bigint'),
    ('gap_seconds', 'double'),
    ('gap_date', 'date')
]) }}
{% endif %}
