"""The executor's book of its own orders: exchange reports in, each `core` order event out once.

The same fact often reaches us twice: the REST answer and the user stream both report a new
order, a fill arrives on the stream and again from `userTrades` during a reconciliation, a
cancel is confirmed by the DELETE answer and by ORDER_TRADE_UPDATE. `OrderTracker` keeps one
`TrackedOrder` per client order id and emits an event only for what is new:

- `OrderAccepted` once, the first time anything shows the order exists at the exchange.
- A fill once per trade id (`OrderPartiallyFilled` / `OrderFilled`); the cumulative quantity
  and average price are those of the distinct fills emitted, so a consumer that sums the
  fills always agrees with them. The order is FILLED when those fills reach its quantity.
- A terminal event (`OrderCanceled` / `OrderExpired`) once; if the exchange reports more
  filled quantity than we have fills for, the terminal event waits until the missing fills
  are fetched (`needs_fills`), so fills never arrive for an order already closed.
- Reports older than what we know (a NEW after a fill) are ignored; the status only moves
  forward along `core.orders.ORDER_TRANSITIONS`.
- `OrderReconciled` when an UNKNOWN order's status becomes known again.

The exchange's own orders on our account (a liquidation `autoclose-...`, an auto-deleveraging
`adl_autoclose...`, a settlement: `core.orders.forced_close`) are tracked from their first
report on (`apply_exchange_order`), so that their fills are emitted once per trade id like
ours, stream and REST alike; but only their fills: nobody sent them, so no OrderAccepted,
OrderCanceled or OrderExpired is news to anyone (the books know no such order, only its trades).

Conditional orders live in the Algo service: their client id is `clientAlgoId`, their
`Order.order_id` is the `algoId`; once triggered, the matching-engine order (its own order id;
the same client id on the local exchange, which the API reference does not promise) reports
fills through ORDER_TRADE_UPDATE and is matched by either id.

Pure bookkeeping: no I/O and no clock; callers pass exchange and receive times (ms).
"""

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from core.enums import ExecutionType, ForcedClose, NotSent, OrderStatus
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
from core.orders import Fill, Order, OrderRequest, forced_close, placed_outside
from gateway.user_wire import AlgoStatus, AlgoUpdate, OrderUpdate, UserTrade, order_of

log = logging.getLogger(__name__)

S = OrderStatus
_ZERO = Decimal(0)
# An order's average fill price is kept to 8 decimals (Binance prices have at most 8).
_AVG_QUANTUM = Decimal("1e-8")
_OPEN_REPORTS = (S.NEW, S.PARTIALLY_FILLED)
_ENDED_REPORTS = (S.CANCELED, S.EXPIRED, S.EXPIRED_IN_MATCH)
_FAILED_ALGOS = (AlgoStatus.EXPIRED, AlgoStatus.REJECTED)


def average_price(notional: Decimal, qty: Decimal) -> Decimal:
    """An order's average fill price, `notional` / `qty` (qty > 0) rounded half-even to 8
    decimals (the context's rounding), trailing zeros dropped: the division carries 28
    significant digits, more than any price the exchange states. One rule for our orders and
    for those placed outside the daemon (`gateway.outside_orders`)."""
    return (notional / qty).quantize(_AVG_QUANTUM).normalize()


