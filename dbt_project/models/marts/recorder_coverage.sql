{{ config(unique_key=['symbol', 'coverage_date'], pre_hook="{{ clear_partition_window('coverage_date') }}") }}

{#-
  One row per symbol, UTC day and dataset the live recorder wrote anything for: how much of the day
  it was receiving the dataset (the union of its segments: overlapping sessions count once) and the
  holes it detected, with how many were back-filled. is_usable is the symbol-day's verdict for
  research (the same on every dataset row): false when a trades hole was not fully recovered
  ('lost' or 'partial') or trades were recorded for less than var recorder_min_trades_coverage of
  the day. Symbol-days without any recorder data (imported or synthetic lakes) have no row and count
  as usable.

  Incremental runs rebuild the partition window's days only, whole (symbol, day)s (the pre-hook clears
  the window's days first, so a day whose files are gone leaves the table); a full build writes every
  day before the window's end. A build never writes a day after its window: it was a table over the
  whole lake, so the run of day D wrote D+1's first recorded minutes as an unusable day, and a re-run of
  D reset the later days to what the lake held then. The files of the day before are read too: a
  segment or gap is stored under its start's day and may run past midnight (at most one, interval_days).
-#}

{% set min_coverage = var('recorder_min_trades_coverage', 0.99) %}

with

segments as (
    select symbol, dataset, start_ms, end_ms
    from {{ ref('stg_recorder_segments') }}
    where end_ms > start_ms
      and {{ in_build_window('segment_date', lookback_days=1) }}
),

gaps as (
    select symbol, dataset, start_ms, end_ms, cause, status
    from {{ ref('stg_recorder_gaps') }}
    where {{ in_build_window('gap_date', lookback_days=1) }}
),

days as (
    select distinct symbol, dataset, day_start_ms
    from (
        {{ interval_days('segments') }}
        union all
        {{ interval_days('gaps') }}
    ) as touched
    where {{ in_build_window(epoch_ms_to_utc_date('day_start_ms')) }}
),

clipped_segments as (
    {{ clip_to_days('segments', 'days') }}
),

ordered_segments as (
    select
        *,
        max(end_ms) over (
            partition by symbol, dataset, day_start_ms order by start_ms, end_ms
            rows between unbounded preceding and 1 preceding
        ) as covered_until_ms
    from clipped_segments
),

islands as (
    select
        *,
        sum(case when covered_until_ms is null or start_ms > covered_until_ms then 1 else 0 end) over (
            partition by symbol, dataset, day_start_ms order by start_ms, end_ms
            rows between unbounded preceding and current row
        ) as island
    from ordered_segments
),

covered as (
    select symbol, dataset, day_start_ms, sum(island_ms) as covered_ms, count(*) as islands
    from (
        select symbol, dataset, day_start_ms, island, max(end_ms) - min(start_ms) as island_ms
        from islands
        group by symbol, dataset, day_start_ms, island
    ) as merged
    group by symbol, dataset, day_start_ms
),

clipped_gaps as (
    {{ clip_to_days('gaps', 'days', ['cause', 'status']) }}
),

gap_stats as (
    select
        symbol,
        dataset,
        day_start_ms,
        count(*) as gap_count,
        sum(end_ms - start_ms) / 1000.0 as gap_seconds,
        count(case when status = 'recovered' then 1 end) as recovered_gaps,
        count(case when status = 'partial' then 1 end) as partial_gaps,
        count(case when status = 'lost' then 1 end) as lost_gaps,
        coalesce(sum(case when status <> 'recovered' then end_ms - start_ms end), 0) / 1000.0 as lost_seconds,
        {{ ordered_listagg(
            clock_text('start_ms - day_start_ms') ~ " || '-' || " ~ clock_text('end_ms - day_start_ms')
            ~ " || ' ' || cause || ' ' || status",
            "'; '",
            ['start_ms', 'cause', 'end_ms', 'status']
        ) }} as gaps
    from clipped_gaps
    group by symbol, dataset, day_start_ms
),

per_dataset as (
    select
        days.symbol,
        {{ epoch_ms_to_utc_date('days.day_start_ms') }} as coverage_date,
        days.dataset,
        coalesce(covered.covered_ms, 0) / 1000.0 as seconds_covered,
        coalesce(covered.covered_ms, 0) / cast({{ day_ms() }} as double) as coverage_fraction,
        coalesce(covered.islands, 0) as covered_intervals,
        coalesce(gap_stats.gap_count, 0) as gap_count,
        coalesce(gap_stats.gap_seconds, 0) as gap_seconds,
        coalesce(gap_stats.recovered_gaps, 0) as recovered_gaps,
        coalesce(gap_stats.partial_gaps, 0) as partial_gaps,
        coalesce(gap_stats.lost_gaps, 0) as lost_gaps,
        coalesce(gap_stats.lost_seconds, 0) as lost_seconds,
        gap_stats.gaps
    from days
    left join covered using (symbol, dataset, day_start_ms)
    left join gap_stats using (symbol, dataset, day_start_ms)
),

symbol_days as (
    select
        symbol,
        coverage_date,
        coalesce(max(case when dataset = 'trades' then coverage_fraction end), 0) as trades_coverage,
        coalesce(sum(case when dataset = 'trades' then partial_gaps + lost_gaps end), 0) as trades_unrecovered_gaps
    from per_dataset
    group by symbol, coverage_date
),

{#- The share in % to 2 decimals as floor(x * 10000 + 0.5) / 100, the same IEEE steps on every engine: round(x, 2)
    rounds the binary double on DuckDB (1.00499.. -> 1.0) but its decimal text on Spark (1.005 -> 1.01). -#}
verdict as (
    select
        symbol,
        coverage_date,
        trades_unrecovered_gaps = 0 and trades_coverage >= {{ min_coverage }} as is_usable,
        case
            when trades_unrecovered_gaps > 0 then 'trades: ' || cast(trades_unrecovered_gaps as {{ sql_type('varchar') }}) || ' gap(s) not recovered'
            when trades_coverage < {{ min_coverage }} then 'trades: recorded ' || cast(floor(trades_coverage * 10000 + 0.5) / 100 as {{ sql_type('varchar') }})
                 || '% of the day (< {{ (min_coverage * 100) | round(6) }}%)'
        end as unusable_reason
    from symbol_days
)

select per_dataset.*, verdict.is_usable, verdict.unusable_reason
from per_dataset
inner join verdict using (symbol, coverage_date)
