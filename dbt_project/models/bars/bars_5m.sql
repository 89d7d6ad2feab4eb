{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=timeframe_ms()['5m'], timeframe='5m', finer='bars_1m') }}
