"""Local Binance-compatible USD-M Futures exchange: replays recorded market data, matches orders."""
