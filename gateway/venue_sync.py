"""What the exchange says about our orders and account, read over REST and applied once.

`VenueSync` is the REST half of the executor's bookkeeping:

- `refresh(order)`: query one order (an algo order and, once triggered, its matching-engine
  order) and apply the answer; fetch the fills the exchange reports but we have not seen.
- `reconcile(reason)`: open orders and open algo orders per symbol, the account (balances,
  leverage), positions (`positionRisk`), fills since the last trade id known from
  `userTrades` (missed ones are emitted; those of an order we do not know are looked up, as
  the exchange's own liquidation order's are booked too, and so are those of any other
  order, by hand say, and at a restart those of an earlier journal's order it takes over,
  made while the daemon was down, or during the reads of any pass that takes one over:
  `OutsideOrders.book_caught_up`, the latter counted on the order too,
  `TakeOvers.count_late_fills`; at a restart, those its books had are told by trade id and
  the exchange's times: `_seen_before`), funding income; every order we think open that the
  exchange no longer lists is queried and its final status emitted. An open order with a
  client id of ours that we do not track is an earlier journal's: taken over as ours
  (`gateway.take_overs`, which owns that bookkeeping). Other orders on the account (placed
  by hand, another program) are left alone; only their fills are booked.
  Returns the `VenueSnapshot` (emitted last, after what it explains). Each read by trade id
  starts at the last fill known (`last_trades`), which the account must still hold: a reset
  account (a restarted local exchange, a testnet reset) gives its new fills the old ids, which
  the books would drop as fills booked already, so the pass fails with `AccountChanged`.
  `vet`, given (the start-up's), sees the snapshot before it is emitted: what it raises fails
  the pass, the snapshot unemitted (the books and the journal do not adopt what it refused).
- `book_outside(report)`, `outside_report(report)`: a user-stream report of an order placed
  outside the daemon (by hand, another program): its fill booked under
  `outside:<its client id>`, its other reports counted, the order named once in the log
  (`gateway.outside_orders`, which owns those orders' memory and booking).

Everything it learns goes through the `OrderTracker` (each order event once) and the venue's
callbacks; unreadable rows are counted in `VenueStats` and skipped.
"""

import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.account import Position
from core.clock import Clock, offset_of
from core.enums import MarginType, OrderStatus, PositionSide, ReconcileCause
from core.errors import ExecutionStatusUnknown, FatalError, RejectedError, RetryableError
from core.events import (
    Event,
    FundingPaid,
    OrderReconciled,
    VenueSnapshot,
)
from core.fast_init import replace
from core.instrument import Instrument
from core.orders import (
    Fill,
    Order,
    forced_close,
    outside_client_id,
)
from gateway.order_tracker import Applied, OrderTracker, TrackedOrder
from gateway.outside_orders import OutsideOrders
from gateway.take_overs import TakeOvers, taken_over_split
from gateway.user_wire import (
    AccountSnapshot,
    AlgoStatus,
    AlgoUpdate,
    MalformedMessage,
    OrderUpdate,
    UserTrade,
    order_of,
    parse_account,
    parse_funding_income,
    parse_position_risk,
    parse_rest_algo_order,
    parse_rest_order,
    parse_user_trade,
    waiting_algo_order_of,
)
from gateway.venue_stats import VenueStats
from rest_connect.connection import RestConnection

log = logging.getLogger(__name__)

S = OrderStatus
NO_SUCH_ORDER = -2013  # "Order does not exist."
# Binance no longer finds an order CANCELED or EXPIRED without a fill once it is 3 days old
# (reference §6.4, "Retention").
NO_FILL_RETENTION_MS = 3 * 24 * 3_600_000
_TRANSIENT = (RetryableError, ExecutionStatusUnknown)
# A fill of a moment ago may not show in userTrades yet: a read by time starts this far before
# the last one (trade ids dedupe what both read).
TRADES_SETTLE_MS = 60_000
# A fresh start takes its reads again while a fill lands between its trade-id baseline and the
# end of its reads, this many times at most (`reconcile`).
FRESH_READS = 5
# userTrades by time: one request spans at most 7 days (reference 6.9; -4165 beyond).
TRADES_WINDOW_MS = 7 * 24 * 3_600_000
_FUNDING_MEMORY = 10_000  # funding tranIds remembered (duplicates between stream and REST)
# Each income read starts this far before the newest settlement seen (and a restart this far
# before the journal's last record): a row can be published after a row of another symbol with
# a later time (each row carries its settlement's time, and shows seconds to minutes later),
# and the journal's last record is on our estimate of the exchange's clock, which drifts
# between offset measurements. The rows read twice are deduplicated (tranIds here; the books
# by symbol and settlement time, over 7 days); Binance settles at most hourly, so a pass reads
# again at most one settlement per symbol.
FUNDING_OVERLAP_MS = 3_600_000

# A reconciliation's snapshot looked at before it is emitted (`VenueSync.reconcile`'s `vet`)
Vet = Callable[[VenueSnapshot], Awaitable[None]]
# The last fill known of a symbol is looked for in userTrades while younger than this: older,
# its absence says nothing of the account. userTrades serves 6 months, but "no times -> the
# last 7 days" (reference 6.9) may apply to a fromId query too, which the reference does not
# say: a fill older than 7 days missing from the answer would stop a healthy daemon (exit 2)
# as a reset account. 6 days keeps the check inside either reading.
KNOWN_TRADE_CHECKED_MS = 6 * 24 * 3_600_000


class AccountChanged(FatalError):
    """The exchange's account is not the one the books record: the last fill known of a symbol
    is not among its trades (a reset account: a restarted local exchange, a testnet reset; or
    another account's keys). Its fills reuse ids the books hold and would be dropped as booked
    already: nothing more may be traded or booked on it."""


class NotServedYet(RetryableError):
    """The last fill known, heard on the user stream less than TRADES_SETTLE_MS ago (the
    journal's at a restart), is not in userTrades: maybe not yet. The next pass (the next
    start) asks again before calling the account another (`AccountChanged`)."""


@dataclass(frozen=True, slots=True)
class KnownTrade:
    """The last fill known of a symbol (the journal's, or the last userTrades row read): a read
    by trade id starts at it and finds it again, the same order, price and quantity."""

    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    time_ms: int  # the exchange's, when it was made
    served: bool  # read from userTrades (else heard on the stream: maybe not served yet)

    @classmethod
    def of(cls, t: UserTrade | Fill) -> "KnownTrade":
        if isinstance(t, UserTrade):
            return cls(t.trade_id, t.order_id, t.price, t.qty, t.time_ms, True)
        return cls(t.trade_id, t.order_id, t.price, t.qty, t.trade_time_ms, False)

    def same(self, trade: UserTrade) -> bool:
        return (
            trade.trade_id == self.trade_id
            and trade.order_id == self.order_id
            and trade.price == self.price
            and trade.qty == self.qty
        )


