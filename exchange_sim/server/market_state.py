"""What the server has published so far, kept for the REST market-data endpoints.

The replay driver feeds every market message it publishes through `MarketState.on_message`, so
REST answers (`depth`, `ticker/bookTicker`, `ticker/price`, `premiumIndex`) are consistent with
the streams. Prices and quantities stay the wire strings. (aggTrades and klines are served from
the replay's `AggTradeStore` / `KlineStore`, which the driver fills as it publishes.)
"""

import bisect
from collections.abc import Iterable
from typing import cast


class _Side:
    """One book side: price string -> qty string, plus the prices kept sorted (as floats)."""

    __slots__ = ("keys", "levels", "names")

    def __init__(self) -> None:
        self.levels: dict[str, str] = {}
        self.keys: list[float] = []  # ascending
        self.names: dict[float, str] = {}

    def load(self, levels: list) -> None:
        self.levels = {p: q for p, q in levels}
        self.names = {float(p): p for p in self.levels}
        self.keys = sorted(self.names)

    def set(self, price: str, qty: str) -> None:
        key = float(price)
        if float(qty) == 0:
            if self.levels.pop(price, None) is not None:
                del self.names[key]
                del self.keys[bisect.bisect_left(self.keys, key)]
            return
        if price not in self.levels:
            bisect.insort(self.keys, key)
            self.names[key] = price
        self.levels[price] = qty

    def best(self, n: int, highest: bool) -> list[tuple[str, str]]:
        keys = self.keys[-n:][::-1] if highest else self.keys[:n]
        names, levels = self.names, self.levels
        return [(names[k], levels[names[k]]) for k in keys]


class DepthBook:
    """A book maintained from depthUpdate messages (absolute quantities, qty 0 removes).

    Diffs are coalesced per price level (a later quantity replaces an earlier one) and only
    applied to the sorted sides when the book is read, so a replay at max speed pays a dict
    update per diff, not a sorted insert per level.
    """

    def __init__(self) -> None:
        self.bid_side = _Side()
        self.ask_side = _Side()
        self._pending_bids: dict[str, str] = {}
        self._pending_asks: dict[str, str] = {}
        self.dirty = False  # True: changed since the engine's copy was last refreshed
        self.last_update_id = 0
        self.event_time = 0
        self.transaction_time = 0

    def load_snapshot(self, snap: dict) -> None:
        self._pending_bids.clear()
        self._pending_asks.clear()
        self.dirty = True
        self.bid_side.load(snap["bids"])
        self.ask_side.load(snap["asks"])
        self.last_update_id = snap["lastUpdateId"]
        self.event_time = snap.get("E", 0)
        self.transaction_time = snap.get("T", 0)

    def apply(self, msg: dict) -> None:
        if msg["u"] < self.last_update_id:
            return
        self._pending_bids.update(msg["b"])
        self._pending_asks.update(msg["a"])
        self.dirty = True
        self.last_update_id = msg["u"]
        self.event_time = msg["E"]
        self.transaction_time = msg["T"]

    def _flush(self) -> None:
        for pending, side in (
            (self._pending_bids, self.bid_side),
            (self._pending_asks, self.ask_side),
        ):
            for price, qty in pending.items():
                side.set(price, qty)
            pending.clear()

    def top(self, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(best n bids, best n asks), best first."""
        self._flush()
        return self.bid_side.best(n, highest=True), self.ask_side.best(n, highest=False)

    def snapshot(self, limit: int, now_ms: int) -> dict:
        bids, asks = self.top(limit)
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
        symbol = cast(str, msg.get("s"))  # every message handled here names its symbol
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
