{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=300000, timeframe='5m', finer='bars_1m') }}
