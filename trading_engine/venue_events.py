"""How the ExecManager sorts the venue's events: by exact class (a set lookup where
`isinstance` with a tuple is a call, ~10 per venue event on the order path; the books dispatch
them so too, `BookKeeper.apply`), what symbol and order each is about (`subject`), and which
refusals count toward the circuit breaker (`UNCOUNTED_REFUSALS`: none of those)."""

from core.errors import IpBanned
from core.events import (
    BalanceChanged,
    Event,
    FundingPaid,
    MarginCalled,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    PositionChanged,
    VenueSnapshot,
)
from trading_engine.protection import WOULD_TRIGGER_IMMEDIATELY

ORDER_EVENTS = frozenset(
    {
        OrderAccepted,
        OrderRejected,
        OrderCanceled,
        OrderExpired,
        OrderAmended,
        OrderStatusUnknown,
        OrderReconciled,
    }
)
FILL_EVENTS = frozenset({OrderPartiallyFilled, OrderFilled})
END_EVENTS = frozenset({OrderCanceled, OrderExpired})
MONEY_EVENTS = frozenset({BalanceChanged, FundingPaid})
RARE_EVENTS = frozenset({OrderRejected, OrderStatusUnknown, VenueSnapshot, MarginCalled})

# Refusals that are the order's own time in force at work, not a fault of the venue or of us:
# -5021 a FOK that could not fill at once, -5022 a post-only (GTX) order that would have taken.
# Counted as rejected orders, not toward the circuit breaker: a post-only quoter meets a few
# of them a minute whenever the price moves, and was halted by them.
TIME_IN_FORCE_REFUSALS = frozenset({-5021, -5022})
# Refusals that say where the market is, not that anything is wrong: those above and -2021 (a
# stop whose level the price has passed: the position is closed at the market instead). None
# counts toward the circuit breaker; a fast market gave a stop -2021 after -2021, and a halt.
MARKET_REFUSALS = TIME_IN_FORCE_REFUSALS | {WOULD_TRIGGER_IMMEDIATELY}
# Refusals the circuit breaker does not count either: an order not sent during an IP ban
# (HTTP 418), when the connection sends nothing until the ban's end and has said so once. Two
# counted turned a two-minute ban into REDUCING, then HALTED until an operator reset it.
UNCOUNTED_REFUSALS = MARKET_REFUSALS | {IpBanned.code}


def subject(event: Event) -> tuple[str, str]:
    """(symbol, client order id) an event is about; "" where it has none."""
    cls = event.__class__
    if cls in FILL_EVENTS:
        return event.fill.symbol, event.fill.client_order_id  # type: ignore[attr-defined]
    if cls in ORDER_EVENTS:
        return event.symbol, event.client_order_id  # type: ignore[attr-defined]
    if cls is PositionChanged:
        return event.position.symbol, ""  # type: ignore[attr-defined]
    if cls is FundingPaid:
        return event.symbol, ""  # type: ignore[attr-defined]
    return "", ""
