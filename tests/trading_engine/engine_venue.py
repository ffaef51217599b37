"""A minimal in-process venue over `exchange_sim.engine.Exchange`, for one integration test.

Test-only and deliberately partial (issue 9 builds the real `InProcessVenue`): plain orders
only (no Algo API), ORDER_TRADE_UPDATE translated into `core.events` (ACCOUNT_UPDATE is left
out: the test compares the books with the engine's account at the end instead). Requests go
to the engine as the REST layer would send them (decimal strings); engine events are handed
to the listener synchronously, from inside `submit` when the order trades at once.
"""

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.clock import Clock
from core.enums import Side
from core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
)
from core.orders import Fill, OrderRequest
from exchange_sim.engine import Exchange
from exchange_sim.errors import BinanceError


class EngineVenue:
    def __init__(self, exchange: Exchange, account: str, clock: Clock) -> None:
        self.exchange = exchange
        self.account = account
        self.clock = clock
        self.listener: Callable[[Event], None] | None = None
        self.submitted: list[OrderRequest] = []

    def submit(self, request: OrderRequest) -> None:
        self.submitted.append(request)
        params = {
            "symbol": request.symbol,
            "side": request.side.value,
            "type": request.type.value,
            "newClientOrderId": request.client_order_id,
        }
        if request.quantity is not None:
            params["quantity"] = f"{request.quantity:f}"
        if request.price is not None:
            params["price"] = f"{request.price:f}"
        if request.time_in_force is not None:
            params["timeInForce"] = request.time_in_force.value
        if request.reduce_only:
            params["reduceOnly"] = "true"
        try:
            self.exchange.new_order(self.account, params)
        except BinanceError as e:
            now = self.clock.now_ms()
            self._emit(
                OrderRejected(
                    event_time_ms=now,
                    recv_time_ms=now,
                    symbol=request.symbol,
                    client_order_id=request.client_order_id,
                    code=e.code,
                    reason=e.msg,
                )
            )
        self.pump()

    def cancel(self, symbol: str, client_order_id: str) -> None:
        # -2011 (already gone) is not an error here: the order's end comes, or came, as an event.
        with contextlib.suppress(BinanceError):
            self.exchange.cancel_order(
                self.account, {"symbol": symbol, "origClientOrderId": client_order_id}
            )
        self.pump()

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        # Normal orders only (no Algo API here): a stop-loss there is nothing to keep.
        self.exchange.cancel_all_open_orders(self.account, {"symbol": symbol})
        self.pump()

    def reconcile_soon(self, reason: str) -> None:
        """Nothing is overdue: each call pumps the engine's answers."""

    def pump(self) -> None:
        """Hand every engine event generated so far to the listener, in order."""
        for account, data in self.exchange.drain_user_events():
            if account == self.account and data.get("e") == "ORDER_TRADE_UPDATE":
                event = _order_event(data)
                if event is not None:
                    self._emit(event)

    def _emit(self, event: Event) -> None:
        assert self.listener is not None
        self.listener(event)


def _order_event(data: dict[str, Any]) -> Event | None:
    o = data["o"]
    times = {"event_time_ms": data["E"], "recv_time_ms": data["E"]}
    symbol, cid, oid = o["s"], o["c"], o["i"]
    kind = o["x"]
    if kind == "NEW":
        return OrderAccepted(symbol=symbol, client_order_id=cid, order_id=oid, **times)
    if kind == "CANCELED":
        return OrderCanceled(symbol=symbol, client_order_id=cid, order_id=oid, **times)
    if kind == "EXPIRED":
        return OrderExpired(symbol=symbol, client_order_id=cid, order_id=oid, reason="", **times)
    if kind != "TRADE":
        return None
    fill = Fill(
        symbol=symbol,
        order_id=oid,
        client_order_id=cid,
        trade_id=o["t"],
        side=Side(o["S"]),
        price=Decimal(o["L"]),
        qty=Decimal(o["l"]),
        commission=Decimal(o["n"]),
        commission_asset=o["N"],
        realized_pnl=Decimal(o["rp"]),
        is_maker=o["m"],
        trade_time_ms=o["T"],
        recv_time_ms=data["E"],
    )
    cls = OrderFilled if o["X"] == "FILLED" else OrderPartiallyFilled
    return cls(fill=fill, cumulative_qty=Decimal(o["z"]), avg_price=Decimal(o["ap"]), **times)
