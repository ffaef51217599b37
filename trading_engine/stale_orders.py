"""The stale-order watch: an order of ours (not a stop-loss / take-profit) still open
`ExecConfig.stale_order_ms` after it was sent is cancelled, and cancelled again every as long
while it stays open. A heap by deadline: the ExecManager looks at its head on every item (O(1)
when none is due) and calls `cancel_due` only when one is."""

import heapq
from collections.abc import Callable
from typing import Protocol

from core.enums import OrderStatus
from core.orders import Order
from trading_engine.exec_desk import Books


class _Settings(Protocol):
    """What the watch reads of `ExecConfig` (ms)."""

    @property
    def stale_order_ms(self) -> int: ...
    @property
    def pending_recheck_ms(self) -> int: ...


class _Counters(Protocol):
    stale_cancels: int


class StaleOrders:
    """The orders under watch, by deadline; `heap` is read by the ExecManager (its head)."""

    def __init__(
        self,
        *,
        book: Books,
        symbols: frozenset[str],
        config: _Settings,
        counters: _Counters,
        cancel: Callable[[Order, int, str], None],
    ) -> None:
        """`cancel`: the manager's (order, now, reason), its decision journaled first."""
        self._book = book
        self._symbols = symbols
        self._config = config
        self._counters = counters
        self._cancel = cancel
        self.heap: list[tuple[int, str]] = []  # (deadline ms, client order id)
        self.watched: set[str] = set()  # client order ids in the heap

    def watch(self, cid: str, deadline_ms: int) -> None:
        """Watch order `cid` from now on: cancelled if still open at `deadline_ms`."""
        if cid not in self.watched:
            self.watched.add(cid)
            heapq.heappush(self.heap, (deadline_ms, cid))

    def watch_open_orders(self) -> None:
        """Put the books' open orders not yet watched (restored, or found by a reconciliation)
        under the watch, aged from their creation time."""
        stale_ms = self._config.stale_order_ms
        for o in self._book.orders.values():
            if o.symbol in self._symbols and not o.is_protective:
                self.watch(o.client_order_id, o.created_ms + stale_ms)

    def cancel_due(self, now: int) -> None:
        """Cancel the watched orders whose deadline has come; an ended one leaves the watch,
        one still unanswered is looked at again after `pending_recheck_ms`, a cancelled one
        after another `stale_order_ms` (its cancel may be lost)."""
        heap = self.heap
        orders = self._book.orders
        config = self._config
        while heap and heap[0][0] <= now:
            _, cid = heapq.heappop(heap)
            order = orders.get(cid)
            if order is None:
                self.watched.discard(cid)
                continue  # ended meanwhile
            if order.status is OrderStatus.PENDING_SUBMIT:
                # Not answered yet: the venue is still sending it; look again shortly.
                heapq.heappush(heap, (now + config.pending_recheck_ms, cid))
                continue
            self._counters.stale_cancels += 1
            age = now - order.created_ms
            self._cancel(order, now, f"stale: open {age} ms (max {config.stale_order_ms} ms)")
            heapq.heappush(heap, (now + config.stale_order_ms, cid))
