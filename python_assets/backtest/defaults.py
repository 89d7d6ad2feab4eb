"""Trading costs both the daily backtest (dagster_defs/backtests/assets.py) and `blofin-stack backtest` default to,
read from here so the two cannot drift (the CLI's 0 bps slippage beside the daily run's 1 bp made the same
strategy read differently); no imports, so the CLI's parser loads it cheaply."""

TAKER_FEE = 0.0006  # BloFin's perpetual taker fee per side, of notional
MAKER_FEE = 0.0002  # BloFin's perpetual maker fee per side (take-profit fills)
SLIPPAGE_BPS = 1.0  # per market fill, in basis points of the price
