"""Market-data ticks and bars, parsed from the exchange at the gateway boundary.

Prices and quantities are `Decimal` (exact, as the exchange sent them); times are ms UTC.
Each tick carries two times: the exchange's and our receive time.
"""

from dataclasses import dataclass
from decimal import Decimal

from core.fast_init import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Trade:
    """One aggregate trade (Binance `aggTrade`): trades at one price, one taker side, one time."""

    symbol: str
    agg_id: int  # `a`, contiguous per symbol
    price: Decimal
    qty: Decimal
    first_trade_id: int  # `f`
    last_trade_id: int  # `l`
    buyer_is_maker: bool  # `m`: True means the taker sold
    trade_time_ms: int  # `T`
    event_time_ms: int  # `E`
    recv_time_ms: int  # our clock when the frame arrived

    @property
    def trade_count(self) -> int:
        return self.last_trade_id - self.first_trade_id + 1


@fast_init
@dataclass(frozen=True, slots=True)
class BookTicker:
    symbol: str
    update_id: int  # `u`
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    transaction_time_ms: int  # `T`
    event_time_ms: int  # `E`
    recv_time_ms: int


@fast_init
@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal  # predicted rate for the settlement at next_funding_time_ms
    next_funding_time_ms: int
    event_time_ms: int
    recv_time_ms: int


@fast_init
@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV time bar with the fields of a Binance kline; close time = open + interval - 1 ms."""

    symbol: str
    interval: str  # "1m", "1s", "5m", ...
    open_time_ms: int
    close_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base asset
    quote_volume: Decimal
    taker_buy_volume: Decimal  # base asset bought by takers
    taker_buy_quote_volume: Decimal
    trade_count: int
    closed: bool = True
