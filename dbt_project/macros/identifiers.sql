{#- SQL text written elsewhere (python_assets compiles strategy specs to SQL) with standard double-quoted
    identifiers, as this engine reads it. Spark reads "x" as a string literal (unless ANSI identifiers are
    switched on), so there every double-quoted name outside a single-quoted literal becomes `x`. -#}
{% macro engine_sql(text) -%}
  {{ return(adapter.dispatch('engine_sql', 'blofin_stack')(text)) }}
{%- endmacro %}

{% macro default__engine_sql(text) -%}
  {{ return(text) }}
{%- endmacro %}

{% macro spark__engine_sql(text) -%}
  {%- set parts = modules.re.split("('(?:[^']|'')*')", text) -%}
  {%- set out = [] -%}
  {%- for part in parts -%}
    {%- if loop.index0 % 2 == 1 -%}
      {%- do out.append(part) -%}
    {%- else -%}
      {%- do out.append(modules.re.sub('"((?:[^"]|"")+)"', '`\\1`', part)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(out | join('')) }}
{%- endmacro %}
