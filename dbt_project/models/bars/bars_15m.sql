{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=timeframe_ms()['15m'], timeframe='15m', finer='bars_5m') }}
