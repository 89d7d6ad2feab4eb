{{ config(materialized='table', tags=['research']) }}

{#-
  One row per research day: did the day's search find anything? The probability of backtest
  overfitting of the whole search (every trial of every design tuned that day, search_pbo) beside the
  ranking's #1 (its own tuning's PBO and its deflated Sharpe) and how many ranked designs are
  significant: a score (the ranker's deflated Sharpe, 0 below its minimum of out-of-sample trades) of
  0.95 or more, as the review judges them (a deflated Sharpe of 0.99 on one trade is no evidence).
  On a market with nothing to find the search PBO scatters around 0.5 (unless
  the window itself trends: holding the trend then wins in every block) and no design is significant;
  with a real edge the search PBO is near 0.
-#}

{%- set search_src = source('research_robustness', 'search_pbo') -%}
{% if relation_exists(search_src) %}

with

search as (
    select run_date, n_designs, n_trials, n_periods, n_blocks, n_combinations, pbo, logit_median
    from {{ search_src }}
),

ranked as (
    select
        run_date,
        max(case when rank = 1 then design_id end) as best_design_id,
        max(case when rank = 1 then pbo end) as best_design_pbo,
        max(case when rank = 1 then deflated_sharpe end) as best_deflated_sharpe,
        count(*) as n_ranked,
        sum(case when score >= 0.95 then 1 else 0 end) as n_significant
    from {{ ref('strategy_overfitting') }}
    group by run_date
)

select
    search.run_date, search.n_designs, search.n_trials, search.n_periods, search.n_blocks, search.n_combinations,
    search.pbo as search_pbo, search.logit_median, ranked.best_design_id, ranked.best_design_pbo,
    ranked.best_deflated_sharpe, coalesce(ranked.n_ranked, 0) as n_ranked,
    coalesce(ranked.n_significant, 0) as n_significant
from search
left join ranked on ranked.run_date = search.run_date

{% else %}

select
    cast(null as date) as run_date, cast(null as integer) as n_designs, cast(null as integer) as n_trials,
    cast(null as integer) as n_periods, cast(null as integer) as n_blocks, cast(null as integer) as n_combinations,
    cast(null as double) as search_pbo, cast(null as double) as logit_median,
    cast(null as {{ sql_type('varchar') }}) as best_design_id, cast(null as double) as best_design_pbo,
    cast(null as double) as best_deflated_sharpe, cast(null as bigint) as n_ranked, cast(null as bigint) as n_significant
where 1 = 0

{% endif %}
