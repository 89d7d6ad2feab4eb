{#- Window helpers for features: every feature is computed per (symbol, timeframe) series in time order. -#}

{#- The key and time columns every feature model carries. -#}
{% macro series_keys() -%}
  symbol, timeframe, bar_at_ms, bar_at, bar_date
{%- endmacro %}

{% macro series_order() -%}
  partition by symbol, timeframe order by bar_at_ms
{%- endmacro %}

{#- expr over the current row and the n-1 before it. -#}
{% macro rolling(expr, n) -%}
  {{ expr }} over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row)
{%- endmacro %}

{#- expr over n rows, NULL until n rows exist (the warm-up is NULL, never a partial window). -#}
{% macro rolling_full(expr, n) -%}
  case when count(*) over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row) = {{ n }}
    then {{ expr }} over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row) end
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
        where bar_date < date '{{ var("min_date")[:10] }}'
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

{% macro duckdb__rolling_mean_abs_deviation(column, center, n) -%}
  list_avg(list_transform(
      list({{ column }}) over ({{ series_order() }} rows between {{ n - 1 }} preceding and current row),
      lambda x: abs(x - {{ center }})
  ))
{%- endmacro %}

{#- Rows since the extreme of column in the last n+1 rows, latest one on ties (TA-Lib AROON). -#}
{% macro rows_since_extreme(column, n, extreme='max') -%}
  {{ return(adapter.dispatch('rows_since_extreme', 'blofin_stack')(column, n, extreme)) }}
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

{% macro duckdb__join_last_closed(lower, higher) -%}
  asof left join {{ higher }}
    on {{ lower }}.symbol = {{ higher }}.symbol
   and {{ lower }}.closes_at_ms >= {{ higher }}.closes_at_ms
{%- endmacro %}
