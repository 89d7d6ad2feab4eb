{{ config(materialized='table', tags=['fill_stress']) }}

{#-
  Fill-assumption sensitivity of the day's top-ranked designs: one row per run_date x design x
  fill mode with the design's key, the result under that fill, its change against next open and
  the edge flags computed by python_assets/research/fill_stress.py (edge: net return > 0 and
  Sharpe > 0; edge_survives false = the edge under next open is lost under worst or spread) and,
  on spread rows, the share of the fills priced from a recorded order book.
-#}

{#- A warehouse the research assets have not written yet (a `dbt build` by hand): an empty mart. #}
{% set src = source('fill_stress', 'fill_stress_results') %}
{% set found = relation_exists(src) %}

with

stress as (
    {%- if not found %}
    select
        cast(null as date) as run_date, cast(null as {{ dbt.type_string() }}) as design_id,
        cast(null as {{ dbt.type_string() }}) as design_key, cast(null as {{ dbt.type_string() }}) as fill_mode,
        cast(null as {{ dbt.type_int() }}) as rank, cast(null as {{ dbt.type_float() }}) as net_return,
        cast(null as {{ dbt.type_float() }}) as sharpe, cast(null as {{ dbt.type_int() }}) as trades,
        cast(null as {{ dbt.type_boolean() }}) as has_edge, cast(null as {{ dbt.type_boolean() }}) as edge_survives,
        cast(null as {{ dbt.type_float() }}) as spread_fraction, cast(null as {{ dbt.type_float() }}) as book_spread_share
    where 1 = 0
    {%- else %}
    select * from {{ src }}
    {%- endif %}
),

baseline as (
    select run_date, design_id, net_return as next_open_return
    from stress
    where fill_mode = 'next_open'
)

select
    s.run_date,
    s.design_id,
    s.design_key,
    s.fill_mode,
    s.rank,
    s.net_return,
    s.sharpe,
    s.trades,
    s.net_return - b.next_open_return as return_vs_next_open,
    s.has_edge,
    s.edge_survives,
    s.spread_fraction,
    s.book_spread_share
from stress as s
left join baseline as b using (run_date, design_id)
