{{ config(unique_key=['symbol', 'report_date'], pre_hook="{{ clear_partition_window('report_date') }}") }}

{#-
  One row per symbol and UTC day: the per-symbol numbers of the daily report. Reads one day
  before the window so that the first day's return has its previous close.
-#}

with

bars_1d as (
    select symbol, bar_date, open, high, low, close, volume, volume_quote, trade_count
    from {{ ref('bars_1d') }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date', lookback_days=1) }}
    {% endif %}
),

{% set timeframes = timeframe_ms() | list %}
bar_counts as (
    {% for tf in timeframes %}
    select symbol, bar_date, '{{ tf }}' as timeframe, count(*) as n_bars
    from {{ ref('bars_' ~ tf) }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    {% endif %}
    group by symbol, bar_date
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bar_counts_pivoted as (
    select
        symbol,
        bar_date,
        {% for tf in timeframes %}
        cast(coalesce(sum(case when timeframe = '{{ tf }}' then n_bars end), 0) as bigint) as bars_{{ tf }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from bar_counts
    group by symbol, bar_date
),

{#- A day's resolution is its finest bars: 1m where ticks exist, else the width of the candles that
    stood in. A gap is a run of minutes no bar of that resolution covers; the day's edges count. -#}
{% set widths = timeframe_ms() %}
bars_all as (
    {% for tf, ms in widths.items() %}
    select symbol, bar_date, bar_at_ms, '{{ tf }}' as resolution, cast({{ ms }} as bigint) as width_ms
    from {{ ref('bars_' ~ tf) }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

finest as (
    select symbol, bar_date, min(width_ms) as width_ms
    from bars_all
    group by symbol, bar_date
),

fine_bars as (
    select bars_all.*
    from bars_all
    inner join finest
        on bars_all.symbol = finest.symbol
        and bars_all.bar_date = finest.bar_date
        and bars_all.width_ms = finest.width_ms
),

coverage as (
    select symbol, bar_date, min(resolution) as resolution, {{ floor_minutes('sum(width_ms)') }} as covered_minutes
    from fine_bars
    group by symbol, bar_date
),

bar_steps as (
    select
        symbol,
        bar_date,
        bar_at_ms,
        width_ms,
        coalesce(
            lag(bar_at_ms + width_ms) over (partition by symbol, bar_date order by bar_at_ms),
            {{ date_to_epoch_ms('bar_date') }}
        ) as prev_end_ms,
        lead(bar_at_ms) over (partition by symbol, bar_date order by bar_at_ms) as next_bar_at_ms
    from fine_bars
),

gap_runs as (
    select symbol, bar_date, {{ floor_minutes('bar_at_ms - prev_end_ms') }} as missing_minutes
    from bar_steps
    where bar_at_ms > prev_end_ms
    union all
    select symbol, bar_date, {{ floor_minutes(date_to_epoch_ms('bar_date') ~ ' + ' ~ day_ms() ~ ' - bar_at_ms - width_ms') }}
    from bar_steps
    where next_bar_at_ms is null and bar_at_ms + width_ms < {{ date_to_epoch_ms('bar_date') }} + {{ day_ms() }}
),

gaps as (
    select
        symbol,
        bar_date,
        count(*) as gap_count,
        cast(sum(missing_minutes) as bigint) as missing_minutes,
        max(missing_minutes) as longest_gap_minutes
    from gap_runs
    group by symbol, bar_date
),

quarantined as (
    select symbol, trade_date as bar_date, count(*) as quarantined_rows
    from {{ ref('stg_quarantined_trades') }}
    where trade_date is not null
    group by symbol, trade_date
),

daily as (
    select
        symbol,
        bar_date,
        open,
        high,
        low,
        close,
        lag(close) over (partition by symbol order by bar_date) as prev_close,
        lag(bar_date) over (partition by symbol order by bar_date) as prev_bar_date,
        volume,
        volume_quote,
        trade_count
    from bars_1d
),

final as (
    select
        ---------- ids
        daily.symbol,
        daily.bar_date as report_date,

        ---------- prices
        daily.open,
        daily.high,
        daily.low,
        daily.close,
        case when daily.prev_bar_date = daily.bar_date - interval '1 day' then daily.prev_close end as prev_close,
        case
            when daily.prev_bar_date = daily.bar_date - interval '1 day'
                then {{ safe_divide('daily.close', 'daily.prev_close') }} - 1
        end as return_1d,
        daily.high - daily.low as range_abs,
        {{ safe_divide('daily.high - daily.low', 'daily.open') }} as range_pct,

        ---------- volumes
        daily.volume,
        daily.volume_quote,
        daily.trade_count,

        ---------- data coverage
        counts.bars_1m,
        counts.bars_5m,
        counts.bars_15m,
        counts.bars_1h,
        counts.bars_4h,
        counts.bars_1d,
        coverage.resolution,
        coverage.covered_minutes,
        coalesce(gaps.gap_count, 0) as gap_count,
        coalesce(gaps.missing_minutes, 0) as missing_minutes,
        coalesce(gaps.longest_gap_minutes, 0) as longest_gap_minutes,
        coalesce(quarantined.quarantined_rows, 0) as quarantined_rows
    from daily
    inner join bar_counts_pivoted as counts
        on daily.symbol = counts.symbol and daily.bar_date = counts.bar_date
    left join coverage
        on daily.symbol = coverage.symbol and daily.bar_date = coverage.bar_date
    left join gaps
        on daily.symbol = gaps.symbol and daily.bar_date = gaps.bar_date
    left join quarantined
        on daily.symbol = quarantined.symbol and daily.bar_date = quarantined.bar_date
)

select * from final
