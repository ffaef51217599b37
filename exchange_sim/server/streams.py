"""Stream names, their route group (reference 8.1) and the URL forms of the WS endpoints.

Groups: "public" (bookTicker, depth), "market" (aggTrade, markPrice, kline, tickers, ...),
"private" (user data by listenKey). Stream names are lower-case except the listenKey itself
(64 alphanumeric chars, case-sensitive) and the event-type suffixes (`@aggTrade`).
"""

import re

from core.intervals import KLINE_INTERVALS

PUBLIC = "public"
MARKET = "market"
PRIVATE = "private"


_LISTEN_KEY_RE = re.compile(r"[A-Za-z0-9]{64}")
_PUBLIC_RE = re.compile(
    r"([a-z0-9]+@(bookTicker|depth(5|10|20)?(@100ms|@500ms)?|trade)|!bookTicker)"
)
_MARKET_RE = re.compile(
    r"([a-z0-9]+@(aggTrade|markPrice(@1s)?|kline_(?:"
    + "|".join(KLINE_INTERVALS)
    + r")|miniTicker|ticker|forceOrder)|!markPrice@arr(@1s)?|!miniTicker@arr|!ticker@arr"
    r"|!forceOrder@arr)"
)


def is_listen_key(name: str) -> bool:
    return bool(_LISTEN_KEY_RE.fullmatch(name))


def stream_group(name: str) -> str | None:
    """Route group of a stream name, or None if the name is not a known stream form."""
    if _PUBLIC_RE.fullmatch(name):
        return PUBLIC
    if _MARKET_RE.fullmatch(name):
        return MARKET
    if is_listen_key(name):
        return PRIVATE
    return None


def agg_trade(symbol: str) -> str:
    return f"{symbol.lower()}@aggTrade"


def book_ticker(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"


def kline(symbol: str, interval: str) -> str:
    return f"{symbol.lower()}@kline_{interval}"


def mark_price(symbol: str, one_second: bool) -> str:
    return f"{symbol.lower()}@markPrice" + ("@1s" if one_second else "")


def depth(symbol: str, speed: str = "") -> str:
    """`speed` is "" (250 ms), "@100ms" or "@500ms"."""
    return f"{symbol.lower()}@depth{speed}"
