"""`GET /fapi/v1/ticker/24hr`: rolling 24 h statistics from the published 1m klines.

The window is the last 1440 one-minute klines up to the last published trade (whole minutes,
so `openTime` is the first of those minutes; Binance's window is rolling to the millisecond).
Prices keep the kline strings; `weightedAvgPrice` = quote volume / volume rounded to the price
decimals; `priceChangePercent` has 3 decimals as on Binance. `firstId`/`lastId` cover the
trades the exchange has published (kline history carries no trade ids); `count` counts all.
"""

from decimal import ROUND_HALF_UP, Decimal

from exchange_sim.replay.kline_store import KlineRow

DAY_MINUTES = 1440


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def ticker_24hr(symbol: str, rows: list[KlineRow], last_qty: str, now_ms: int) -> dict:
    """The ticker body for `symbol` from its last day of 1m klines (oldest first)."""
    if not rows:
        return {
            "symbol": symbol, "priceChange": "0", "priceChangePercent": "0.000",
            "weightedAvgPrice": "0", "lastPrice": "0", "lastQty": "0", "openPrice": "0",
            "highPrice": "0", "lowPrice": "0", "volume": "0", "quoteVolume": "0",
            "openTime": now_ms, "closeTime": now_ms, "firstId": -1, "lastId": -1, "count": 0,
        }  # fmt: skip
    first, last = rows[0], rows[-1]
    price_q = Decimal(1).scaleb(-_decimals(last.close))
    open_price, close_price = Decimal(first.open), Decimal(last.close)
    volume = sum((Decimal(r.volume) for r in rows), Decimal(0))
    quote = sum((Decimal(r.quote_volume) for r in rows), Decimal(0))
    change = close_price - open_price
    percent = (change / open_price * 100) if open_price else Decimal(0)
    weighted = (quote / volume).quantize(price_q, ROUND_HALF_UP) if volume else Decimal(0)
    ids = [r for r in rows if r.first_trade_id >= 0]
    return {
        "symbol": symbol,
        "priceChange": format(change, "f"),
        "priceChangePercent": format(percent.quantize(Decimal("0.001"), ROUND_HALF_UP), "f"),
        "weightedAvgPrice": format(weighted, "f"),
        "lastPrice": last.close,
        "lastQty": last_qty,
        "openPrice": first.open,
        "highPrice": max((r.high for r in rows), key=Decimal),
        "lowPrice": min((r.low for r in rows), key=Decimal),
        "volume": format(volume, "f"),
        "quoteVolume": format(quote, "f"),
        "openTime": first.open_time,
        "closeTime": now_ms,
        "firstId": ids[0].first_trade_id if ids else -1,
        "lastId": ids[-1].last_trade_id if ids else -1,
        "count": sum(r.trade_count for r in rows),
    }
