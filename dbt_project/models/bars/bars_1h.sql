{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=3600000, timeframe='1h', finer='bars_15m') }}