def funding_resume_ms(
    last_record_ms: int | None, exchange_now_ms: int, seen_until_ms: int | None = None
) -> int:
    """Where the first income read starts: FUNDING_OVERLAP_MS before the journal's last record
    (a settlement just before it may have been published after it, or our clock ran ahead);
    without a journal, the exchange's now (what settled before belongs to earlier sessions).
    A record later than now was dated on a clock offset that has moved back since: from an
    overlap before it, the funding settled while the daemon was down could fall before the
    read (and the start-up snapshot book it as money moved out). Then, as
    `restart_trades_since`, the read begins FUNDING_OVERLAP_MS before the earlier of now and
    `seen_until_ms` (the latest time the exchange stamped on what that daemon received); the
    settlements the books hold are not booked again (`VenueSync.funding_booked`)."""
    if last_record_ms is None:
        return exchange_now_ms
    return _read_from(
        last_record_ms, seen_until_ms, exchange_now_ms, FUNDING_OVERLAP_MS, "funding is"
    )


def restart_trades_since(last_record_ms: int, seen_until_ms: int | None, now_ms: int) -> int:
    """Where a restart reads by time the fills of a symbol without a journaled fill (ms, on
    our estimate of the exchange's clock; `now_ms` now): TRADES_SETTLE_MS before the
    journal's last record. A record later than now was dated on an offset that has moved back
    since: from a minute before it, the window could begin after its end (now), which Binance
    refuses (-1023: every start failed until our clock caught up), and the fills made while
    down could fall before it. Then it begins TRADES_SETTLE_MS before the earlier of now and
    the latest time the exchange stamped on what that daemon received (`seen_until_ms`: the
    exchange's own clock, which no offset moves); the fills that daemon had are counted as
    seen by their ids and times (`VenueSync._seen_before`), not booked again."""
    return _read_from(last_record_ms, seen_until_ms, now_ms, TRADES_SETTLE_MS, "fills are")


def _read_from(
    last_record_ms: int, seen_until_ms: int | None, now_ms: int, overlap_ms: int, what: str
) -> int:
    """`overlap_ms` before the journal's last record, or, when that record is later than now
    (dated on an offset that has moved back since), before the earlier of now and
    `seen_until_ms`, said in a warning: the rule `funding_resume_ms` and
    `restart_trades_since` share."""
    if last_record_ms <= now_ms:
        return last_record_ms - overlap_ms
    anchor = now_ms if seen_until_ms is None else min(now_ms, seen_until_ms)
    since = anchor - overlap_ms
    log.warning(
        "restart: the journal's last record (%d) is %.1f s after the exchange's clock now "
        "(%d): it was dated on a clock offset that has moved since; %s read from %d",
        last_record_ms, (last_record_ms - now_ms) / 1000, now_ms, what, since,
    )  # fmt: skip
    return since


OpenRows = tuple[list[OrderUpdate], list[AlgoUpdate]]


