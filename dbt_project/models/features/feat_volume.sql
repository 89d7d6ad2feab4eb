{{ config(unique_key=['symbol', 'timeframe', 'bar_at_ms']) }}

{#- Volume and order-flow features: VWAP deviation, volume z-score, MFI, Chaikin money flow, taker imbalance. -#}
{% set lookback = 20 %}

with

bars as (
    {{ series_with_history(ref('int_bars_unioned'),
        ['symbol', 'timeframe', 'bar_at_ms', 'bar_at', 'bar_date', 'high', 'low', 'close', 'volume', 'vwap',
         'buy_volume', 'sell_volume'], lookback) }}
),

flows as (
    select
        *,
        (high + low + close) / 3 as typical_price,
        {{ safe_divide('(close - low) - (high - close)', 'high - low') }} * volume as money_flow_volume
    from bars
),

moves as (
    select
        *,
        {{ lag_by('typical_price') }} as prev_typical_price
    from flows
),

{#- TA-Lib's MFI (ta_MFI.c, 0.8): tp x volume is positive (negative) flow when the typical price rose
    (fell) by more than 1e-14 of |tp| + |previous tp|; a smaller move is no move, no flow either way
    ((h + l + c) / 3 of two equal-valued bars can differ in the last bit). -#}
signed_flows as (
    select
        *,
        case when typical_price > prev_typical_price
                  and not {{ within_rounding('typical_price - prev_typical_price', 'abs(typical_price) + abs(prev_typical_price)') }}
            then typical_price * volume else 0 end as positive_flow,
        case when typical_price < prev_typical_price
                  and not {{ within_rounding('typical_price - prev_typical_price', 'abs(typical_price) + abs(prev_typical_price)') }}
            then typical_price * volume else 0 end as negative_flow,
        prev_typical_price is not null as has_previous
    from moves
),

{#- Every window in one pass (a second pass would re-sort every column). -#}
windows as (
    select
        *,
        {{ rolling('count(*) filter (where has_previous)', 14) }} as flow_rows_14,
        {{ rolling('sum(positive_flow)', 14) }} as positive_flow_14,
        {{ rolling('sum(positive_flow + negative_flow)', 14) }} as total_flow_14,
        {{ rolling_full('avg(volume)', 20) }} as volume_sma_20,
        {{ rolling_full('stddev_pop(volume)', 20) }} as volume_sd_20,
        {{ rolling_full('sum(buy_volume - sell_volume)', 20) }} as taker_net_20,
        {{ rolling_full('sum(buy_volume + sell_volume)', 20) }} as taker_total_20,
        {#- bars with taker volumes in the window: a bar from imported candles has none, and the sums skip it,
            so a series of candles then trades had a "20-bar" imbalance of 1..19 bars at its first trades -#}
        {{ rolling('count(buy_volume + sell_volume)', 20) }} as taker_rows_20,
        {{ rolling_full('sum(coalesce(money_flow_volume, 0))', 20) }} as money_flow_volume_20,
        {{ rolling_full('sum(volume)', 20) }} as volume_20
    from signed_flows
),

computed as (
    select
        {{ series_keys() }},
        {{ safe_divide('close', 'vwap') }} - 1 as vwap_dev,
        {{ safe_divide('volume', 'volume_sma_20') }} as volume_ratio_20,
        {{ safe_divide('volume - volume_sma_20', 'volume_sd_20') }} as volume_zscore_20,
        {{ safe_divide('buy_volume - sell_volume', 'buy_volume + sell_volume') }} as buy_sell_imbalance,
        case when taker_rows_20 = 20 then {{ safe_divide('taker_net_20', 'taker_total_20') }} end as buy_sell_imbalance_20,
        {#- A window without any flow (0 / 0) gives 0, as TA-Lib; no threshold on the flow's size, which
            is price x volume and so in arbitrary units. -#}
        case when flow_rows_14 = 14 then
            case when total_flow_14 <= 0 then 0 else 100 * positive_flow_14 / total_flow_14 end
        end as mfi_14,
        {{ safe_divide('money_flow_volume_20', 'volume_20') }} as cmf_20
    from windows
)

select * from computed
{{ keep_partition_window() }}
