{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#-
  Order-book features on every bar (all timeframes) of the symbol-days the live recorder wrote books
  for, from the last recorded book state stamped before the bar's close (closes_at_ms = bar open + width,
  the exclusive end: the next bar's first millisecond, so a book stamped then may already hold that bar's
  events and is the next bar's, as a trade stamped then is): a later book is never used. A 'snapshot' wins over a 'sample' stamped the same millisecond. A book older
  than var book_max_age_ms (default 60 s) at the close is stale (the recorder lost the book): the
  bar's book columns are then NULL, as they are when no book precedes the close. Not part of the
  80-feature registry (no meta feature: true): imported and synthetic lakes have no books.
-#}

{% set max_age_ms = var('book_max_age_ms', 60000) %}
{% set depth_bps = [10, 25, 50] %}

with

books as (
    select symbol, book_at_ms, book_kind, book_seq_id, side, level, price, size, book_date
    from {{ ref('stg_books') }}
    {% if is_incremental() %}
    where {{ in_partition_window('book_date', lookback_days=1) }}
    {% endif %}
),

book_days as (
    select distinct symbol, book_date from books
),

bars as (
    select
        b.symbol, b.timeframe, b.bar_at_ms, b.bar_at, b.bar_date,
        b.bar_at_ms + b.timeframe_ms as closes_at_ms
    from {{ ref('int_bars_unioned') }} as b
    inner join book_days on book_days.symbol = b.symbol and book_days.book_date = b.bar_date
    {% if is_incremental() %}
    where {{ in_partition_window('b.bar_date') }}
    {% endif %}
),

-- one row per book state; 'snapshot' sorts after 'sample', so max() prefers the full snapshot. A book is known
-- to the bars closing after its millisecond (closes_at_ms >= book_at_ms + 1, i.e. book_at_ms < closes_at_ms).
book_times as (
    select symbol, book_at_ms + 1 as closes_at_ms, book_at_ms, max(book_kind) as book_kind
    from books
    group by symbol, book_at_ms
),

matched as (
    select
        bars.*,
        case when bars.closes_at_ms - book_times.book_at_ms <= {{ max_age_ms }} then book_times.book_at_ms end as book_at_ms,
        case when bars.closes_at_ms - book_times.book_at_ms <= {{ max_age_ms }} then book_times.book_kind end as book_kind
    from bars
    {{ join_last_closed('bars', 'book_times') }}
),

used as (
    select distinct symbol, book_at_ms, book_kind from matched where book_at_ms is not null
),

levels as (
    select books.symbol, books.book_at_ms, books.book_kind, books.book_seq_id, books.side, books.level, books.price, books.size
    from books
    inner join used using (symbol, book_at_ms, book_kind)
),

tops as (
    select
        symbol,
        book_at_ms,
        book_kind,
        max(book_seq_id) as book_seq_id,
        count(case when side = 'bid' then 1 end) as bid_levels,
        count(case when side = 'ask' then 1 end) as ask_levels,
        max(case when side = 'bid' and level = 1 then price end) as best_bid,
        max(case when side = 'ask' and level = 1 then price end) as best_ask,
        max(case when side = 'bid' and level = 1 then size end) as bid_size_l1,
        max(case when side = 'ask' and level = 1 then size end) as ask_size_l1
    from levels
    group by symbol, book_at_ms, book_kind
),

priced as (
    select *, (best_bid + best_ask) / 2 as mid from tops
),

-- distance of each level from the mid in bps (>= 0 on an uncrossed book); 1e-9 bps of slack makes
-- "within N bps" inclusive whatever the last bit of the division
depth as (
    select
        priced.symbol,
        priced.book_at_ms,
        priced.book_kind,
        {#- DOUBLE sizes added in level order (ordered_agg): a plain sum follows the order the join hands
            the rows over, which decides the last bits -#}
        {% for bps in depth_bps %}
        {{ ordered_agg('sum', "case when levels.side = 'bid' and (priced.mid - levels.price) / priced.mid * 10000 <= "
                       ~ bps ~ " + 1e-9 then levels.size else 0 end", 'levels.side, levels.level') }} as bid_depth_{{ bps }}bps,
        {{ ordered_agg('sum', "case when levels.side = 'ask' and (levels.price - priced.mid) / priced.mid * 10000 <= "
                       ~ bps ~ " + 1e-9 then levels.size else 0 end", 'levels.side, levels.level') }} as ask_depth_{{ bps }}bps
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from priced
    inner join levels using (symbol, book_at_ms, book_kind)
    where priced.mid > 0
    group by priced.symbol, priced.book_at_ms, priced.book_kind
),

book_features as (
    select
        priced.symbol,
        priced.book_at_ms,
        priced.book_kind,
        priced.book_seq_id,
        priced.bid_levels,
        priced.ask_levels,
        priced.best_bid,
        priced.best_ask,
        priced.mid,
        {{ safe_divide('priced.best_ask - priced.best_bid', 'priced.mid') }} * 10000 as spread_bps,
        {{ safe_divide('priced.best_bid * priced.ask_size_l1 + priced.best_ask * priced.bid_size_l1',
                       'priced.bid_size_l1 + priced.ask_size_l1') }} as microprice,
        priced.bid_size_l1,
        priced.ask_size_l1,
        {% for bps in depth_bps %}
        depth.bid_depth_{{ bps }}bps,
        depth.ask_depth_{{ bps }}bps,
        {% endfor %}
        {{ safe_divide('depth.bid_depth_10bps - depth.ask_depth_10bps', 'depth.bid_depth_10bps + depth.ask_depth_10bps') }}
            as imbalance_10bps,
        {{ safe_divide('priced.bid_size_l1 - priced.ask_size_l1', 'priced.bid_size_l1 + priced.ask_size_l1') }} as imbalance_l1
    from priced
    left join depth using (symbol, book_at_ms, book_kind)
),

final as (
    select
        matched.symbol,
        matched.timeframe,
        matched.bar_at_ms,
        matched.bar_at,
        matched.bar_date,
        matched.closes_at_ms,
        matched.book_at_ms,
        matched.closes_at_ms - matched.book_at_ms as book_age_ms,
        matched.book_kind,
        book_features.book_seq_id,
        book_features.bid_levels,
        book_features.ask_levels,
        book_features.best_bid,
        book_features.best_ask,
        book_features.mid,
        book_features.spread_bps,
        book_features.microprice,
        book_features.bid_size_l1,
        book_features.ask_size_l1,
        {% for bps in depth_bps %}
        book_features.bid_depth_{{ bps }}bps,
        book_features.ask_depth_{{ bps }}bps,
        {% endfor %}
        book_features.imbalance_10bps,
        book_features.imbalance_l1
    from matched
    left join book_features using (symbol, book_at_ms, book_kind)
)

select * from final
