{#-
  The ensembles (average and stacked) scored beside each member on the same evaluation rows, per
  partition day: the report's ensemble table. trained_on and reused say which day's numbers they are: a day
  that reused every member's version repeats the ensembles of the day that trained the newest of them.
-#}

{%- set ensembles_src = source('ml_outputs', 'ml_ensembles') -%}
{% if relation_exists(ensembles_src) %}

with

ensembles as (
    select partition_date, ensemble, method, scorer, eval_rows, accuracy, auc, log_loss, trained_on, reused
    from {{ ensembles_src }}
)

select * from ensembles

{% else %}

{{ empty_relation([('partition_date', 'date'), ('ensemble', 'varchar'), ('method', 'varchar'), ('scorer', 'varchar'),
                   ('eval_rows', 'bigint'), ('accuracy', 'double'), ('auc', 'double'), ('log_loss', 'double'),
                   ('trained_on', 'date'), ('reused', 'boolean')]) }}

{% endif %}
