{{ config(materialized='table', tags=['research']) }}

{#-
  One row per ranking day, top-ranked design and method: the Monte Carlo distribution of the
  design's out-of-sample path (python_assets/research/montecarlo.py). method 'trades': the trades'
  returns drawn with replacement and compounded; 'bars': circular blocks of block_bars consecutive
  bar returns. 5 % quantile (the bad tail), median and mean of the maximum drawdown (a fraction <= 0)
  and of the final compounded return, over n_paths paths seeded by the design id.
-#}

{%- set runs_src = source('research_robustness', 'monte_carlo_runs') -%}
{% if relation_exists(runs_src) %}

select
    run_date, design_id, rank, method, n_paths, n_steps, block_bars, seed,
    max_drawdown_p05, max_drawdown_p50, max_drawdown_mean,
    final_return_p05, final_return_p50, final_return_mean
from {{ runs_src }}

{% else %}

select
    cast(null as date) as run_date, cast(null as {{ sql_type('varchar') }}) as design_id, cast(null as integer) as rank,
    cast(null as {{ sql_type('varchar') }}) as method, cast(null as integer) as n_paths, cast(null as integer) as n_steps,
    cast(null as integer) as block_bars, cast(null as bigint) as seed,
    cast(null as double) as max_drawdown_p05, cast(null as double) as max_drawdown_p50,
    cast(null as double) as max_drawdown_mean, cast(null as double) as final_return_p05,
    cast(null as double) as final_return_p50, cast(null as double) as final_return_mean
where 1 = 0

{% endif %}
