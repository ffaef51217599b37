"""How one order event moves an order to its next version, by the `core.orders` transition table.

Shared by the journal (which writes the result to its `orders` row) and the BookKeeper (which
keeps the open-order book), so both agree on every order's status by construction.
"""

from core.enums import OrderStatus
from core.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
)
from core.fast_init import replace
from core.orders import IllegalTransition, Order

ORDER_EVENTS = (
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderExpired,
    OrderAmended,
    OrderStatusUnknown,
    OrderReconciled,
    OrderPartiallyFilled,
    OrderFilled,
)
FILL_EVENTS = (OrderPartiallyFilled, OrderFilled)

# Statuses from which a late REST answer "NEW" is news; past them it is a stale echo.
_BEFORE_NEW = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN, OrderStatus.NEW})


def order_key(event: Event) -> tuple[str, str]:
    """(symbol, client_order_id) of an order event."""
    if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
        return event.fill.symbol, event.fill.client_order_id
    return event.symbol, event.client_order_id  # type: ignore[attr-defined]


def evolve(order: Order, event: Event) -> Order:
    """The version of `order` after `event`; raise IllegalTransition if the table forbids it.

    A fill never shrinks the filled quantity (a late partial fill after the final one keeps
    the larger cumulative quantity); a fill of an order already terminal (CANCELED after a
    partial fill, or FILLED as a reconciliation said) only updates the executed quantity (and
    average price), not `updated_ms`: an ended order's is the time of its end. An
    `OrderAccepted` that arrives after the order already filled or ended (the REST answer
    racing the user stream) only records the exchange id.
    """
    ts = event.event_time_ms
    if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
        if order.is_terminal:
            # A fill reported after the order's end was known (recovered over REST after a
            # reconnect): the executed quantity catches up; the status stays, and so does
            # the time of its end (`updated_ms`), the day a restart counts the trade on:
            # the running daemon counted it at that end, and counts no late fill.
            if event.cumulative_qty <= order.filled_qty:
                return order
            return replace(
                order,
                order_id=event.fill.order_id,
                filled_qty=event.cumulative_qty,
                avg_price=event.avg_price,
            )
        status = (
            OrderStatus.FILLED if isinstance(event, OrderFilled) else OrderStatus.PARTIALLY_FILLED
        )
        return order.transition(
            status,
            ts_ms=ts,
            order_id=event.fill.order_id,
            filled_qty=max(order.filled_qty, event.cumulative_qty),
            avg_price=event.avg_price,
        )
    if isinstance(event, OrderAccepted):
        if order.status not in _BEFORE_NEW:
            return order if order.order_id is not None else replace(order, order_id=event.order_id)
        return order.transition(OrderStatus.NEW, ts_ms=ts, order_id=event.order_id)
    if isinstance(event, OrderRejected):
        return order.transition(OrderStatus.REJECTED, ts_ms=ts)
    if isinstance(event, OrderCanceled):
        return order.transition(OrderStatus.CANCELED, ts_ms=ts, order_id=event.order_id)
    if isinstance(event, OrderExpired):
        return order.transition(OrderStatus.EXPIRED, ts_ms=ts, order_id=event.order_id)
    if isinstance(event, OrderAmended):
        moved = order.transition(order.status, ts_ms=ts, order_id=event.order_id)
        return replace(moved, price=event.price, quantity=event.quantity)
    if isinstance(event, OrderStatusUnknown):
        return order.transition(OrderStatus.UNKNOWN, ts_ms=ts)
    if isinstance(event, OrderReconciled):
        if order.is_terminal and event.status is order.status:
            # The end it confirms was known already: a cancel whose outcome was unknown while
            # the order's last fill came in, resolved by a query after that fill
            return order
        return order.transition(event.status, ts_ms=ts)
    raise TypeError(f"not an order event: {type(event).__name__}")


def event_reason(event: Event) -> str | None:
    """The human reason an event carries for the order (reject code and text, expiry cause)."""
    if isinstance(event, OrderRejected):
        return f"{event.code} {event.reason}".strip()
    if isinstance(event, (OrderExpired, OrderStatusUnknown)):
        return event.reason
    return None


__all__ = ["FILL_EVENTS", "ORDER_EVENTS", "IllegalTransition", "evolve", "order_key"]
