"""Builders shared by the book_keeper tests (no tests here): real instruments, core events.

BTCUSDT is the real exchangeInfo entry captured 2022-02-19 (tick 0.10, step 0.001). Fees in the
hand-computed tests: maker 0.0002, taker 0.0005 (the local exchange's defaults). Money in USDT.
"""

from decimal import Decimal

from book_keeper import BookKeeper
from core.clock import SimClock
from core.enums import OrderType, Side, TimeInForce
from core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderSubmitted,
)
from core.orders import Fill, OrderRequest
from tests.exchange_sim.test_engine_support import T0, instruments

D = Decimal
SYMBOL = "BTCUSDT"
START = D("10000")
BUY, SELL = Side.BUY, Side.SELL
__all__ = ["T0", "instruments"]  # re-exported for the tests


def request(
    cid: str,
    side: Side,
    qty: str,
    price: str | None = None,
    *,
    symbol: str = SYMBOL,
    reduce_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=D(qty),
        client_order_id=cid,
        price=None if price is None else D(price),
        time_in_force=TimeInForce.GTC if price is not None else None,
        reduce_only=reduce_only,
    )


def submitted(cid: str, side: Side, qty: str, price: str | None = None, *, t: int = T0, **kw):
    return OrderSubmitted(
        event_time_ms=t, recv_time_ms=t, request=request(cid, side, qty, price, **kw)
    )


def accepted(cid: str, order_id: int, *, t: int = T0, symbol: str = SYMBOL) -> OrderAccepted:
    return OrderAccepted(
        event_time_ms=t, recv_time_ms=t, symbol=symbol, client_order_id=cid, order_id=order_id
    )


def canceled(cid: str, order_id: int | None, *, t: int = T0) -> OrderCanceled:
    return OrderCanceled(
        event_time_ms=t, recv_time_ms=t, symbol=SYMBOL, client_order_id=cid, order_id=order_id
    )


def fill(
    cid: str,
    trade_id: int,
    side: Side,
    qty: str,
    price: str,
    *,
    fee: str,
    rp: str = "0",
    maker: bool = False,
    order_id: int = 1,
    t: int = T0,
    symbol: str = SYMBOL,
    asset: str = "USDT",
) -> Fill:
    return Fill(
        symbol=symbol,
        order_id=order_id,
        client_order_id=cid,
        trade_id=trade_id,
        side=side,
        price=D(price),
        qty=D(qty),
        commission=D(fee),
        commission_asset=asset,
        realized_pnl=D(rp),
        is_maker=maker,
        trade_time_ms=t,
        recv_time_ms=t + 1,
    )


def filled(f: Fill, cumulative: str | None = None, avg: str | None = None, *, final: bool = True):
    cls = OrderFilled if final else OrderPartiallyFilled
    return cls(
        event_time_ms=f.trade_time_ms,
        recv_time_ms=f.recv_time_ms,
        fill=f,
        cumulative_qty=D(cumulative) if cumulative is not None else f.qty,
        avg_price=D(avg) if avg is not None else f.price,
    )


def book(start: Decimal | None = START, clock: SimClock | None = None) -> BookKeeper:
    return BookKeeper(
        starting_balances=None if start is None else {"USDT": start},
        instruments=instruments(),
        clock=clock or SimClock(T0),
    )


def trade_fill(bk, cid: str, trade_id: int, side: Side, qty: str, price: str, **kw) -> Fill:
    """Submit a one-fill order `cid` and fill it completely: returns the Fill."""
    t = kw.get("t", T0)
    bk.apply(submitted(cid, side, qty, price if kw.get("maker") else None, t=t))
    f = fill(cid, trade_id, side, qty, price, **kw)
    bk.apply(filled(f))
    return f
