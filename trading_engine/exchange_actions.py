"""What the exchange does to the account by itself, said in the log: the fill of its own order
on our account (a liquidation, an auto-deleveraging, a delisting settlement) and a MARGIN_CALL.
The ExecManager books and journals both and decides what follows (a forced close stops the
trading, a margin call sends nothing); here is only what the operator reads."""

import logging
from decimal import Decimal

from core.enums import ForcedClose, PositionSide
from core.events import MarginCalled
from core.orders import Fill

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

MARGIN_CALL_WARN_EVERY_MS = 60_000  # at most one MARGIN CALL WARNING a minute (exchange time)

_FORCED_WORDS = {
    ForcedClose.LIQUIDATION: "liquidated",
    ForcedClose.ADL: "auto-deleveraged",
    ForcedClose.SETTLEMENT: "settled (delisting)",
}


def say_forced_close(fill: Fill, kind: ForcedClose, position_qty: Decimal) -> str:
    """A WARNING for a booked fill of the exchange's own order, the position now
    `position_qty` contracts; returns its first part, the detail the RiskManager's stop
    names ("BTCUSDT liquidated by the exchange: SELL 0.100 @ ...")."""
    detail = (
        f"{fill.symbol} {_FORCED_WORDS[kind]} by the exchange: {fill.side} {fill.qty:f} @ "
        f"{fill.price:f} (order {fill.client_order_id}, trade {fill.trade_id})"
    )
    log.warning(
        "%s; realized %s, fee %s %s; position now %s",
        detail,
        fill.realized_pnl,
        fill.commission,
        fill.commission_asset,
        position_qty,
    )
    return detail


class MarginCalls:
    """The exchange's margin calls as said in the log: it says one again at every crossing of
    its threshold (tens a minute on a ratio that hovers there), so each is journaled and
    counted by the ExecManager, a WARNING here once a minute."""

    def __init__(self) -> None:
        self.last_ms: int | None = None  # exchange time of the latest MARGIN_CALL
        self._warned_ms: int | None = None  # exchange time of the last WARNING
        self._unsaid = 0  # margin calls since then (journaled, not logged)

    def called(self, event: MarginCalled) -> None:
        """A MARGIN_CALL, journaled: say which positions are at risk (at most once a minute,
        exchange time, with how many came meanwhile)."""
        self.last_ms = event.event_time_ms
        warned = self._warned_ms
        if warned is not None and event.event_time_ms - warned < MARGIN_CALL_WARN_EVERY_MS:
            self._unsaid += 1
            return
        self._warned_ms = event.event_time_ms
        unsaid, self._unsaid = self._unsaid, 0
        wallet = event.cross_wallet_balance
        at_risk = "; ".join(
            f"{p.symbol} {p.qty:f} ({p.margin_type.value.lower()}"
            + (f", {p.position_side.value}" if p.position_side is not PositionSide.BOTH else "")
            + f"): mark {p.mark_price:f}, unrealized {p.unrealized_pnl:f} USDT, maintenance "
            f"margin {p.maintenance_margin:f} USDT"
            for p in event.positions
        )
        log.warning(
            "MARGIN CALL from the exchange (liquidation may follow): cross wallet %s USDT; "
            "at risk: %s%s",
            "-" if wallet is None else f"{wallet:f}",
            at_risk or "-",
            f" ({unsaid} more since the last warning, journaled)" if unsaid else "",
        )
