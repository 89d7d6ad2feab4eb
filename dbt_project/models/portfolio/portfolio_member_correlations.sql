{{ config(materialized='table', tags=['portfolio']) }}

{#- The correlation matrix of each day's members' per-bar returns, one row per ordered pair. -#}

select run_date, member_a, member_b, correlation
from {{ source('portfolio_outputs', 'portfolio_correlations') }}
