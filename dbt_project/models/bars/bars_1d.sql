{{ config(unique_key=['symbol', 'bar_date']) }}

{{ rollup_bars(interval_ms=timeframe_ms()['1d'], timeframe='1d', finer='bars_4h') }}
