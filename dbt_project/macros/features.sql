{#- Window helpers for features: every feature is computed per (symbol, timeframe) series in time order. -#}

{#- The key and time columns every feature model carries. -#}
{% macro series_keys() -%}
  symbol, timeframe, bar_at_ms, bar_at, bar_date
{%- endmacro %}

{% macro series_order() -%}
  partition by symbol, timeframe order by bar_at_ms
{%- endmacro %}

{#- The frame of a rolling window: the current row and the n-1 before it. -#}
{% macro rolling_frame(n) -%}
  ({{ series_order() }} rows between {{ n - 1 }} preceding and current row)
{%- endmacro %}

{#- expr over the current row and the n-1 before it. A floating-point sum/avg/stddev/variance goes
    through rolling_fold, not the engine's window tree over doubles, whose rounding depends on where
    the partition starts: an incremental run, which reads only the lookback before its window, then
    gives the same bits as a full rebuild. -#}
{% macro rolling(expr, n) -%}
  {%- set m = modules.re.match('^\\s*(sum|avg|stddev_pop|stddev_samp|var_pop|var_samp)\\((.*)\\)\\s*$', expr, modules.re.S) -%}
  {%- if m and _balanced(m.group(2)) -%}
    {{ rolling_fold(m.group(2), m.group(1), n) }}
  {%- else -%}
    {{ expr }} over {{ rolling_frame(n) }}
  {%- endif -%}
{%- endmacro %}

{#- True when the parentheses of text balance (so 'sum(a) - sum(b)' is not read as one sum). -#}
{% macro _balanced(text) -%}
  {%- set depth = namespace(v=0, ok=true) -%}
  {%- for ch in text -%}
    {%- if ch == '(' %}{% set depth.v = depth.v + 1 %}{% elif ch == ')' %}{% set depth.v = depth.v - 1 %}{% endif -%}
    {%- if depth.v < 0 %}{% set depth.ok = false %}{% endif -%}
  {%- endfor -%}
  {{ return(depth.ok and depth.v == 0) }}
{%- endmacro %}

{#- aggregate(column) over the last n rows, folded in one fixed order: same bits whatever the partition
    and whichever engine. Every aggregate folds the frame's values, read as lags (no list, no window
    tree), in one fixed order: the same bits wherever the partition starts, as an incremental run that
    reads only a lookback must. A sum adds the values newest first; a mean adds their deviations d
    from the frame's newest value K (K + sum d / m over the m values not NULL), so a frame of one
    repeated value has exactly that value as its mean: a flat market's moving averages equal its price.
    Every engine folds the same values in the same order (fold_sum, fold_variance), so Spark's bits are
    DuckDB's: Spark's own window avg/stddev add the raw prices, and at a price of 1.5e6 on a 0.01 tick
    (a 20-bar spread ~1e-8 of the level) that rounding moved close_zscore_20, bb_pctb_20 and cci_20
    far past 1e-9 (tests/dbt/test_spark_parity.py, the HIPR-USDT series). -#}
{% macro rolling_fold(column, aggregate, n) -%}
  {%- if aggregate == 'sum' -%}
    case when {{ _count_in_frame(column, n) }} > 0 then {{ fold_sum(column, n) }} end
  {%- elif aggregate == 'avg' -%}
    {%- set newest = newest_in_frame(column, n) -%}
    ({{ newest }} + {{ fold_sum(column, n, term='{v} - ' ~ newest) }} / nullif({{ _count_in_frame(column, n) }}, 0))
  {%- else -%}
    {%- set variance = fold_variance(column, n, 0 if aggregate.endswith('_pop') else 1) -%}
    {{ 'sqrt(' ~ variance ~ ')' if aggregate.startswith('stddev') else variance }}
  {%- endif -%}
{%- endmacro %}

{#- column over the current row and the n-1 before it, newest first, as doubles: the current row,
    then lag 1 .. n-1 (NULL before the partition's first row). -#}
{% macro rows_back(column, n) -%}
  {%- set value = 'cast(' ~ column ~ ' as double)' -%}
  {%- set values = [value] -%}
  {%- for k in range(1, n) %}{% do values.append(lag_by(value, k)) %}{% endfor -%}
  {{ return(values) }}
{%- endmacro %}

{#- The newest value of column that is not NULL in the frame of the last n rows (NULL when the frame
    holds none: then every fold that uses it is NULL or adds nothing), so deviations from it are in the
    frame's own scale. The engines spell IGNORE NULLS differently. -#}
{% macro newest_in_frame(column, n) -%}
  {%- if n > 256 %}{{ exceptions.raise_compiler_error('rolling folds cover at most 256 rows, got ' ~ n) }}{% endif -%}
  {{ return(adapter.dispatch('newest_in_frame', 'blofin_stack')(column, n)) }}
{%- endmacro %}

{#- SQL:2011 (Trino): the null treatment after the call, over the frame itself. -#}
{% macro default__newest_in_frame(column, n) -%}
  last_value(cast({{ column }} as double)) ignore nulls over {{ rolling_frame(n) }}
{%- endmacro %}

{#- Spark: the newest non-NULL value so far, which is the frame's newest whenever the frame holds one
    (and when it holds none the folds ignore it), so the bits are those of the frame form. A growing
    frame is one update per row on Spark, where a sliding one is recomputed from its n rows each row. -#}
{% macro spark__newest_in_frame(column, n) -%}
  last_value(cast({{ column }} as double)) ignore nulls over ({{ series_order() }} rows between unbounded preceding and current row)
{%- endmacro %}

{#- DuckDB: over this row and the 255 before it, whatever n: the frame's newest whenever the frame
    (n <= 256 rows) holds one, and one expression for every frame length (the engine computes it once
    per column). A fixed frame, not an unbounded one: IGNORE NULLS scans back over a run of NULLs once
    per row, which an unbounded frame makes quadratic in the run (a column of NULLs: 3M rows 33 s
    against 0.6 s). -#}
{% macro duckdb__newest_in_frame(column, n) -%}
  last_value(cast({{ column }} as double) ignore nulls) over ({{ series_order() }} rows between 255 preceding and current row)
{%- endmacro %}

{#- How many of the frame's values of column are not NULL. -#}
{% macro _count_in_frame(column, n) -%}
  count({{ column }}) over {{ rolling_frame(n) }}
{%- endmacro %}

{#- Sum over the last n rows of term(value) (weights[k] * term for the value k rows back, when
    weights are given), NULL terms skipped, added newest to oldest in that fixed order: 0 when
    every term is NULL. -#}
{% macro fold_sum(column, n, weights=none, term='{v}') -%}
  {{ return(adapter.dispatch('fold_sum', 'blofin_stack')(column, n, weights, term)) }}
{%- endmacro %}

{% macro default__fold_sum(column, n, weights, term) -%}
  (
    {%- for v in rows_back(column, n) %}{{ ' + ' if not loop.first }}{% if weights is not none %}{{ weights[loop.index0] }} * {% endif %}coalesce({{ term.replace('{v}', v) }}, 0){% endfor -%}
  )
{%- endmacro %}

{#- Spark: the same terms added in the same order, by aggregate() over the frame's values newest first,
    from -0.0 (x + -0.0 is x, signed zeros included; the lambda names must not be a column's). Spark
    computes a window expression once for each time it is written, so the lag form's copy of the
    frame's newest value in every term made labels_h12's 100-row fold ~35 s on the parity lake (its
    stddev_samp window took 2 s); here each value and the term are written once (~3 s). -#}
{% macro spark__fold_sum(column, n, weights, term) -%}
  {%- set values = 'array(' ~ rows_back(column, n) | join(', ') ~ ')' -%}
  {%- if weights is none -%}
  aggregate({{ values }}, cast('-0.0' as double), (fold_acc, fold_v) -> fold_acc + coalesce({{ term.replace('{v}', 'fold_v') }}, 0))
  {%- else -%}
  aggregate(zip_with({{ values }}, array({{ weights | join(', ') }}), (fold_v, fold_w) -> fold_w * coalesce({{ term.replace('{v}', 'fold_v') }}, 0)),
            cast('-0.0' as double), (fold_acc, fold_t) -> fold_acc + fold_t)
  {%- endif -%}
{%- endmacro %}

{#- Variance (ddof 1: sample, 0: population) over the last n rows of column, NULLs skipped, from
    the deviations d from the frame's newest value: (sum d^2 - (sum d)^2 / m) / (m - ddof). Shifting
    by a value of the frame keeps the subtraction from cancelling (prices: a spread far below the
    level), and a frame of one repeated value gives exactly 0. Fewer than ddof + 1 values: NULL. -#}
{% macro fold_variance(column, n, ddof) -%}
  {{ return(adapter.dispatch('fold_variance', 'blofin_stack')(column, n, ddof)) }}
{%- endmacro %}

{#- Each deviation is written out twice; DuckDB computes it once. -#}
{% macro default__fold_variance(column, n, ddof) -%}
  {%- set newest = newest_in_frame(column, n) -%}
  {%- set deviations = fold_sum(column, n, term='{v} - ' ~ newest) -%}
  {%- set m = _count_in_frame(column, n) -%}
  case when {{ m }} > {{ ddof }} then greatest((
    {{ fold_sum(column, n, term='({v} - ' ~ newest ~ ') * ({v} - ' ~ newest ~ ')') }}
    - {{ deviations }} * {{ deviations }} / {{ m }}) / ({{ m }} - {{ ddof }}), 0) end
{%- endmacro %}

{#- Spark: both sums in one aggregate() over the frame's values (see spark__fold_sum), the same
    operations in the same order. -#}
{% macro spark__fold_variance(column, n, ddof) -%}
  {%- set newest = newest_in_frame(column, n) -%}
  {%- set m = _count_in_frame(column, n) -%}
  case when {{ m }} > {{ ddof }} then greatest(aggregate(
    array({{ rows_back(column, n) | join(', ') }}),
    named_struct('d', cast('-0.0' as double), 'd2', cast('-0.0' as double)),
    (fold_acc, fold_v) -> named_struct('d', fold_acc.d + coalesce(fold_v - {{ newest }}, 0),
                                       'd2', fold_acc.d2 + coalesce((fold_v - {{ newest }}) * (fold_v - {{ newest }}), 0)),
    fold_acc -> (fold_acc.d2 - fold_acc.d * fold_acc.d / {{ m }}) / ({{ m }} - {{ ddof }})), 0) end
{%- endmacro %}

{#- Variance (ddof 1: sample, 0: population) over the last n rows of a column such as log returns
    (kept for its callers: every variance is the same shifted fold, fold_variance). -#}
{% macro rolling_variance_of_returns(column, n, ddof=1) -%}
  {{ fold_variance(column, n, ddof) }}
{%- endmacro %}

{#- Sum of weight x value over the last n rows, weights 1 (oldest) .. n (newest): the WMA numerator.
    NULLs skipped; NULL when all are. -#}
{% macro rolling_weighted_sum(column, n) -%}
  case when {{ _count_in_frame(column, n) }} > 0 then {{ fold_sum(column, n, range(n, 0, -1) | list) }} end
{%- endmacro %}

{#- Least-squares slope of column against time (one unit per bar) over the last n rows (TA-Lib
    LINEARREG_SLOPE): centred weights i - (n+1)/2 over the sum of their squares n(n^2-1)/12.
    Twice the centred weights are the integers n - 1 - 2k for the value k rows back, opposite for
    the value n - 1 - k rows back: each such pair adds as one difference, newest pair first, so a
    flat frame's slope is exactly 0 (a sum of weighted prices cancels: at 1.5e6 Spark's was off by
    up to 8x the slope). A NULL counts as 0, not as a missing point (the weights assume n points), so
    callers pass a column without NULLs (close) over full frames; NULL when all are. -#}
{% macro rolling_linreg_slope(column, n) -%}
  {%- set v = rows_back(column, n) -%}
  case when {{ _count_in_frame(column, n) }} > 0 then (
    {%- for k in range(n // 2) %}{{ ' + ' if not loop.first }}{{ n - 1 - 2 * k }} * (coalesce({{ v[k] }}, 0) - coalesce({{ v[n - 1 - k] }}, 0)){% endfor -%}
  ) / {{ n * (n * n - 1) / 6 }} end
{%- endmacro %}

{#- expr over n rows, NULL until n rows exist (the warm-up is NULL, never a partial window). -#}
{% macro rolling_full(expr, n) -%}
  {{ rolling_full_of(rolling(expr, n), n) }}
{%- endmacro %}

{#- A windowed expression over the last n rows, NULL until n rows exist. -#}
{% macro rolling_full_of(windowed, n) -%}
  case when count(*) over {{ rolling_frame(n) }} = {{ n }} then {{ windowed }} end
{%- endmacro %}

{#- The value n bars back in the same series (NULL during the first n bars). -#}
{% macro lag_by(column, n=1) -%}
  lag({{ column }}, {{ n }}) over ({{ series_order() }})
{%- endmacro %}

{#- Rows of the partition window plus, per series, the lookback_bars rows right before it: exactly
    the history the longest window needs, whatever the gaps. Full builds read everything. -#}
{% macro series_with_history(relation, columns, lookback_bars) -%}
    select {{ columns | join(', ') }}
    from {{ relation }}
    {% if is_incremental() %}
    where {{ in_partition_window('bar_date') }}
    union all
    select {{ columns | join(', ') }}
    from (
        select
            {{ columns | join(', ') }},
            row_number() over (partition by symbol, timeframe order by bar_at_ms desc) as rows_back
        from {{ relation }}
        where bar_date < date '{{ partition_bound("min_date") }}'
    ) as history
    where rows_back <= {{ lookback_bars }}
    {% endif %}
{%- endmacro %}

{#- Keep only the partition window's rows in an incremental run (history rows were for warm-up). -#}
{% macro keep_partition_window() -%}
  {% if is_incremental() %}where {{ in_partition_window('bar_date') }}{% endif %}
{%- endmacro %}

{#- Fraction of the last n values of column that are <= the current value (rolling percentile rank).
    Values within 1e-9 relative of the current one count as ties, so last-bit noise in how the
    column was computed cannot move the rank: above it by that much, whatever its sign (times
    1 + 1e-9 alone moved a negative bound below the value, leaving the bar itself out). -#}
{% macro rolling_percent_rank(column, n) -%}
  {{ return(adapter.dispatch('rolling_percent_rank', 'blofin_stack')(column, n)) }}
{%- endmacro %}

{% macro default__rolling_percent_rank(column, n) -%}
  case when count({{ column }}) over {{ rolling_frame(n) }} = {{ n }}
    then ({% for k in range(n) %}case when {{ lag_by(column, k) if k else column }} <= {{ column }} * (1 + sign({{ column }}) * 1e-9) then 1 else 0 end{{ ' + ' if not loop.last }}{% endfor %}) / {{ n }}.0 end
{%- endmacro %}

{#- Rows since the extreme of column in the last n+1 rows, latest one on ties (TA-Lib AROON). -#}
{% macro rows_since_extreme(column, n, extreme='max') -%}
  {{ return(adapter.dispatch('rows_since_extreme', 'blofin_stack')(column, n, extreme)) }}
{%- endmacro %}

{#- The smallest k whose value k rows back equals the frame's extreme: the latest one on ties. -#}
{% macro default__rows_since_extreme(column, n, extreme) -%}
  case
    {%- for k in range(n + 1) %}
    when {{ lag_by(column, k) if k else column }} = {{ extreme }}({{ column }}) over ({{ series_order() }} rows between {{ n }} preceding and current row) then {{ k }}
    {%- endfor %}
  end
{%- endmacro %}

{#- Each lower-timeframe bar joined to the last higher-timeframe bar that had closed when the lower
    bar closed (higher bar open + width <= lower bar open + width): never a bar still forming. -#}
{% macro join_last_closed(lower, higher) -%}
  {{ return(adapter.dispatch('join_last_closed', 'blofin_stack')(lower, higher)) }}
{%- endmacro %}

{#- Other engines: a range join on [closes_at_ms, next bar's closes_at_ms) of the higher bars. -#}
{% macro default__join_last_closed(lower, higher) -%}
  left join (
    select
        h.*,
        lead(h.closes_at_ms, 1, 9223372036854775807) over (partition by h.symbol order by h.closes_at_ms) as next_closes_at_ms
    from {{ higher }} as h
  ) as {{ higher }}
    on {{ lower }}.symbol = {{ higher }}.symbol
   and {{ lower }}.closes_at_ms >= {{ higher }}.closes_at_ms
   and {{ lower }}.closes_at_ms < {{ higher }}.next_closes_at_ms
{%- endmacro %}

{% macro duckdb__join_last_closed(lower, higher) -%}
  asof left join {{ higher }}
    on {{ lower }}.symbol = {{ higher }}.symbol
   and {{ lower }}.closes_at_ms >= {{ higher }}.closes_at_ms
{%- endmacro %}
