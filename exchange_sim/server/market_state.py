"""What the server has published so far, kept for the REST market-data endpoints.

The replay driver feeds every market message it publishes through `MarketState.on_message`, so
REST answers (`depth`, `ticker/bookTicker`, `ticker/price`, `premiumIndex`) are consistent with
the streams. Prices and quantities stay the wire strings. (aggTrades and klines are served from
the replay's `AggTradeStore` / `KlineStore`, which the driver fills as it publishes.)
"""

from collections.abc import Iterable
from decimal import Decimal


class DepthBook:
    """A price -> qty book per side, maintained from depthUpdate messages (absolute qty)."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_update_id = 0
        self.event_time = 0
        self.transaction_time = 0

    def load_snapshot(self, snap: dict) -> None:
        self.bids = {p: q for p, q in snap["bids"]}
        self.asks = {p: q for p, q in snap["asks"]}
        self.last_update_id = snap["lastUpdateId"]
        self.event_time = snap.get("E", 0)
        self.transaction_time = snap.get("T", 0)

    def apply(self, msg: dict) -> None:
        if msg["u"] < self.last_update_id:
            return
        for side, levels in ((self.bids, msg["b"]), (self.asks, msg["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = msg["u"]
        self.event_time = msg["E"]
        self.transaction_time = msg["T"]

    def snapshot(self, limit: int, now_ms: int) -> dict:
        bids = sorted(self.bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:limit]
        asks = sorted(self.asks.items(), key=lambda kv: Decimal(kv[0]))[:limit]
        return {
            "lastUpdateId": self.last_update_id,
            "E": now_ms,
            "T": self.transaction_time,
            "bids": [[p, q] for p, q in bids],
            "asks": [[p, q] for p, q in asks],
        }


class MarketState:
    """Latest published market data per symbol."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = tuple(symbols)
        self.book_tickers: dict[str, dict] = {}
        self.mark_prices: dict[str, dict] = {}
        self.last_trades: dict[str, tuple[str, int]] = {}
        self.books: dict[str, DepthBook] = {}

    def on_message(self, msg: dict) -> None:
        kind = msg.get("e")
        symbol = msg.get("s")
        if kind == "bookTicker":
            self.book_tickers[symbol] = msg
        elif kind == "markPriceUpdate":
            self.mark_prices[symbol] = msg
        elif kind == "depthUpdate":
            self.books.setdefault(symbol, DepthBook()).apply(msg)

    def on_trade(self, symbol: str, price: str, time_ms: int) -> None:
        self.last_trades[symbol] = (price, time_ms)

    def load_depth_snapshot(self, symbol: str, snap: dict) -> None:
        self.books.setdefault(symbol, DepthBook()).load_snapshot(snap)

    # ---- REST bodies ----------------------------------------------------------------------------

    def depth(self, symbol: str, limit: int, now_ms: int) -> dict:
        book = self.books.get(symbol)
        if book is None:
            bt = self.book_tickers.get(symbol)
            if bt is None:
                return {"lastUpdateId": 0, "E": now_ms, "T": now_ms, "bids": [], "asks": []}
            return {
                "lastUpdateId": bt["u"],
                "E": now_ms,
                "T": bt["T"],
                "bids": [[bt["b"], bt["B"]]],
                "asks": [[bt["a"], bt["A"]]],
            }
        return book.snapshot(limit, now_ms)

    def book_ticker(self, symbol: str) -> dict:
        bt = self.book_tickers.get(symbol)
        if bt is None:
            return {
                "symbol": symbol,
                "bidPrice": "0",
                "bidQty": "0",
                "askPrice": "0",
                "askQty": "0",
                "time": 0,
            }
        return {
            "symbol": symbol,
            "bidPrice": bt["b"],
            "bidQty": bt["B"],
            "askPrice": bt["a"],
            "askQty": bt["A"],
            "time": bt["T"],
        }

    def ticker_price(self, symbol: str) -> dict:
        price, t = self.last_trades.get(symbol, ("0", 0))
        return {"symbol": symbol, "price": price, "time": t}

    def premium_index(self, symbol: str, now_ms: int) -> dict:
        mp = self.mark_prices.get(symbol)
        if mp is None:
            price, _ = self.last_trades.get(symbol, ("0", 0))
            return {
                "symbol": symbol,
                "markPrice": price,
                "indexPrice": price,
                "estimatedSettlePrice": price,
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": 0,
                "time": now_ms,
            }
        return {
            "symbol": symbol,
            "markPrice": mp["p"],
            "indexPrice": mp["i"],
            "estimatedSettlePrice": mp["P"],
            "lastFundingRate": mp["r"],
            "interestRate": "0.00010000",
            "nextFundingTime": mp["T"],
            "time": mp["E"],
        }
