{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=900000, timeframe='15m', finer='bars_5m') }}
