{#- Fails with every row where any of the listed columns is NULL: one query for a model's required
    columns instead of one not_null test (query, check event) per column. -#}
{% test not_null_columns(model, columns) %}
select *
from {{ model }}
where {% for column in columns %}{{ column }} is null{{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}
