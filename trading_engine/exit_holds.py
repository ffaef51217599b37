"""The re-entry hold (`ExecConfig.reentry_hold`, `risk.reentry_hold`): a position closed by its
stop-loss or take-profit, or by the market close sent in its place (a level refused as past,
-2021, or already crossed: `Order.intent`), is not re-opened toward the same target; the side
it closed stays held until the strategy's target turns flat or to the other side (the
ExecManager's `_work_target` reads `closed` and drops the hold then). Set at the exit's fill, at
a restart from the journal's last fill, or by the parity audit's replay."""

import logging

from core.enums import OrderIntent, OrderType, Side
from core.orders import Order
from trading_engine.exec_desk import closing_side
from trading_engine.protection import PROTECTION_NAMES

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

# The market closes that stand for a stop-loss / take-profit firing (`Order.intent`): their fill
# holds the side they closed as the stop's own would.
EXIT_CLOSES = frozenset({OrderIntent.PAST_STOP_CLOSE, OrderIntent.CROSSED_CLOSE})
_EXIT_CLOSE_NAMES = {
    OrderIntent.PAST_STOP_CLOSE: "stop's market close",
    OrderIntent.CROSSED_CLOSE: "market close for a level already crossed",
}


class ExitHolds:
    """The symbols whose closed side is held."""

    def __init__(self) -> None:
        # symbol -> +1 / -1: the side of the position its stop-loss or take-profit closed; no
        # target on that side is worked until the strategy's turns flat or the other way
        self.closed: dict[str, int] = {}

    def exit_filled(self, symbol: str, exit_: Order) -> None:
        """`exit_` (a stop-loss / take-profit, or a market close in its place) filled and left
        `symbol` flat: its side is held, said in a WARNING."""
        self.hold(symbol, exit_.side)
        log.warning(
            "%s: its %s closed the %s; no new one until the strategy's target "
            "turns flat or to the other side",
            symbol,
            _EXIT_CLOSE_NAMES[exit_.intent]
            if exit_.intent in EXIT_CLOSES
            else PROTECTION_NAMES.get(exit_.type, exit_.type.value),
            "long" if exit_.side is Side.SELL else "short",
        )

    def restore(self, symbol: str, side: Side, order_type: OrderType, intent: OrderIntent) -> None:
        """A restart, `symbol` flat: its last fill was of a `side` `order_type` order sent with
        `intent`; held if that was an exit (see `ExecManager.restore_exit`)."""
        if order_type in PROTECTION_NAMES or intent in EXIT_CLOSES:
            self.hold(symbol, side)

    def hold(self, symbol: str, closing_side: Side) -> None:
        """Hold `symbol`'s side that a `closing_side` order closed (a SELL closed a long)."""
        self.closed[symbol] = 1 if closing_side is Side.SELL else -1

    def held(self) -> dict[str, Side]:
        """The symbols whose closed side is held, with the side of the order that closed it."""
        return {s: closing_side(v) for s, v in self.closed.items()}
