{#- Point-in-time contract specifications (SCD type 2) from the daily snapshots: a new version starts at
    the first snapshot whose attributes differ from the previous snapshot's; it is valid in
    [valid_from_ms, valid_to_ms), valid_to_ms NULL for the current version. Nothing is known before a
    symbol's first snapshot, so no version covers that time (the backtest then sizes without lots). -#}
{{ config(materialized='table') }}

with

snapshots as (
    select * from {{ ref('stg_instruments') }}
),

compared as (
    select
        *,
        lag(snapshot_at_ms) over w as prev_snapshot_at_ms,
        lag(contract_value) over w as prev_contract_value,
        lag(lot_size) over w as prev_lot_size,
        lag(min_size) over w as prev_min_size,
        lag(tick_size) over w as prev_tick_size,
        lag(max_leverage) over w as prev_max_leverage,
        lag(funding_interval_hours) over w as prev_funding_interval_hours,
        lag(status) over w as prev_status
    from snapshots
    window w as (partition by symbol order by snapshot_at_ms)
),

changes as (
    select *
    from compared
    where prev_snapshot_at_ms is null
        or contract_value is distinct from prev_contract_value
        or lot_size is distinct from prev_lot_size
        or min_size is distinct from prev_min_size
        or tick_size is distinct from prev_tick_size
        or max_leverage is distinct from prev_max_leverage
        or funding_interval_hours is distinct from prev_funding_interval_hours
        or status is distinct from prev_status
),

versions as (
    select
        ---------- ids
        symbol,
        cast(row_number() over (partition by symbol order by snapshot_at_ms) as integer) as version,
        status,

        ---------- numerics
        contract_value,
        lot_size,
        min_size,
        tick_size,
        max_leverage,
        funding_interval_hours,

        ---------- timestamps
        snapshot_at_ms as valid_from_ms,
        lead(snapshot_at_ms) over (partition by symbol order by snapshot_at_ms) as valid_to_ms
    from changes
)

select
    *,
    valid_to_ms is null as is_current
from versions
