"""The DuckDB warehouse: connections, the published snapshot, the read-only query surface, the run-input fingerprints."""
