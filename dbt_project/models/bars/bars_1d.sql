{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=86400000, timeframe='1d', finer='bars_4h') }}
