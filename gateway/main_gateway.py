"""`LiveVenue`, the TradeExecutor: orders to Binance USD-M Futures (or the local exchange) over
REST, their fate back from the user data stream, every outcome as a `core.events` event.

Submitting (`submit`, `cancel`, `cancel_all` return at once; the work runs in tasks). `submit`
hands a new order's signed request to the HTTP session before it returns when the rate
governor lets it through at once (`RestConnection.start`: no loop hop before the order
leaves; its task awaits the answer), else its task sends it when the governor allows:

- LIMIT (GTC / GTX post-only / IOC), MARKET and reduce-only orders go to `POST /fapi/v1/order`
  with `newClientOrderId` = the request's deterministic client id; STOP_MARKET,
  TAKE_PROFIT_MARKET (and STOP / TAKE_PROFIT, `closePosition` included) go to
  `POST /fapi/v1/algoOrder` with `clientAlgoId` (`gateway.order_params`).
- A rejection becomes `OrderRejected(code, reason)`. An outcome we cannot know (timeout,
  hang-up, 5xx, -1007: `ExecutionStatusUnknown`) becomes `OrderStatusUnknown`, and a resolver
  asks the exchange (`origClientOrderId` / `clientAlgoId`) with backoff while the user stream
  may answer first. "Order does not exist" (-2013) is final only for a query sent after the
  create request's `timestamp + recvWindow` (+ a grace) on the exchange's clock: then
  `OrderReconciled(status=REJECTED)` means it was never placed. The order is never sent again.
- A cancel that ends unknown marks the order UNKNOWN and queries it; the cancel is sent again
  only while the exchange still shows the order open (cancelling twice is harmless).

Every order event is emitted once (`gateway.order_tracker`) and handed to `listener`; the
listener (the ExecManager) journals it before acting on it (`journal_events=True` makes the
venue record it in `journal` first instead). The user data stream (`gateway.user_stream`) is
reconciled over REST (`gateway.venue_sync`) after each (re)connection and every
`reconcile_interval_s`, ending in a `VenueSnapshot`. A dead-man switch refreshes
`countdownCancelAll` per symbol, so a frozen or killed daemon leaves no resting orders.

The exchange's own orders on our account (a liquidation `autoclose-...`, an auto-deleveraging
`adl_autoclose...`, a settlement) are tracked from their first report and only their fills
are handed on, once each (`OrderTracker.apply_exchange_order`). An order placed outside the
daemon (by hand, another program) is not tracked, but each of its fills is handed on once,
under `outside:<its client id>`, from its ORDER_TRADE_UPDATE or a reconciliation's userTrades
(`VenueSync.book_outside`); its other reports are logged and ignored. MARGIN_CALL becomes a
`MarginCalled` event. Bad input (a malformed event, an unknown client id, a symbol we do not
trade) is logged and counted in `stats`, never applied and never fatal.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from core.backoff import Backoff, Sleep
from core.clock import Clock
from core.enums import CONDITIONAL_TYPES, NotSent, OrderStatus
from core.errors import (
    ExecutionStatusUnknown,
    FatalError,
    IpBanned,
    RejectedError,
    RetryableError,
    TradingError,
    refusal_line,
)
from core.events import (
    BalanceChanged,
    Event,
    MarginCalled,
    PositionChanged,
    StreamState,
    StreamStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.journal import Journal
from core.orders import Fill, Order, OrderRequest, forced_close
from core.repeated_lines import RepeatedLines
from core.venue import EventListener
from gateway.order_params import CREATE_ALGO_ORDER, CREATE_ORDER, create_method, order_params
from gateway.order_tracker import Applied, OrderTracker, TrackedOrder
from gateway.user_stream import UserStream
from gateway.user_wire import (
    AccountConfigUpdate,
    AccountUpdate,
    AlgoStatus,
    AlgoUpdate,
    IgnoredEvent,
    ListenKeyExpired,
    MalformedMessage,
    MarginCall,
    OrderUpdate,
    UserEvent,
    decode_user_frame,
    parse_rest_algo_order,
    parse_rest_order,
    parse_user_event,
)
from gateway.venue_stats import VenueStats
from gateway.venue_sync import (
    NO_SUCH_ORDER,
    AccountChanged,
    KnownTrade,
    VenueSync,
    Vet,
    funding_resume_ms,
    restart_trades_since,
)
from rest_connect.connection import RestConnection, SignedRequest, StartedCall

log = logging.getLogger(__name__)

# The start-up reconciliation's snapshot looked at before it is emitted, with the events that
# pass emitted before it, held until it returns (`LiveVenue.start`)
StartVet = Callable[[VenueSnapshot, Sequence[Event]], Awaitable[None]]

S = OrderStatus
CANCEL_REJECTED = -2011  # "Unknown order sent.": not open (any more, or not yet)
DUPLICATE_CLIENT_ID = -4116  # an open order already has this client id: ours, resolve it
STREAM = "user"
_TRANSIENT = (RetryableError, ExecutionStatusUnknown)
# Shares of the stop's budget (`LiveVenue.stop`): at most this much waits for the requests in
# flight, and this much is kept after the last reconciliation to end the tasks and the stream
# (little: the last reconciliation and the stop-loss it places matter more than the listenKey's
# DELETE, which expires by itself after 60 min).
_IN_FLIGHT_SHARE = 0.3
_CLOSING_SHARE = 0.1


class _Request(Enum):
    """An order request a task sends: what `stop` waits for (those in flight, then the orders
    its last reconciliation placed), told by kind rather than by the task's name."""

    SUBMIT = "submit"
    CANCEL = "cancel"  # one order's cancel, or a symbol's cancel-all


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorConfig:
    """Every knob of the executor. Times: `_s` seconds, `_ms` milliseconds."""

    keepalive_interval_s: float = 1800.0  # listenKey PUT (Binance expires a key after 60 min)
    reconcile_interval_s: float = 60.0  # periodic REST reconciliation (0 = only on (re)connect)
    deadman_refresh_s: float = 10.0  # countdownCancelAll refresh period
    deadman_countdown_ms: int = 60_000  # countdownTime sent (0 = dead-man switch off)
    recv_window_ms: int = 5000  # at least the connection's own recvWindow is assumed
    unknown_grace_ms: int = 1000  # margin on top of timestamp + recvWindow before -2013 is final
    resolve_initial_s: float = 0.2  # backoff of unknown-outcome queries
    resolve_max_s: float = 5.0
    reconnect_initial_s: float = 0.5  # user-stream reconnect backoff
    reconnect_max_s: float = 30.0
    ws_open_timeout_s: float = 10.0
    ws_close_timeout_s: float = 1.0
    ws_ping_interval_s: float | None = 20.0
    max_connection_age_s: float = 23 * 3600.0  # rotate before Binance's 24 h limit
    start_timeout_s: float = 30.0  # first user-stream connection
    stop_timeout_s: float = 5.0  # whole clean stop, cancel-all included
    cancel_max_attempts: int = 5
    trades_page_limit: int = 1000  # userTrades page size (max 1000)
    max_closed_orders: int = 10_000  # terminal orders remembered (late duplicates)
    # The daemon's client order id prefix: an open order of a traded symbol with an id it
    # issues (any journal's, `ClientOrderIds.issued_by`) that it does not track is one of an
    # earlier journal's, tracked from the reconciliation that finds it ("" = none is).
    client_id_prefix: str = ""
    # The ExecManager journals each venue event before booking it; set this when the listener
    # does not, and the venue records each event in `journal` before handing it over.
    journal_events: bool = False

    def __post_init__(self) -> None:
        positive = (
            "keepalive_interval_s",
            "deadman_refresh_s",
            "recv_window_ms",
            "resolve_initial_s",
            "resolve_max_s",
            "reconnect_initial_s",
            "reconnect_max_s",
            "ws_open_timeout_s",
            "ws_close_timeout_s",
            "max_connection_age_s",
            "start_timeout_s",
            "stop_timeout_s",
            "cancel_max_attempts",
            "trades_page_limit",
            "max_closed_orders",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ExecutorConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("reconcile_interval_s", "deadman_countdown_ms", "unknown_grace_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"ExecutorConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.trades_page_limit > 1000:
            raise ValueError("ExecutorConfig.trades_page_limit must be <= 1000")
        if self.resolve_max_s < self.resolve_initial_s:
            raise ValueError("ExecutorConfig.resolve_max_s must be >= resolve_initial_s")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("ExecutorConfig.reconnect_max_s must be >= reconnect_initial_s")


class LiveVenue:
    """The live `core.venue.Venue` over Binance's REST API and user data stream."""

    def __init__(
        self,
        *,
        rest: RestConnection,
        ws_url: str,
        symbols: Iterable[str],
        instruments: Mapping[str, Instrument],
        clock: Clock,
        journal: Journal,
        listener: EventListener,
        config: ExecutorConfig | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rest = rest
        self.symbols = tuple(symbols)
        missing = [s for s in self.symbols if s not in instruments]
        if missing:
            raise ValueError(f"no instrument for {missing}")
        self.instruments = {s: instruments[s] for s in self.symbols}
        self.clock = clock
        self._failed_lines = RepeatedLines()  # the dead-man refreshes' failures, by symbol
        self.journal = journal
        self.listener = listener
        self.config = cfg = config or ExecutorConfig()
        self._sleep = sleep
        self.tracker = OrderTracker(
            max_closed=cfg.max_closed_orders, client_id_prefix=cfg.client_id_prefix
        )
        self.stats = VenueStats()
        self.sync = VenueSync(
            rest=rest,
            tracker=self.tracker,
            symbols=self.symbols,
            instruments=self.instruments,
            clock=clock,
            stats=self.stats,
            on_applied=self._applied,
            emit=self._emit,
            follow_up=self._follow_up,
            resolve=self._start_resolver,
            trades_page_limit=cfg.trades_page_limit,
            client_id_prefix=cfg.client_id_prefix,
        )
        self.stream = UserStream(
            rest=rest,
            ws_url=ws_url,
            on_frame=self._on_frame,
            on_connected=self._on_connected,
            on_state=self._on_stream_state,
            clock=clock,
            sleep=sleep,
            keepalive_interval_s=cfg.keepalive_interval_s,
            reconnect_initial_s=cfg.reconnect_initial_s,
            reconnect_max_s=cfg.reconnect_max_s,
            open_timeout_s=cfg.ws_open_timeout_s,
            close_timeout_s=cfg.ws_close_timeout_s,
            ping_interval_s=cfg.ws_ping_interval_s,
            max_connection_age_s=cfg.max_connection_age_s,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        # the tasks of `_tasks` that send an order request, by kind (`stop` waits for them)
        self._requests: dict[asyncio.Task[Any], _Request] = {}
        # (job, client id) -> the task running it
        self._busy: dict[tuple[str, str], asyncio.Task[Any]] = {}
        # Reconnects: one task reconciles, again as long as a reconnect came during a pass (a
        # pass already under way may have read the exchange before that reconnect's gap).
        self._reconnect_task: asyncio.Task[Any] | None = None
        self._funding_since_ms: int | None = None  # from `restore`
        self._reconcile_again = False
        self._reconcile_lock = asyncio.Lock()
        # The events a vetted start-up reconciliation emitted, held until its `vet` passed
        # (`_holding`); None: events go to the listener as they come
        self._held: list[Event] | None = None
        self._running = False
        self._stopping = False
        # While stopping: the loop time its last orders must be answered by (`stop`)
        self._stop_until: float | None = None
        self._deadman_task: asyncio.Task[None] | None = None
        # The exchange's time (ms) when the user stream first connected: from then on what
        # happens is seen live; what came before and the reconciliation finds was missed.
        self.connected_ms: int | None = None
        # Told when a reconciliation finds the account is not the one the books record (the
        # owner stops: nothing may be traded or booked on it); None: logged only.
        self.on_account_changed: Callable[[AccountChanged], None] | None = None
        self.tracker.on_reused_id = self._reused_id

    # --- lifecycle ---------------------------------------------------------------------------

    def restore(
        self,
        orders: Iterable[Order],
        *,
        trade_ids: Mapping[str, Iterable[int]] | None = None,
        last_trade_ids: Mapping[str, int] | None = None,
        last_fills: Mapping[str, Fill] | None = None,
        funding_since_ms: int | None = None,
        funding_booked: Iterable[tuple[str, int]] = (),
        outside_since_ms: int | None = None,
        seen_trade_ids: Mapping[str, int] | None = None,
        seen_until_ms: int | None = None,
        taken_over: Mapping[str, Decimal] | None = None,
    ) -> None:
        """Before `start`: orders and fills recovered from the journal after a restart.

        `orders`: the journal's open orders (PENDING_SUBMIT, UNKNOWN, NEW, PARTIALLY_FILLED);
        `trade_ids`: trade ids already journaled per client order id (never emitted again);
        `last_trade_ids`: the highest journaled trade id per symbol (userTrades resume after
        it; without it, fills made while the daemon was down are not attributed);
        `last_fills`: the journaled fill of each symbol's highest trade id, which the account's
        trades must still hold (`VenueSync.last_trades`; else the start fails, `AccountChanged`);
        `funding_since_ms`: the journal's latest time (funding settled from FUNDING_OVERLAP_MS
        before it on is read back at start, the books skipping what they hold; without it,
        from the start on; one later than now, before the earlier of now and `seen_until_ms`:
        `funding_resume_ms`); `funding_booked`: (symbol, settlement time) of the settlements the
        books hold (`BookKeeper.funding_settlements`): read again, they are not emitted.
        `outside_since_ms`: the journal's last record (exchange ms; None without one): the
        start-up books the fills made after it of orders nobody here sent (by hand, another
        program, an earlier journal: `VenueSync.outside_since_ms`), and a traded symbol with
        no journaled fill has its fills read from TRADES_SETTLE_MS before it, by time, instead
        of from its latest trade on (which left out all it traded while the daemon was down;
        a record later than now is not: `restart_trades_since`).
        Which of those fills the daemon before had in its books is told by the exchange's
        trade ids and times (`VenueSync.seen_trade_ids`, `seen_until_ms`, from
        `SqliteJournal.last_snapshot_trade_ids` and `last_exchange_ms`), not by the last
        record, a time on our estimate of the exchange's clock (the rule of a journal from
        before the snapshots' trade ids: `seen_trade_ids` None).
        `taken_over`: of each order adopted from an earlier journal, what it had filled then
        (`SqliteJournal.taken_over_qtys`): its first fills up to it were that journal's, none
        journaled here (or only those booked as `outside:<id>`); the start-up reads its fills
        from the first and counts those as seen, so that no later read books them.
        Orders journaled PENDING_SUBMIT or UNKNOWN are resolved by query after `start`.
        """
        if self._running:
            raise RuntimeError("restore() must come before start()")
        ids = trade_ids or {}
        before = taken_over or {}
        now = self._exchange_ms()
        for order in orders:
            if order.symbol not in self.instruments:
                log.warning("restore: %s is not a traded symbol; skipped", order.symbol)
                continue
            cid = order.client_order_id
            t = self.tracker.restore(
                order,
                algo=order.type.is_conditional,
                trade_ids=ids.get(cid, ()),
                taken_over_qty=before.get(cid, Decimal(0)),
            )
            if t.status is S.UNKNOWN:
                # Its request was signed before the crash, so before now: "does not exist"
                # becomes final only once now + recvWindow has passed.
                t.sent_at_ms = max(t.sent_at_ms or 0, now)
        for symbol, trade_id in (last_trade_ids or {}).items():
            if symbol in self.instruments:
                self.sync.last_trade_ids[symbol] = trade_id
        for symbol, fill in (last_fills or {}).items():
            if symbol in self.instruments:
                self.sync.last_trade_ids[symbol] = fill.trade_id
                self.sync.last_trades[symbol] = KnownTrade.of(fill)
        if outside_since_ms is not None:
            self.sync.outside_since_ms = outside_since_ms
            self.sync.seen_trade_ids = seen_trade_ids
            self.sync.seen_until_ms = seen_until_ms
            unread = [s for s in self.symbols if s not in self.sync.last_trade_ids]
            if unread:
                since = restart_trades_since(outside_since_ms, seen_until_ms, now)
            for symbol in unread:
                self.sync.last_trade_ids[symbol] = 0
                self.sync.trades_since_ms[symbol] = since
        self._funding_since_ms = funding_since_ms
        self.sync.funding_booked = frozenset(funding_booked)

    async def start(self, *, vet: StartVet | None = None) -> VenueSnapshot:
        """Open the user stream, reconcile once, resolve restored unknown orders (waiting up to
        `start_timeout_s` for them), start the dead-man switch and the periodic reconciliation.
        Raises FatalError (bad key, ban) or RetryableError (the stream did not connect within
        `start_timeout_s`). `vet` sees the reconciliation's snapshot before it is emitted
        (`VenueSync.reconcile`), with every event the pass emitted before it (the fills made
        while no daemon ran among them), which are held until then, neither journaled nor
        handed to the listener (`_holding`): what it raises fails the start. A start that
        fails before `vet` passed (its refusal, a failed read) drops those events, so that the
        journal is left as it was and the next start reads them again, and judges them;
        this venue is not to be started again (its tracker has them)."""
        if self._running:
            raise RuntimeError("LiveVenue already started")
        self._running = True
        self._stopping = False
        self._stop_until = None
        self.sync.funding_since_ms = funding_resume_ms(
            self._funding_since_ms, self._exchange_ms(), self.sync.seen_until_ms
        )
        self.stream.start()
        waits = {
            asyncio.ensure_future(self.stream.connected.wait()),
            asyncio.ensure_future(self.stream.finished.wait()),
        }
        try:
            await asyncio.wait(
                waits, timeout=self.config.start_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()
        if not self.stream.connected.is_set():
            failure = self.stream.failure
            await self._abort_start()
            if isinstance(failure, FatalError):
                raise failure
            raise RetryableError(
                f"user data stream at {self.stream.ws_url} did not connect within "
                f"{self.config.start_timeout_s} s" + (f": {failure}" if failure else "")
            )
        vetted = None if vet is None else self._holding(vet)
        try:
            snapshot = await self.reconcile("start", vet=vetted)
        except BaseException:
            self._drop_held()
            await self._abort_start()
            raise
        for t in self.tracker.open_orders():
            if t.status is S.UNKNOWN:
                self._start_resolver(t)
        # What became of the orders in doubt at a crash belongs to the start-up reconciliation:
        # wait for their resolvers (an order the exchange knows answers at once, one never
        # placed is final after its recvWindow) before trading resumes on top of them.
        resolving = [task for (job, _), task in self._busy.items() if job == "resolve"]
        if resolving:
            log.info("start-up: resolving %d order(s) in doubt at the last stop", len(resolving))
            await asyncio.wait(resolving, timeout=self.config.start_timeout_s)
        if self.config.deadman_countdown_ms > 0:
            self._deadman_task = self._spawn(self._deadman_loop(), "deadman")
        if self.config.reconcile_interval_s > 0:
            self._spawn(self._reconcile_loop(), "reconcile-loop")
        return snapshot

    async def _abort_start(self) -> None:
        self._running = False
        await self._cancel_tasks(timeout_s=1.0)
        await self.stream.stop(close_key=False)

    async def stop(
        self,
        *,
        cancel_orders: bool = True,
        keep_protection: bool = False,
        within_s: float | None = None,
    ) -> None:
        """Stop cleanly within `within_s` (the caller's budget left for it; at most
        `stop_timeout_s`): no new orders; wait briefly for requests in flight; cancel every
        open order (normal and algo) unless `cancel_orders` is False, but with
        `keep_protection` the protective stops / take-profits (closePosition or reduce-only,
        `Order.is_protective`) stay, guarding the position left open; stop the dead-man timer
        (countdownTime 0, after the cancel-all); a last reconciliation; close the user stream
        and every task. The orders the last reconciliation's events make the listener send
        (the stop-loss of a position left open that it shows without one, and its one retry:
        the only orders `submit` takes while stopping) are waited for within the budget, so
        their outcome is known (and booked) when `stop` returns.

        Each phase is a share of the budget actually given, measured on the loop's clock: a
        caller that already spent part of its own (the daemon's market streams, a stop being
        replaced) gets a stop that ends in time, its closing phase included, rather than one
        cut from outside in the middle of its last reconciliation."""
        if not self._running:
            return
        self._stopping = True
        budget = self.config.stop_timeout_s
        if within_s is not None:
            budget = max(0.0, min(budget, within_s))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        self._stop_until = deadline - budget * _CLOSING_SHARE
        in_flight = list(self._requests)
        if in_flight:
            await asyncio.wait(in_flight, timeout=budget * _IN_FLIGHT_SHARE)
        if self._deadman_task is not None:
            self._deadman_task.cancel()
        try:
            async with asyncio.timeout_at(self._stop_until):
                if cancel_orders:
                    for symbol in self.symbols:
                        await self._cancel_all_requests(symbol, keep_protection=keep_protection)
                if self.config.deadman_countdown_ms > 0:
                    for symbol in self.symbols:
                        await self._countdown(symbol, 0)
                before = set(self._tasks)
                await self.reconcile("stop")
                await self._orders_placed_since(before)
        except (TimeoutError, TradingError) as exc:
            # a TimeoutError carries no message: say what it means
            log.warning("clean stop incomplete: %s", str(exc) or "timed out")
        # what is left: a third to end the tasks, the rest to the user stream (its socket,
        # then the listenKey's DELETE, each given `timeout_s`), at most 1 s each
        await self._cancel_tasks(timeout_s=min(1.0, max(0.0, deadline - loop.time()) / 3))
        await self.stream.stop(
            close_key=True, timeout_s=min(1.0, max(0.0, deadline - loop.time()) / 2)
        )
        self._running = False

    async def _orders_placed_since(self, before: set[asyncio.Task[Any]]) -> None:
        """Wait for the orders sent since `before` was taken (the stop's last reconciliation's
        stop-loss), and for those their answers make the listener send (a retry)."""
        while placed := [
            t
            for t, kind in self._requests.items()
            if kind is _Request.SUBMIT and t not in before and not t.done()
        ]:
            await asyncio.wait(placed)

    async def _cancel_tasks(self, *, timeout_s: float) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    def unknown_orders(self) -> list[str]:
        """Client ids of orders whose outcome is not known yet."""
        return self.tracker.unknown_ids()

    def order(self, client_order_id: str) -> Order | None:
        """The executor's current view of one order (None if not tracked)."""
        t = self.tracker.get(client_order_id)
        return t.order if t is not None else None

    def open_orders(self) -> list[Order]:
        """Orders not known to be terminal (pending, unknown, new, partially filled)."""
        return [t.order for t in self.tracker.open_orders()]

    @property
    def last_trade_ids(self) -> dict[str, int]:
        """The highest trade id per symbol read from userTrades."""
        return self.sync.last_trade_ids

    # --- Venue -------------------------------------------------------------------------------

    def rehearse(self, request: OrderRequest) -> SignedRequest | None:
        """The signed request `submit(request)` would hand to the HTTP session, built and not
        sent (nothing tracked, counted or logged; the rate governor asked, nothing counted):
        `trading_engine.order_rehearsal` keeps the path warm for the next order. None when
        `submit` would refuse it here or the client signs through python-binance's own path."""
        if self.tracker.get(request.client_order_id) is not None:
            return None  # `submit` refuses an id already used (the dry run's is the next one)
        reason, _, _, signed = self._prepared(request)  # what `submit` runs, the same code
        if reason is not None or signed is None:
            return None
        self.rest.start(signed, weight=0, orders=1, dry=True)  # `start`'s code, no hand-off
        return signed

    def _prepared(
        self, request: OrderRequest
    ) -> tuple[str | None, NotSent, dict[str, str], SignedRequest | None]:
        """What `submit` checks and builds before the hand-off: (why the order is refused
        here, or None; the kind of that refusal; the wire parameters; the signed request, None
        when python-binance's own path signs it)."""
        if not self._running or (self._stopping and not request.is_protective):
            return "venue is not running", NotSent.STOPPING, {}, None
        inst = self.instruments.get(request.symbol)
        if inst is None:
            return f"{request.symbol} is not a traded symbol", NotSent.LOCAL_CHECK, {}, None
        try:
            params = order_params(request, inst)
            # `create_method(request)`, without its call on the order path
            method = CREATE_ALGO_ORDER if request.type in CONDITIONAL_TYPES else CREATE_ORDER
            return None, NotSent.LOCAL_CHECK, params, self.rest.sign(method, **params)
        except ValueError as exc:
            return str(exc), NotSent.LOCAL_CHECK, {}, None

    def submit(self, request: OrderRequest) -> None:
        """Send a new order (an algo order for conditional types); returns at once. While
        stopping only a protective stop-loss / take-profit is sent (a position left open keeps
        one: `stop`), any other is refused."""
        tracker = self.tracker
        if tracker.get(request.client_order_id) is not None:
            self.stats.duplicate_submits += 1
            log.error("submit: client id %s already used; not sent", request.client_order_id)
            return
        self.stats.submitted += 1
        started: StartedCall | None = None
        reason, not_sent, params, signed = self._prepared(request)
        if reason is not None:
            tracked = tracker.track(request, now_ms=self._exchange_ms())
            log.warning("order %s refused before sending: %s", request.client_order_id, reason)
            self._rejected(tracked, 0, reason, not_sent)
            return
        if signed is not None:
            # Handed to the HTTP layer now, without waiting for a loop hop (when the governor
            # lets it through at once); the task awaits the answer. Nothing can answer before
            # this call returns, so tracking it right after is as good as before.
            started = self.rest.start(signed, weight=0, orders=1)
        tracked = tracker.track(request, now_ms=self._exchange_ms())
        task = self._spawn(
            self._send_order(tracked, request, params, signed, started),
            f"submit-{tracked.client_order_id}",
            _Request.SUBMIT,
        )
        if started is not None:
            close = started.close  # cancelled before it ran: the request is never started
            task.add_done_callback(lambda t: close() if t.cancelled() else None)

    def cancel(self, symbol: str, client_order_id: str) -> None:
        """Cancel one order (normal or algo) by client id; returns at once. An order whose
        create request is still unanswered is cancelled as soon as it is known to be open."""
        t = self.tracker.get(client_order_id)
        if t is None or t.symbol != symbol:
            self.stats.unknown_client_ids += 1
            log.warning("cancel: %s %s is not one of our orders", symbol, client_order_id)
            return
        if t.order.is_terminal:
            return
        t.cancel_requested = True
        self._follow_up(t)

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        """Cancel every open normal and algo order of `symbol`; returns at once. With
        `keep_protection` our protective stops / take-profits stay (`_cancel_all_requests`)."""
        for t in self.tracker.open_orders():
            if t.symbol != symbol or t.forced is not None:  # not the exchange's liquidation
                continue
            if not (keep_protection and t.order.is_protective):
                t.cancel_requested = True
        self._spawn(
            self._cancel_all(symbol, keep_protection=keep_protection),
            f"cancel-all-{symbol}",
            _Request.CANCEL,
        )

    def reconcile_soon(self, reason: str, job: str = "reconcile-soon") -> None:
        """A reconciliation pass now (the ExecManager waited too long for an answer that the
        user stream should have brought); one already asked for under the same `job` and
        still running is enough. The daemon resumed after a pause asks under a job of its
        own: a pass that began before the pause read the exchange too early to tell what
        happened during it."""
        if self._running and not self._stopping:
            self.stats.early_reconciles += 1
            self._spawn_job(job, self._reconcile_quietly(reason))

    # --- creating ----------------------------------------------------------------------------

    async def _send_order(
        self,
        t: TrackedOrder,
        request: OrderRequest,
        params: dict[str, str],
        signed: SignedRequest | None = None,
        started: StartedCall | None = None,
        *,
        may_resend: bool = True,
    ) -> None:
        """Send one order and turn its answer into events. `may_resend`: a refusal certain not
        to have executed may be sent once more (`_resend_at_stop`)."""
        try:
            if started is not None:
                row = await started  # handed to the HTTP layer by `submit`
            elif signed is not None:
                row = await self.rest.send(signed, weight=0, orders=1)
            else:
                row = await self.rest.call(
                    create_method(request), weight=0, orders=1, mutating=True, **params
                )
        except RejectedError as exc:
            if exc.code == DUPLICATE_CLIENT_ID:
                self._unknown(t, f"duplicate client id answer: {exc}", None)
            else:
                # Short on the console (-5022's own words are two sentences); the event,
                # and so the journal, keeps the exchange's words.
                log.info(
                    "order %s rejected: %s", t.client_order_id, refusal_line(exc.code, exc.reason)
                )
                self._rejected(t, exc.code, exc.reason)
            return
        except ExecutionStatusUnknown as exc:
            self._unknown(t, str(exc), exc.sent_at_ms)
            return
        except (RetryableError, FatalError) as exc:
            # Certain not to have executed (never sent, still rate limited, banned, bad key).
            if may_resend and self._resend_at_stop(request, exc):
                log.warning(
                    "order %s not sent: %s; sent once more (the stop-loss of a position left "
                    "open at the stop)", t.client_order_id, exc,
                )  # fmt: skip
                if isinstance(exc, IpBanned):  # nothing may be sent before the ban's end
                    await self._sleep(exc.retry_after_s or 0.0)
                await self._send_order(t, request, params, may_resend=False)
                return
            if isinstance(exc, IpBanned):  # the ban and its end were said once, at WARNING
                log.info("order %s not sent: %s", t.client_order_id, exc)
                self._rejected(t, exc.code, f"not sent: {exc}", NotSent.IP_BANNED)
                return
            log.warning("order %s not sent: %s", t.client_order_id, exc)
            self._rejected(t, 0, f"not sent: {exc}", _not_sent(exc))
            return
        except asyncio.CancelledError:
            self._unknown(t, "stopped before the answer", None, resolve=False)
            raise
        recv = self.clock.now_ms()
        try:
            if t.algo:
                applied = self.tracker.apply_algo(parse_rest_algo_order(row, recv))
            else:
                applied = self.tracker.apply_order(parse_rest_order(row, recv))
        except MalformedMessage as exc:
            self.stats.malformed_rows += 1
            self._unknown(t, f"unreadable answer: {exc}", None)
            return
        self._applied(applied)

    def _resend_at_stop(self, request: OrderRequest, exc: TradingError) -> bool:
        """While stopping, a protective order (the stop-loss of a position left open, the one
        kind sent then) refused with a retryable error, which is certain not to have executed
        (never sent, still rate limited: 429 / -1003, -1021 after a resync), is sent once more
        under the same client id when the stop's budget leaves time for the wait the exchange
        asked for: one lost request must not leave the position unguarded while the daemon is
        down. An outcome unknown is never sent again (`ExecutionStatusUnknown`: resolved)."""
        until = self._stop_until
        if until is None or not self._stopping or not request.is_protective:
            return False
        if not isinstance(exc, RetryableError):
            return False  # a ban or a bad key: the same again
        wait_s = exc.retry_after_s or 0.0
        return asyncio.get_running_loop().time() + wait_s < until

    def _rejected(
        self, t: TrackedOrder, code: int, reason: str, not_sent: NotSent | None = None
    ) -> None:
        """The create request placed nothing: rejected by the exchange, or `not_sent`."""
        self.stats.rejected += 1
        self._emit(
            self.tracker.rejected(
                t.client_order_id,
                code=code,
                reason=reason,
                now_ms=self._exchange_ms(),
                recv_ms=self.clock.now_ms(),
                not_sent=not_sent,
            )
        )

    def _unknown(
        self,
        t: TrackedOrder,
        reason: str,
        sent_at_ms: int | None,
        *,
        resolve: bool = True,
        cancel: bool = False,
    ) -> None:
        """Mark the outcome of a create (or with `cancel`, a cancel) unknown and start
        resolving it."""
        self.stats.unknown_outcomes += 1
        log.warning("order %s: outcome unknown (%s)", t.client_order_id, reason)
        now = self._exchange_ms()
        self._emit(
            self.tracker.unknown(
                t.client_order_id,
                reason=reason,
                # the request's timestamp is at most now: a safe bound when the layer did not say
                sent_at_ms=sent_at_ms if sent_at_ms is not None else now,
                now_ms=now,
                recv_ms=self.clock.now_ms(),
                cancel=cancel,
            )
        )
        if resolve:
            self._start_resolver(t)

    def _start_resolver(self, t: TrackedOrder) -> None:
        if not self._stopping and t.status is S.UNKNOWN:
            self._spawn_once("resolve", t, self._resolve(t))

    async def _resolve(self, t: TrackedOrder) -> None:
        """Query an UNKNOWN order until the exchange (or the stream) says what became of it."""
        backoff = self._backoff()
        while t.status is S.UNKNOWN:
            asked_at = self._exchange_ms()
            try:
                await self.sync.refresh(t, raise_missing=True)
            except RejectedError as exc:
                if exc.code != NO_SUCH_ORDER:
                    log.warning("resolving %s: %s", t.client_order_id, exc)
                elif t.accepted:  # it existed: purged? the next reconciliation tries again
                    log.error("order %s: the exchange no longer knows it", t.client_order_id)
                    return
                else:
                    deadline = (t.sent_at_ms or asked_at) + self._recv_window_ms()
                    deadline += self.config.unknown_grace_ms
                    if asked_at >= deadline:
                        self._never_placed(t)
                        return
                    # The request may still be in flight: ask again until the deadline.
                    wait_s = min((deadline - asked_at) / 1000, max(backoff.next_delay(), 0.05))
                    await self._sleep(wait_s)
                    continue
            except _TRANSIENT as exc:
                log.info("resolving %s: %s", t.client_order_id, exc)
            except FatalError as exc:
                log.error("cannot resolve %s: %s", t.client_order_id, exc)
                return
            if t.status is not S.UNKNOWN:
                return
            await backoff.wait()

    def _never_placed(self, t: TrackedOrder) -> None:
        self.stats.never_placed += 1
        log.info("order %s was never placed", t.client_order_id)
        self._emit(
            self.tracker.never_placed(
                t.client_order_id, now_ms=self._exchange_ms(), recv_ms=self.clock.now_ms()
            )
        )

    # --- cancelling --------------------------------------------------------------------------

    async def _cancel(self, t: TrackedOrder) -> None:
        """Cancel one open order; on an unknown outcome query it, and send again only if the
        exchange still shows it open."""
        cid = t.client_order_id
        backoff = self._backoff()
        t.cancel_inflight = True
        try:
            for _ in range(self.config.cancel_max_attempts):
                if t.order.is_terminal:
                    return
                self.stats.cancels_sent += 1
                try:
                    await self._cancel_request(t)
                    return
                except RejectedError as exc:
                    if exc.code not in (CANCEL_REJECTED, NO_SUCH_ORDER):
                        log.warning("cancel %s rejected: %s", cid, exc)
                        return
                    # Not open: already terminal (its report may still be on the way), or an
                    # algo order that triggered: ask, and cancel the triggered order if open.
                    await self.sync.refresh(t)
                    if t.algo and t.actual_order_id is not None and t.order.status.is_open:
                        await self._cancel_triggered(t)
                    return
                except ExecutionStatusUnknown as exc:
                    self._unknown(t, f"cancel: {exc}", None, resolve=False, cancel=True)
                    await self._settle_unknown(t)
                except RetryableError as exc:
                    log.info("cancel %s failed (%s); retrying", cid, exc)
                await backoff.wait()
            log.error("cancel %s: gave up after %d attempts", cid, self.config.cancel_max_attempts)
        except FatalError as exc:
            log.error("cancel %s failed: %s", cid, exc)
        except _TRANSIENT as exc:
            log.warning("cancel %s: %s (reconciliation will retry)", cid, exc)
        finally:
            t.cancel_inflight = False

    async def _cancel_request(self, t: TrackedOrder) -> None:
        cid = t.client_order_id
        if t.algo:
            answer = await self.rest.call(
                "futures_cancel_algo_order", mutating=True, clientAlgoId=cid
            )
            algo_id = answer.get("algoId") if isinstance(answer, dict) else None
            self._emit(
                self.tracker.algo_canceled(
                    cid,
                    algo_id=algo_id if isinstance(algo_id, int) else None,
                    now_ms=self._exchange_ms(),
                    recv_ms=self.clock.now_ms(),
                )
            )
        else:
            row = await self.rest.call(
                "futures_cancel_order", mutating=True, symbol=t.symbol, origClientOrderId=cid
            )
            self.sync.apply_row(row, algo=False)

    async def _cancel_triggered(self, t: TrackedOrder) -> None:
        with contextlib.suppress(RejectedError):
            row = await self.rest.call(
                "futures_cancel_order", mutating=True, symbol=t.symbol, orderId=t.actual_order_id
            )
            self.sync.apply_row(row, algo=False)

    async def _settle_unknown(self, t: TrackedOrder) -> None:
        """After a cancel with an unknown outcome: query until the status is known again
        (bounded: an order still UNKNOWN afterwards is left to the reconciliation)."""
        backoff = self._backoff()
        for _ in range(4 * self.config.cancel_max_attempts):
            try:
                await self.sync.refresh(t)
            except _TRANSIENT as exc:
                log.info("re-query of %s failed: %s", t.client_order_id, exc)
            if t.status is not S.UNKNOWN:
                return
            await backoff.wait()

    async def _cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        """The cancel-all, then the symbol's open orders read back: every order we hold open
        that the exchange no longer lists is asked about (one it had expired or cancelled
        already ends here too, instead of waiting for the next reconciliation)."""
        try:
            await self._cancel_all_requests(symbol, keep_protection=keep_protection)
            await self.sync.sweep(symbol, *await self.sync.open_rows(symbol))
        except TradingError as exc:
            log.warning("cancel-all %s incomplete: %s (reconciliation will retry)", symbol, exc)

    async def _cancel_all_requests(self, symbol: str, *, keep_protection: bool = False) -> None:
        """`DELETE allOpenOrders` and `DELETE algoOpenOrders`; with `keep_protection`, every
        open order but our protective stops / take-profits, each cancelled by itself.

        Whether Binance's `DELETE allOpenOrders` also cancels the conditional (algo) orders,
        which our stop-loss / take-profit are, is not known (the reference's problem 11:
        UNSURE). If it did, REDUCING's cancel-all would take the position's protection with
        the entries, and the position would be unguarded until its flatten filled or a new
        stop went out. So `keep_protection` sends no blanket cancel: the symbol's open orders
        and open algo orders are read, and each one but the protection is cancelled by
        itself, ours (listed, or a create in flight) and those we do not track alike (placed
        by hand or by another program, which a blanket cancel-all took too): right under
        either answer, for one request per order (weight 1 each) instead of one."""
        if not keep_protection:
            for method in ("futures_cancel_all_open_orders", "futures_cancel_all_algo_open_orders"):
                try:
                    await self.rest.call(method, mutating=True, symbol=symbol)
                except (RejectedError, *_TRANSIENT) as exc:
                    log.warning("%s %s: %s", method, symbol, exc)
            return
        try:
            rows, algo_rows = await self.sync.open_rows(symbol)
        except (RejectedError, *_TRANSIENT) as exc:
            log.warning("open orders of %s not read: %s", symbol, exc)
            rows, algo_rows = [], []
        ours = [
            t
            for t in self.tracker.open_orders()  # listed, or a create still in flight
            if t.symbol == symbol
            and t.forced is None
            and not t.order.is_protective
            and not t.cancel_inflight  # its own cancel is on its way
            # a normal order's create in flight is cancelled once it is known to be open
            and (t.algo or t.order.status.is_open)
        ]
        await asyncio.gather(
            *(self._cancel_one(t.client_order_id, self._cancel_request(t)) for t in ours)
        )
        for u in rows:
            cid = u.client_order_id
            if self.tracker.get(cid) is not None or forced_close(cid) is not None:
                continue  # ours (cancelled above), or the exchange's own liquidation
            log.warning(
                "open order %s %s (%s %s) is not ours: cancelled with the others",
                symbol,
                cid,
                u.side.value,
                u.orig_type.value,
            )
            await self._cancel_one(
                cid,
                self.rest.call(
                    "futures_cancel_order", mutating=True, symbol=symbol, orderId=u.order_id
                ),
            )
        for a in algo_rows:
            if a.status is not AlgoStatus.NEW or self.tracker.get(a.client_algo_id) is not None:
                continue  # ours: kept (protective) or cancelled above
            log.warning(
                "open algo order %s %s (%s %s) is not ours: cancelled with the others",
                symbol,
                a.client_algo_id,
                a.side.value,
                a.order_type.value,
            )
            await self._cancel_one(
                a.client_algo_id,
                self.rest.call("futures_cancel_algo_order", mutating=True, algoId=a.algo_id),
            )

    async def _cancel_one(self, cid: str, request: Coroutine[Any, Any, Any]) -> None:
        try:
            await request
        except (RejectedError, *_TRANSIENT) as exc:
            log.warning("cancel %s: %s", cid, exc)

    # --- user stream -------------------------------------------------------------------------

    def _on_frame(self, raw: str | bytes, recv_ms: int) -> None:
        try:
            event = parse_user_event(decode_user_frame(raw), recv_ms, self.sync.leverage)
        except MalformedMessage as exc:
            self.stats.malformed_events += 1
            log.warning("malformed user event skipped: %s", exc)
            return
        except Exception:  # a frame the parser did not foresee: skipped, never the stream's end
            self.stats.malformed_events += 1
            log.exception("unreadable user event skipped: %s", str(raw)[:300])
            return
        try:
            self._dispatch(event)
        except Exception:  # a bug must not kill the stream: count it, keep going
            self.stats.malformed_events += 1
            log.exception("user event could not be applied: %s", str(raw)[:300])

    def _dispatch(self, event: UserEvent) -> None:
        if isinstance(event, OrderUpdate | AlgoUpdate):
            if event.symbol not in self.instruments:
                self._foreign(event.symbol, type(event).__name__)
                return
            if isinstance(event, OrderUpdate):
                applied, cid = self.sync.apply_update(event), event.client_order_id
            else:
                applied, cid = self.tracker.apply_algo(event), event.client_algo_id
            if applied is None:
                if self.sync.outside_report(event):
                    return  # placed by hand: a fill booked as outside:<cid>, the order named once
                self.stats.unknown_client_ids += 1  # an id we issue, not tracked
                if isinstance(event, OrderUpdate):  # an earlier journal's, maybe: taken over
                    self.sync.untracked_report(event)  # at the next pass, which books its fills
                log.warning("%s for %s, not one of our orders: ignored", type(event).__name__, cid)
            self._applied(applied)
        elif isinstance(event, AccountUpdate):
            self._on_account_update(event)
        elif isinstance(event, AccountConfigUpdate):
            if event.symbol is not None and event.leverage is not None:
                self.sync.leverage[event.symbol] = event.leverage
        elif isinstance(event, MarginCall):
            self.stats.margin_calls += 1
            self._emit(
                [
                    MarginCalled(
                        event_time_ms=event.event_time_ms,
                        recv_time_ms=event.recv_time_ms,
                        cross_wallet_balance=event.cross_wallet_balance,
                        positions=event.positions,
                    )
                ]
            )
        elif isinstance(event, ListenKeyExpired):
            if event.listen_key is None or event.listen_key == self.stream.listen_key:
                self.stats.listen_key_expiries += 1
                self.stream.renew("the exchange expired the listenKey")
        elif isinstance(event, IgnoredEvent):
            self.stats.ignored_events += 1

    def _foreign(self, symbol: str, kind: str) -> None:
        self.stats.foreign_symbol_events += 1
        log.warning("%s for %s, a symbol we do not trade: ignored", kind, symbol)

    def _on_account_update(self, u: AccountUpdate) -> None:
        events: list[Event] = [
            BalanceChanged(
                event_time_ms=u.transaction_time_ms,
                recv_time_ms=u.recv_time_ms,
                balance=balance,
                reason=u.reason,
            )
            for balance in u.balances
        ]
        for position in u.positions:
            if position.symbol not in self.instruments:
                self._foreign(position.symbol, "ACCOUNT_UPDATE position")
                continue
            events.append(
                PositionChanged(
                    event_time_ms=u.transaction_time_ms,
                    recv_time_ms=u.recv_time_ms,
                    position=position,
                    reason=u.reason,
                )
            )
        self._emit(events)
        if u.reason == "FUNDING_FEE":  # which symbol and how much: only the income endpoint says
            self._spawn_job("funding", self._quietly("funding", self.sync.catch_up_funding))

    def _on_connected(self, connects: int) -> None:
        if self.connected_ms is None:
            self.connected_ms = self._exchange_ms()
        if connects > 1 and self._running and not self._stopping:
            self._reconcile_again = True
            task = self._reconnect_task
            if task is None or task.done():
                self._reconnect_task = self._spawn(self._reconcile_reconnects(), "reconcile")

    async def _reconcile_reconnects(self) -> None:
        """Reconcile after a reconnect, and once more after each reconnect that came while a
        pass ran (none is dropped: the events missed in its gap may come after the reads)."""
        while self._reconcile_again and not self._stopping:
            self._reconcile_again = False
            await self._reconcile_quietly("reconnect")

    def _on_stream_state(self, state: StreamState, detail: str) -> None:
        now = self.clock.now_ms()
        event = StreamStateChanged(
            event_time_ms=now, recv_time_ms=now, stream=STREAM, state=state, detail=detail
        )
        self._emit([event])

    # --- reconciliation ----------------------------------------------------------------------

    async def reconcile(self, reason: str, *, vet: Vet | None = None) -> VenueSnapshot:
        """Read open orders, algo orders, positions, balances, new fills and funding over REST;
        emit what we missed, then a `VenueSnapshot` of what the exchange says we have (seen
        by `vet` first, if given)."""
        async with self._reconcile_lock:
            return await self.sync.reconcile(reason, vet=vet)

    def _reused_id(self, line: str) -> None:
        """The exchange gave one of our orders an id another of ours holds (`OrderTracker`):
        the account was reset under us (or is another), as a reconciliation finds it when
        the last fill known is gone (`AccountChanged`), and before any of its fills is taken
        for one booked already."""
        exc = AccountChanged(
            f"{line}. The account was reset (a restarted local exchange, a testnet reset) or "
            "is another one; its fills reuse trade ids the books hold and would be dropped as "
            "booked already"
        )
        if self.on_account_changed is None:
            log.error("%s", exc)
        else:
            self.on_account_changed(exc)

    async def _reconcile_quietly(self, reason: str) -> None:
        try:
            await self.reconcile(reason)
        except AccountChanged as exc:
            self.stats.reconcile_failures += 1
            if self.on_account_changed is None:
                log.error("reconciliation (%s) failed: %s", reason, exc)
            else:
                self.on_account_changed(exc)
        except TradingError as exc:
            self.stats.reconcile_failures += 1
            log.warning("reconciliation (%s) failed: %s", reason, exc)
        except Exception:  # unforeseen (a bug, an odd answer): this pass only, not the loop
            self.stats.reconcile_failures += 1
            log.exception("reconciliation (%s) failed", reason)

    async def _reconcile_loop(self) -> None:
        while True:
            await self._sleep(self.config.reconcile_interval_s)
            await self._reconcile_quietly("periodic")

    # --- dead-man switch ---------------------------------------------------------------------

    async def _deadman_loop(self) -> None:
        countdown = self.config.deadman_countdown_ms
        while True:
            for symbol in self.symbols:
                if await self._countdown(symbol, countdown):
                    self.stats.deadman_refreshes += 1
                else:
                    self.stats.deadman_failures += 1
            await self._sleep(self.config.deadman_refresh_s)

    async def _countdown(self, symbol: str, countdown_ms: int) -> bool:
        try:
            await self.rest.call(
                "futures_countdown_cancel_all",
                weight=10,
                mutating=True,
                symbol=symbol,
                countdownTime=countdown_ms,
            )
            self._failed_lines.clear(symbol)
            return True
        except (RejectedError, FatalError, *_TRANSIENT) as exc:
            # every deadman_refresh_s through an outage: said once a minute
            self._failed_lines.say(
                log,
                logging.WARNING,
                symbol,
                self.clock.now_ms(),
                "countdownCancelAll %s %d ms failed: %s",
                symbol,
                countdown_ms,
                exc,
            )
            return False
        except Exception:  # unforeseen: this refresh failed; the dead-man loop goes on
            log.exception("countdownCancelAll %s %d ms failed", symbol, countdown_ms)
            return False

    # --- plumbing ----------------------------------------------------------------------------

    def _applied(self, applied: Applied | None) -> None:
        if applied is None:
            return
        tracked, events = applied
        self._emit(events)
        self._follow_up(tracked)

    def _follow_up(self, t: TrackedOrder) -> None:
        """Start what an order's new state asks for: missing fills, a query, a wanted cancel."""
        if self._stopping and not t.cancel_requested:
            return
        if t.needs_fills and t.exchange_order_id is not None:
            self._spawn_once("fills", t, self._quietly("fills", lambda: self.sync.fetch_fills(t)))
        if t.order.is_terminal:
            return
        if t.needs_query:
            self._spawn_once("query", t, self._quietly("query", lambda: self.sync.refresh(t)))
        if t.cancel_requested and t.status.is_open and not t.cancel_inflight:
            self._spawn_once("cancel", t, self._cancel(t), _Request.CANCEL)

    async def _quietly(self, what: str, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run a REST follow-up; a failure is logged (the next reconciliation repeats it).
        `job` makes the coroutine only when this runs: a follow-up dropped because the same
        one is running (`_spawn_keyed`) leaves no coroutine never awaited."""
        try:
            await job()
        except TradingError as exc:
            log.warning("%s failed: %s (reconciliation will retry)", what, exc)
        except Exception:
            log.exception("%s failed (reconciliation will retry)", what)

    def _holding(self, vet: StartVet) -> Vet:
        """`vet` as the start-up reconciliation calls it (`start`): every event emitted from
        now on is held, until `vet` has passed the snapshot (then handed on, in their order,
        before the snapshot). A start that fails before (`_drop_held`) journals none of the
        fills it recovered: journaled, their trade ids and times would tell the next start
        they had been booked (`SqliteJournal.last_trade_id`, `last_exchange_ms`), and its
        books would hold a hand order's position as the journal's own."""
        held: list[Event] = []
        self._held = held

        async def vetted(snapshot: VenueSnapshot) -> None:
            await vet(snapshot, tuple(held))
            self._held = None
            self._emit(held)

        return vetted

    def _drop_held(self) -> None:
        """The start failed before its `vet` passed: the events held for it are dropped."""
        held, self._held = self._held, None
        if held is not None:
            log.info(
                "start-up reconciliation not passed: its %d event(s) not journaled (the next "
                "start reads them again)", len(held),
            )  # fmt: skip

    def _emit(self, events: Iterable[Event]) -> None:
        """Hand each event to the listener (journaled first if `journal_events`); neither a
        journal nor a listener failure may stop the executor. While the start's `vet` has not
        passed its snapshot, held instead (`_holding`)."""
        if (held := self._held) is not None:
            held.extend(events)
            return
        journal = self.config.journal_events
        for event in events:
            if journal:
                try:
                    self.journal.record(event)
                except Exception:
                    self.stats.journal_errors += 1
                    log.exception("journal failed to record %s", type(event).__name__)
            try:
                self.listener(event)
            except Exception:
                self.stats.listener_errors += 1
                log.exception("listener failed on %s", type(event).__name__)

    def _spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, request: _Request | None = None
    ) -> asyncio.Task[Any]:
        """Run `coro` as a task of this venue (`request`: the order request it sends)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        if request is not None:
            self._requests[task] = request
        task.add_done_callback(self._task_done)
        return task

    def _spawn_once(
        self,
        job: str,
        t: TrackedOrder,
        coro: Coroutine[Any, Any, Any],
        request: _Request | None = None,
    ) -> None:
        """Run `coro` for this order unless the same job already runs for it."""
        self._spawn_keyed((job, t.client_order_id), coro, request)

    def _spawn_job(self, job: str, coro: Coroutine[Any, Any, Any]) -> None:
        self._spawn_keyed((job, ""), coro)

    def _spawn_keyed(
        self,
        key: tuple[str, str],
        coro: Coroutine[Any, Any, Any],
        request: _Request | None = None,
    ) -> None:
        if key in self._busy:
            coro.close()
            return
        task = self._spawn(coro, "-".join(filter(None, key)), request)
        self._busy[key] = task
        task.add_done_callback(lambda _: self._busy.pop(key, None))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._requests.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s died", task.get_name(), exc_info=task.exception())

    def _backoff(self) -> Backoff:
        cfg = self.config
        return Backoff(initial_s=cfg.resolve_initial_s, max_s=cfg.resolve_max_s, sleep=self._sleep)

    def _exchange_ms(self) -> int:
        """Our estimate of the exchange's clock (ms)."""
        return self.rest.clock.now_ms()

    def _recv_window_ms(self) -> int:
        """The recvWindow our signed requests carry (python-binance may force its own)."""
        windows = [self.config.recv_window_ms, self.rest.recv_window_ms]
        client_window = getattr(self.rest.client, "REQUEST_RECVWINDOW", None)
        if isinstance(client_window, int):
            windows.append(client_window)
        return max(windows)


def _not_sent(exc: RetryableError | FatalError) -> NotSent:
    """Why a create request that failed certain not to have executed never reached the book:
    the closing summary counts it apart from the exchange's rejections."""
    if isinstance(exc, FatalError):
        return NotSent.ACCESS
    return NotSent.NETWORK_OR_RATE_LIMIT


__all__ = ["ExecutorConfig", "LiveVenue", "VenueStats"]
