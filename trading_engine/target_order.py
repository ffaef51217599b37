"""The order that moves a symbol toward its strategy's target: a pure function of the target,
the position, the mark price and the quantity already working toward it.

`ExecManager._work_target` reads the books, sees to the working orders (an unanswered one
waits, one that no longer fits is cancelled) and sends what `plan_target_order` returns;
the order path's rehearsal (`trading_engine.order_rehearsal`) runs the same function on a
turn of the current position, so the planning a real order goes through is warm when it comes.
"""

from decimal import Decimal
from typing import NamedTuple

from core.enums import MARKET_LIKE_TYPES, OrderType, Side
from core.instrument import Instrument
from core.orders import TargetPosition
from risk_manager import pre_trade


class TargetOrder(NamedTuple):
    """One order toward a target (a tuple: made on every ordering tick)."""

    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None  # None: at the market
    reduce_only: bool
    # It goes against the position: it reduces it, and turns it to the other side when not
    # reduce-only (refused then by a check of the side it opens, the ExecManager closes the
    # side the strategy left first: `_close_first`).
    reverses: bool


def plan_target_order(
    target: TargetPosition,
    inst: Instrument,
    *,
    position: Decimal,
    mark: Decimal | None,
    working: Decimal,
    has_working: bool,
    max_order_notional: Decimal,
) -> TargetOrder | None:
    """The order from `position` (plus `working`: the signed remaining quantity of our open
    orders toward the target; `has_working`: whether there are any) to `target`, or None when
    it is close enough: less than one tradeable lot away, or an entry's remainder below the
    minimum notional.

    A market order unless the target has a price (then GTC at that price, rounded away from
    crossing). An order that turns the position is reduce-only when it only closes; one larger
    than the RiskManager's max order notional (the cap would deny it and leave the position on
    the wrong side) closes first, reduce-only, which no size limit refuses: the opening order
    follows once flat. At most the lot's maxQty on its grid (-4005): the next order goes the
    rest of the way once this one is answered."""
    need = target.qty - position
    delta = need - working
    if delta == 0:
        return None
    side = Side.BUY if delta > 0 else Side.SELL
    order_type = OrderType.MARKET if target.price is None else OrderType.LIMIT
    # `inst.lot_for(order_type)` inline: its minQty here, its maxQty on the grid below
    lot = inst.market_lot if order_type in MARKET_LIKE_TYPES else inst.lot
    qty = inst.floor_qty(abs(delta), order_type)
    if qty < lot.min_qty or qty == 0:
        return None  # less than one tradeable lot away: close enough
    reverses = position != 0 and (position > 0) != (need > 0)
    reduce_only = reverses and abs(need) <= abs(position)
    price = None if target.price is None else inst.round_price(target.price, side)
    if not reduce_only:
        ref = price if price is not None else mark
        if ref is not None:
            # The RiskManager's own comparisons (order notional, MIN_NOTIONAL), so that what is
            # planned here is what its check will decide.
            notional = qty * ref
            if (
                reverses
                and not has_working
                and pre_trade.check_order_notional(notional, max_order_notional)
            ):
                qty = inst.floor_qty(abs(position), order_type)
                reduce_only = True
            elif inst.check_min_notional(notional):
                return None  # a remainder below the minimum notional: not worth an order
    qty = min(qty, lot.grid_max_qty)  # inst.max_qty(order_type)
    return TargetOrder(side, order_type, qty, price, reduce_only, reverses)
