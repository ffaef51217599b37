"""The strategy's targets and orders outside ACTIVE: nothing it says is sent (the ExecManager
alone flattens), each is journaled as its decision and a RiskDenied naming the state and its
cause. A target repeated bar after bar is denied once (again when it, the position or the
state changes): a halted daemon journals no denial a minute. The ExecManager clears `denied`
at every change of state (what the new one denies is news)."""

from collections.abc import Callable
from typing import Protocol

from core.enums import OrderType, Side, TimeInForce, TradingState
from core.events import Event, RiskDenied
from core.orders import ClientOrderIds, OrderProposal, OrderRequest, TargetPosition
from trading_engine.exec_desk import Books, Desk, Risk, proposal_action, target_action
from trading_engine.main_trading_strategy import Proposals, TradingStrategy

HALTED = TradingState.HALTED


class _Counters(Protocol):
    ignored_items: int
    denied: int


class StateDenials:
    """The last target denied per symbol, with what was denied and why."""

    def __init__(
        self,
        *,
        book: Books,
        risk: Risk,
        ids: ClientOrderIds,
        symbols: frozenset[str],
        counters: _Counters,
        desk: Desk,
        record: Callable[[Event], None],
        strategy: TradingStrategy,
    ) -> None:
        """`record`: the manager's, journals an event with the decision before it."""
        self._book = book
        self._risk = risk
        self._ids = ids
        self._symbols = symbols
        self._counters = counters
        self._decide = desk.decide
        self._request = desk.request
        self._record = record
        self._strategy = strategy
        # symbol -> (target qty, price, quantity needed, the state's reason) last denied
        self.denied: dict[str, tuple[object, ...]] = {}

    def deny(self, p: OrderProposal | TargetPosition, now: int) -> None:
        """Journal the decision and its denial, naming the state and its cause (a target at
        the position, or denied already for the same reason: nothing)."""
        if p.symbol not in self._symbols:
            self._counters.ignored_items += 1
            return
        risk = self._risk
        if isinstance(p, TargetPosition):
            need = p.qty - self._book.position(p.symbol).qty
            if need == 0:
                return  # already there: nothing to deny
            key = (p.qty, p.price, need, risk.reason)
            if self.denied.get(p.symbol) == key:
                return  # the same target, denied for the same reason: journaled already
            self.denied[p.symbol] = key
            action = target_action(p)
            request = OrderRequest(
                symbol=p.symbol,
                side=Side.BUY if need > 0 else Side.SELL,
                type=OrderType.MARKET if p.price is None else OrderType.LIMIT,
                quantity=abs(need),
                client_order_id=self._ids.next(),
                price=p.price,
                # as the manager's `_submit_toward_target` would have sent it: resting GTC
                time_in_force=None if p.price is None else TimeInForce.GTC,
            )
        else:
            action = proposal_action(p)
            request = self._request(p)
        self._decide(p.symbol, self._strategy.name, action, p.reason, now)
        why = f" ({risk.reason})" if risk.reason else ""
        self._record(
            RiskDenied(
                event_time_ms=now,
                recv_time_ms=now,
                request=request,
                reason=f"trading state {risk.state}{why}: strategy orders are not sent",
            )
        )
        self._counters.denied += 1

    def check_quiet(self, proposals: Proposals, state: TradingState) -> None:
        """`ExecManager.catch_up_bar` outside ACTIVE: HALTED, where `deny` passes over a target
        already held and one denied for the same reason (journaled already), and records
        nothing. Any other proposal or state would be journaled or acted on: a RuntimeError."""
        if state is not HALTED:
            raise RuntimeError(f"catch_up_bar: no quiet bar in {state}")
        book = self._book
        denied = self.denied
        reason = self._risk.reason
        for p in proposals:
            if p.__class__ is not TargetPosition:
                raise RuntimeError(f"catch_up_bar: {p!r} would be denied and journaled")
            need = p.qty - book.position(p.symbol).qty  # type: ignore[union-attr]
            key = (p.qty, p.price, need, reason)  # type: ignore[union-attr]
            if need != 0 and denied.get(p.symbol) != key:
                raise RuntimeError(f"catch_up_bar: {p!r} would be denied and journaled")
