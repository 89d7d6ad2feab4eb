"""Cross-cutting pieces every room uses: timeframes and time parsing, run logs, alerts, progress, fan-out settings, the writer lock, secrets, request deadlines, the code version."""
