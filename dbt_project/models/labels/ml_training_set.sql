{#-
  The one place features meet labels: every feature row joined to its 12-bar labels on
  (symbol, timeframe, bar_at_ms). Training code reads this view and nothing else; label columns
  start with fwd_ so they cannot be mistaken for features; label_known_at_ms says from when a
  label may be used (a partition's export masks labels not yet known at its end).
-#}

select
    features.*,
    labels.horizon_bars,
    labels.label_known_at_ms,
    labels.sigma_h,
    labels.baseline_vol_12,
    labels.fwd_return_12,
    labels.fwd_direction_12,
    labels.fwd_momentum_class_12,
    labels.fwd_realized_vol_12,
    labels.fwd_mae_12,
    labels.fwd_adverse_12
from {{ ref('features') }} as features
inner join {{ ref('labels_h12') }} as labels using (symbol, timeframe, bar_at_ms)
