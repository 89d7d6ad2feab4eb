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
        funding_ts as funding_at_ms,
        {{ epoch_ms_to_timestamptz('funding_ts') }} as funding_at,
        cast({{ adapter.quote('date') }} as date) as funding_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('funding_rate', 'double'),
    ('funding_at_ms', 'bigint'),
    ('funding_at', 'timestamptz'),
    ('funding_date', 'date')
]) }}
{% endif %}
