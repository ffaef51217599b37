"""The exchange boundary: Binance wire formats in, `core` domain objects out.

Market data: `data_stream.DataStream` (gap-free websocket streams), `market_rest` (REST
backfill and history requests), `wire` (parsers), `bars` (time bars from trades),
`checkpoint` (durable last-processed trade id).
"""
