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

{#- True when a difference (a window's range, a deviation, a stddev) is within rounding of the values it
    came from: |size| <= 1e-14 x magnitude. The zero test TA-Lib 0.8 puts on a range (WILLR, STOCH:
    hh - ll <= 1e-14 (|hh| + |ll|) counts as no range, found by probing it) and on CCI's and MFI's moves;
    relative, so a pair priced 1e-8 that moves 1e-9 of its price still moves. Features give such a window
    the value of an exactly flat one (closes 0.3 and 0.1 + 0.2, one ulp apart, made willr -100 and a
    z-score of +-2). Portable SQL (abs exists in every engine here): no dispatch. -#}
{% macro within_rounding(size, magnitude) -%}
  (abs({{ size }}) <= 1e-14 * abs({{ magnitude }}))
{%- endmacro %}
