"""Getting data in: tick files, importers (freqtrade, CSV), the inbox, the synthetic market."""
