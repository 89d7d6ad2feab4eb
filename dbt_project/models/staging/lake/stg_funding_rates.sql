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
        -- a settlement's instant is its nearest whole second (half up; python_assets/lake/settlements.py rounds the
        -- same way): exchanges' and freqtrade's funding files stamp it a few ms off (08:00:00.007), and the
        -- backtests compare it with bar opens, where those ms moved it after the 08:00 open (an entry there paid
        -- it, an exit there did not: unlike the same settlement stamped 08:00:00.000)
        cast(floor((funding_ts + 500) / 1000.0) as bigint) * 1000 as funding_at_ms,
        funding_ts as stamped_at_ms
    from source
),

-- One row per settlement: the lake keeps one stamp per settlement second since its writers map a second source's
-- stamp onto the stored one; a lake written before that may hold two (a freqtrade import beside BloFin's history),
-- which the backtests charged twice: the earliest stamp's row is the settlement, `stamps` says how many there were,
-- and `rates_differ` whether they disagreed (a warning check names such settlements: the earliest's rate is kept).
ranked as (
    select
        *,
        row_number() over (partition by symbol, funding_at_ms order by stamped_at_ms) as stamp_rank,
        count(*) over (partition by symbol, funding_at_ms) as stamps,
        min(funding_rate) over (partition by symbol, funding_at_ms)
            <> max(funding_rate) over (partition by symbol, funding_at_ms) as rates_differ
    from renamed
),

settled as (
    select
        symbol,
        funding_rate,
        funding_at_ms,
        {{ epoch_ms_to_timestamptz('funding_at_ms') }} as funding_at,
        {{ epoch_ms_to_utc_date('funding_at_ms') }} as funding_date,
        stamped_at_ms,
        stamps,
        rates_differ
    from ranked
    where stamp_rank = 1
)

select * from settled
{% else %}
{{ empty_relation([
    ('symbol', 'varchar'),
    ('funding_rate', 'double'),
    ('funding_at_ms', 'bigint'),
    ('funding_at', 'timestamptz'),
    ('funding_date', 'date'),
    ('stamped_at_ms', 'bigint'),
    ('stamps', 'bigint'),
    ('rates_differ', 'boolean')
]) }}
{% endif %}
