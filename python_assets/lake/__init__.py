"""The Parquet lake: its layout and writers, health checks, trade-id index and value bounds."""
