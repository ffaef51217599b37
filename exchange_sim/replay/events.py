"""Market events the replay emits, in recorded (data) time.

Prices and quantities are exact Decimals that keep the wire's decimals
(`format(price, "f") == "61800.30"`), so the server can print them unchanged and the engine can
match on them. `data_time_ms` is the recorded event time `E` used to order the merged stream;
the server maps it to exchange time (see `exchange_sim.replay.timeline.TimeMap`).
`synthesized=True` marks events generated from 1m klines; `derived=True` marks mark prices
computed by the replay instead of recorded.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class EventKind(StrEnum):
    AGG_TRADE = "aggTrade"
    BOOK_TICKER = "bookTicker"
    DEPTH_UPDATE = "depthUpdate"
    MARK_PRICE = "markPriceUpdate"


@dataclass(frozen=True, slots=True)
class AggTradeEvent:
    symbol: str
    data_time_ms: int  # recorded `E` of the last constituent trade
    agg_id: int  # `a`
    price: Decimal
    qty: Decimal
    first_trade_id: int  # `f`
    last_trade_id: int  # `l`
    trade_time_ms: int  # recorded `T`
    buyer_is_maker: bool  # `m`: True means the taker sold
    synthesized: bool = False

    kind = EventKind.AGG_TRADE

    @property
    def trade_count(self) -> int:
        return self.last_trade_id - self.first_trade_id + 1


@dataclass(frozen=True, slots=True)
class BookTickerEvent:
    symbol: str
    data_time_ms: int  # recorded `E`
    update_id: int  # `u`
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    transaction_time_ms: int  # recorded `T`
    synthesized: bool = False

    kind = EventKind.BOOK_TICKER


@dataclass(frozen=True, slots=True)
class DepthUpdateEvent:
    """A recorded diff-depth event; levels are the recorded wire strings (qty "0.000" = delete)."""

    symbol: str
    data_time_ms: int  # recorded `E`
    transaction_time_ms: int  # recorded `T`
    first_update_id: int  # `U`
    final_update_id: int  # `u`
    prev_final_update_id: int  # `pu`
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]

    kind = EventKind.DEPTH_UPDATE


@dataclass(frozen=True, slots=True)
class MarkPriceEvent:
    symbol: str
    data_time_ms: int  # `E`
    mark_price: Decimal  # 8 decimals as on the wire
    index_price: Decimal
    settle_price: Decimal  # `P`, estimated settle price
    funding_rate: Decimal  # `r`, predicted rate for the next settlement
    next_funding_time_ms: int  # `T`, in data time
    derived: bool = False

    kind = EventKind.MARK_PRICE


MarketEvent = AggTradeEvent | BookTickerEvent | DepthUpdateEvent | MarkPriceEvent
