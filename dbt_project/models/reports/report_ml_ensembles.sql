{#-
  The ensembles (average and stacked) scored beside each member on the same evaluation rows, per
  partition day: the report's ensemble table.
-#}

{%- set ensembles_src = source('ml_outputs', 'ml_ensembles') -%}
{% if relation_exists(ensembles_src) %}

with

ensembles as (
    select partition_date, ensemble, method, scorer, eval_rows, accuracy, auc, log_loss
    from {{ ensembles_src }}
)

select * from ensembles

{% else %}

{{ empty_relation([('partition_date', 'date'), ('ensemble', 'varchar'), ('method', 'varchar'), ('scorer', 'varchar'),
                   ('eval_rows', 'bigint'), ('accuracy', 'double'), ('auc', 'double'), ('log_loss', 'double')]) }}

{% endif %}
