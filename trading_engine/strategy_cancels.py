"""A `CancelProposal` (a strategy cancelling one of its orders): journaled as a DecisionMade and
checked by `RiskManager.check_cancel` in any trading state (a cancel never adds exposure).
Refused, a CancelDenied is journaled with it (the same refusal again for the same order is
counted, not journaled); approved, the venue's cancel follows. An order whose cancel is already
on its way (ours, or the strategy's last) is not cancelled again, nor journaled."""

from collections.abc import Callable
from typing import Protocol

from core.events import CANCEL_ONE, Event
from core.orders import CancelProposal, Order
from trading_engine.exec_desk import Books, Desk, Risk
from trading_engine.main_trading_strategy import TradingStrategy


class _Counters(Protocol):
    ignored_items: int
    denied_repeats: int
    cancels_denied: int
    strategy_cancels: int


class StrategyCancels:
    """The last cancel of the strategy's refused per symbol (client id, reason): the same
    refusal proposed bar after bar is journaled once."""

    def __init__(
        self,
        *,
        book: Books,
        risk: Risk,
        symbols: frozenset[str],
        counters: _Counters,
        desk: Desk,
        record: Callable[[Event], None],
        send_cancel: Callable[[Order, int], None],
        warn_untraded: Callable[[str, str], None],
        strategy: TradingStrategy,
    ) -> None:
        """`record`: the manager's (journals an event with the decision before it);
        `send_cancel`: its venue cancel of an order whose decision is pending;
        `warn_untraded`: its once-per-symbol WARNING for a symbol not traded."""
        self._book = book
        self._risk = risk
        self._symbols = symbols
        self._counters = counters
        self._desk = desk
        self._record = record
        self._send_cancel = send_cancel
        self._warn_untraded = warn_untraded
        self._strategy = strategy
        self.denied: dict[str, tuple[str, str]] = {}

    def on_cancel(self, p: CancelProposal, now: int) -> None:
        """The strategy cancels one of its orders: decision, RiskManager, journal, venue."""
        desk = self._desk
        if desk.stopped():
            return
        symbol, cid = p.symbol, p.client_order_id
        counters = self._counters
        if symbol not in self._symbols:
            counters.ignored_items += 1
            self._warn_untraded(symbol, "cancelled an order")
            return
        order = self._book.orders.get(cid)
        if order is not None and order.symbol == symbol and desk.cancelling(cid, now):
            return  # its cancel is on its way already
        denied = self._risk.check_cancel(p, order)  # pure: asked before the decision
        if denied is not None and self.denied.get(symbol) == (cid, denied.reason):
            counters.denied_repeats += 1  # journaled with the first refusal
            return
        desk.decide(symbol, self._strategy.name, CANCEL_ONE + cid, p.reason, now)
        if denied is not None:
            self.denied[symbol] = (cid, denied.reason)
            self._record(denied)
            counters.cancels_denied += 1
            return
        assert order is not None  # the RiskManager refuses a cancel of no open order
        self.denied.pop(symbol, None)
        counters.strategy_cancels += 1
        self._send_cancel(order, now)
