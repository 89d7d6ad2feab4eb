{#- The score strategies are ranked by (strategy_backtest_results.composite_score, the daily report's
    top list), defined here once. Sharpe x sqrt(min(trades, 30) / 30) shrinks it toward 0 when few
    trades back it; the worst drawdown then discounts it: x (1 + max_drawdown) when it is positive,
    / (1 + max_drawdown) when negative, so with the same Sharpe a deeper drawdown never scores higher.
    A run that lost everything (final equity <= 0 or a -100 % drawdown) scores -1000, below every run
    that did not: theirs are floored at -999 (no ranking tells annualised Sharpes past -999 apart),
    which also keeps the score finite. tests/dbt/test_composite_score.py checks both orders. The division
    is by a DOUBLE: Spark reads 30.0 as DECIMAL(3, 1) and kept 6 decimals of the quotient (scores 1e-6 off). -#}
{% macro composite_score(sharpe, trade_count, max_drawdown, final_equity) -%}
    case
        when {{ final_equity }} <= 0 or {{ max_drawdown }} <= -1 then -1000.0
        else greatest(
            -999.0,
            coalesce({{ sharpe }}, 0) * sqrt(least({{ trade_count }}, 30) / cast(30 as double))
            * case
                when coalesce({{ sharpe }}, 0) >= 0 then 1 + {{ max_drawdown }}
                else 1 / nullif(1 + {{ max_drawdown }}, 0)
            end
        )
    end
{%- endmacro %}
