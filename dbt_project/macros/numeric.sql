{#- True when x is a finite number, false for NaN and +-infinity (NULL stays NULL). Data tests need it:
    NaN compares above every number in DuckDB, Spark and Postgres (and false both ways in IEEE engines),
    so a bound like `high >= greatest(open, close)` or `x >= 0` holds for a NaN high or x. The default
    leans on that ordering: abs(NaN) and abs(inf) are never below infinity, whichever way NaN compares. -#}
{% macro is_finite(x) -%}
  {{ return(adapter.dispatch('is_finite', 'blofin_stack')(x)) }}
{%- endmacro %}

{% macro default__is_finite(x) -%}
  (abs({{ x }}) < cast('Infinity' as double))
{%- endmacro %}

{% macro duckdb__is_finite(x) -%}
  isfinite({{ x }})
{%- endmacro %}
