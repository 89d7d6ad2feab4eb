{#-
  One row per design per research day: the day's rank, score, deflated Sharpe and lifecycle status
  beside the design's key, origin and spec as first proposed (the report's research ranking, its
  status counts and its lifecycle transitions).
-#}

{%- set ranking_src = source('research_outputs', 'ranking_history') -%}
{%- set designs_src = source('research_outputs', 'strategy_designs') -%}
{% if relation_exists(ranking_src) and relation_exists(designs_src) %}

with

ranking as (
    select
        run_date, design_id, rank, n_ranked, score, deflated_sharpe, sr0, oos_sharpe_annual, oos_trades,
        n_trials_total, status, status_reason
    from {{ ranking_src }}
),

designs_numbered as (
    select
        design_id, design_key, origin, cast(spec as {{ sql_type('varchar') }}) as spec, created_date,
        row_number() over (partition by design_id order by created_date) as proposal_no
    from {{ designs_src }}
),

first_proposals as (
    select design_id, design_key, origin, spec, created_date
    from designs_numbered
    where proposal_no = 1
),

ranked_designs as (
    select
        ranking.run_date,
        ranking.design_id,
        first_proposals.design_key,
        first_proposals.spec,
        first_proposals.origin,
        ranking.rank,
        ranking.n_ranked,
        ranking.score,
        ranking.deflated_sharpe,
        ranking.sr0,
        ranking.oos_sharpe_annual,
        ranking.oos_trades,
        ranking.n_trials_total,
        ranking.status,
        ranking.status_reason
    from ranking
    inner join first_proposals
        on first_proposals.design_id = ranking.design_id
        and first_proposals.created_date <= ranking.run_date
)

select * from ranked_designs

{% else %}

{{ empty_relation([('run_date', 'date'), ('design_id', 'varchar'), ('design_key', 'varchar'), ('spec', 'varchar'),
                   ('origin', 'varchar'), ('rank', 'integer'), ('n_ranked', 'integer'), ('score', 'double'),
                   ('deflated_sharpe', 'double'), ('sr0', 'double'), ('oos_sharpe_annual', 'double'),
                   ('oos_trades', 'integer'), ('n_trials_total', 'bigint'), ('status', 'varchar'),
                   ('status_reason', 'varchar')]) }}

{% endif %}
