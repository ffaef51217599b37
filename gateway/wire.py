"""Binance USD-M market-data wire formats -> `core.market` types (the parsing boundary).

Websocket payloads (aggTrade, bookTicker, kline, markPriceUpdate) and REST rows (aggTrades
elements, 12-column klines, premiumIndex's mark) become frozen domain objects here; no raw
dict leaves `gateway/`. Prices and quantities arrive as JSON strings and become `Decimal`
exactly; times are ms UTC. Anything that does not have the documented shape raises
`MalformedMessage`.
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from core.market import Bar, BookTicker, MarkPrice, Trade


class MalformedMessage(ValueError):
    """A frame or row that does not have the documented shape; the caller skips it."""


# JSON text of one websocket frame -> Python object (ValueError if it is not JSON). orjson
# parses a frame in about a third of json.loads' time, which the per-tick path needs.
decode_frame: Callable[[str | bytes], Any] = orjson.loads


def _dec(value: Any) -> Decimal:
    if type(value) is not str:
        raise MalformedMessage(f"expected a decimal string, got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise MalformedMessage(f"not a decimal: {value!r}") from None


def _int(value: Any) -> int:
    if type(value) is not int:
        raise MalformedMessage(f"expected an integer, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise MalformedMessage(f"expected a boolean, got {value!r}")
    return value


def parse_agg_trade(data: dict[str, Any], recv_time_ms: int) -> Trade:
    """An `aggTrade` stream event (`{"e": "aggTrade", "a": ..}`) -> Trade (the hot path)."""
    try:
        symbol = data["s"]
        agg_id = data["a"]
        price = data["p"]
        qty = data["q"]
        first = data["f"]
        last = data["l"]
        maker = data["m"]
        trade_time = data["T"]
        event_time = data["E"]
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"aggTrade without field {exc}") from None
    if (
        type(agg_id) is not int
        or type(first) is not int
        or type(last) is not int
        or type(trade_time) is not int
        or type(event_time) is not int
        or type(maker) is not bool
        or type(price) is not str
        or type(qty) is not str
        or type(symbol) is not str
    ):
        raise MalformedMessage(f"aggTrade with a field of the wrong type: {data!r}")
    try:
        return Trade(
            symbol,
            agg_id,
            Decimal(price),
            Decimal(qty),
            first,
            last,
            maker,
            trade_time,
            event_time,
            recv_time_ms,
        )
    except InvalidOperation:
        raise MalformedMessage(f"aggTrade price/qty not decimal: {price!r} {qty!r}") from None


def parse_rest_agg_trade(symbol: str, row: dict[str, Any], recv_time_ms: int) -> Trade:
    """One `GET /fapi/v1/aggTrades` element; REST has no event time, so E = T."""
    try:
        trade_time = _int(row["T"])
        return Trade(
            symbol,
            _int(row["a"]),
            _dec(row["p"]),
            _dec(row["q"]),
            _int(row["f"]),
            _int(row["l"]),
            _bool(row["m"]),
            trade_time,
            trade_time,
            recv_time_ms,
        )
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"aggTrades row without field {exc}") from None


def parse_book_ticker(data: dict[str, Any], recv_time_ms: int) -> BookTicker:
    """A `bookTicker` stream event -> BookTicker (the most frequent frame: kept lean)."""
    try:
        symbol = data["s"]
        update_id = data["u"]
        bid, bid_qty, ask, ask_qty = data["b"], data["B"], data["a"], data["A"]
        transaction_time = data["T"]
        event_time = data["E"]
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"bookTicker without field {exc}") from None
    if (
        type(update_id) is not int
        or type(transaction_time) is not int
        or type(event_time) is not int
        or type(symbol) is not str
        or type(bid) is not str
        or type(bid_qty) is not str
        or type(ask) is not str
        or type(ask_qty) is not str
    ):
        raise MalformedMessage(f"bookTicker with a field of the wrong type: {data!r}")
    try:
        return BookTicker(
            symbol,
            update_id,
            Decimal(bid),
            Decimal(bid_qty),
            Decimal(ask),
            Decimal(ask_qty),
            transaction_time,
            event_time,
            recv_time_ms,
        )
    except InvalidOperation:
        raise MalformedMessage(f"bookTicker price/qty not decimal: {data!r}") from None


def parse_mark_price(data: dict[str, Any], recv_time_ms: int) -> MarkPrice:
    try:
        return MarkPrice(
            _sym(data["s"]),
            _dec(data["p"]),
            _dec(data["i"]),
            _dec(data["r"]),
            _int(data["T"]),
            _int(data["E"]),
            recv_time_ms,
        )
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"markPriceUpdate without field {exc}") from None


def parse_premium_index_mark(body: Any) -> Decimal:
    """A `GET /fapi/v1/premiumIndex?symbol=` answer -> its mark price (USDT)."""
    try:
        return _dec(body["markPrice"])
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"premiumIndex without field {exc}") from None


def parse_kline(data: dict[str, Any]) -> Bar:
    """A `kline` stream event; `closed` is the `k.x` flag (act only on closed bars)."""
    try:
        k = data["k"]
        interval = k["i"]
        if type(interval) is not str:
            raise MalformedMessage(f"bad kline interval {interval!r}")
        return Bar(
            _sym(k["s"]),
            interval,
            _int(k["t"]),
            _int(k["T"]),
            _dec(k["o"]),
            _dec(k["h"]),
            _dec(k["l"]),
            _dec(k["c"]),
            _dec(k["v"]),
            _dec(k["q"]),
            _dec(k["V"]),
            _dec(k["Q"]),
            _int(k["n"]),
            _bool(k["x"]),
        )
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"kline without field {exc}") from None


def parse_rest_kline(symbol: str, interval: str, row: list[Any], *, closed: bool = True) -> Bar:
    """One 12-item `GET /fapi/v1/klines` row (open time, o, h, l, c, v, close time, ...)."""
    if type(row) is not list or len(row) < 11:
        raise MalformedMessage(f"kline row is not a 12-item array: {row!r}")
    return Bar(
        symbol=symbol,
        interval=interval,
        open_time_ms=_int(row[0]),
        close_time_ms=_int(row[6]),
        open=_dec(row[1]),
        high=_dec(row[2]),
        low=_dec(row[3]),
        close=_dec(row[4]),
        volume=_dec(row[5]),
        quote_volume=_dec(row[7]),
        taker_buy_volume=_dec(row[9]),
        taker_buy_quote_volume=_dec(row[10]),
        trade_count=_int(row[8]),
        closed=closed,
    )


def _sym(value: Any) -> str:
    if type(value) is not str or not value:
        raise MalformedMessage(f"bad symbol {value!r}")
    return value
