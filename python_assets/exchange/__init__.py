"""Real market data from BloFin (or another ccxt exchange): candle and funding history, a live trade recorder."""
