{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=14400000, timeframe='4h', finer='bars_1h') }}
