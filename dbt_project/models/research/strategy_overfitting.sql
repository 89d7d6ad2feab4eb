{{ config(materialized='table', tags=['research']) }}

{#-
  One row per design per ranking day: the deflated Sharpe of that day's out-of-sample returns beside
  the probability of backtest overfitting (PBO, CSCV) of the design's latest tuning on or before the
  day, over every trial that tuning stored. The lifecycle archives a design whose PBO exceeds
  RankConfig.max_pbo over at least RankConfig.min_pbo_trials trials (python_assets/research/ranker.py).
-#}

{%- set ranking_src = source('research_outputs', 'ranking_history') -%}
{%- set pbo_src = source('research_robustness', 'tuning_pbo') -%}
{% if relation_exists(ranking_src) and relation_exists(pbo_src) %}

with

ranking as (
    select run_date, design_id, rank, n_ranked, score, deflated_sharpe, sr0, oos_sharpe_annual, oos_trades,
           n_trials_total, status, status_reason
    from {{ ranking_src }}
),

tunings as (
    select run_date as tuned_date, design_id, n_trials, n_periods, n_blocks, n_combinations, pbo, logit_median
    from {{ pbo_src }}
),

as_of as (
    select
        ranking.*,
        tunings.tuned_date,
        tunings.n_trials,
        tunings.n_periods,
        tunings.n_blocks,
        tunings.n_combinations,
        tunings.pbo,
        tunings.logit_median,
        row_number() over (partition by ranking.run_date, ranking.design_id
                           order by tunings.tuned_date desc) as newest
    from ranking
    left join tunings
        on tunings.design_id = ranking.design_id and tunings.tuned_date <= ranking.run_date
)

select
    run_date, design_id, tuned_date, n_trials, n_periods, n_blocks, n_combinations, pbo, logit_median,
    score, deflated_sharpe, sr0, oos_sharpe_annual, oos_trades, n_trials_total, rank, n_ranked, status, status_reason
from as_of
where newest = 1

{% else %}

select
    cast(null as date) as run_date, cast(null as {{ sql_type('varchar') }}) as design_id, cast(null as date) as tuned_date,
    cast(null as integer) as n_trials, cast(null as integer) as n_periods, cast(null as integer) as n_blocks,
    cast(null as integer) as n_combinations, cast(null as double) as pbo, cast(null as double) as logit_median,
    cast(null as double) as score, cast(null as double) as deflated_sharpe, cast(null as double) as sr0,
    cast(null as double) as oos_sharpe_annual, cast(null as integer) as oos_trades, cast(null as bigint) as n_trials_total,
    cast(null as integer) as rank, cast(null as integer) as n_ranked,
    cast(null as {{ sql_type('varchar') }}) as status, cast(null as {{ sql_type('varchar') }}) as status_reason
where 1 = 0

{% endif %}