class VenueSync:
    """REST queries and reconciliation for one `LiveVenue` (see the module docstring)."""

    def __init__(
        self,
        *,
        rest: RestConnection,
        tracker: OrderTracker,
        symbols: tuple[str, ...],
        instruments: Mapping[str, Instrument],
        clock: Clock,
        stats: VenueStats,
        on_applied: Callable[[Applied | None], None],
        emit: Callable[[Iterable[Event]], None],
        follow_up: Callable[[TrackedOrder], None],
        resolve: Callable[[TrackedOrder], None],
        trades_page_limit: int = 1000,
        client_id_prefix: str = "",
    ) -> None:
        self.rest = rest
        self.tracker = tracker
        self.symbols = symbols
        self.instruments = instruments
        self.clock = clock
        self.stats = stats
        self._on_applied = on_applied
        self._emit = emit
        self._follow_up = follow_up
        self._resolve = resolve
        self.trades_page_limit = trades_page_limit
        self.client_id_prefix = client_id_prefix
        self.last_trade_ids: dict[str, int] = {}  # per symbol, advanced from userTrades only
        # per symbol, the fill of its last trade id when known: looked for again (`AccountChanged`)
        self.last_trades: dict[str, KnownTrade] = {}
        # symbol -> exchange time from which its fills are ours, while no trade id is known
        # (a fresh start on an account without a trade in userTrades' last 7 days)
        self.trades_since_ms: dict[str, int] = {}
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, MarginType] = {}
        self.funding_since_ms: int | None = None  # FUNDING_FEE income from here on is ours
        # (symbol, settlement time) of the settlements the books already hold (a restart's,
        # `LiveVenue.restore`): the overlap reads them again; not emitted (journaled, counted).
        self.funding_booked: frozenset[tuple[str, int]] = frozenset()
        self._funding_seen: set[int] = set()
        self._funding_order: deque[int] = deque()
        # userTrades rows of unknown orders, held while a reconciliation runs (see `reconcile`)
        self._held_trades: list[UserTrade] | None = None
        # A restart's: the journal's last record (exchange ms). The next reconciliation (the
        # start-up's) books the fills made after it of orders nobody here sent (by hand,
        # another program, an earlier journal): the daemon was down, no account update of
        # theirs reached the books. Later passes book only those the stream did not bring
        # (`book_outside` books the others as they come).
        self.outside_since_ms: int | None = None
        # the orders placed outside the daemon: their fills booked, each named once in the log
        self.outside_orders = OutsideOrders(
            tracker=tracker, stats=stats, emit=emit, client_id_prefix=client_id_prefix
        )
        # What the journal says its daemon had in its books (`_seen_before`): the highest
        # trade id per symbol of its last snapshot (None: a journal from before them), and
        # the latest time the exchange stamped on what it received (a fill, an account
        # update; None: nothing).
        self.seen_trade_ids: Mapping[str, int] | None = None
        self.seen_until_ms: int | None = None
        # the orders taken over from an earlier journal (`TakeOvers.adopt`) and their fills
        self.take_overs = TakeOvers(
            tracker=tracker, client_id_prefix=client_id_prefix, read_fills=self.order_fill_pages
        )

    # --- one order ---------------------------------------------------------------------------

    async def refresh(self, t: TrackedOrder, *, raise_missing: bool = False) -> None:
        """Query the order (and, for a triggered algo order, its matching-engine order) and
        apply what the exchange says; fetch missing fills. -2013 raises if `raise_missing`."""
        cid = t.client_order_id
        try:
            if t.algo:
                if t.order.order_id is not None:
                    row = await self.rest.call("futures_get_algo_order", algoId=t.order.order_id)
                else:
                    row = await self.rest.call("futures_get_algo_order", clientAlgoId=cid)
                self.apply_row(row, algo=True)
                actual = t.actual_order_id
                if actual is not None and not t.order.is_terminal:
                    row = await self.rest.call("futures_get_order", symbol=t.symbol, orderId=actual)
                    self.apply_row(row, algo=False)
            else:
                row = await self.rest.call(
                    "futures_get_order", symbol=t.symbol, origClientOrderId=cid
                )
                self.apply_row(row, algo=False)
        except RejectedError as exc:
            if raise_missing or exc.code != NO_SUCH_ORDER:
                raise
            log.warning("order %s: the exchange does not know it (%s)", cid, exc)
            return
        t.needs_query = False
        if t.needs_fills:
            await self.fetch_fills(t)

    def apply_update(self, u: OrderUpdate, *, count_untracked: bool = True) -> Applied | None:
        """Apply one order report (stream or REST): ours, or one of the exchange's own orders
        on our account (a liquidation, an auto-deleveraging, a settlement), which is tracked
        from its first report on and announced then. None if it is neither (counted unless
        `count_untracked` is False: `OrderTracker.apply_order`)."""
        kind = forced_close(u.client_order_id)
        if kind is None:
            return self.tracker.apply_order(u, count_untracked=count_untracked)
        if self.tracker.get(u.client_order_id) is None:
            log.warning(
                "%s: the exchange's own %s order %s on our account: %s %s %s, %s",
                u.symbol,
                kind.value,
                u.client_order_id,
                u.side.value,
                u.quantity,
                u.type.value,
                u.status.value,
            )
        return self.tracker.apply_exchange_order(u)

    def apply_row(self, row: Any, *, algo: bool) -> None:
        """Apply one REST order object (or algo order object)."""
        recv = self.clock.now_ms()
        try:
            if algo:
                self._on_applied(self.tracker.apply_algo(parse_rest_algo_order(row, recv)))
            else:
                self._on_applied(self.apply_update(parse_rest_order(row, recv)))
        except MalformedMessage as exc:
            self.stats.malformed_rows += 1
            log.warning("unreadable order row: %s", exc)

    async def fetch_fills(self, t: TrackedOrder) -> None:
        """Emit the fills of one order that the exchange reported but we have not seen. The
        read starts at the order's first fill: of an order taken over from an earlier journal,
        those up to what it had filled then (`taken_over_qty`) are counted as seen, never
        emitted (`taken_over_split`), at every such read, so also after a restart."""
        order_id = t.exchange_order_id
        if order_id is None:
            return
        left = t.taken_over_qty
        async for trades in self.order_fill_pages(t.symbol, order_id):
            if left > 0:
                before, trades, left = taken_over_split(trades, left)
                for trade in before:
                    self.tracker.count_seen(trade)
            for trade in trades:
                self._apply_parsed(trade)
        if left > 0:
            log.warning(
                "order %s: taken over with %s filled, but its fills read add up to %s less",
                t.client_order_id, t.taken_over_qty, left,
            )  # fmt: skip
        t.taken_over_counted = True

    async def order_fill_pages(self, symbol: str, order_id: int) -> AsyncIterator[list[UserTrade]]:
        """One order's fills from its first on (`order_fills_query`), a page of userTrades at
        a time, read until a page comes short."""
        limit = self.trades_page_limit
        params = order_fills_query(symbol, order_id, limit)
        while True:
            rows = await self.rest.call("futures_account_trades", weight=5, **params)
            trades, highest = self._parse_trades(rows, symbol)
            yield trades
            if not isinstance(rows, list) or len(rows) < limit or highest == 0:
                return
            params["fromId"] = highest + 1

    async def _count_taken_over(self, t: TrackedOrder) -> None:
        """Read the fills of an order restored as taken over from an earlier journal, so that
        those it had made then count as seen before a read by trade id (the reconciliation's)
        could report them as its own. A refusal is logged, not retried (the order cannot be
        read by id: every reconciliation would fail on it); a transient failure fails this
        reconciliation like its other reads (the next one reads them)."""
        try:
            await self.fetch_fills(t)
        except RejectedError as exc:
            t.taken_over_counted = True
            log.warning(
                "order %s: its fills from before it was taken over cannot be read (%s); a "
                "later read of its fills may book them", t.client_order_id, exc,
            )  # fmt: skip

    def _apply_parsed(self, trade: UserTrade) -> None:
        """Apply one fill read from userTrades, or hold it while a reconciliation runs and
        its order is unknown (maybe our stop's triggered order: known after the sweep)."""
        held = self._held_trades
        if held is not None and self.tracker.by_exchange_id(trade.symbol, trade.order_id) is None:
            held.append(trade)
            return
        self._apply_trade(trade)

    def _parse_trades(self, rows: Any, symbol: str) -> tuple[list[UserTrade], int]:
        """`symbol`'s fills among userTrades rows, and the highest trade id of them (0 if
        none); unreadable rows and other symbols' are counted and skipped."""
        if not isinstance(rows, list):
            self.stats.malformed_rows += 1
            log.warning("userTrades answer is not a list: %s", str(rows)[:200])
            return [], 0
        recv = self.clock.now_ms()
        highest = 0
        trades: list[UserTrade] = []
        for row in rows:
            try:
                trade = parse_user_trade(row, recv)
            except MalformedMessage as exc:
                self.stats.malformed_rows += 1
                log.warning("unreadable userTrades row: %s", exc)
                continue
            if trade.symbol != symbol:
                self.stats.foreign_symbol_events += 1
                continue
            highest = max(highest, trade.trade_id)
            trades.append(trade)
        return trades, highest

    def _apply_trade(self, trade: UserTrade) -> bool:
        """Apply one fill to its tracked order; False when no tracked order made it."""
        applied = self.tracker.apply_trade(trade)
        if applied is None:
            self.stats.foreign_trades += 1
            log.info("trade %s of order %s is not ours", trade.trade_id, trade.order_id)
            return False
        self._on_applied(applied)
        return True

    async def _claim_exchange_orders(
        self, held: list[UserTrade], filled: dict[tuple[str, int], Decimal]
    ) -> dict[tuple[str, int], str]:
        """Fills of orders still unknown after the sweep may be the exchange's own: a
        liquidation or an auto-deleveraging while the user stream was down (or the daemon
        was). userTrades rows carry no client id: each such order is asked for once, and
        tracked if its client id is the exchange's (`forced_close`), so that its fills are
        applied with the others; one whose client id we track (an order in doubt at a crash,
        its exchange id unknown until now) is updated from its row, its fills its own. An
        order that cannot be read stays unknown: its fills are not ours to book, and the
        snapshot's position is adopted as before. Returns the
        client id of each other order (placed by hand, another program, an earlier journal),
        by (symbol, order id), for `OutsideOrders.book_caught_up`, and in `filled` the executed
        quantity of each the exchange says is FILLED. An outside order known FILLED (by its
        stream report, or an earlier query) is not asked for again; one booked before but not
        known filled is (the stream lost a later fill: it may have filled since), and booked
        as outside all the same if the query fails."""
        asked: set[tuple[str, int]] = set()
        others: dict[tuple[str, int], str] = {}
        for trade in held:
            key = (trade.symbol, trade.order_id)
            if key in asked or self.tracker.by_exchange_id(*key) is not None:
                continue
            asked.add(key)
            known = self.outside_orders.orders.get(key)
            if known is not None:
                others[key] = known.client_order_id
                if known.filled_qty is not None:
                    filled[key] = known.filled_qty
                    continue
            try:
                row = await self.rest.call(
                    "futures_get_order", symbol=trade.symbol, orderId=trade.order_id
                )
                u = parse_rest_order(row, self.clock.now_ms())
            except MalformedMessage as exc:
                self.stats.malformed_rows += 1
                log.warning("unreadable order row of trade %s: %s", trade.trade_id, exc)
                continue
            except (RejectedError, *_TRANSIENT) as exc:
                log.info("order %s of trade %s unreadable: %s", trade.order_id, trade.trade_id, exc)
                continue
            if forced_close(u.client_order_id) is not None:
                self.apply_update(u)  # tracked; its fills come from the held rows
            elif self.tracker.get(u.client_order_id) is not None:
                # Ours, its exchange id not known yet (an order in doubt at a crash, resolved
                # only after this pass): the row tells it, and its fills are its own, not an
                # outside order's (booked so, the resolver then booked them again as its own)
                self.apply_update(u)
            else:
                others[key] = u.client_order_id
                if u.status is S.FILLED:
                    filled[key] = u.cum_qty
        return others

    def _apply_held_trades(
        self,
        held: list[UserTrade],
        outside: Mapping[tuple[str, int], str],
        adopted: Mapping[tuple[str, int], str],
        unbooked: set[tuple[str, int]],
    ) -> list[UserTrade]:
        """The caught-up fills of orders unknown when they were read. A conditional order
        of ours that triggered while nobody listened fills as a new matching-engine order,
        whose id the sweep learns from the algo order (and fetches its fills with it): only
        what is still unknown after that is not ours. Those of the `outside` orders are left
        to `OutsideOrders.book_caught_up`; those of the orders `adopted` by this pass (an
        earlier journal's) are counted as seen on the order, not applied as its fills: the
        books take the order from the snapshot as it stands, filled so far
        (`TakeOvers.adopt`), and `OutsideOrders.book_caught_up` books them (those made after
        its row was read counted on it too), but for those a running pass leaves to the books
        (`unbooked`: `TakeOvers.left_to_the_books`). Returns the fills no event books (an
        order no one could attribute; those `unbooked`): the books have them only as far as
        the snapshot's reads or the account updates do (`seen_bound`)."""
        tracker = self.tracker
        left_out: list[UserTrade] = []
        for trade in held:
            key = (trade.symbol, trade.order_id)
            if key in adopted:
                tracker.count_seen(trade)
                if (trade.symbol, trade.trade_id) in unbooked:
                    left_out.append(trade)
                continue
            if key in outside and tracker.by_exchange_id(*key) is None:
                continue
            # a fill the sweep fetched already is dropped as a duplicate
            if not self._apply_trade(trade):
                left_out.append(trade)
        return left_out

    def book_outside(self, u: OrderUpdate) -> bool:
        """A user-stream report of an order the tracker does not know: True when it was a
        fill of an order placed outside the daemon, booked (`OutsideOrders.book`)."""
        return self.outside_orders.book(u)

    def outside_report(self, u: OrderUpdate | AlgoUpdate) -> bool:
        """A user-stream report the tracker did not take: True when it is of an order placed
        outside the daemon, dealt with (`OutsideOrders.report`); False for an id this daemon
        issues, for the caller to warn about."""
        return self.outside_orders.report(u)

    def untracked_report(self, u: OrderUpdate) -> None:
        """A user-stream report of an order with an id we issue that the tracker does not
        know (ignored): its fill is remembered for the pass that takes the order over
        (`TakeOvers.untracked_report`)."""
        self.take_overs.untracked_report(u)

    def _seen_before_restart(self, since_ms: int | None) -> Callable[[UserTrade], bool] | None:
        """A start-up's (`since_ms`: the journal's last record): whether the daemon that wrote
        the journal had a fill in its books (`_seen_before`); None for a running pass."""
        if since_ms is None:
            return None
        return lambda trade: self._seen_before(trade, since_ms)

    def _seen_before(self, trade: UserTrade, since_ms: int) -> bool:
        """Whether the daemon that wrote the journal had this fill in its books (through the
        account update, or a snapshot's position): its trade id is at most the one its last
        snapshot read up to (`seen_trade_ids`), or its time at most the latest the exchange
        stamped on what that daemon received (`seen_until_ms`; the account update of a fill
        is stamped at or after it). Both are the exchange's own, so a fill made after the
        daemon stopped is booked even within our clock's error of the journal's last record
        (`since_ms`, on our estimate of the exchange's clock), which only a journal from
        before the snapshots' trade ids still goes by."""
        seen_ids = self.seen_trade_ids
        if seen_ids is None:
            return trade.time_ms <= since_ms
        if trade.trade_id <= seen_ids.get(trade.symbol, 0):
            return True
        until = self.seen_until_ms
        return until is not None and trade.time_ms <= until

    # --- the whole account -------------------------------------------------------------------

    async def reconcile(self, reason: str, *, vet: Vet | None = None) -> VenueSnapshot:
        """Read and apply everything (see the module docstring); emit and return the snapshot.
        Raises RetryableError / FatalError when the exchange cannot be read.

        The snapshot carries the time before the first read: what changed after it (a fill
        racing the reads) may or may not be in it, so the BookKeeper does not compare that.
        When the offset to the exchange's clock is measured again during the reads, that
        time is the earlier of it on the clock before and after (`reads_began`).
        A fresh start (a symbol without a trade id) books nothing of what came before it, so
        its reads must agree with one another: the latest trade id is read before them and
        after, and they are taken again (at most FRESH_READS times) until no fill came in
        between; the first read by trade id is the next pass's.

        A pass that fails undoes the take-overs no snapshot named yet (`TakeOvers.undo`):
        the next pass takes those orders over anew, as the exchange lists them then.

        `vet`: awaited with the snapshot after the events it explains were emitted and before
        it is (the start-up's refusal of a position the journal does not explain); what it
        raises fails the pass, the snapshot unemitted."""
        try:
            return await self._reconcile(reason, vet)
        except BaseException:
            self.take_overs.undo()
            raise

    async def _reconcile(self, reason: str, vet: Vet | None) -> VenueSnapshot:
        fresh = [s for s in self.symbols if s not in self.last_trade_ids]
        for attempt in range(1, FRESH_READS + 1):
            started_ms = self.rest.clock.now_ms()
            started_offset = offset_of(self.rest.clock)
            baseline_trades = {s: await self._latest_trade(s) for s in fresh}
            baseline = {s: t.trade_id if t else 0 for s, t in baseline_trades.items()}
            rows_by_symbol = {s: await self.open_rows(s) for s in self.symbols}
            acct = await self._account()
            positions = await self._positions()
            # The reads of fills begin now: by trade id from the last known, or (fresh) the
            # latest id, which must still be the baseline (`fills_read_recv_ms`).
            fills_read_recv: int | None = self.clock.now_ms()
            fills_read_offset = offset_of(self.clock)
            if not fresh:
                break
            # A fresh start's state reads hold every fill up to the baseline and none after
            # only if no fill came in between (it would be in some reads and not in others,
            # and in no event): then they are taken again, from a new baseline.
            latest = {s: await self._latest_trade_id(s) for s in fresh}
            if latest == baseline:
                break
            log.info(
                "start-up: a fill came during the reads (trade ids %s, then %s): read again",
                baseline, latest,
            )  # fmt: skip
            if attempt == FRESH_READS:
                fills_read_recv = None  # the fills after the baseline are the next pass's
                log.warning(
                    "start-up: fills kept coming during %d rounds of reads: the books adopt "
                    "the last reads, fills after trade ids %s as the running session reads "
                    "them", FRESH_READS, baseline,
                )  # fmt: skip
        for t in self.tracker.open_orders():
            if not t.taken_over_counted:  # before any read by trade id could report them
                await self._count_taken_over(t)
        held: list[UserTrade] = []
        self._held_trades = held
        # (symbol, order id) -> executed quantity of each outside order with fills read that
        # the exchange says is FILLED (`_claim_exchange_orders`)
        filled: dict[tuple[str, int], Decimal] = {}
        outside_since, self.outside_since_ms = self.outside_since_ms, None
        outside: dict[tuple[str, int], str] = {}
        left_out: list[UserTrade] = []
        late: dict[str, list[UserTrade]] = {}
        completed: list[TrackedOrder] = []
        try:
            for symbol in self.symbols:
                if symbol not in fresh:  # a fresh one's baseline was read after the reads
                    await self._catch_up_trades(symbol)
            for symbol, (rows, algo_rows) in rows_by_symbol.items():
                await self.sweep(symbol, rows, algo_rows)
            outside = await self._claim_exchange_orders(held, filled)
            late = await self.take_overs.late_fills(held)
        finally:
            self._held_trades = None
            adopted = self.take_overs.orders()
            if outside_since is None:  # running: an id we issue is ours to take over, not outside
                outside = {
                    key: cid for key, cid in outside.items() if self.outside_orders.is_outside(cid)
                }
            starting = outside_since is not None
            late_ids = {(t.symbol, t.trade_id) for trades in late.values() for t in trades}
            unbooked = (
                set() if starting else self.take_overs.left_to_the_books(held, adopted, late_ids)
            )
            completed = self.take_overs.count_late_fills(late)
            left_out = self._apply_held_trades(held, outside, adopted, unbooked)
            self.outside_orders.book_caught_up(
                held, outside, adopted, unbooked, filled, self._seen_before_restart(outside_since)
            )
        await self.catch_up_funding()
        # When the reads began, for the books to tell what changed after: the earlier of that
        # time on the clock before and after the offset was measured again during the pass
        # (a read answered -1021: the exchange's clock had moved; `reads_began`).
        began_ms = reads_began(started_ms, offset_of(self.rest.clock) - started_offset)
        if fills_read_recv is not None:
            fills_read_recv = reads_began(
                fills_read_recv, offset_of(self.clock) - fills_read_offset
            )
        # A fresh start's baseline, once its pass got through (a failed one is taken again
        # from its first reads: no fill is read from a baseline before the books had them)
        for symbol in fresh:
            self.last_trade_ids[symbol] = baseline[symbol]
            if (known := baseline_trades[symbol]) is not None:
                self.last_trades[symbol] = KnownTrade.of(known)
            if baseline[symbol] == 0:  # none in userTrades' window: read on by time
                # from when the reads began on the exchange's clock, which ours may be ahead
                # of by up to the offset's error: a fill a moment later may bear an earlier
                # time (`began_ms`: the earlier of that time on the clock before and after an
                # offset measured again during the reads)
                since = began_ms - self.rest.clock_error_ms()
                self.trades_since_ms[symbol] = since
        seen = seen_bound(
            self.last_trade_ids,
            left_out,
            positions,
            wallet_ms=max((b.update_time_ms for b in acct.balances), default=0) or None,
            earliest_ms=lambda: began_ms - self.rest.clock_error_ms(),
        )
        taken = {cid: self.tracker.get(cid) for cid in late}
        snapshot = VenueSnapshot(
            event_time_ms=began_ms,
            recv_time_ms=self.clock.now_ms(),
            balances=acct.balances,
            positions=positions,
            open_orders=tuple(
                _snapshot_orders(
                    rows_by_symbol.values(),
                    {cid: t.order for cid, t in taken.items() if t is not None},
                )
            ),
            reason=reason,
            symbols=self.symbols,
            adopted=tuple(self.take_overs.adopted),
            trade_ids=tuple(sorted(seen.items())),
            fills_read_recv_ms=fills_read_recv,
        )
        if vet is not None:
            await vet(snapshot)
        self.take_overs.adopted.clear()
        self.stats.reconciles += 1
        self._emit([snapshot])
        # An adopted order this pass's fills completed: the snapshot brought it into the books
        # open (as the exchange listed it, with those fills, booked as outside); it is
        # FILLED. Not an OrderFilled: its fills are booked already, and none is in this event.
        self._emit(
            [
                OrderReconciled(
                    event_time_ms=t.order.updated_ms,
                    recv_time_ms=self.clock.now_ms(),
                    symbol=t.symbol,
                    client_order_id=t.client_order_id,
                    status=t.status,
                    cause=ReconcileCause.TAKEN_OVER_FILLS,
                )
                for t in completed
            ]
        )
        return snapshot

    async def open_rows(self, symbol: str) -> OpenRows:
        """The exchange's open orders and open algo orders of `symbol`."""
        raw = await self.rest.call("futures_get_open_orders", symbol=symbol)
        raw_algo = await self.rest.call("futures_get_open_algo_orders", symbol=symbol)
        recv = self.clock.now_ms()
        rows: list[OrderUpdate] = []
        algo_rows: list[AlgoUpdate] = []
        for row in raw if isinstance(raw, list) else []:
            try:
                rows.append(parse_rest_order(row, recv))
            except MalformedMessage as exc:
                self.stats.malformed_rows += 1
                log.warning("unreadable open order: %s", exc)
        for row in _algo_list(raw_algo):
            try:
                algo_rows.append(parse_rest_algo_order(row, recv))
            except MalformedMessage as exc:
                self.stats.malformed_rows += 1
                log.warning("unreadable open algo order: %s", exc)
        return rows, algo_rows

    async def sweep(
        self, symbol: str, rows: list[OrderUpdate], algo_rows: list[AlgoUpdate]
    ) -> None:
        """Bring every order we think open in line with the exchange's open-order lists."""
        listed = {u.client_order_id: u for u in rows}
        listed_algo = {u.client_algo_id: u for u in algo_rows}
        # An order of an earlier journal is taken over only once the tracker has not found
        # it: counted as a report of an untracked order then, --status called a take-over
        # "an id of ours (not applied: worth a look)". Counted only when it stays untracked.
        for u in rows:
            applied = self.apply_update(u, count_untracked=False)
            outside = applied is None and not self.take_overs.adopt(order_of(u), algo=False)
            if outside:
                self.tracker.note_untracked(u.client_order_id)
            # INFO, as when the stream names it first: a resting hand order is not a fault
            if outside and self.outside_orders.first_sight((symbol, False, u.order_id)):
                log.info(
                    "open order %s %s is not ours (by hand, another program): left alone, its "
                    "fills booked as %s",
                    symbol, u.client_order_id, outside_client_id(u.client_order_id),
                )  # fmt: skip
            self._on_applied(applied)
        for a in algo_rows:
            applied = self.tracker.apply_algo(a, count_untracked=False)
            outside = applied is None and not (
                a.status is AlgoStatus.NEW
                and self.take_overs.adopt(waiting_algo_order_of(a), algo=True)
            )
            if outside:
                self.tracker.note_untracked(a.client_algo_id)
            if outside and self.outside_orders.first_sight((symbol, True, a.algo_id)):
                log.info(
                    "open algo order %s %s is not ours (by hand, another program): left alone",
                    symbol, a.client_algo_id,
                )  # fmt: skip
            self._on_applied(applied)
        for t in self.tracker.open_orders():
            if t.symbol != symbol or t.status is S.PENDING_SUBMIT:
                continue  # a create request is still on its way
            if t.status is S.UNKNOWN:
                self._resolve(t)
                continue
            cid = t.client_order_id
            shown = listed_algo.get(cid) if t.algo else listed.get(cid)
            if isinstance(shown, AlgoUpdate) and shown.status is not AlgoStatus.NEW:
                shown = None  # triggered: its matching-engine order decides
            if shown is None or t.needs_fills or t.needs_query:
                try:
                    await self.refresh(t, raise_missing=shown is None)
                except RejectedError as exc:
                    if exc.code == NO_SUCH_ORDER and shown is None:
                        self._not_found(t, exc)
                    else:
                        log.warning("reconcile: query of %s failed: %s", cid, exc)
            self._follow_up(t)

    def _not_found(self, t: TrackedOrder, exc: RejectedError) -> None:
        """An order we hold open that the exchange neither lists nor finds (-2013). Past
        Binance's retention of an order that ended without a fill (3 days) that is what
        became of it (a restart long after the dead-man switch cancelled it): closed as
        EXPIRED. Younger, or with fills, it is logged and asked about again next time."""
        cid = t.client_order_id
        now = self.rest.clock.now_ms()
        age_ms = now - t.order.created_ms
        if age_ms > NO_FILL_RETENTION_MS:
            reason = (
                f"no longer known to the exchange ({exc.code}): created {age_ms // 3_600_000} h "
                "ago, no fill; Binance forgets an order that ended without a fill after 3 days"
            )
            closed = self.tracker.forgotten(
                cid, now_ms=now, recv_ms=self.clock.now_ms(), reason=reason
            )
            if closed:
                log.warning("order %s: %s; closed as EXPIRED", cid, reason)
                self._emit(closed)
                return
        log.warning("order %s: the exchange does not know it (%s)", cid, exc)

    async def _positions(self) -> tuple[Position, ...]:
        rows = await self.rest.call("futures_position_information", weight=5)
        found: dict[tuple[str, PositionSide], Position] = {}
        for row in rows if isinstance(rows, list) else []:
            try:
                position = parse_position_risk(row, self.leverage)
            except MalformedMessage as exc:
                self.stats.malformed_rows += 1
                log.warning("unreadable position row: %s", exc)
                continue
            if position.symbol in self.instruments:
                found[(position.symbol, position.position_side)] = position
        for symbol in self.symbols:  # a flat symbol has no v3 row: say so explicitly
            if not any(key[0] == symbol for key in found):
                found[(symbol, PositionSide.BOTH)] = Position(
                    symbol=symbol,
                    qty=Decimal(0),
                    entry_price=Decimal(0),
                    leverage=self.leverage.get(symbol, 1),
                    margin_type=self.margin_type.get(symbol, MarginType.CROSSED),
                )
        return tuple(found.values())

    async def _account(self) -> AccountSnapshot:
        """The account read (balances, leverage, margin type), its settings remembered."""
        account = await self.rest.call("futures_account", weight=5)
        try:
            acct = parse_account(account)
        except MalformedMessage as exc:
            self.stats.malformed_rows += 1
            raise RetryableError(f"unreadable account answer: {exc}") from exc
        self.leverage.update(acct.leverage)
        self.margin_type.update(acct.margin_type)
        return acct

    async def _latest_trade_id(self, symbol: str) -> int:
        """The id of `symbol`'s latest fill in userTrades (its last 7 days; 0: none): a fresh
        start's baseline. Older fills belong to earlier sessions, which their journal
        accounts for; the books adopt what they left (position, wallet, open orders)."""
        latest = await self._latest_trade(symbol)
        return 0 if latest is None else latest.trade_id

    async def _latest_trade(self, symbol: str) -> UserTrade | None:
        """`symbol`'s latest fill in userTrades (its last 7 days; None: none)."""
        rows = await self.rest.call("futures_account_trades", weight=5, symbol=symbol, limit=1)
        latest: UserTrade | None = None
        for row in rows if isinstance(rows, list) else []:
            try:
                trade = parse_user_trade(row, 0)
            except MalformedMessage:
                self.stats.malformed_rows += 1
                continue
            if latest is None or trade.trade_id > latest.trade_id:
                latest = trade
        return latest

    async def _catch_up_trades(self, symbol: str) -> None:
        """Fills since the last trade id known from userTrades (missed ones are emitted).

        A fresh start (no journal) has no id: its reconciliation reads the latest as the
        baseline (`_latest_trade_id`). With no trade in userTrades' last 7 days there is no
        id to start from: paging from id 1 read the account's whole history (6 months of
        pages, and a lookup of each order of it), so fills are read by time from the
        baseline's moment on until one is seen."""
        limit = self.trades_page_limit
        last = self.last_trade_ids[symbol]
        known = self.last_trades.get(symbol)
        if known is not None and (
            known.trade_id != last
            or self.rest.clock.now_ms() - known.time_ms > KNOWN_TRADE_CHECKED_MS
        ):
            known = None  # not the last id's fill, or too old for userTrades to serve
        if last == 0 and symbol in self.trades_since_ms:
            if not await self._catch_up_trades_by_time(symbol):
                return
            last = self.last_trade_ids[symbol]
        from_id = last if known is not None else last + 1
        while True:
            rows = await self.rest.call(
                "futures_account_trades", weight=5, symbol=symbol, fromId=from_id, limit=limit
            )
            trades, highest = self._parse_trades(rows, symbol)
            if known is not None and isinstance(rows, list) and len(trades) < len(rows):
                # a row unreadable (or another symbol's): what comes first is not certain
                trades = [t for t in trades if t.trade_id != known.trade_id]
            elif known is not None:
                trades = self._after_known(symbol, known, trades)
            known = None
            for trade in trades:
                self._apply_parsed(trade)
            if highest > last:
                last = highest
                self.last_trade_ids[symbol] = last
                self.last_trades[symbol] = KnownTrade.of(max(trades, key=_trade_id))
            if not isinstance(rows, list) or len(rows) < limit or highest == 0:
                return
            from_id = highest + 1

    def _after_known(
        self, symbol: str, known: KnownTrade, trades: list[UserTrade]
    ) -> list[UserTrade]:
        """The fills after `known` in a page read from its trade id on, which must begin with
        it; AccountChanged when it does not: the account's trades do not hold the last fill
        the books know (reset, or another account); NotServedYet for a fill heard on the
        stream (the journal's) less than TRADES_SETTLE_MS ago, which may not be served yet."""
        if trades and known.same(trades[0]):
            return trades[1:]
        age_ms = self.rest.clock.now_ms() - known.time_ms
        if not known.served and age_ms < TRADES_SETTLE_MS:
            raise NotServedYet(
                f"{symbol}'s last fill known, trade {known.trade_id} of order {known.order_id}, "
                f"made {age_ms / 1000:.1f} s ago, is not in the account's trades yet"
            )
        first = trades[0] if trades else None
        listed = (
            "it lists no trade from that id on"
            if first is None
            else f"from that id on it lists trade {first.trade_id} of order {first.order_id} first"
        )
        raise AccountChanged(
            f"{symbol}'s last fill known, trade {known.trade_id} of order {known.order_id} "
            f"({known.qty} @ {known.price}), is not among the account's trades: {listed}. The "
            "account was reset (a restarted local exchange, a testnet reset) or is another one; "
            "its fills reuse trade ids the books hold and would be dropped as booked already"
        )

    async def _catch_up_trades_by_time(self, symbol: str) -> bool:
        """`symbol`'s fills from `trades_since_ms` on, up to the first page that has any, a
        window of at most 7 days (TRADES_WINDOW_MS) after the other until now. True when it
        found one: the fills after it are read on by trade id, whatever their time. A restart
        after more than 7 days down reads each window: asked from its start alone, Binance
        answers the first 7 days only."""
        since = self.trades_since_ms[symbol]
        asked_ms = self.clock.now_ms()
        limit = self.trades_page_limit
        while True:
            end = min(since + TRADES_WINDOW_MS, asked_ms)
            rows = await self.rest.call(
                "futures_account_trades", weight=5, symbol=symbol, startTime=since,
                endTime=end, limit=limit,
            )  # fmt: skip
            trades, highest = self._parse_trades(rows, symbol)
            for trade in trades:
                self._apply_parsed(trade)
            if highest > 0:
                self.last_trade_ids[symbol] = highest
                self.last_trades[symbol] = KnownTrade.of(max(trades, key=_trade_id))
                del self.trades_since_ms[symbol]
                return True
            if end >= asked_ms:
                break
            since = end + 1
        # None up to the time asked (but a fill of a moment ago that userTrades does not show
        # yet): the next read starts there, inside the 7 days a window may span.
        self.trades_since_ms[symbol] = max(since, asked_ms - TRADES_SETTLE_MS)
        return False

    # --- funding -----------------------------------------------------------------------------

    async def catch_up_funding(self) -> None:
        """Emit FundingPaid for FUNDING_FEE income since `funding_since_ms` not yet emitted,
        nor booked before a restart (`funding_booked`).

        Pages follow from the newest time of the last (inclusive); the next pass starts
        FUNDING_OVERLAP_MS before the newest settlement seen, not at it: a row of another
        symbol with an earlier time may show up after this pass."""
        limit = 1000
        if self.funding_since_ms is None:
            return
        since = self.funding_since_ms
        while True:
            rows = await self.rest.call(
                "futures_income_history", weight=30, incomeType="FUNDING_FEE", startTime=since,
                limit=limit,
            )  # fmt: skip
            events: list[Event] = []
            tran_ids: list[int] = []  # seen by this page (so no concurrent pass emits them too)
            latest = since
            try:
                for row in rows if isinstance(rows, list) else []:
                    try:
                        income = parse_funding_income(row)
                    except MalformedMessage as exc:
                        self.stats.malformed_rows += 1
                        log.warning("unreadable income row: %s", exc)
                        continue
                    latest = max(latest, income.time_ms)
                    seen = income.tran_id in self._funding_seen
                    if seen or income.symbol not in self.instruments:
                        continue
                    if (income.symbol, income.time_ms) in self.funding_booked:
                        self._remember_funding(income.tran_id)  # booked before the restart
                        continue
                    self._remember_funding(income.tran_id)
                    tran_ids.append(income.tran_id)
                    events.append(
                        FundingPaid(
                            event_time_ms=income.time_ms,
                            recv_time_ms=self.clock.now_ms(),
                            symbol=income.symbol,
                            amount=income.amount,
                            rate=await self._funding_rate(income.symbol, income.time_ms),
                        )
                    )
            except BaseException:
                # Nothing of this page was emitted: unseen again, the next pass reads it (the
                # rows must not stay remembered and never emitted).
                for tran_id in tran_ids:
                    self._funding_seen.discard(tran_id)
                raise
            self.stats.funding_events += len(events)
            self._emit(events)
            # The next pass (not the next page) starts an overlap before the newest seen; a
            # concurrent pass may have moved it on already.
            resume = latest - FUNDING_OVERLAP_MS
            current = self.funding_since_ms
            self.funding_since_ms = resume if current is None else max(current, resume)
            if not isinstance(rows, list) or len(rows) < limit or latest == since:
                return
            since = latest

    def _remember_funding(self, tran_id: int) -> None:
        self._funding_seen.add(tran_id)
        self._funding_order.append(tran_id)
        while len(self._funding_order) > _FUNDING_MEMORY:
            self._funding_seen.discard(self._funding_order.popleft())

    async def _funding_rate(self, symbol: str, time_ms: int) -> Decimal:
        """The published rate of the settlement at `time_ms` (0 if the venue has none)."""
        try:
            rows = await self.rest.call(
                "futures_funding_rate", symbol=symbol, startTime=time_ms - 60_000,
                endTime=time_ms + 60_000, limit=10,
            )  # fmt: skip
        except (RejectedError, *_TRANSIENT) as exc:
            log.info("funding rate of %s at %d unavailable: %s", symbol, time_ms, exc)
            return Decimal(0)
        best: tuple[int, Decimal] | None = None
        for row in rows if isinstance(rows, list) else []:
            try:
                distance = abs(int(row["fundingTime"]) - time_ms)
                rate = Decimal(str(row["fundingRate"]))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
            if best is None or distance < best[0]:
                best = (distance, rate)
        return best[1] if best is not None else Decimal(0)


