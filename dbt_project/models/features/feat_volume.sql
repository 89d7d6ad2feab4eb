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

{#- A typical price within 1e-13 relative of the previous one is unchanged (no flow either way):
    (h + l + c) / 3 of two equal-valued bars can differ in the last bit, and TA-Lib treats such
    differences as zero too. -#}
signed_flows as (
    select
        *,
        case when typical_price - {{ lag_by('typical_price') }} > 1e-13 * abs({{ lag_by('typical_price') }})
            then typical_price * volume else 0 end as positive_flow,
        case when {{ lag_by('typical_price') }} - typical_price > 1e-13 * abs({{ lag_by('typical_price') }})
            then typical_price * volume else 0 end as negative_flow,
        {{ lag_by('typical_price') }} is not null as has_previous
    from flows
),

computed as (
    select
        {{ series_keys() }},
        close / vwap - 1 as vwap_dev,
        volume / {{ rolling_full('avg(volume)', 20) }} as volume_ratio_20,
        {{ safe_divide('volume - ' ~ rolling_full('avg(volume)', 20), rolling_full('stddev_pop(volume)', 20)) }} as volume_zscore_20,
        {{ safe_divide('buy_volume - sell_volume', 'buy_volume + sell_volume') }} as buy_sell_imbalance,
        {{ safe_divide(rolling_full('sum(buy_volume - sell_volume)', 20), rolling_full('sum(buy_volume + sell_volume)', 20)) }} as buy_sell_imbalance_20,
        case when {{ rolling('count(*) filter (where has_previous)', 14) }} = 14 then
            case  {# TA-Lib's rule: a total money flow below 1.0 gives 0 #}
                when {{ rolling('sum(positive_flow + negative_flow)', 14) }} < 1 then 0
                else 100 * {{ rolling('sum(positive_flow)', 14) }} / {{ rolling('sum(positive_flow + negative_flow)', 14) }}
            end
        end as mfi_14,
        {{ safe_divide(rolling_full('sum(coalesce(money_flow_volume, 0))', 20), rolling_full('sum(volume)', 20)) }} as cmf_20
    from signed_flows
)

select * from computed
{{ keep_partition_window() }}