@dataclass(slots=True)
class TrackedOrder:
    """One of our orders and what we have told the listener about it."""

    order: Order
    algo: bool  # placed through the Algo Order API (conditional types)
    sent_at_ms: int | None = None  # latest possible `timestamp` of the create request
    accepted: bool = False  # OrderAccepted emitted
    actual_order_id: int | None = None  # algo: the matching-engine order after the trigger
    trade_ids: set[int] = field(default_factory=set)
    fill_qty: Decimal = _ZERO  # sum of the distinct fills emitted
    fill_notional: Decimal = _ZERO
    exchange_cum_qty: Decimal = _ZERO  # highest cumulative filled quantity the exchange reported
    pending_terminal: tuple[OrderStatus, int, str] | None = None  # (status, time, reason)
    needs_query: bool = False  # the exchange hinted at a change we have not seen (algo FINISHED)
    cancel_requested: bool = False  # cancel wanted; sent once the order is known to be open
    cancel_inflight: bool = False
    resolving: bool = False  # an unknown-outcome resolver task runs for it
    forced: ForcedClose | None = None  # the exchange's own order (liquidation, ADL, settlement)
    # An order taken over from an earlier journal: what it had filled then (its first fills,
    # by trade id, up to it were that journal's: never emitted), and whether a read of its
    # fills from the first has counted those as seen (`VenueSync.fetch_fills`).
    taken_over_qty: Decimal = _ZERO
    taken_over_counted: bool = True

    # Properties for callers; the tracker's own hot paths read `order`'s fields directly.
    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def status(self) -> OrderStatus:
        return self.order.status

    @property
    def needs_fills(self) -> bool:
        """The exchange reported fills we have not emitted yet (fetch them from userTrades)."""
        return self.exchange_cum_qty > self.fill_qty

    @property
    def exchange_order_id(self) -> int | None:
        """The matching-engine order id to look fills up by (None before it exists)."""
        return self.actual_order_id if self.algo else self.order.order_id


@dataclass(slots=True)
class TrackerStats:
    # Reports (stream or REST rows) of an untracked order with an id this daemon issues (a
    # late report of one it forgot, an earlier journal's before it is taken over): never
    # applied, and worth a look. Those of orders placed by hand are `hand_order_reports`.
    unknown_client_ids: int = 0
    # Reports (stream or REST rows, a resting one's at each reconciliation) of orders placed
    # outside the daemon (`core.orders.placed_outside`): not applied, by design
    hand_order_reports: int = 0
    unattributed_trades: int = 0  # userTrades rows of orders we do not track
    duplicate_fills: int = 0  # fills already emitted (stream + REST, or re-sent)
    stale_reports: int = 0  # reports older than what we knew (ignored)
    late_fills: int = 0  # fills for an order already terminal (emitted, status kept)
    forgotten: int = 0  # closed orders dropped from memory (bounded history)
    exchange_orders: int = 0  # the exchange's own orders seen (liquidation, ADL, settlement)
    reused_ids: int = 0  # exchange order / algo ids given to two orders of ours (a reset account)


Applied = tuple[TrackedOrder, list[Event]]  # the order a report was about, and its new events
_FILL_EVENTS = (OrderPartiallyFilled, OrderFilled)