def reads_began(at_ms: int, moved_ms: int) -> int:
    """The time reads began `at_ms` (our clock then), for the books to tell what changed after
    it, when the clock's offset to the exchange's moved by `moved_ms` since: the earlier of it
    on the clock before and after. The books compare it with times stamped on either: the
    exchange's event times (the clock after holds them) and times of ours taken before the
    move (an algo order's cancel answer has none of the exchange's). Nothing that changed
    after the reads began can show an earlier time; a change before them that shows a later
    one is left for the next pass. On the clock before only, a clock found 6 s ahead dated
    the reads 6 s late: the books took orders placed after the open orders were read for ones
    the exchange no longer had, and one cancelled since for one it still held; on the clock
    after only, one found 8.5 s behind took cancels of ours during the reads for before."""
    return min(at_ms, at_ms + moved_ms)


def _trade_id(trade: UserTrade) -> int:
    return trade.trade_id


def order_fills_query(symbol: str, order_id: int, limit: int) -> dict[str, Any]:
    """The userTrades parameters of one order's fills from its first on (pages go on with
    `fromId` past the highest read). `fromId` 1, not `orderId` alone: with neither a time nor
    a trade id, Binance answers the last 7 days only (reference 6.9), and the first fills of
    an order older than that were missing; a taken-over order then counted later fills as
    those it had when taken over (`taken_over_split`), never booked."""
    return {"symbol": symbol, "orderId": order_id, "fromId": 1, "limit": limit}


