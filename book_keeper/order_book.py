"""The books' orders: those that are or may be live (NEW, PARTIALLY_FILLED, PENDING_SUBMIT,
UNKNOWN) by client order id, the recently ended ones (bounded), and the order totals of the
closing summary. Times in ms.

An order event moves its order through the order-state table (`order_state.evolve`); an
illegal move is logged and counted, never applied. An event of an order never submitted is
refused (the books' `reject`); one of an order that ended (and is still remembered) is
ignored. A venue snapshot's open orders are the exchange's word (`reconcile`): an order open
there but not here is added, one open here but not there is removed (and remembered as
ended, uncounted, so that its late events are known).

`OrderBook` is composed by `BookKeeper`, which reads `live` and `ended` directly on the hot
paths (the order path, every fill): both are never rebound.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable

from book_keeper.order_state import evolve
from core.clock import Clock
from core.enums import TEXT, OrderIntent, OrderStatus
from core.events import Event, OrderRejected, OrderSubmitted, VenueSnapshot
from core.fast_init import replace
from core.orders import IllegalTransition, Order, forced_close

# The books' logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("book_keeper.book_keeper")

_LIVE = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


class OrderBook:
    """The orders of the books (see the module docstring). `traded`: the symbols the books
    hold; `remember`: how many ended orders are kept; `reject(event, why)` and
    `difference(sentence)`: the books' own accounting of refused events and of differences
    with the exchange. `restoring`: these are a restore's replay twin (their counts of orders
    not sent are this run's only)."""

    __slots__ = (
        "_clock",
        "_difference",
        "_reject",
        "_traded",
        "_vanished_intent",
        "by_status",
        "ended",
        "ended_ms",
        "illegal_transitions",
        "live",
        "not_sent",
        "remember",
        "restoring",
        "submitted",
    )

    def __init__(
        self,
        *,
        clock: Clock,
        traded: Collection[str],
        remember: int,
        reject: Callable[[Event, str], None],
        difference: Callable[[str], None],
    ) -> None:
        self._clock = clock
        self._traded = traded
        self._reject = reject
        self._difference = difference
        self.remember = remember
        self.restoring = False
        self.live: dict[str, Order] = {}
        # Recent terminal orders, bounded: oldest first (an OrderedDict drops its oldest in
        # O(1); a dict's first key is found past every slot deleted before it).
        self.ended: OrderedDict[str, OrderStatus] = OrderedDict()
        self.ended_ms: dict[str, int] = {}  # when each of them ended (our clock)
        # Of those, the ones a reconciliation removed as not at the exchange, with why they
        # were sent (but ORDINARY): one found open again later keeps its intent, which the
        # exchange's copy cannot carry (its journal row keeps it too).
        self._vanished_intent: dict[str, OrderIntent] = {}
        # totals since the books began (restored history included)
        self.submitted = 0
        self.by_status: dict[str, int] = {}
        # this run's only (a restore does not rebuild it): see `BookSummary.orders_not_sent`
        self.not_sent: dict[str, int] = {}
        self.illegal_transitions = 0

    def on_submitted(self, event: OrderSubmitted) -> None:
        r = event.request
        if r.symbol not in self._traded:
            self._reject(event, f"order {r.client_order_id} for {r.symbol}, not traded")
            return
        cid = r.client_order_id
        if cid in self.live or cid in self.ended:
            self._reject(event, f"client order id {cid} submitted twice")
            return
        self.live[cid] = Order.from_request(r, event.event_time_ms, event.intent)
        self.submitted += 1

    def on_order_event(self, event: Event) -> None:
        cid = event.client_order_id  # type: ignore[attr-defined]  # fills have their own handler
        order = self.live.get(cid)
        if order is None:
            if cid in self.ended:
                log.debug("books: %s of ended order %s", type(event).__name__, cid)
            else:
                self._reject(event, f"unknown order {cid}")
            return
        self.advance(order, event)

    def advance(self, order: Order, event: Event) -> None:
        """Move `order` by `event` (an order event, or a fill's once the fill is booked)."""
        try:
            new = evolve(order, event)
        except (IllegalTransition, ValueError) as e:
            self.illegal_transitions += 1
            log.warning("books: %s not applied: %s", type(event).__name__, e)
            return
        cid = new.client_order_id
        if new.is_terminal:
            del self.live[cid]
            self._end(cid, new.status)
            if event.__class__ is OrderRejected:
                self._count_not_sent(event)
        else:
            self.live[cid] = new

    def _count_not_sent(self, event: OrderRejected) -> None:
        """An order that never reached the exchange, counted apart from its rejections."""
        kind = event.not_sent
        if kind is not None and not self.restoring:
            self.not_sent[kind.value] = self.not_sent.get(kind.value, 0) + 1

    def _end(self, cid: str, status: OrderStatus, *, count: bool = True) -> None:
        """Remember an ended order (bounded: the oldest forgotten first); `count` it in the
        summary's statuses unless it only vanished (a reconciliation found it gone)."""
        if count:
            text = TEXT[status]
            self.by_status[text] = self.by_status.get(text, 0) + 1
        ended = self.ended
        ended[cid] = status
        self.ended_ms[cid] = self._clock.now_ms()
        if len(ended) > self.remember:
            oldest, _ = ended.popitem(last=False)
            self.ended_ms.pop(oldest, None)
            if self._vanished_intent:
                self._vanished_intent.pop(oldest, None)

    def reconcile(self, snapshot: VenueSnapshot, symbols: tuple[str, ...]) -> list[str]:
        """Adopt the snapshot's open orders of `symbols` (those that did not change after its
        reads began); each difference as a sentence (each also counted by `difference`)."""
        at = snapshot.event_time_ms
        out: list[str] = []
        covered = set(symbols)
        # The exchange's own orders (a liquidation working) are not the books' to hold open:
        # only their fills are booked.
        theirs = {
            o.client_order_id: o
            for o in snapshot.open_orders
            if o.symbol in covered and forced_close(o.client_order_id) is None
        }
        for cid, o in theirs.items():
            ours = self.live.get(cid)
            if ours is None:
                if o.symbol not in self._traded or self.ended_ms.get(cid, 0) > at:
                    continue  # not ours, or it ended after the snapshot's reads began
                out.append(
                    f"order {cid} ({o.symbol} {o.side} {o.type} {o.quantity:f}) is open at the "
                    "exchange but not in our books; added"
                )
                if cid in self.ended:
                    del self.ended[cid]
                else:
                    self.submitted += 1
                intent = self._vanished_intent.pop(cid, None)
                self.live[cid] = o if intent is None else replace(o, intent=intent)
            elif ours.updated_ms <= at and (
                ours.status != o.status or ours.filled_qty != o.filled_qty
            ):
                out.append(
                    f"order {cid}: ours {ours.status} filled {ours.filled_qty:f}, exchange "
                    f"{o.status} filled {o.filled_qty:f}; adopted the exchange's"
                )
                self.live[cid] = replace(  # the exchange cannot know why we sent it
                    o,
                    created_ms=ours.created_ms,
                    order_id=o.order_id or ours.order_id,
                    intent=ours.intent,
                )
            else:
                continue
            self._difference(out[-1])
        for cid, ours in list(self.live.items()):
            if ours.symbol in covered and cid not in theirs and ours.status in _LIVE:
                if ours.updated_ms > at:
                    continue
                out.append(
                    f"order {cid} ({ours.symbol} {ours.status}) is open in our books but not at "
                    "the exchange; removed from the open orders"
                )
                self._difference(out[-1])
                del self.live[cid]
                self._end(cid, ours.status, count=False)  # its late events: known, not foreign
                if ours.intent is not OrderIntent.ORDINARY:
                    self._vanished_intent[cid] = ours.intent
        return out

    def restore(
        self,
        *,
        submitted: int,
        by_status: dict[str, int],
        newest_ended: Iterable[tuple[str, OrderStatus]],
        open_orders: Iterable[Order],
    ) -> None:
        """Start again from a journal's orders: its totals, its newest ended orders (at most
        `remember`, oldest first) and its open ones (those of symbols not traded now are left
        to the exchange, with a warning)."""
        self.ended.clear()
        self.ended_ms.clear()
        self._vanished_intent.clear()
        self.live.clear()
        self.by_status = by_status
        self.submitted = submitted
        now = self._clock.now_ms()
        for cid, status in newest_ended:
            self.ended[cid] = status
            self.ended_ms[cid] = now
        for o in open_orders:
            if o.symbol in self._traded:
                self.live[o.client_order_id] = o
            else:
                log.warning(
                    "books: open order %s for %s, not traded now: left to the exchange",
                    o.client_order_id,
                    o.symbol,
                )
