{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=timeframe_ms()['1h'], timeframe='1h', finer='bars_15m') }}
