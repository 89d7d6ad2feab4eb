"""Backtesting: declarative strategy specs -> SQL signals -> exact position engine -> ledger tables."""
