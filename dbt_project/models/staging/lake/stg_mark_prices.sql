{#- Mark prices come only from the live recorder: an empty typed relation stands in until it has written one. -#}
{% if lake_has_files('mark_prices/*/*/mark.parquet') %}
with

source as (
    select * from {{ lake_source('mark_prices') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,

        ---------- numerics
        mark_price,
        index_price,

        ---------- timestamps
        ts as mark_at_ms,
        {{ epoch_ms_to_timestamptz('ts') }} as mark_at,
        cast({{ adapter.quote('date') }} as date) as mark_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('mark_price', 'double'),
    ('index_price', 'double'),
    ('mark_at_ms', 'bigint'),
    ('mark_at', 'timestamptz'),
    ('mark_date', 'date')
]) }}
{% endif %}
