{#- SCD type 2 versions tile time per key: fails with every version whose end is not the next version's
    start (an overlap, or a hole), and with every open version (valid_to NULL) but the last, so a key has
    at most one current version. -#}
{% test contiguous_versions(model, key, valid_from, valid_to) %}
with

versions as (
    select
        *,
        lead({{ valid_from }}) over (partition by {{ key }} order by {{ valid_from }}) as next_valid_from
    from {{ model }}
)

select *
from versions
where {{ valid_to }} is distinct from next_valid_from
{% endtest %}
