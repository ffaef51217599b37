"""Take-overs: an earlier journal's open orders, tracked as ours again by a reconciliation.

An open order with a client id of ours (`client_id_prefix`) that we do not track is one an
earlier journal of this daemon placed (the journal was moved or deleted, e.g. a position left
with its stop-loss): it is tracked from then on, as the books adopt it from the snapshot, so
that it can be cancelled and its fills and end are booked. `TakeOvers` owns that bookkeeping
for one `VenueSync`, which composes it into its reconciliation:

- `adopt(order)`: track such an order as it stands, its fills so far counted as seen (that
  journal's to book); the next snapshot names it (`VenueSnapshot.adopted`).
- `undo()`: a pass that fails forgets the orders it took over that no snapshot named yet;
  the next pass takes them over anew, as the exchange lists them then (and says so at INFO).
- `late_fills(held)` and `count_late_fills(late)`: the fills of an order taken over that
  were made after the exchange's row that adopted it was read: booked under
  `outside:<its id>` (`OutsideOrders.book_caught_up`), and counted on the order.
- `untracked_report(report)` and `left_to_the_books(...)`: a fill the user stream reported
  before the order was taken over came to the books with its account update: the pass that
  takes the order over does not book it again.

It logs under `gateway.venue_sync`, as before it was split out of that module: the log's
readers (and filters) know the name.
"""

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal

from core.errors import RejectedError
from core.orders import ClientOrderIds, Order, outside_client_id
from gateway.order_tracker import OrderTracker, TrackedOrder
from gateway.outside_orders import OUTSIDE_MEMORY
from gateway.user_wire import OrderUpdate, UserTrade

log = logging.getLogger("gateway.venue_sync")


