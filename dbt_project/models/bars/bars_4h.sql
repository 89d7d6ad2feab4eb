{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=timeframe_ms()['4h'], timeframe='4h', finer='bars_1h') }}
