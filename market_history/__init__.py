"""Historical market data: a Parquet store per symbol/kind/day, REST downloads, file importers.

`store.HistoryStore` (atomic day files with coverage), `download` (resumable paginated REST
downloads), `importers` (Binance public data files, plain OHLCV CSV), `history.get_price_history`
(read the store, fetch only what is missing, report what the exchange does not have).
"""
