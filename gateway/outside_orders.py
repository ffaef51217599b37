"""Orders placed outside the daemon (by hand, another program): their fills booked, nothing else.

Such an order shares the account with ours: its fills move the position and the wallet the
books compare with the exchange, so each is booked as the exchange did (its realized PnL and
fee) under `outside:<its client id>` (`outside_client_id`), instead of the books adopting a
position and wallet without them. The order itself is never tracked: nothing here queries,
cancels or protects it. `OutsideOrders` owns what that takes: the orders whose fills were
booked (each trade id once, whether the user stream or userTrades reports it), and the
orders the log has named (each once). `VenueSync` composes it:

- `book(report)`: a user-stream ORDER_TRADE_UPDATE of an outside order: its fill is emitted
  under `outside:<its client id>` with the exchange's realized PnL and fee, so that the books
  take it as the exchange did, instead of adopting the position and wallet its ACCOUNT_UPDATE
  shows without them.
- `report(report)` takes its other reports (accepted, cancelled, an algo order's): counted,
  and the order named once in the log at INFO (as the reconciliation names a resting one
  once, at INFO too: whichever hears of it first), not at each report.
- `book_caught_up(...)`: a reconciliation's fills of outside orders read from userTrades
  (those the stream did not bring; at a restart, those made while the daemon was down).

It logs under `gateway.venue_sync`, as before it was split out of that module: the log's
readers (and filters) know the name.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from core.enums import OrderStatus
from core.events import Event, OrderFilled, OrderPartiallyFilled
from core.fast_init import replace
from core.orders import Fill, outside_client_id, placed_outside
from gateway.order_tracker import OrderTracker, average_price
from gateway.user_wire import AlgoUpdate, OrderUpdate, UserTrade
from gateway.venue_stats import VenueStats

log = logging.getLogger("gateway.venue_sync")

S = OrderStatus
# Orders placed outside the daemon whose booked trade ids are remembered (the oldest forgotten
# first): a fill the stream and userTrades both report is booked once. As many are remembered
# as named in the log (the least recently reported forgotten first): each is named once.
OUTSIDE_MEMORY = 10_000


@dataclass(slots=True)
class OutsideOrder:
    """An order placed outside the daemon (by hand, another program), as far as its fills are
    booked: under `booked_id`, once per trade id; quantities in contracts."""

    client_order_id: str  # the exchange's (web_..., any other program's)
    booked_id: str  # outside:<client_order_id>, the fills' client id in the books and journal
    trade_ids: set[int] = field(default_factory=set)
    qty: Decimal = Decimal(0)  # of the fills booked
    notional: Decimal = Decimal(0)
    # The order's executed quantity once the exchange said it is FILLED (its stream report,
    # `GET /fapi/v1/order`); None before: which fill completed it decides OrderFilled
    filled_qty: Decimal | None = None


class OutsideOrders:
    """The outside orders' memory and booking for one `VenueSync` (see the module docstring)."""

    def __init__(
        self,
        *,
        tracker: OrderTracker,
        stats: VenueStats,
        emit: Callable[[Iterable[Event]], None],
        client_id_prefix: str,
    ) -> None:
        self.tracker = tracker
        self.stats = stats
        self._emit = emit
        self.client_id_prefix = client_id_prefix
        # (symbol, order id) -> an outside order whose fills were booked (`book`)
        self.orders: OrderedDict[tuple[str, int], OutsideOrder] = OrderedDict()
        # The orders placed outside the daemon that the log has named (`first_sight`), by
        # (symbol, algo order?, the exchange's order id or algo id): each is said once, by
        # the stream's first report of it or the reconciliation that first lists it open, not
        # at each of its reports or at every reconciliation while it rests
        self._named: OrderedDict[tuple[str, bool, int], None] = OrderedDict()

    def is_outside(self, client_order_id: str) -> bool:
        """Whether an order the tracker does not know is one placed outside the daemon: not
        the exchange's own (`forced_close`: tracked as it comes), and not an id this daemon
        issues (`ClientOrderIds.issued_by`): an untracked one of those is a late report of an
        order the tracker forgot, or of one an earlier journal placed, taken over at the next
        reconciliation; booked as outside, its fills would be an order of ours unfilled."""
        return placed_outside(client_order_id, self.client_id_prefix)

    def first_sight(self, key: tuple[str, bool, int]) -> bool:
        """Whether the log has not named this outside order yet (see `_named`); it counts as
        named from now on. The least recently reported is forgotten beyond OUTSIDE_MEMORY, so
        one resting for months, listed at every reconciliation, is never named again."""
        named = self._named
        if key in named:
            named.move_to_end(key)
            return False
        named[key] = None
        if len(named) > OUTSIDE_MEMORY:
            named.popitem(last=False)
        return True

    def book(self, u: OrderUpdate) -> bool:
        """A user-stream report of an order the tracker does not know: if it is an order
        placed outside the daemon (`is_outside`) and reports a fill, that fill is emitted
        under `outside_client_id`, the exchange's realized PnL and fee with it, once per trade
        id. Its ACCOUNT_UPDATE then agrees with the books (no correction to adopt). True when
        the report was such a fill (booked now, or before). The order is not tracked."""
        fill = u.fill
        if fill is None or not self.is_outside(u.client_order_id):
            return False
        order = self._order(u.symbol, u.order_id, u.client_order_id)
        if u.status is S.FILLED:
            order.filled_qty = u.cum_qty
        event = self._fill_event(
            order, replace(fill, client_order_id=order.booked_id), filled=u.status is S.FILLED
        )
        self.first_sight((u.symbol, False, u.order_id))  # the fill's WARNING names the order
        if event is None:
            return True
        log.warning(
            "%s order %s (id %d) was not placed by this daemon (by hand, another program): "
            "%s %s @ %s (trade %d; %s of %s filled), realized %s, fee %s %s: booked as %s",
            u.symbol, u.client_order_id, u.order_id, fill.side.value, fill.qty, fill.price,
            fill.trade_id, u.cum_qty, u.quantity, f"{fill.realized_pnl:f}", fill.commission,
            fill.commission_asset, order.booked_id,
        )  # fmt: skip
        self._emit([event])
        return True

    def report(self, u: OrderUpdate | AlgoUpdate) -> bool:
        """A user-stream report the tracker did not take: True when it is of an order placed
        outside the daemon (`is_outside`), which is then dealt with: a fill booked (`book`);
        any other report (accepted, cancelled, expired, an algo order's) counted, the order
        named at INFO the first time the daemon hears of it and not again. False for an id
        this daemon issues: an order unknown, for the caller to warn about (the tracker forgot
        it, or an earlier journal's not taken over yet)."""
        if isinstance(u, AlgoUpdate):
            algo, cid, exchange_id = True, u.client_algo_id, u.algo_id
        else:
            algo, cid, exchange_id = False, u.client_order_id, u.order_id
        if not self.is_outside(cid):
            return False
        if isinstance(u, OrderUpdate) and self.book(u):
            return True
        self.stats.outside_reports += 1
        if isinstance(u, AlgoUpdate) and u.actual_order_id is not None:
            self.first_sight((u.symbol, False, u.actual_order_id))  # the order it triggered
        if self.first_sight((u.symbol, algo, exchange_id)):
            log.info(
                "%sorder %s %s was placed outside this daemon: left alone, its fills booked as %s",
                "algo " if algo else "",
                u.symbol,
                cid,
                outside_client_id(cid),
            )
        return True

    def book_caught_up(
        self,
        held: list[UserTrade],
        outside: Mapping[tuple[str, int], str],
        adopted: Mapping[tuple[str, int], str],
        unbooked: set[tuple[str, int]],
        filled: Mapping[tuple[str, int], Decimal],
        seen_before: Callable[[UserTrade], bool] | None,
    ) -> None:
        """Emit the caught-up fills of orders nobody here sent (`outside`), under
        `outside_client_id`, so that the books hold the position, realized PnL and fees the
        exchange does instead of adopting a position without them; one WARNING per order.
        `filled`: the executed quantity of each the exchange says is FILLED.
        A start-up's (`seen_before` given) books those made while the daemon was down, and so
        too those of an order of an earlier journal still open, which this pass `adopted`:
        the books take it from the snapshot as it stands (filled so far), and its fills go on
        under its own id from then on. Their fills the daemon before the restart had in its
        books (`seen_before`) were taken then: not booked again. A running session's
        (`seen_before` None) books the outside fills the stream did not bring (a reconnect's
        gap; one it brought is not booked again), and so too an adopted order's, but for
        those whose account update brought them to the books already (`unbooked`:
        `TakeOvers.left_to_the_books`): the snapshot brings the order into the books with
        what it had filled (those made after its row was read too, `_snapshot_orders`); an
        account update the stream brings of a fill booked here agrees with the books."""
        events: list[Event] = []
        booked: dict[tuple[str, int], list[Fill]] = {}
        orders = {**outside, **adopted}
        last = completing_trades(held, filled, self.orders)
        for trade in held:
            key = (trade.symbol, trade.order_id)
            cid = orders.get(key)
            if cid is None or (
                key not in adopted and self.tracker.by_exchange_id(*key) is not None
            ):
                continue  # an order of ours after all (a triggered stop's): applied as ours
            if (trade.symbol, trade.trade_id) in unbooked:
                continue  # in the books by its account update
            if seen_before is not None and seen_before(trade):
                self.stats.foreign_trades += 1
                continue
            order = self._order(trade.symbol, trade.order_id, cid)
            order.filled_qty = filled.get(key, order.filled_qty)
            done = last.get(key) == trade.trade_id
            event = self._fill_event(order, trade.to_fill(order.booked_id), filled=done)
            if event is not None:
                events.append(event)
                booked.setdefault(key, []).append(event.fill)
        when = (
            "while the user stream did not report it"
            if seen_before is None
            else "while the daemon was down"
        )
        for (symbol, order_id), fills in booked.items():
            cid = orders[(symbol, order_id)]
            self.first_sight((symbol, False, order_id))
            log.warning(
                "%s order %s (id %d) was not sent by this daemon's journal (by hand, another "
                "program, an earlier journal) and filled %s: %s %s in %d fill(s), realized %s, "
                "fees %s: booked as %s",
                symbol, cid, order_id, when, fills[0].side.value,
                sum((f.qty for f in fills), Decimal(0)), len(fills),
                sum((f.realized_pnl for f in fills), Decimal(0)),
                _fees(fills),
                outside_client_id(cid),
            )  # fmt: skip
        self._emit(events)

    def _order(self, symbol: str, order_id: int, client_order_id: str) -> OutsideOrder:
        """The outside order's record, made on first sight (the oldest forgotten beyond
        OUTSIDE_MEMORY)."""
        key = (symbol, order_id)
        order = self.orders.get(key)
        if order is None:
            order = OutsideOrder(client_order_id, outside_client_id(client_order_id))
            self.orders[key] = order
            if len(self.orders) > OUTSIDE_MEMORY:
                self.orders.popitem(last=False)
        return order

    def _fill_event(
        self, order: OutsideOrder, fill: Fill, *, filled: bool
    ) -> OrderPartiallyFilled | OrderFilled | None:
        """The event that books one fill of an outside order (`fill` under its booked id);
        None for a trade booked already (the stream and userTrades both report it).
        OrderFilled when this fill completed the order (`filled`: the stream's report says
        FILLED, or `completing_trades` for a userTrades row, which does not say), else
        OrderPartiallyFilled; the books and the journal book the same money either way."""
        if fill.trade_id in order.trade_ids:
            return None
        order.trade_ids.add(fill.trade_id)
        order.qty += fill.qty
        order.notional += fill.qty * fill.price
        self.stats.outside_fills += 1
        kind = OrderFilled if filled else OrderPartiallyFilled
        return kind(
            event_time_ms=fill.trade_time_ms,
            recv_time_ms=fill.recv_time_ms,
            fill=fill,
            cumulative_qty=order.qty,
            avg_price=average_price(order.notional, order.qty),
        )