class TakeOvers:
    """The take-over bookkeeping of one `VenueSync` (see the module docstring)."""

    def __init__(
        self,
        *,
        tracker: OrderTracker,
        client_id_prefix: str,
        read_fills: Callable[[str, int], AsyncIterator[list[UserTrade]]],
    ) -> None:
        self.tracker = tracker
        self.client_id_prefix = client_id_prefix
        # (symbol, order id) -> that order's fills from its first on, a page at a time
        # (`VenueSync.order_fill_pages`, which reads them over its REST connection)
        self._read_fills = read_fills
        # client ids taken over as ours (`adopt`) since the last snapshot, which names them
        self.adopted: list[str] = []
        # client ids whose take-over a failed pass undid (`undo`): the WARNING that named
        # them was logged; the pass that takes one over again says so at INFO (the newest
        # OUTSIDE_MEMORY kept)
        self._undone: OrderedDict[str, None] = OrderedDict()
        # (symbol, trade id) of the fills the user stream reported of an order with an id we
        # issue that nobody tracked then (an earlier journal's, taken over at the next pass):
        # their account updates brought them to the books (the newest OUTSIDE_MEMORY kept)
        self._streamed_untracked: OrderedDict[tuple[str, int], None] = OrderedDict()

    def adopt(self, order: Order, *, algo: bool) -> bool:
        """Track an open order an earlier journal of this daemon placed (its client id is one
        we issue, `ClientOrderIds.issued_by`, but no journal of ours holds it): as it stands,
        with its fills so far counted as seen (they were that journal's to book). False for
        any other order. Nothing is emitted: the next snapshot brings it into the books and
        names it (`VenueSnapshot.adopted`), so the journal records it as ours. One WARNING
        names it: a pass that takes it over again after a failed one (`undo`) says so at
        INFO, not as if another order had been found."""
        prefix = self.client_id_prefix
        cid = order.client_order_id
        if not prefix or not ClientOrderIds.issued_by(cid, prefix):
            return False
        self.tracker.restore(order, algo=algo, taken_over_qty=order.filled_qty)
        self.adopted.append(cid)
        if cid in self._undone:  # the failed pass's WARNING named it already
            del self._undone[cid]
            log.info("order %s: taken over again by the next pass", cid)
            return True
        log.warning(
            "open %sorder %s %s (%s %s %s) was placed by this daemon under an earlier journal "
            "(client id prefix %s): tracked as ours again",
            "algo " if algo else "",
            order.symbol,
            cid,
            order.side.value,
            order.type.value,
            "close-position" if order.close_position else f"{order.quantity:f}",
            prefix,
        )
        return True

    def undo(self) -> None:
        """Forget the orders taken over (`adopt`) that no snapshot has named: the books do
        not know them. Kept, a fill of one made before the next pass was read by that pass
        as the order's own and emitted before the snapshot that brings the order into the
        books (the ExecManager ignored it: no order of ours yet), and the tracker held less
        as taken over than that snapshot, and the journal, recorded. Untracked again, the
        order is taken over by the next pass with that fill, as the exchange lists it then;
        its reports in between are an untracked order's."""
        for cid in self.adopted:
            self.tracker.drop(cid)
            log.info("order %s: its take-over is undone with the failed pass", cid)
            self._undone[cid] = None
            if len(self._undone) > OUTSIDE_MEMORY:
                self._undone.popitem(last=False)
        self.adopted.clear()

    def orders(self) -> dict[tuple[str, int], str]:
        """(symbol, matching-engine order id) -> client id of the orders taken over since the
        last snapshot (`adopt`) that have one (a waiting algo order has none, nor fills)."""
        out: dict[tuple[str, int], str] = {}
        for cid in self.adopted:
            t = self.tracker.get(cid)
            if t is not None and (order_id := t.exchange_order_id) is not None:
                out[(t.symbol, order_id)] = cid
        return out

    async def late_fills(self, held: list[UserTrade]) -> dict[str, list[UserTrade]]:
        """Client id -> the fills read (`held`) of each order this pass took over (`adopt`)
        made after the exchange's row that adopted it was read (between the open-orders read
        and the trades read). The pass books them under `outside:<its id>`
        (`OutsideOrders.book_caught_up`), a start-up's and a running one's alike (the
        stream's reports of them came before the order was ours), but they are not in what
        the row showed filled (`taken_over_qty`): `count_late_fills` counts them on the
        order. Which fills those are is told by a read of its fills from the first (its
        first, by trade id, up to `taken_over_qty` are the row's: `taken_over_split`), made
        only for an order with both a fill before the take-over and a fill read now; without
        a fill before, every fill read now is one. A refused read is logged, those fills
        left uncounted."""
        adopted = self.orders()
        read: dict[str, list[UserTrade]] = {}
        for trade in held:
            cid = adopted.get((trade.symbol, trade.order_id))
            if cid is not None:
                read.setdefault(cid, []).append(trade)
        out: dict[str, list[UserTrade]] = {}
        for cid, trades in read.items():
            t = self.tracker.get(cid)
            if t is None or t.order.is_terminal:
                continue
            if t.taken_over_qty > 0:
                try:
                    after = await self._trade_ids_after(t)
                except RejectedError as exc:
                    log.warning(
                        "order %s: its fills cannot be read (%s); those made after it was "
                        "taken over are booked as %s, not counted on it",
                        cid, exc, outside_client_id(cid),
                    )  # fmt: skip
                    continue
                trades = [trade for trade in trades if trade.trade_id in after]
            if trades:
                out[cid] = trades
        return out

    async def _trade_ids_after(self, t: TrackedOrder) -> set[int]:
        """The trade ids of `t`'s fills beyond what it had filled when taken over, read from
        its first fill on; those up to it are counted as seen on it (as
        `VenueSync.fetch_fills` does)."""
        order_id = t.exchange_order_id
        if order_id is None:
            return set()
        left = t.taken_over_qty
        after: set[int] = set()
        async for trades in self._read_fills(t.symbol, order_id):
            before, beyond, left = taken_over_split(trades, left)
            for trade in before:
                self.tracker.count_seen(trade)
            after.update(trade.trade_id for trade in beyond)
        t.taken_over_counted = True
        return after

    def count_late_fills(self, late: Mapping[str, list[UserTrade]]) -> list[TrackedOrder]:
        """Count each taken-over order's fills made after its row was read (`late_fills`)
        into what it had filled when taken over (`OrderTracker.take_over_fills`): booked
        once, under `outside:<its id>`, they are in its filled quantity too, so that it does
        not ask for them again and ends when the exchange says so. Returns the orders they
        completed (FILLED)."""
        completed: list[TrackedOrder] = []
        for cid, trades in late.items():
            t = self.tracker.get(cid)
            if t is not None and self.tracker.take_over_fills(t, trades):
                completed.append(t)
        return completed

    def untracked_report(self, u: OrderUpdate) -> None:
        """A user-stream report of an order with an id we issue that the tracker does not
        know (ignored): a fill of it is remembered, so that the pass that takes the order over
        leaves that fill to its account update, which the books had (`left_to_the_books`)."""
        if u.fill is None:
            return
        streamed = self._streamed_untracked
        streamed[(u.symbol, u.fill.trade_id)] = None
        if len(streamed) > OUTSIDE_MEMORY:
            streamed.popitem(last=False)

    def left_to_the_books(
        self,
        held: Iterable[UserTrade],
        adopted: Mapping[tuple[str, int], str],
        late: set[tuple[str, int]],
    ) -> set[tuple[str, int]]:
        """A running pass's: the trade ids of the fills read of the orders it took over that
        no event books, as the books had them already: made before the order's row was read
        (in what it showed filled) and reported on the user stream then (`untracked_report`:
        its account update followed). Every other fill of such an order is booked under
        `outside:<its id>` (`OutsideOrders.book_caught_up`): one made after its row was read
        (`late`), or before while the stream was down (its account update lost: the snapshot
        that would have adopted the position and wallet with it does not compare a symbol
        whose books moved after its reads began, and the booked fill moves them)."""
        streamed = self._streamed_untracked
        return {
            (trade.symbol, trade.trade_id)
            for trade in held
            if (trade.symbol, trade.order_id) in adopted
            and (trade.symbol, trade.trade_id) not in late
            and (trade.symbol, trade.trade_id) in streamed
        }


def taken_over_split(
    trades: Iterable[UserTrade], left: Decimal
) -> tuple[list[UserTrade], list[UserTrade], Decimal]:
    """An order's fills read from its first on, split into those it had made when it was taken
    over from an earlier journal (the first, by trade id, up to `left` of quantity: that
    journal's to book, in the books through the snapshot that adopted the order) and those
    beyond; with what of `left` the first did not add up to (pages read on carry it on).
    A fill is whole: the exchange's executed quantity at the take-over is a sum of fills."""
    before: list[UserTrade] = []
    after: list[UserTrade] = []
    for trade in sorted(trades, key=lambda t: t.trade_id):
        if left > 0:
            before.append(trade)
            left -= trade.qty
        else:
            after.append(trade)
    return before, after, left
