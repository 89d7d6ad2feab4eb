{{ config(materialized='table', tags=['portfolio']) }}

{#- The members of each day's portfolio: their own engine results and last weights per rule. -#}

select run_date, member_id, design_id, symbol, params, total_return, sharpe, max_drawdown, trades,
       weight_equal, weight_inverse_vol, weight_risk_parity
from {{ source('portfolio_outputs', 'portfolio_members') }}
