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

{#- aggregate(column) over the last n rows, folded in time order: same bits whatever the partition. -#}
{% macro rolling_fold(column, aggregate, n) -%}
  {{ return(adapter.dispatch('rolling_fold', 'blofin_stack')(column, aggregate, n)) }}
{%- endmacro %}

{#- Other engines: the window aggregate itself (exact up to the engine's summation order). -#}
{% macro default__rolling_fold(column, aggregate, n) -%}
  {{ aggregate }}({{ column }}) over {{ rolling_frame(n) }}
{%- endmacro %}

{#- sum and avg: exact integer sums (exact_window_sum), O(1) memory per row; the variance family
    folds the frame's values in time order (list): for prices, a variance from sums of x and x^2
    would cancel catastrophically (returns use rolling_variance_of_returns). -#}
{% macro duckdb__rolling_fold(column, aggregate, n) -%}
  {%- if aggregate in ('sum', 'avg') -%}
    {{ exact_window_sum(column, n) }}
    {%- if aggregate == 'avg' %} / count(cast({{ column }} as double)) over {{ rolling_frame(n) }}{% endif %}
  {%- else -%}
    list_aggregate(list({{ column }}) over {{ rolling_frame(n) }}, '{{ aggregate }}')
  {%- endif -%}
{%- endmacro %}

{#- Sum over the last n rows of (a * series_row + b) * column, the same bits whatever the partition
    (a, b: integer SQL expressions constant over the frame; a none: the plain sum of column). WMA's
    and the linear-regression slope's weights are affine in the row number, so they need no list. -#}
{% macro exact_window_sum(column, n, a=none, b='1') -%}
  {{ return(adapter.dispatch('exact_window_sum', 'blofin_stack')(column, n, a, b)) }}
{%- endmacro %}

{#- Other engines: the window sum of doubles (exact up to the engine's summation order). -#}
{% macro default__exact_window_sum(column, n, a=none, b='1') -%}
  sum(({% if a is not none %}({{ a }}) * series_row + {% endif %}({{ b }})) * {{ column }}) over {{ rolling_frame(n) }}
{%- endmacro %}

{#- Each double x splits exactly into hi / 2^32 + lo / 2^120 with hi, lo HUGEINTs; their window sums
    are integer additions, which do not depend on the order the window tree adds in, joined in double
    at the end: within ~1 ulp of the exact sum (of the largest term where terms cancel), and O(1)
    memory per row where a list fold held the whole frame. NULLs are skipped. Range: |x| below 2^85
    for plain sums (n <= 100), |x| * series_row * n below ~2^94 with row weights (prices up to 1e12
    over millions of rows); larger values, a NaN or an infinity fail loudly (cast or HUGEINT overflow)
    instead of giving a wrong sum; ingest quarantines non-finite prices and bounds sizes, so none
    reach a feature. Below 2^-68, x is rounded to a multiple of 2^-120 (below ~2^-121: 0). -#}
{% macro duckdb__exact_window_sum(column, n, a=none, b='1') -%}
  {%- set frame = rolling_frame(n) -%}
  {%- set x = '(' ~ column ~ ')::double' -%}
  {%- set hi = 'round(' ~ x ~ ' * 4294967296.0)' -%}
  {%- set sums = [] -%}
  {%- for part in ['cast(' ~ hi ~ ' as hugeint)', 'cast((' ~ x ~ ' - ' ~ hi ~ ' / 4294967296.0) * (2.0 ^ 120) as hugeint)'] -%}
    {%- set plain = 'sum(' ~ part ~ ') over ' ~ frame -%}
    {%- if a is none -%}
      {%- do sums.append(plain if b == '1' else '(' ~ b ~ ') * ' ~ plain) -%}
    {%- else -%}
      {%- do sums.append('(' ~ a ~ ') * sum(series_row * ' ~ part ~ ') over ' ~ frame ~ ' + (' ~ b ~ ') * ' ~ plain) -%}
    {%- endif -%}
  {%- endfor -%}
  (cast({{ sums[0] }} as double) / 4294967296.0 + cast({{ sums[1] }} as double) / (2.0 ^ 120))
{%- endmacro %}

{#- Variance (ddof 1: sample, 0: population) over the last n rows of a column whose mean is small
    against its spread, such as log returns: from exact sums of x and x^2 (exact_window_sum), so the
    same bits wherever the partition starts and no list per row; the subtraction loses nothing there
    (it would, for prices: their variance stays a time-ordered fold, rolling('var_samp(...)')). A
    frame of one repeated value gives exactly 0; NULLs are skipped; fewer than ddof + 1 values: NULL;
    |x| up to 2^42 (x^2 within exact_window_sum's range). A near-deterministic trend (returns all but
    equal, mean^2 >> variance) gets a variance of ~1e-16 mean^2 rather than its true, smaller one. -#}
{% macro rolling_variance_of_returns(column, n, ddof=1) -%}
  {{ return(adapter.dispatch('rolling_variance_of_returns', 'blofin_stack')(column, n, ddof)) }}
{%- endmacro %}

{% macro default__rolling_variance_of_returns(column, n, ddof=1) -%}
  {{ 'var_samp' if ddof == 1 else 'var_pop' }}({{ column }}) over {{ rolling_frame(n) }}
{%- endmacro %}

{#- A frame of one repeated value (min = max) gives exactly 0, as a fold would: the subtraction would
    leave rounding noise of ~1e-16 x^2 there. -#}
{% macro duckdb__rolling_variance_of_returns(column, n, ddof=1) -%}
  {%- set frame = rolling_frame(n) -%}
  {%- set values = 'count(cast(' ~ column ~ ' as double)) over ' ~ frame -%}
  {%- set s1 = exact_window_sum(column, n) -%}
  {%- set s2 = exact_window_sum('(' ~ column ~ ') * (' ~ column ~ ')', n) -%}
  case when {{ values }} > {{ ddof }} and min({{ column }}) over {{ frame }} = max({{ column }}) over {{ frame }} then 0.0
    else greatest(({{ s2 }} - {{ s1 }} * {{ s1 }} / {{ values }}) / nullif({{ values }} - {{ ddof }}, 0), 0) end
{%- endmacro %}

{#- Sum of weight x value over the last n rows, weights 1 (oldest) .. n (newest): the WMA numerator. -#}
{% macro rolling_weighted_sum(column, n) -%}
  {{ return(adapter.dispatch('rolling_weighted_sum', 'blofin_stack')(column, n)) }}
{%- endmacro %}

{% macro default__rolling_weighted_sum(column, n) -%}
  ({% for k in range(n) %}{{ n - k }} * {{ lag_by(column, k) if k else column }}{{ ' + ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- The row j of the frame ending at row r weighs j - (r - n): exact integer sums, no list. -#}
{% macro duckdb__rolling_weighted_sum(column, n) -%}
  {{ exact_window_sum(column, n, '1', '-(series_row - ' ~ n ~ ')') }}
{%- endmacro %}

{#- Least-squares slope of column against time (one unit per bar) over the last n rows (TA-Lib
    LINEARREG_SLOPE): centred weights i - (n+1)/2 over the sum of their squares n(n^2-1)/12. -#}
{% macro rolling_linreg_slope(column, n) -%}
  {{ return(adapter.dispatch('rolling_linreg_slope', 'blofin_stack')(column, n)) }}
{%- endmacro %}

{% macro default__rolling_linreg_slope(column, n) -%}
  ({% for k in range(n) %}{{ n - k - (n + 1) / 2 }} * {{ lag_by(column, k) if k else column }}{{ ' + ' if not loop.last }}{% endfor %})
    / {{ n * (n * n - 1) / 12 }}
{%- endmacro %}

{#- Twice the centred weight of row j in the frame ending at row r: 2(j - (r - n)) - (n + 1). -#}
{% macro duckdb__rolling_linreg_slope(column, n) -%}
  {{ exact_window_sum(column, n, '2', '-(2 * series_row - ' ~ (n - 1) ~ ')') }}
    / {{ n * (n * n - 1) / 6 }}
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
    column was computed cannot move the rank. -#}
{% macro rolling_percent_rank(column, n) -%}
  {{ return(adapter.dispatch('rolling_percent_rank', 'blofin_stack')(column, n)) }}
{%- endmacro %}

{% macro default__rolling_percent_rank(column, n) -%}
  case when count({{ column }}) over {{ rolling_frame(n) }} = {{ n }}
    then ({% for k in range(n) %}case when {{ lag_by(column, k) if k else column }} <= {{ column }} * (1 + 1e-9) then 1 else 0 end{{ ' + ' if not loop.last }}{% endfor %}) / {{ n }}.0 end
{%- endmacro %}

{% macro duckdb__rolling_percent_rank(column, n) -%}
  case when count({{ column }}) over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row) = {{ n }}
    then len(list_filter(
        list({{ column }}) over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row),
        lambda x: x <= {{ column }} * (1 + 1e-9)
    )) / {{ n }}.0 end
{%- endmacro %}

{#- Mean absolute deviation of the last n values of column from center (TA-Lib CCI's divisor). -#}
{% macro rolling_mean_abs_deviation(column, center, n) -%}
  {{ return(adapter.dispatch('rolling_mean_abs_deviation', 'blofin_stack')(column, center, n)) }}
{%- endmacro %}

{% macro default__rolling_mean_abs_deviation(column, center, n) -%}
  ({% for k in range(n) %}coalesce(abs({{ lag_by(column, k) if k else column }} - {{ center }}), 0){{ ' + ' if not loop.last }}{% endfor %})
    / nullif(count({{ column }}) over {{ rolling_frame(n) }}, 0)
{%- endmacro %}

{% macro duckdb__rolling_mean_abs_deviation(column, center, n) -%}
  list_avg(list_transform(
      list({{ column }}) over {{ rolling_frame(n) }},
      lambda x: abs(x - {{ center }})
  ))
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

{% macro duckdb__rows_since_extreme(column, n, extreme) -%}
  series_row - {{ 'arg_max' if extreme == 'max' else 'arg_min' }}(series_row, {{ 'struct_pack(v := ' ~ column ~ ', r := series_row)' if extreme == 'max' else 'struct_pack(v := ' ~ column ~ ', r := -series_row)' }})
    over ({{ series_order() }} rows between {{ n }} preceding and current row)
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
