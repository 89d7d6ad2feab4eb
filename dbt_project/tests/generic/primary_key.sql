{#- A model's key: fails with one row per key value that is NULL in any column or held by more than one
    row. One query (one group by) where not_null on each key column plus a uniqueness test were one
    query and one Dagster check event each. Model level with `columns: [...]`, or on one column. -#}
{% test primary_key(model, columns=none, column_name=none) %}
{%- set columns = columns or [column_name] -%}
select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {% for column in columns %}{{ column }} is null{{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}
