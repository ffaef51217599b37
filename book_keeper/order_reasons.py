"""Why each order was sent and why it was cancelled, read from the decisions the ExecManager
journals before acting (`DecisionMade`): for orders.csv, where an order's own row says only
what the exchange did with it.

- Sent: the last decision that was not a cancel, before its OrderSubmitted (a target's
  market order, the stop-loss the protection placed after the fill, a flatten of REDUCING...).
- Cancelled: a `cancel <client order id>` decision names its order (the stale-order watch,
  the stop replaced after a flip, a strategy's cancel); a cancel-all the symbol's orders open
  then (all, or all but the stop-loss / take-profit). The last such decision is the one that
  counts (a cancel that was lost is sent again).

The journal's applier writes the same into its orders rows (`orders.why_sent`,
`orders.why_cancelled`); a backtest keeps them in memory (`OrderReasons`).
"""

from dataclasses import dataclass

from core.events import CANCEL_ALL, CANCEL_ALL_BUT_PROTECTION, CANCEL_ONE, DecisionMade


def decision_text(strategy: str, reason: str, action: str) -> str:
    """`<who>: <why>` (the action when the decision gave no reason)."""
    return f"{strategy}: {reason or action}"


@dataclass(frozen=True, slots=True)
class CancelOf:
    """What a cancel decision cancels: one order (`client_order_id`), or every open order of
    its symbol (`client_order_id` None), the stop-loss / take-profit kept if `keep_protection`."""

    client_order_id: str | None
    keep_protection: bool = False


def cancel_of(action: str) -> CancelOf | None:
    """The orders a decision's `action` cancels; None for a decision that cancels nothing."""
    if action == CANCEL_ALL:
        return CancelOf(None)
    if action == CANCEL_ALL_BUT_PROTECTION:
        return CancelOf(None, keep_protection=True)
    if action.startswith(CANCEL_ONE):
        return CancelOf(action[len(CANCEL_ONE) :])
    return None


class OrderReasons:
    """Fed the journal's events in their order (a backtest's, on its per-order path: the
    decisions are kept and made text only when read); `sent_text(cid)` and
    `cancelled_text(cid)` are the decisions' texts (`decision_text`), "" for none.
    `cancelled` may name an order a cancel did not reach in time (it filled first): read it
    for orders that ended CANCELED."""

    def __init__(self) -> None:
        self.sent: dict[str, DecisionMade] = {}
        self.cancelled: dict[str, DecisionMade] = {}
        self._last: DecisionMade | None = None
        self._open: dict[str, tuple[str, bool]] = {}  # cid -> (symbol, protective)

    def decision(self, event: DecisionMade) -> None:
        action = event.action
        if not action.startswith(CANCEL_ONE):  # most decisions: a target, a stop-loss...
            self._last = event
            return
        cancel = cancel_of(action)
        assert cancel is not None
        if cancel.client_order_id is not None:
            self.cancelled[cancel.client_order_id] = event
        else:
            for cid, (sym, protective) in self._open.items():
                if sym == event.symbol and not (cancel.keep_protection and protective):
                    self.cancelled[cid] = event

    def sent_text(self, client_order_id: str) -> str:
        d = self.sent.get(client_order_id)
        return "" if d is None else decision_text(d.strategy, d.reason, d.action)

    def cancelled_text(self, client_order_id: str) -> str:
        d = self.cancelled.get(client_order_id)
        return "" if d is None else decision_text(d.strategy, d.reason, d.action)

    def submitted(self, client_order_id: str, symbol: str, *, protective: bool) -> None:
        self._open[client_order_id] = (symbol, protective)
        if self._last is not None:
            self.sent[client_order_id] = self._last

    def ended(self, client_order_id: str) -> None:
        """The order is no longer open (filled, cancelled, expired, rejected)."""
        self._open.pop(client_order_id, None)
