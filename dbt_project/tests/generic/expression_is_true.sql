{#- Fails with every row where the boolean SQL expression is false or NULL. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(
    {% if column_name is not none %}{{ column_name }} {% endif %}{{ expression }},
    false
)
{% endtest %}
