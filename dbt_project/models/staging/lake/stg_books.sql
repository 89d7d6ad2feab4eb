{#- Books come only from the live recorder: an empty typed relation stands in until it has written one. -#}
{% if lake_has_files('books/*/*/books.parquet') %}
with

source as (
    select * from {{ lake_source('books') }}
),

renamed as (
    select
        ---------- ids
        cast(symbol as {{ sql_type('varchar') }}) as symbol,
        kind as book_kind,
        seq_id as book_seq_id,
        side,
        cast(level as integer) as level,

        ---------- numerics
        price,
        size,

        ---------- timestamps
        ts as book_at_ms,
        {{ epoch_ms_to_timestamptz('ts') }} as book_at,
        cast({{ adapter.quote('date') }} as date) as book_date
    from source
)

select * from renamed
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('book_kind', 'varchar'),
    ('book_seq_id', 'bigint'),
    ('side', 'varchar'),
    ('level', 'integer'),
    ('price', 'double'),
    ('size', 'double'),
    ('book_at_ms', 'bigint'),
    ('book_at', 'timestamptz'),
    ('book_date', 'date')
]) }}
{% endif %}
