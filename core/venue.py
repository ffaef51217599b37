"""The seam between the trading loop and where orders go: live Binance, the local exchange over
the network, or the in-process matching engine in a backtest. Nothing above it knows which.

Calls return at once (the live venue sends in a task); every outcome comes back later as a
`core.events` event through the listener given to the venue: `OrderAccepted`,
`OrderPartiallyFilled` / `OrderFilled` (carrying the `Fill`), `OrderCanceled`, `OrderExpired`,
`OrderRejected`, `OrderStatusUnknown`, `OrderReconciled`, `PositionChanged`, `BalanceChanged`,
`FundingPaid`, `VenueSnapshot`, `StreamStateChanged`. Conditional types (STOP_MARKET,
TAKE_PROFIT_MARKET) go through the exchange's Algo Order API; the caller does not care.

The caller journals `OrderSubmitted` *before* calling `submit`.
"""

from collections.abc import Callable
from typing import Protocol

from core.events import Event
from core.orders import OrderRequest

EventListener = Callable[[Event], None]


class Venue(Protocol):
    def submit(self, request: OrderRequest) -> None:
        """Send a new order (or an algo order for conditional types); never blocks."""
        ...

    def cancel(self, symbol: str, client_order_id: str) -> None:
        """Cancel one order (normal or algo) by our client order id; never blocks."""
        ...

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        """Cancel every open normal and algo order of `symbol`, those the caller does not know
        of included; never blocks. With `keep_protection`, all but the position's own
        stop-loss / take-profit (`Order.is_protective`, placed by us): REDUCING keeps them on
        the exchange until the position is flat."""
        ...

    def reconcile_soon(self, reason: str) -> None:
        """An answer looks overdue (a stop the price crossed, and no fill): read the
        exchange's orders and positions now rather than at the next periodic pass. A venue
        that answers every request in turn (the backtest's) has nothing overdue: a no-op."""
        ...
