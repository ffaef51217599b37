"""`NewOrder`: an order request the engine has validated (typed, in Decimal and core enums).

Both front doors build it: the Binance wire adapter (exchange_sim.server.wire_adapter) from
REST parameters, and the typed API (`Engine.submit`) from a `core.orders.OrderRequest`.
"""

from dataclasses import dataclass
from decimal import Decimal

from core.enums import OrderType, Side, TimeInForce, WorkingType
from exchange_sim.engine.book import SymbolBook


@dataclass(slots=True)
class NewOrder:
    """A validated order request (before the margin and TIF-outcome checks)."""

    s: SymbolBook
    side: Side
    type: OrderType
    tif: TimeInForce
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    client_id: str
    resp_type: str
    working_type: WorkingType
    price_protect: bool
    stp: str
    gtd: int
    activate_price: Decimal | None = None  # TRAILING_STOP_MARKET (None = latest price)
    callback_rate: Decimal | None = None  # TRAILING_STOP_MARKET, percent


__all__ = ["NewOrder"]
