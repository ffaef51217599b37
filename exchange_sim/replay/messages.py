"""Binance-wire JSON-ready dicts for the market streams and market-data REST rows.

Shapes follow the protocol reference (section 8.4 streams, 5.5 aggTrades, 5.6 klines) and the
real captures in tests/fixtures/binance_api/ws_market/: key sets, key order and value types
(ints for ids/times, strings for every decimal, bools for flags). Event (`E`) and transaction
/ trade (`T`) times are always supplied by the caller in exchange time, because the replay runs
on a re-based clock. Decimals are printed with `format(d, "f")` (never exponent notation).
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange_sim.replay.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    MarkPriceEvent,
)

_MARK_QUANT = Decimal("0.00000001")


def _s(value: Decimal) -> str:
    return format(value, "f")


def mark_str(value: Decimal) -> str:
    """Mark/index/settle prices and funding rates are printed with 8 decimals."""
    return format(value.quantize(_MARK_QUANT), "f")


def stream_name(symbol: str, channel: str) -> str:
    """`btcusdt@aggTrade`, `btcusdt@kline_1m`, ...: stream names use the lower-case symbol."""
    return f"{symbol.lower()}@{channel}"


def combined(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    """The combined-stream envelope `{"stream": ..., "data": ...}` (`/stream?streams=` URLs)."""
    return {"stream": stream, "data": data}


def agg_trade_message(ev: AggTradeEvent, *, event_time_ms: int, trade_time_ms: int) -> dict:
    """`<symbol>@aggTrade` payload; `nq` (RPI-excluded qty) equals `q`: the replay has no RPI."""
    q = _s(ev.qty)
    return {
        "e": "aggTrade",
        "E": event_time_ms,
        "a": ev.agg_id,
        "s": ev.symbol,
        "p": _s(ev.price),
        "q": q,
        "nq": q,
        "f": ev.first_trade_id,
        "l": ev.last_trade_id,
        "T": trade_time_ms,
        "m": ev.buyer_is_maker,
    }


def agg_trade_rest_row(ev: AggTradeEvent, *, trade_time_ms: int) -> dict:
    """One element of `GET /fapi/v1/aggTrades`."""
    return {
        "a": ev.agg_id,
        "p": _s(ev.price),
        "q": _s(ev.qty),
        "f": ev.first_trade_id,
        "l": ev.last_trade_id,
        "T": trade_time_ms,
        "m": ev.buyer_is_maker,
    }


def book_ticker_message(
    ev: BookTickerEvent, *, event_time_ms: int, transaction_time_ms: int
) -> dict:
    """`<symbol>@bookTicker` payload (key order as the 2024 capture)."""
    return {
        "e": "bookTicker",
        "u": ev.update_id,
        "s": ev.symbol,
        "b": _s(ev.bid_price),
        "B": _s(ev.bid_qty),
        "a": _s(ev.ask_price),
        "A": _s(ev.ask_qty),
        "T": transaction_time_ms,
        "E": event_time_ms,
    }


def book_ticker_rest(ev: BookTickerEvent, *, time_ms: int) -> dict:
    """`GET /fapi/v1/ticker/bookTicker` body for one symbol."""
    return {
        "symbol": ev.symbol,
        "bidPrice": _s(ev.bid_price),
        "bidQty": _s(ev.bid_qty),
        "askPrice": _s(ev.ask_price),
        "askQty": _s(ev.ask_qty),
        "time": time_ms,
    }


def depth_update_message(
    ev: DepthUpdateEvent, *, event_time_ms: int, transaction_time_ms: int
) -> dict:
    """`<symbol>@depth` diff payload with the recorded U/u/pu (a consistent `pu` chain)."""
    return {
        "e": "depthUpdate",
        "E": event_time_ms,
        "T": transaction_time_ms,
        "s": ev.symbol,
        "U": ev.first_update_id,
        "u": ev.final_update_id,
        "pu": ev.prev_final_update_id,
        "b": [[p, q] for p, q in ev.bids],
        "a": [[p, q] for p, q in ev.asks],
    }


@dataclass
class DepthSequencer:
    """Update ids for depth events the exchange generates itself (not replayed).

    Every level change consumes one id; an event covering n changes gets U = last + 1,
    u = last + n and pu = the previous event's u, as Binance's futures stream does.
    """

    last_update_id: int

    def next_ids(self, changes: int) -> tuple[int, int, int]:
        """(U, u, pu) for an event with `changes` level changes (at least one id is used)."""
        n = max(1, changes)
        pu = self.last_update_id
        first = pu + 1
        self.last_update_id = pu + n
        return first, self.last_update_id, pu


def mark_price_message(
    ev: MarkPriceEvent,
    *,
    event_time_ms: int,
    next_funding_time_ms: int,
    average_mark_price: Decimal | None = None,
) -> dict:
    """`<symbol>@markPrice[@1s]` payload including `ap` (mark price moving average).

    The recordings predate `ap`; without a caller-supplied average it equals the mark price.
    """
    mark = mark_str(ev.mark_price)
    return {
        "e": "markPriceUpdate",
        "E": event_time_ms,
        "s": ev.symbol,
        "p": mark,
        "ap": mark if average_mark_price is None else mark_str(average_mark_price),
        "P": mark_str(ev.settle_price),
        "i": mark_str(ev.index_price),
        "r": mark_str(ev.funding_rate),
        "T": next_funding_time_ms,
    }


def premium_index_rest(
    ev: MarkPriceEvent,
    *,
    time_ms: int,
    next_funding_time_ms: int,
    interest_rate: Decimal = Decimal("0.0001"),
) -> dict:
    """`GET /fapi/v1/premiumIndex` body for one symbol (section 5.7)."""
    return {
        "symbol": ev.symbol,
        "markPrice": mark_str(ev.mark_price),
        "indexPrice": mark_str(ev.index_price),
        "estimatedSettlePrice": mark_str(ev.settle_price),
        "lastFundingRate": mark_str(ev.funding_rate),
        "interestRate": mark_str(interest_rate),
        "nextFundingTime": next_funding_time_ms,
        "time": time_ms,
    }
