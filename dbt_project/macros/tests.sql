{#- dbt's test filter (the `where` config) with one addition: the placeholder __partition_window__
    becomes "<date column> in [min_date, max_date) or <date column> is null" for the model's first date
    column, or true when it has none or on --full-refresh. Daily builds so test the new window only: test
    time stays flat as history grows instead of scanning every day's rows again. Rows without a date (a
    CLI backtest's metrics) are tested by every build, and a not_null test on the date column itself can
    fail: a window filter alone would drop the very rows it looks for. -#}
{% macro default__get_where_subquery(relation) -%}
  {%- set where = config.get('where') or '' -%}
  {%- if '__partition_window__' in where -%}
    {%- set where = where | replace('__partition_window__', partition_window_filter(relation)) -%}
  {%- endif -%}
  {%- if where and where != 'true' -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
  {%- endif -%}
  {{ return(relation) }}
{%- endmacro %}

{% macro partition_window_filter(relation) -%}
  {%- if not execute or flags.FULL_REFRESH -%}
    {{ return('true') }}
  {%- endif -%}
  {#- the documented columns of the tested model (every column is documented): no catalog query -#}
  {%- set names = [] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == relation.identifier -%}
    {%- do names.extend(node.columns.keys() | map('lower')) -%}
  {%- endfor -%}
  {%- for column in ['bar_date', 'trade_date', 'funding_date', 'report_date', 'partition_date', 'book_date', 'mark_date'] if column in names -%}
    {{ return('(' ~ in_partition_window(column) ~ ' or ' ~ column ~ ' is null)') }}
  {%- endfor -%}
  {{ return('true') }}
{%- endmacro %}
