"""Replay of recorded Binance USD-M market data for the local exchange.

Pure and synchronous: loaders (`loaders`), exact integer grids and wire strings (`grid`),
Binance aggregation of trades (`aggregate`), kline synthesis for long runs (`synth`), market
stream messages (`messages`, `kline_store.kline_message`), the stores the REST server queries
(`agg_trade_store.AggTradeStore`, `kline_store.KlineStore`), and the merged replay timeline with
its data-set catalogue (`timeline`, `catalog`). Bundled data: `exchange_sim/data/`.
"""
