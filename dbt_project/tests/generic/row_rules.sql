{#- Fails with every row that breaks a rule: `rules` maps a rule's name to a boolean SQL expression (false or
    NULL breaks it, as in expression_is_true), `not_null` lists columns that must hold a value. One query and
    one Dagster check for a model's row rules instead of one per rule (a test node costs ~30 ms of dbt and
    three Dagster events a day, its query ~2 ms); each failing row names the rules it broke in broken_rules. -#}
{% test row_rules(model, rules={}, not_null=[]) %}
{%- set broken = [] -%}
{%- for column in not_null -%}
  {%- do broken.append(("(" ~ column ~ " is null)", column ~ " is null")) -%}
{%- endfor -%}
{%- for name, expression in rules.items() -%}
  {%- do broken.append(("not coalesce(" ~ expression ~ ", false)", name)) -%}
{%- endfor -%}
select
    *,
    concat_ws(', '
    {%- for condition, name in broken %},
        case when {{ condition }} then '{{ name | replace("'", "''") }}' end
    {%- endfor %}
    ) as broken_rules
from {{ model }}
where {% for condition, name in broken %}{{ condition }}{{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}