def completing_trades(
    held: Iterable[UserTrade],
    filled: Mapping[tuple[str, int], Decimal],
    booked: Mapping[tuple[str, int], OutsideOrder],
) -> dict[tuple[str, int], int]:
    """(symbol, order id) -> the trade id that completed the order, for each order the exchange
    says is FILLED (`filled`: its executed quantity, contracts) whose fills are all known here:
    those read now (`held`) and those booked before (`booked`) add up to that quantity, so the
    last by trade id is the one that filled it (OrderFilled, as the stream's report says).
    Without all of them (one made before the trades read began) which was last is not known:
    none is named, and each stays an OrderPartiallyFilled (the same money either way)."""
    qty: dict[tuple[str, int], Decimal] = {}
    last: dict[tuple[str, int], int] = {}
    counted: set[tuple[str, int, int]] = set()
    for trade in held:
        key = (trade.symbol, trade.order_id)
        if key not in filled or (*key, trade.trade_id) in counted:
            continue
        counted.add((*key, trade.trade_id))
        order = booked.get(key)
        if order is not None and trade.trade_id in order.trade_ids:
            continue  # in order.qty already
        qty[key] = qty.get(key, Decimal(0)) + trade.qty
        last[key] = max(last.get(key, 0), trade.trade_id)
    out: dict[tuple[str, int], int] = {}
    for key, read in qty.items():
        order = booked.get(key)
        before, ids = (Decimal(0), ()) if order is None else (order.qty, order.trade_ids)
        if read + before >= filled[key]:
            out[key] = max((last[key], *ids))
    return out


def _fees(trades: Iterable[Fill]) -> str:
    """The commissions of `trades`, summed per asset, for a log line ("0.048 USDT")."""
    per_asset: dict[str, Decimal] = {}
    for t in trades:
        per_asset[t.commission_asset] = per_asset.get(t.commission_asset, Decimal(0)) + t.commission
    return ", ".join(f"{amount} {asset}" for asset, amount in per_asset.items())
