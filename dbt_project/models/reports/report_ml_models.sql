{#-
  Each model version's overall out-of-sample score (each metric the mean of the walk-forward folds' scores,
  not a score of their rows pooled) beside its naive baseline, per partition day: the report's model table
  (folds f1..fN stay in ml_model_results). trained_on and reused say which day's
  walk-forward the scores are: a day that reused an earlier day's version repeats that day's scores.
-#}

{%- set results_src = source('ml_outputs', 'ml_model_results') -%}
{% if relation_exists(results_src) %}

with

overall as (
    select
        partition_date, model, version, scorer, test_rows, accuracy, balanced_accuracy, log_loss, auc,
        rmse, r2, ic, rank_ic, trained_on, reused
    from {{ results_src }}
    where fold = 'overall'
)

select * from overall

{% else %}

{{ empty_relation([('partition_date', 'date'), ('model', 'varchar'), ('version', 'varchar'), ('scorer', 'varchar'),
                   ('test_rows', 'bigint'), ('accuracy', 'double'), ('balanced_accuracy', 'double'),
                   ('log_loss', 'double'), ('auc', 'double'), ('rmse', 'double'), ('r2', 'double'),
                   ('ic', 'double'), ('rank_ic', 'double'), ('trained_on', 'date'), ('reused', 'boolean')]) }}

{% endif %}
