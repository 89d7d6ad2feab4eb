"""The `blofin-stack` command line, split by topic: data, pipeline, research (backtest) and query.

dagster_defs never imports this package: the CLI calls the Dagster wiring (dagster_defs.runner), not
the other way round."""
