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

{#- Order-independent sum: values rounded to 12 decimals and added as DECIMAL(38, 12), so the
    result is the same whatever order a parallel aggregation adds them in (a DOUBLE sum is not:
    reruns and incremental builds would differ in the last bits). -#}
{% macro exact_sum(expression) -%}
  sum(cast({{ expression }} as decimal(38, 12)))
{%- endmacro %}

{#- Mean of value over a group, added in order_key order: the same bits whatever order the rows arrive
    in (a plain DOUBLE avg follows the table's row order, which a parallel insert does not fix). -#}
{% macro ordered_avg(value, order_key) -%}
  {{ return(adapter.dispatch('ordered_avg', 'blofin_stack')(value, order_key)) }}
{%- endmacro %}

{% macro default__ordered_avg(value, order_key) -%} avg({{ value }}) {%- endmacro %}

{% macro duckdb__ordered_avg(value, order_key) -%}
  list_avg(list({{ value }} order by {{ order_key }}) filter (where {{ value }} is not null))
{%- endmacro %}

{#- listagg in the given order on every engine: dbt-spark's listagg drops the order by (collect_list keeps
    whatever order the shuffle hands it), so on Spark the values are sorted as structs (the order columns
    first, the value last) and joined. -#}
{% macro ordered_listagg(measure, delimiter_text, order_columns) -%}
  {{ return(adapter.dispatch('ordered_listagg', 'blofin_stack')(measure, delimiter_text, order_columns)) }}
{%- endmacro %}

{% macro default__ordered_listagg(measure, delimiter_text, order_columns) -%}
  {{ listagg(measure, delimiter_text, 'order by ' ~ order_columns | join(', ')) }}
{%- endmacro %}

{% macro spark__ordered_listagg(measure, delimiter_text, order_columns) -%}
  array_join(transform(array_sort(collect_list(named_struct(
    {%- for column in order_columns %}'k{{ loop.index }}', {{ column }}, {% endfor %}'v', {{ measure }}))), x -> x.v),
    {{ delimiter_text }})
{%- endmacro %}
