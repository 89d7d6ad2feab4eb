{{ config(materialized='table', tags=['research']) }}

{#-
  One row per ranking day, top-ranked design and method: the Monte Carlo distribution of the
  design's out-of-sample path (python_assets/research/montecarlo.py). method 'trades': the trades'
  returns drawn with replacement and compounded; 'bars': circular blocks of block_bars consecutive
  bar returns. 5 % quantile (the bad tail), median and mean of the final compounded return, over
  n_paths paths seeded by the design id, and of the maximum drawdown (a fraction <= 0) for bars only:
  closed trades compounded one after another leave out the losses while a trade is open and trades
  held at once on several symbols (a drawdown up to ~15x milder than the strategy's own), so trades
  rows carry NULL there, also those written before montecarlo.py stopped computing it. A sample of
  fewer than two different returns has no spread to resample: no quantiles (NULL; for rows written
  before, those of a single trade or bar).
-#}

{%- set runs_src = source('research_robustness', 'monte_carlo_runs') -%}
{% if relation_exists(runs_src) %}

select
    run_date, design_id, rank, method, n_paths, n_steps, block_bars, seed,
    case when method = 'bars' and n_steps >= 2 then max_drawdown_p05 end as max_drawdown_p05,
    case when method = 'bars' and n_steps >= 2 then max_drawdown_p50 end as max_drawdown_p50,
    case when method = 'bars' and n_steps >= 2 then max_drawdown_mean end as max_drawdown_mean,
    case when n_steps >= 2 then final_return_p05 end as final_return_p05,
    case when n_steps >= 2 then final_return_p50 end as final_return_p50,
    case when n_steps >= 2 then final_return_mean end as final_return_mean
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