class OrderTracker:
    """Every order of this executor by client id, plus indexes by exchange order / algo id."""

    def __init__(self, *, max_closed: int = 10_000, client_id_prefix: str = "") -> None:
        self._orders: dict[str, TrackedOrder] = {}
        # The orders not terminal yet, by client id: what the reconciliation, cancel-all and
        # the start-up read, without a pass over the up to `max_closed` closed ones kept.
        self._open: dict[str, TrackedOrder] = {}
        self._by_exchange_id: dict[tuple[str, int], TrackedOrder] = {}
        self._by_algo_id: dict[int, TrackedOrder] = {}
        self._closed: deque[str] = deque()
        self.max_closed = max_closed
        self.client_id_prefix = client_id_prefix  # tells hand orders' reports from ours
        self.stats = TrackerStats()
        # Told (one line) when the exchange gives an order an id another order of ours holds
        # (`_reused`); None: logged.
        self.on_reused_id: Callable[[str], None] | None = None

    # --- registration ---------------------------------------------------------------------

    def track(self, request: OrderRequest, *, now_ms: int) -> TrackedOrder:
        """Start tracking a new order (PENDING_SUBMIT); ValueError for a reused client id."""
        if request.client_order_id in self._orders:
            raise ValueError(f"client order id {request.client_order_id!r} is already tracked")
        tracked = TrackedOrder(
            order=Order.from_request(request, now_ms), algo=request.type.is_conditional
        )
        self._orders[request.client_order_id] = tracked
        self._open[request.client_order_id] = tracked
        return tracked

    def restore(
        self,
        order: Order,
        *,
        algo: bool,
        trade_ids: Iterable[int] = (),
        taken_over_qty: Decimal = _ZERO,
    ) -> TrackedOrder:
        """Track an order recovered from the journal after a restart.

        `trade_ids` are the fills the journal already holds for it: they are never emitted
        again. `taken_over_qty`: an order taken over from an earlier journal, what it had
        filled then (its fills up to it were not this journal's to book; which trade ids
        those are is learnt by a read of its fills from the first). An order journaled as
        PENDING_SUBMIT may or may not have reached the exchange before the crash, so it
        comes back UNKNOWN (the caller resolves it).
        """
        status = S.UNKNOWN if order.status is S.PENDING_SUBMIT else order.status
        if status is not order.status:
            order = replace(order, status=status)
        tracked = TrackedOrder(
            order=order,
            algo=algo,
            sent_at_ms=order.created_ms,
            accepted=order.order_id is not None,
            trade_ids=set(trade_ids),
            fill_qty=order.filled_qty,
            fill_notional=order.filled_qty * order.avg_price,
            exchange_cum_qty=order.filled_qty,
            taken_over_qty=taken_over_qty,
            taken_over_counted=taken_over_qty <= 0,
        )
        self._orders[order.client_order_id] = tracked
        self._open[order.client_order_id] = tracked
        if order.order_id is not None:
            if algo:
                self._by_algo_id[order.order_id] = tracked
            else:
                self._by_exchange_id[(order.symbol, order.order_id)] = tracked
        if order.is_terminal:
            self._close(tracked)
        return tracked

    def drop(self, client_order_id: str) -> None:
        """Stop tracking an order as if it never was: one a reconciliation took over whose
        pass then failed (`VenueSync.reconcile`). No event: the listener never heard of it."""
        t = self._orders.pop(client_order_id, None)
        if t is None:
            return
        self._open.pop(client_order_id, None)
        if client_order_id in self._closed:
            self._closed.remove(client_order_id)
        for order_id in (t.order.order_id, t.actual_order_id):
            if order_id is not None and self._by_exchange_id.get((t.symbol, order_id)) is t:
                del self._by_exchange_id[(t.symbol, order_id)]
        algo_id = t.order.order_id
        if t.algo and algo_id is not None and self._by_algo_id.get(algo_id) is t:
            del self._by_algo_id[algo_id]

    # --- lookups -----------------------------------------------------------------------------

    def get(self, client_order_id: str) -> TrackedOrder | None:
        return self._orders.get(client_order_id)

    def by_exchange_id(self, symbol: str, order_id: int) -> TrackedOrder | None:
        return self._by_exchange_id.get((symbol, order_id))

    def open_orders(self) -> list[TrackedOrder]:
        """Orders not known to be terminal (PENDING_SUBMIT, UNKNOWN, NEW, PARTIALLY_FILLED),
        the exchange's own included (they are looked up like ours, never cancelled)."""
        return list(self._open.values())

    def unknown_ids(self) -> list[str]:
        return [cid for cid, t in self._open.items() if t.order.status is S.UNKNOWN]

    def __len__(self) -> int:
        return len(self._orders)

    # --- outcomes of our own requests --------------------------------------------------------

    def rejected(
        self,
        client_order_id: str,
        *,
        code: int,
        reason: str,
        now_ms: int,
        recv_ms: int,
        not_sent: NotSent | None = None,
    ) -> list[Event]:
        """The exchange (or we, `not_sent` saying why) refused the create request: nothing
        was placed."""
        t = self._orders[client_order_id]
        if t.order.status not in (S.PENDING_SUBMIT, S.UNKNOWN):
            self.stats.stale_reports += 1  # the stream already proved the order exists
            return []
        was_unknown = t.order.status is S.UNKNOWN
        t.order = t.order.transition(S.REJECTED, ts_ms=now_ms)
        self._close(t)
        events: list[Event] = [
            OrderRejected(
                event_time_ms=now_ms,
                recv_time_ms=recv_ms,
                symbol=t.symbol,
                client_order_id=client_order_id,
                code=code,
                reason=reason,
                not_sent=not_sent,
            )
        ]
        if was_unknown:
            events.append(self._reconciled(t, now_ms, recv_ms))
        return events

    def unknown(
        self,
        client_order_id: str,
        *,
        reason: str,
        sent_at_ms: int | None,
        now_ms: int,
        recv_ms: int,
        cancel: bool = False,
    ) -> list[Event]:
        """A create request (or with `cancel`, a cancel request) ended without an answer we
        can trust."""
        t = self._orders[client_order_id]
        if sent_at_ms is not None:
            t.sent_at_ms = max(t.sent_at_ms or 0, sent_at_ms)
        if t.order.is_terminal or t.order.status is S.UNKNOWN:
            return []  # the stream already told us the outcome, or we already said so
        if t.order.status is not S.PENDING_SUBMIT and not (cancel and t.cancel_inflight):
            return []  # the create's outcome is known from the stream; no cancel in doubt
        t.order = t.order.transition(S.UNKNOWN, ts_ms=now_ms)
        return [
            OrderStatusUnknown(
                event_time_ms=now_ms,
                recv_time_ms=recv_ms,
                symbol=t.symbol,
                client_order_id=client_order_id,
                reason=reason,
            )
        ]

    def never_placed(self, client_order_id: str, *, now_ms: int, recv_ms: int) -> list[Event]:
        """An UNKNOWN order that the exchange does not have, past its recvWindow: REJECTED."""
        t = self._orders[client_order_id]
        if t.order.status is not S.UNKNOWN or t.accepted:
            return []
        t.order = t.order.transition(S.REJECTED, ts_ms=now_ms)
        self._close(t)
        return [self._reconciled(t, now_ms, recv_ms)]

    def forgotten(
        self, client_order_id: str, *, now_ms: int, recv_ms: int, reason: str
    ) -> list[Event]:
        """An accepted order without a fill that the exchange no longer knows: Binance stops
        finding an order that ended (CANCELED or EXPIRED) without a fill 3 days after its
        creation. Closed as EXPIRED with `reason` (which of the two it was is lost)."""
        t = self._orders[client_order_id]
        if t.order.is_terminal or not t.accepted or t.fill_qty > 0 or t.status is S.UNKNOWN:
            return []
        events: list[Event] = []
        t.pending_terminal = (S.EXPIRED, now_ms, reason)
        self._settle(t, recv_ms, events)
        return events

    def algo_canceled(
        self, client_order_id: str, *, algo_id: int | None, now_ms: int, recv_ms: int
    ) -> list[Event]:
        """DELETE /fapi/v1/algoOrder answered success (no order object comes back)."""
        t = self._orders[client_order_id]
        was_unknown = t.order.status is S.UNKNOWN
        events: list[Event] = []
        if algo_id is not None and t.order.order_id is None:
            self._set_algo_id(t, algo_id)
        self._accept(t, now_ms, recv_ms, events)
        if not t.order.is_terminal and t.pending_terminal is None:
            t.pending_terminal = (S.CANCELED, now_ms, "")
        self._settle(t, recv_ms, events)
        if was_unknown and t.order.status is not S.UNKNOWN:
            events.append(self._reconciled(t, now_ms, recv_ms))
        return events

    # --- exchange reports -------------------------------------------------------------------

    def apply_order(self, u: OrderUpdate, *, count_untracked: bool = True) -> Applied | None:
        """An ORDER_TRADE_UPDATE or REST order object; None if the order is not ours (counted
        unless `count_untracked` is False: the caller counts it, `note_untracked`)."""
        t = self._orders.get(u.client_order_id)
        if t is None or t.order.symbol != u.symbol:
            t = self._by_exchange_id.get((u.symbol, u.order_id))
        if t is None or t.order.symbol != u.symbol:
            if count_untracked:
                self.note_untracked(u.client_order_id)
            return None
        events: list[Event] = []
        was_unknown = t.order.status is S.UNKNOWN
        if t.algo:
            if t.actual_order_id is None:
                t.actual_order_id = u.order_id
                self._index(t, u.order_id)
        elif t.order.order_id is None:
            t.order = replace(t.order, order_id=u.order_id)
            self._index(t, u.order_id)
        if t.order.quantity == 0 and u.quantity > 0:  # closePosition: the size is known now
            t.order = replace(t.order, quantity=u.quantity)
        t.exchange_cum_qty = max(t.exchange_cum_qty, u.cum_qty)
        if u.status is S.REJECTED:
            return t, _news(
                t,
                self.rejected(
                    t.order.client_order_id,
                    code=0,
                    reason="rejected by the exchange",
                    now_ms=u.event_time_ms,
                    recv_ms=u.recv_time_ms,
                ),
            )
        self._accept(t, u.event_time_ms, u.recv_time_ms, events)
        if u.execution is ExecutionType.AMENDMENT:
            self._amend(t, u, events)
        fill = u.fill
        if fill is not None:
            self._fill(t, fill, events)
        if u.status in _ENDED_REPORTS:
            if t.order.is_terminal:
                self.stats.stale_reports += 1
            elif t.pending_terminal is None:
                reason = "" if u.status is S.CANCELED else _expiry_reason(u.expiry_reason)
                t.pending_terminal = (u.status, u.event_time_ms, reason)
        elif u.status in _OPEN_REPORTS and t.order.status is S.UNKNOWN:
            self._reopen(t, u.event_time_ms)
        self._settle(t, u.recv_time_ms, events)
        if was_unknown and t.order.status is not S.UNKNOWN:
            events.append(self._reconciled(t, u.event_time_ms, u.recv_time_ms))
        return t, _news(t, events)

    def apply_exchange_order(self, u: OrderUpdate) -> Applied | None:
        """A report of one of the exchange's own orders on our account (`forced_close` of
        its client id: a liquidation, an auto-deleveraging, a settlement): tracked on first
        sight as if we had sent it, then applied like ours; only its fills come back. None
        for any other client id."""
        kind = forced_close(u.client_order_id)
        if kind is None:
            return None
        if self._orders.get(u.client_order_id) is None:
            self.stats.exchange_orders += 1
            # As if we had just sent it: the report, applied next, moves it on (its fills).
            seen = replace(
                order_of(u),
                status=S.PENDING_SUBMIT,
                order_id=None,
                filled_qty=_ZERO,
                avg_price=_ZERO,
            )
            tracked = TrackedOrder(order=seen, algo=False)
            tracked.forced = kind
            self._orders[u.client_order_id] = tracked
            self._open[u.client_order_id] = tracked
        return self.apply_order(u)

    def apply_algo(self, u: AlgoUpdate, *, count_untracked: bool = True) -> Applied | None:
        """An ALGO_UPDATE or REST algo order object; None if the order is not ours (counted
        unless `count_untracked` is False, as `apply_order`)."""
        t = self._orders.get(u.client_algo_id)
        if t is None or not t.algo or t.order.symbol != u.symbol:
            t = self._by_algo_id.get(u.algo_id)
        if t is None or t.order.symbol != u.symbol:
            if count_untracked:
                self.note_untracked(u.client_algo_id)
            return None
        events: list[Event] = []
        was_unknown = t.order.status is S.UNKNOWN
        if t.order.order_id is None:
            self._set_algo_id(t, u.algo_id)
        if u.actual_order_id is not None and t.actual_order_id is None:
            t.actual_order_id = u.actual_order_id
            self._index(t, u.actual_order_id)
        if t.order.quantity == 0 and u.quantity > 0:
            t.order = replace(t.order, quantity=u.quantity)
        t.exchange_cum_qty = max(t.exchange_cum_qty, u.filled_qty)
        self._accept(t, u.event_time_ms, u.recv_time_ms, events)
        status = u.status
        if status is AlgoStatus.FINISHED and not t.order.is_terminal:
            t.needs_query = True  # the triggered order ended; its report has not reached us
        elif status is AlgoStatus.CANCELED:
            self._pend(t, S.CANCELED, u.event_time_ms, "")
        elif status in _FAILED_ALGOS:
            reason = f"algo order {status.value.lower()}" + (f": {u.reason}" if u.reason else "")
            self._pend(t, S.EXPIRED, u.event_time_ms, reason)
        elif t.order.status is S.UNKNOWN:
            self._reopen(t, u.event_time_ms)
        self._settle(t, u.recv_time_ms, events)
        if was_unknown and t.order.status is not S.UNKNOWN:
            events.append(self._reconciled(t, u.event_time_ms, u.recv_time_ms))
        return t, events

    def note_untracked(self, client_order_id: str) -> None:
        """Count a report of an order not tracked: a hand order's apart from an id of ours,
        so that `unknown_client_ids` only grows when something is off."""
        if placed_outside(client_order_id, self.client_id_prefix):
            self.stats.hand_order_reports += 1
        else:
            self.stats.unknown_client_ids += 1

    def apply_trade(self, trade: UserTrade) -> Applied | None:
        """A `userTrades` row (reconciliation, or fills fetched for one order)."""
        t = self._by_exchange_id.get((trade.symbol, trade.order_id))
        if t is None:
            self.stats.unattributed_trades += 1
            return None
        events: list[Event] = []
        was_unknown = t.order.status is S.UNKNOWN
        self._accept(t, trade.time_ms, trade.recv_time_ms, events)
        self._fill(t, trade.to_fill(t.order.client_order_id), events)
        if t.order.status is S.UNKNOWN:
            self._reopen(t, trade.time_ms)
        self._settle(t, trade.recv_time_ms, events)
        if was_unknown and t.order.status is not S.UNKNOWN:
            events.append(self._reconciled(t, trade.time_ms, trade.recv_time_ms))
        return t, _news(t, events)

    def count_seen(self, trade: UserTrade) -> None:
        """Count a `userTrades` fill as seen on its order without emitting it: a fill that
        an adopted order made before it was ours (already in its filled quantity), or that
        was booked under another id (`core.orders.outside_client_id`). A later read of the
        order's fills does not report it again."""
        t = self._by_exchange_id.get((trade.symbol, trade.order_id))
        if t is not None:
            t.trade_ids.add(trade.trade_id)

    def take_over_fills(self, t: TrackedOrder, trades: Iterable[UserTrade]) -> bool:
        """Count fills of an order taken over by a reconciliation, made after the exchange's
        row that adopted it was read, into what it had filled when taken over
        (`taken_over_qty`), its filled quantity and average price, without emitting them: that
        pass booked them under `core.orders.outside_client_id` (the books did not know the
        order yet). Without
        this the order held less than the exchange shows, asked for those fills at every
        read and never ended. A fill counted on it already is skipped. True when they
        complete the order (it is FILLED and closed here: the caller tells the listener)."""
        latest = 0
        for trade in trades:
            if trade.trade_id in t.trade_ids:
                continue
            t.trade_ids.add(trade.trade_id)
            t.fill_qty += trade.qty
            t.fill_notional += trade.qty * trade.price
            t.taken_over_qty += trade.qty
            latest = max(latest, trade.time_ms)
        if not latest or t.order.is_terminal:
            return False
        t.exchange_cum_qty = max(t.exchange_cum_qty, t.fill_qty)
        cum = t.fill_qty
        avg = average_price(t.fill_notional, cum)
        complete = t.order.quantity > 0 and cum >= t.order.quantity
        status = S.FILLED if complete else S.PARTIALLY_FILLED
        ts_ms = max(t.order.updated_ms, latest)
        t.order = t.order.transition(status, ts_ms=ts_ms, filled_qty=cum, avg_price=avg)
        if complete:
            t.pending_terminal = None
            self._close(t)
        return complete

    # --- internals ---------------------------------------------------------------------------

    def _set_algo_id(self, t: TrackedOrder, algo_id: int) -> None:
        t.order = replace(t.order, order_id=algo_id)
        held = self._by_algo_id.get(algo_id)
        if held is not None and held is not t:
            self._reused(t, held, algo_id, "algo id")
        self._by_algo_id[algo_id] = t

    def _index(self, t: TrackedOrder, order_id: int) -> None:
        """Index `t` by the exchange's order id (first learnt now); an id another order of
        ours holds was given out twice, which the exchange never does: `_reused`."""
        key = (t.order.symbol, order_id)
        held = self._by_exchange_id.get(key)
        if held is not None and held is not t:
            self._reused(t, held, order_id, "order id")
        self._by_exchange_id[key] = t

    def _reused(self, t: TrackedOrder, held: TrackedOrder, order_id: int, what: str) -> None:
        """The exchange gave our order `t` the id of our order `held`: the account is not the
        one `held` was placed on (reset: a restarted local exchange, a testnet reset), whose
        fills reuse trade ids the books hold. Counted and told (`on_reused_id`)."""
        self.stats.reused_ids += 1
        line = (
            f"{t.order.symbol} {what} {order_id}, given to our order {t.order.client_order_id}, "
            f"is our earlier order {held.order.client_order_id}'s: the exchange gives an id once"
        )
        if self.on_reused_id is None:
            log.error("%s", line)
        else:
            self.on_reused_id(line)

    def _accept(self, t: TrackedOrder, ts_ms: int, recv_ms: int, events: list[Event]) -> None:
        """Emit OrderAccepted the first time the order is shown to exist at the exchange."""
        if t.accepted:
            return
        t.accepted = True
        if t.order.is_terminal:  # closed as never placed, yet the exchange shows it: say so
            log.error("order %s was declared never placed but exists", t.order.client_order_id)
        if t.order.status is S.PENDING_SUBMIT:
            t.order = t.order.transition(S.NEW, ts_ms=ts_ms)
        order_id = t.order.order_id if t.order.order_id is not None else t.actual_order_id
        events.append(
            OrderAccepted(
                event_time_ms=ts_ms,
                recv_time_ms=recv_ms,
                symbol=t.order.symbol,
                client_order_id=t.order.client_order_id,
                order_id=order_id if order_id is not None else 0,
            )
        )

    def _reopen(self, t: TrackedOrder, ts_ms: int) -> None:
        """UNKNOWN -> the open status our fills imply (the order is working at the exchange)."""
        status = S.PARTIALLY_FILLED if t.fill_qty > 0 else S.NEW
        t.order = t.order.transition(status, ts_ms=ts_ms)

    def _pend(self, t: TrackedOrder, status: OrderStatus, ts_ms: int, reason: str) -> None:
        if t.order.is_terminal:
            self.stats.stale_reports += 1
        elif t.pending_terminal is None:
            t.pending_terminal = (status, ts_ms, reason)

    def _amend(self, t: TrackedOrder, u: OrderUpdate, events: list[Event]) -> None:
        if t.order.is_terminal:
            return
        t.order = replace(t.order, price=u.price, quantity=u.quantity, updated_ms=u.event_time_ms)
        events.append(
            OrderAmended(
                event_time_ms=u.event_time_ms,
                recv_time_ms=u.recv_time_ms,
                symbol=t.order.symbol,
                client_order_id=t.order.client_order_id,
                order_id=u.order_id,
                price=u.price,
                quantity=u.quantity,
            )
        )

    def _fill(self, t: TrackedOrder, fill: Fill, events: list[Event]) -> None:
        if fill.trade_id in t.trade_ids:
            self.stats.duplicate_fills += 1
            return
        t.trade_ids.add(fill.trade_id)
        t.fill_qty += fill.qty
        t.fill_notional += fill.price * fill.qty
        t.exchange_cum_qty = max(t.exchange_cum_qty, t.fill_qty)
        cum = t.fill_qty
        avg = average_price(t.fill_notional, cum)
        complete = t.order.quantity > 0 and cum >= t.order.quantity
        kind = OrderFilled if complete else OrderPartiallyFilled
        events.append(
            kind(
                event_time_ms=fill.trade_time_ms,
                recv_time_ms=fill.recv_time_ms,
                fill=fill,
                cumulative_qty=cum,
                avg_price=avg,
            )
        )
        if t.order.is_terminal:
            self.stats.late_fills += 1
            log.warning(
                "fill %s for %s arrived after the order was %s",
                fill.trade_id,
                t.order.client_order_id,
                t.order.status,
            )
            return
        status = S.FILLED if complete else S.PARTIALLY_FILLED
        t.order = t.order.transition(
            status, ts_ms=fill.trade_time_ms, filled_qty=cum, avg_price=avg
        )
        if complete:
            t.pending_terminal = None
            self._close(t)

    def _settle(self, t: TrackedOrder, recv_ms: int, events: list[Event]) -> None:
        """Emit a waiting terminal status once every fill the exchange reported is emitted."""
        pending = t.pending_terminal
        if pending is None or t.needs_fills:
            return
        t.pending_terminal = None
        if t.order.is_terminal:
            self.stats.stale_reports += 1
            return
        status, ts_ms, reason = pending
        t.order = t.order.transition(status, ts_ms=ts_ms)
        self._close(t)
        order_id = t.order.order_id if t.order.order_id is not None else t.actual_order_id
        if status is S.CANCELED:
            events.append(
                OrderCanceled(
                    event_time_ms=ts_ms,
                    recv_time_ms=recv_ms,
                    symbol=t.order.symbol,
                    client_order_id=t.order.client_order_id,
                    order_id=order_id,
                )
            )
        else:
            events.append(
                OrderExpired(
                    event_time_ms=ts_ms,
                    recv_time_ms=recv_ms,
                    symbol=t.order.symbol,
                    client_order_id=t.order.client_order_id,
                    order_id=order_id,
                    reason=reason or status.value.lower(),
                )
            )

    def _reconciled(self, t: TrackedOrder, ts_ms: int, recv_ms: int) -> OrderReconciled:
        return OrderReconciled(
            event_time_ms=ts_ms,
            recv_time_ms=recv_ms,
            symbol=t.order.symbol,
            client_order_id=t.order.client_order_id,
            status=t.order.status,
        )

    def _close(self, t: TrackedOrder) -> None:
        """Remember a terminal order for a while (late duplicates), then forget it. Every
        move to a terminal status ends here, and none leads out of one: the open index
        loses it for good."""
        self._open.pop(t.order.client_order_id, None)
        self._closed.append(t.order.client_order_id)
        while len(self._closed) > self.max_closed:
            cid = self._closed.popleft()
            old = self._orders.get(cid)
            if old is None or not old.order.is_terminal:
                continue
            del self._orders[cid]
            self.stats.forgotten += 1
            for order_id in (old.order.order_id, old.actual_order_id):
                if (
                    order_id is not None
                    and self._by_exchange_id.get((old.order.symbol, order_id)) is old
                ):
                    del self._by_exchange_id[(old.order.symbol, order_id)]
            if old.algo and old.order.order_id is not None:
                self._by_algo_id.pop(old.order.order_id, None)


def _news(t: TrackedOrder, events: list[Event]) -> list[Event]:
    """What is news to the listener: everything about our orders; of the exchange's own
    orders, their fills only."""
    if t.forced is None:
        return events
    return [e for e in events if isinstance(e, _FILL_EVENTS)]


_EXPIRY_REASONS = {
    "1": "self-trade prevention",
    "2": "IOC remainder",
    "3": "IOC remainder after self-trade prevention",
    "4": "reduce-only or reversing order cancelled",
    "5": "account liquidation",
    "6": "GTE condition unsatisfied",
    "7": "symbol delisted",
    "8": "initial order expired after the stop triggered",
    "9": "MARKET remainder",
}


def _expiry_reason(code: str) -> str:
    """Binance's `er` code in words (section 10.3)."""
    return _EXPIRY_REASONS.get(code, f"expired (er={code})")
