{{ config(unique_key=['symbol', 'bar_at_ms']) }}

{{ rollup_bars(interval_ms=3600000) }}
