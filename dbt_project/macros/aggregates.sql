{#- Value at the smallest / largest ordering key in a group (first / last trade or bar). -#}
{% macro first_by(value, order_key) -%}
  {{ return(adapter.dispatch('first_by', 'blofin_stack')(value, order_key)) }}
{%- endmacro %}

{% macro default__first_by(value, order_key) -%} min_by({{ value }}, {{ order_key }}) {%- endmacro %}

{% macro duckdb__first_by(value, order_key) -%} arg_min({{ value }}, {{ order_key }}) {%- endmacro %}

{% macro last_by(value, order_key) -%}
  {{ return(adapter.dispatch('last_by', 'blofin_stack')(value, order_key)) }}
{%- endmacro %}

{% macro default__last_by(value, order_key) -%} max_by({{ value }}, {{ order_key }}) {%- endmacro %}

{% macro duckdb__last_by(value, order_key) -%} arg_max({{ value }}, {{ order_key }}) {%- endmacro %}

{#- Division that yields NULL instead of an error or infinity when the denominator is 0 or NULL. -#}
{% macro safe_divide(numerator, denominator) -%}
  ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}
