"""Helpers of the RiskManager tests: hand-checkable limits, fake books, order builders.

The books are a plain in-memory fake of `risk_manager.RiskView` (the BookKeeper's read side):
tests set positions, marks, balances and open-order counts directly.
"""

from decimal import Decimal as D
from typing import Any

from core.account import Position
from core.enums import OrderIntent, OrderStatus, OrderType, Side, TimeInForce
from core.orders import Order, OrderRequest

NOON_MS = 1_723_118_400_000  # 2024-08-08T12:00:00Z
NEXT_MIDNIGHT_MS = 1_723_161_600_000  # 2024-08-09T00:00:00Z

# Round numbers so every expected value can be worked out by hand.
TEST_LIMITS: dict[str, Any] = {
    "leverage": 5,
    "max_order_notional_usdt": D(1000),
    "max_position_notional_usdt": D(2000),
    "max_total_notional_usdt": D(3000),
    "price_band_pct": D(1),
    "max_open_orders": 3,
    "max_orders_per_minute": 5,
    "max_clock_offset_ms": 1000,
    "stop_loss_pct": D(2),
    "take_profit_pct": D(4),
    "max_daily_loss_usdt": D(0),
    "max_daily_loss_pct": D(0),
    "max_drawdown_pct": D(0),
    "max_trades_per_day": 0,
    "circuit_breaker_errors": 0,
}


class FakeBooks:
    """What the BookKeeper would answer; every field set by the test."""

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, D | None] = {"BTCUSDT": D(60000), "ETHUSDT": D(4000)}
        self.lasts: dict[str, D] = {}  # last trade prices; the mark where none is set
        self.equity_usdt = D(10000)
        self.carried = D(0)
        self.available_usdt = D(10000)
        self.open_orders: dict[str, int] = {}
        self.open_qty: dict[tuple[str, Side], D] = {}
        # Open orders by client id, for the tests that say which orders are open; those that
        # set only `open_orders` counts have none listed (none exempt from the entries' cap).
        self.orders: dict[str, Order] = {}

    def set_position(self, symbol: str, qty: str, entry: str) -> None:
        self.positions[symbol] = Position(symbol=symbol, qty=D(qty), entry_price=D(entry))

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol) or Position(symbol=symbol, qty=D(0), entry_price=D(0))

    def mark_price(self, symbol: str) -> D | None:
        return self.marks.get(symbol)

    def carried_in(self, now_ms: int) -> D:
        return self.carried  # fills of an earlier day learnt today: the test says

    def last_price(self, symbol: str) -> D | None:
        return self.lasts.get(symbol, self.marks.get(symbol))

    def equity(self) -> D:
        return self.equity_usdt

    def available_balance(self) -> D:
        return self.available_usdt

    def open_order_count(self, symbol: str | None = None) -> int:
        if symbol is None:
            return sum(self.open_orders.values())
        return self.open_orders.get(symbol, 0)

    def add_open(self, request: OrderRequest, intent: OrderIntent = OrderIntent.ORDINARY) -> Order:
        """`request` as an open (NEW) order of the books, counted in `open_orders`; `intent`:
        what it was submitted with (the BookKeeper takes it from the OrderSubmitted)."""
        order = Order.from_request(request, NOON_MS, intent)
        order = order.transition(OrderStatus.NEW, ts_ms=NOON_MS)
        self.orders[request.client_order_id] = order
        self.open_orders[request.symbol] = self.open_orders.get(request.symbol, 0) + 1
        return order

    def open_order_qty(self, symbol: str, side: Side) -> D:
        return self.open_qty.get((symbol, side), D(0))

    def equity_and_available(self) -> tuple[D, D]:
        return self.equity(), self.available_balance()

    def order_exposure(self, symbol: str, side: Side) -> tuple[D, D | None, int, D]:
        """The four answers above in one call, as the BookKeeper gives them to `check`."""
        return (
            self.position(symbol).qty,
            self.mark_price(symbol),
            self.open_order_count(symbol),
            self.open_order_qty(symbol, side),
        )


def limit(side: Side, qty: str, price: str, *, symbol: str = "BTCUSDT", **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D(price),
        time_in_force=TimeInForce.GTC,
        client_order_id="t-1",
        **kw,
    )


def market(side: Side, qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=side,
        type=OrderType.MARKET,
        quantity=D(qty),
        client_order_id="t-2",
        **kw,
    )


def stop(order_type: OrderType, side: Side, stop_price: str, **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=side,
        type=order_type,
        quantity=None,
        stop_price=D(stop_price),
        client_order_id="t-3",
        close_position=True,
        reduce_only=True,
        **kw,
    )