def seen_bound(
    trade_ids: Mapping[str, int],
    left_out: Iterable[UserTrade],
    positions: Iterable[Position],
    *,
    wallet_ms: int | None,
    earliest_ms: Callable[[], int],
) -> dict[str, int]:
    """The trade id per symbol up to which every fill is in the books, for the snapshot to
    journal (`VenueSnapshot.trade_ids`; a restart's `_seen_before` counts a fill up to it as
    seen, never booked): what userTrades was read up to, but below the first fill this pass
    read and no event booked (`left_out`) that its account and position reads did not both
    hold.

    Why: those reads come before the fills. A fill made in between, of an order no one could
    attribute (or a running pass's adopted order), reaches the books only by its account
    update, or the next snapshot; at the clean stop neither comes (the stream is closed), and
    counted as seen the restart would adopt the position without its fee and realized PnL.
    Below the bound, the restart reads it again and books it. A fill both reads held came
    into the books with the snapshot: it stays seen, not booked twice. Each read's hold is
    told by a time of the exchange's, which our clock's error cannot put on the wrong side:
    the account read (first) holds every fill up to its assets' latest `updateTime`
    (`wallet_ms`, the last change of a wallet, which a fill's fee or realized PnL moves), the
    position read those up to its row's (a symbol without a row, flat: the wallet's alone).
    Without either (an answer without them: None), a fill made before the pass began on the
    exchange's clock (`earliest_ms`: our reading less its error). On our reading alone, a
    clock behind the exchange's counted a fill made before the pass as missed (the restart
    booked it a second time), and one ahead a fill made after the reads as held (lost); a
    fill between the account and position reads counted as held by its row, its money never
    booked. The read and the fill within one millisecond cannot be told apart; such a fill
    counts as held."""
    changed: dict[str, int] = {}
    for p in positions:
        changed[p.symbol] = max(changed.get(p.symbol, 0), p.update_time_ms)
    bound = dict(trade_ids)
    for trade in left_out:
        symbol = trade.symbol
        if symbol not in bound:
            continue
        row = changed.get(symbol) or None
        if wallet_ms is not None:
            held = wallet_ms if row is None else min(row, wallet_ms)
        else:
            held = row if row is not None else earliest_ms()
        if trade.time_ms > held:
            bound[symbol] = min(bound[symbol], trade.trade_id - 1)
    return bound


def _snapshot_orders(rows: Iterable[OpenRows], taken: Mapping[str, Order]) -> list[Order]:
    """The exchange's open orders as `Order`s (algo orders: `order_id` is the algoId); an
    order taken over with fills made after its row was read (`taken`: as the tracker holds
    it) with those fills, still open (filled by them, it ends with the event that follows
    the snapshot), so that the books and the journal adopt what the start-up booked of it."""
    out: list[Order] = []
    for orders, algo_orders in rows:
        for u in orders:
            order = taken.get(u.client_order_id)
            if order is None:
                out.append(order_of(u))
            elif order.is_terminal:
                out.append(replace(order, status=S.PARTIALLY_FILLED))
            else:
                out.append(order)
        out.extend(waiting_algo_order_of(a) for a in algo_orders)
    return out


def _algo_list(raw: Any) -> list[Any]:
    """openAlgoOrders answers a list (some versions wrap it as {"orders": [...]})."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("orders"), list):
        return list(raw["orders"])
    return []
