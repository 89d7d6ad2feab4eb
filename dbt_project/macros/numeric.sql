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

{#- True when a stddev is more than rounding: above 1e-12 x max(|mean|, 1), the tolerance of
    python_assets/research/dsr.py FLAT_RTOL and pbo.py. A constant series' stddev can come out a rounding
    above 0 (equity growing 1.001 a bar: 1.2e-16), and mean / stddev then made a Sharpe of ~1e13.
    Portable SQL (greatest and abs exist in every engine here): no dispatch. -#}
{% macro varies_beyond_rounding(sd, mean) -%}
  ({{ sd }} > 1e-12 * greatest(abs({{ mean }}), 1))
{%- endmacro %}
