"""`InProcessVenue`: the daemon's `core.venue.Venue` over the in-process matching engine.

The ExecManager cannot tell it from the live venue, yet nothing is formatted to JSON or parsed
back: requests go to the engine's typed API (`Engine.submit` with the `core` request, after
the same boundary checks as `gateway.order_params`; conditional types STOP_MARKET,
TAKE_PROFIT_MARKET and closePosition become the engine's algo orders; `cancel_order`,
`cancel_conditional`, `cancel_open_orders` / `cancel_open_conditionals`), and the engine's
typed reports (`Engine.drain_reports`: the values its ORDER_TRADE_UPDATE / ALGO_UPDATE /
ACCOUNT_UPDATE JSON carries) become the `gateway.user_wire` records the live gateway parses
from the wire, turned into `core` order events by the same
`gateway.order_tracker.OrderTracker`; ACCOUNT_UPDATE becomes BalanceChanged / PositionChanged
as in `gateway.main_gateway`. tests/backtest/test_venue_typed_parity.py runs one session both
ways (wire JSON + user_wire parsing, typed) and compares the core events.

Order-entry latency (`VenueConfig.latency_ms`, or a distribution in `entry_latency`): a request
reaches the engine that long after it was made, on the simulated clock. Acknowledgement latency
(`ack_latency`): the engine's events (and our own answers to a request: a refusal, a cancel's
result) reach the listener that long after the engine produced them. Each direction is one
ordered connection: a draw never lets a later request (or event) overtake an earlier one. The
runner calls `release(t)` before it hands the engine data stamped `t`, so whatever is due at
or before `t` happens first, at its due time (a request is priced on the market as it was at
that instant). With 0 ms a request is executed inside `submit` and events are delivered at
once. Draws come from generators seeded with `VenueConfig.seed` (`backtest.realism`): a given
seed gives the same run; no wall clock.

Liquidation: the engine closes a position whose margin is exhausted with its own `autoclose-`
order (Binance's liquidation order). As the live gateway does, the venue tracks such an order
from its first report on (`OrderTracker.apply_exchange_order`), so its fills reach the books
(which accept the exchange's own orders) like any other fill, and only its fills.
"""

import contextlib
import heapq
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backtest.realism import BookFeed, LatencyModel, parse_latency, rng_for
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import TEXT, NotSent, OrderType, PositionSide, TimeInForce
from core.enums import AlgoStatus as EngineAlgoStatus
from core.events import (
    BalanceChanged,
    Event,
    PositionChanged,
)
from core.instrument import Instrument
from core.orders import OrderRequest, forced_close
from core.venue import EventListener
from exchange_sim.engine import Exchange
from exchange_sim.engine.reports import AccountReport, AlgoReport, OrderReport, Report
from exchange_sim.errors import BinanceError
from gateway.order_params import exact
from gateway.order_tracker import Applied, OrderTracker
from gateway.user_wire import AlgoStatus, AlgoUpdate, OrderUpdate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConfig:
    """Realism knobs of the venue (fees live in `exchange_sim.engine.EngineConfig`)."""

    latency_ms: int = 0  # order-entry latency: request made -> request at the matching engine
    entry_latency: LatencyModel | None = None  # a distribution instead of latency_ms
    ack_latency: LatencyModel | None = None  # engine event -> listener; None = at once
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms}")

    def entry_model(self) -> LatencyModel:
        return self.entry_latency or parse_latency(self.latency_ms)


@dataclass(slots=True)
class VenueStats:
    submitted: int = 0
    rejected: int = 0  # refused by the engine (BinanceError) or by order_params
    cancels: int = 0
    cancel_misses: int = 0  # cancel of an order already gone (-2011 / -2013): harmless
    malformed_events: int = 0  # kept for callers: typed reports cannot be malformed
    foreign_events: int = 0  # events for orders not ours (none expected)
    liquidations: int = 0  # the engine's autoclose orders on our account
    entry_latency_ms_total: int = 0  # sum of order-entry latency draws (mean = / draws)
    entry_latency_draws: int = 0
    entry_latency_ms_min: int = 0  # the smallest and largest draw (0 without any draw)
    entry_latency_ms_max: int = 0
    ack_latency_ms_total: int = 0  # sum of acknowledgement latency draws
    ack_latency_draws: int = 0
    book_updates: int = 0  # recorded books (top of book / depth) handed to the engine
    depth_gaps: int = 0  # depthUpdate diffs that did not chain (`pu` != previous `u`)


class InProcessVenue:
    """`core.venue.Venue` over `exchange_sim.engine.Exchange` for one account; see module doc."""

    def __init__(
        self,
        *,
        engine: Exchange,
        account: str,
        clock: SimClock,
        instruments: Mapping[str, Instrument],
        config: VenueConfig | None = None,
        listener: EventListener | None = None,
    ) -> None:
        self.engine = engine
        self.account = account
        self.clock = clock
        self.instruments = dict(instruments)
        self.config = config or VenueConfig()
        self.listener = listener
        self.tracker = OrderTracker(max_closed=1_000)
        self.stats = VenueStats()
        self.queue: list[tuple[int, int, Callable[[], None]]] = []  # (due ms, seq, action)
        # Engine reports (account, report) and our own event lists, waiting for the listener.
        self._inbox: deque[tuple[str, Report] | list[Event]] = deque()
        self._core = engine.engine  # the typed API
        self._events = self._core.events  # its pending records: pump skips when none
        self._delivering = False
        self._seq = 0
        self._leverage: dict[str, int] = {}
        cfg = self.config
        entry = cfg.entry_model()
        self._entry_draw = None if entry.is_zero else entry.sampler(rng_for(cfg.seed, "entry"))
        ack = cfg.ack_latency
        self._ack_draw = (
            None if ack is None or ack.is_zero else ack.sampler(rng_for(cfg.seed, "ack"))
        )
        self._last_entry_due = 0
        self._last_ack_due = 0
        self._book_feed: BookFeed | None = None

    @property
    def book_feed(self) -> BookFeed | None:
        """The recorded book, brought up to date before each request reaches the engine."""
        return self._book_feed

    @book_feed.setter
    def book_feed(self, feed: BookFeed | None) -> None:
        self._book_feed = feed
        if feed is not None:
            feed.attach(self.stats)

    # --- core.venue.Venue ------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> None:
        self.tracker.track(request, now_ms=self.clock.now_ms())
        self.stats.submitted += 1
        if self._entry_draw is None:  # no latency: at the engine now (no closure to queue)
            self._send(request)
        else:
            self._later(lambda: self._send(request))

    def cancel(self, symbol: str, client_order_id: str) -> None:
        self.stats.cancels += 1
        if self._entry_draw is None:
            self._cancel(symbol, client_order_id)
        else:
            self._later(lambda: self._cancel(symbol, client_order_id))

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        if keep_protection:
            self._later(lambda: self._cancel_all_but_protection(symbol))
        else:
            self._later(lambda: self._cancel_all(symbol))

    def reconcile_soon(self, reason: str) -> None:
        """Nothing is overdue here: the engine answers every request in turn."""

    # --- time ------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Requests made but not yet at the engine."""
        return len(self.queue)

    def next_due_ms(self) -> int | None:
        return self.queue[0][0] if self.queue else None

    def release(self, now_ms: int) -> None:
        """Execute every request due at or before `now_ms`, each at its due time, in order."""
        queue = self.queue
        while queue and queue[0][0] <= now_ms:
            due, _, action = heapq.heappop(queue)
            if due > self.clock.now_ms():
                self.clock.set_ms(due)
            action()

    def pump(self) -> None:
        """Hand every engine event generated so far to the listener, in the engine's order.

        Re-entrant: a listener that reacts to an event by sending an order (executed at once
        without latency) makes the engine generate more events while earlier ones are still
        being delivered; those join the end of the queue, so the books always see the
        engine's events in the order it produced them (a fill before the ACCOUNT_UPDATE it
        caused, before anything a later order did)."""
        if not self._events.pending and not self._inbox:
            return  # nothing to hand over (most calls: a quiet trade or mark)
        drained = self._core.drain_reports()
        if drained:
            if self._ack_draw is not None:
                self._ack_later(drained)
                return
            self._inbox.extend(drained)
        if not self._delivering:
            self._deliver_all()

    def _deliver_all(self) -> None:
        inbox = self._inbox
        self._delivering = True
        try:
            while inbox:
                item = inbox.popleft()
                if isinstance(item, tuple):  # an engine report, else a list of our events
                    self._dispatch(*item)
                else:
                    self._deliver(item)
        finally:
            self._delivering = False

    def _dispatch(self, account: str, report: Report) -> None:
        """One engine report, received now: as the live gateway's record of the same JSON."""
        if account != self.account:
            return
        cls = report.__class__
        if cls is OrderReport:
            u = order_update(report, self.clock.now_ms())  # type: ignore[arg-type]
            if forced_close(u.client_order_id) is not None:
                self._liquidation(u)
                return
            applied = self.tracker.apply_order(u)
        elif cls is AlgoReport:
            applied = self.tracker.apply_algo(
                algo_update(report, self.clock.now_ms())  # type: ignore[arg-type]
            )
        else:
            if cls is AccountReport:
                self._account_update(report, self.clock.now_ms())  # type: ignore[arg-type]
            # OtherReport (TRADE_LITE, MARGIN_CALL, ACCOUNT_CONFIG_UPDATE): nothing to act on
            return
        if applied is None:  # `_applied`, inline: a call fewer per report
            self.stats.foreign_events += 1
            return
        self._deliver(applied[1])  # (the parity audit's venue holds them back)

    # --- internals -------------------------------------------------------------------------

    def _later(self, action: Callable[[], None]) -> None:
        draw = self._entry_draw
        if draw is None:
            action()
            return
        ms = draw()
        stats = self.stats
        if not stats.entry_latency_draws or ms < stats.entry_latency_ms_min:
            stats.entry_latency_ms_min = ms
        if ms > stats.entry_latency_ms_max:
            stats.entry_latency_ms_max = ms
        stats.entry_latency_draws += 1
        stats.entry_latency_ms_total += ms
        # One connection: a request never overtakes the one sent before it.
        due = max(self.clock.now_ms() + ms, self._last_entry_due)
        self._last_entry_due = due
        self._seq += 1
        heapq.heappush(self.queue, (due, self._seq, action))

    def _ack_later(self, items: list[Any]) -> None:
        """Deliver `items` (engine events or our event lists) after an acknowledgement draw."""
        assert self._ack_draw is not None
        ms = self._ack_draw()
        self.stats.ack_latency_draws += 1
        self.stats.ack_latency_ms_total += ms
        due = max(self.clock.now_ms() + ms, self._last_ack_due)
        self._last_ack_due = due
        self._seq += 1
        heapq.heappush(self.queue, (due, self._seq, lambda: self._arrive(items)))

    def _arrive(self, items: list[Any]) -> None:
        self._inbox.extend(items)
        if not self._delivering:
            self._deliver_all()

    def _liquidation(self, u: OrderUpdate) -> None:
        """The engine's liquidation order: tracked on first sight; only its fills reach the
        listener (the books know no such order, only its trades)."""
        if self.tracker.get(u.client_order_id) is None:
            self.stats.liquidations += 1
        self._applied(self.tracker.apply_exchange_order(u))

    def _send(self, request: OrderRequest) -> None:
        if self._book_feed is not None:
            self._book_feed.feed_until(self.clock.now_ms())
        try:
            check_request(request, self.instruments[request.symbol])
            self._core.enter(self.account, request, legacy=False)
        except BinanceError as e:
            self._rejected(request, e.code, e.msg)
        except ValueError as e:  # refused at the boundary, as the live executor does
            self._rejected(request, 0, str(e), NotSent.LOCAL_CHECK)
        self.pump()

    def _rejected(
        self, request: OrderRequest, code: int, reason: str, not_sent: NotSent | None = None
    ) -> None:
        self.pump()  # whatever the engine said before refusing comes first
        self.stats.rejected += 1
        now = self.clock.now_ms()
        self._emit(
            self.tracker.rejected(
                request.client_order_id,
                code=code,
                reason=reason,
                now_ms=now,
                recv_ms=now,
                not_sent=not_sent,
            )
        )

    def _cancel(self, symbol: str, cid: str) -> None:
        tracked = self.tracker.get(cid)
        core, account = self._core, self.account
        try:
            if tracked is not None and tracked.algo and tracked.actual_order_id is None:
                # By algoId once known: the engine looks a clientAlgoId up among every algo
                # order the account ever had (O(history)), an algoId directly.
                known = tracked.order.order_id
                if known:
                    answer = core.cancel_conditional(account, symbol, algo_id=known)
                else:
                    answer = core.cancel_conditional(account, symbol, client_algo_id=cid)
                now = self.clock.now_ms()
                self.pump()
                self._emit(
                    self.tracker.algo_canceled(cid, algo_id=answer.algo_id, now_ms=now, recv_ms=now)
                )
                return
            if tracked is not None and tracked.algo:  # triggered: cancel the engine's order
                core.cancel_order(account, symbol, order_id=tracked.actual_order_id)
            else:
                core.cancel_order(account, symbol, client_order_id=cid)
        except BinanceError:  # already filled / canceled: its end came (or comes) as an event
            self.stats.cancel_misses += 1
        self.pump()

    def _cancel_all(self, symbol: str) -> None:
        core = self._core
        for call in (core.cancel_open_orders, core.cancel_open_conditionals):
            with contextlib.suppress(BinanceError):
                call(self.account, symbol)
            self.pump()
        # An algo order canceled by cancel-all reports ALGO_UPDATE CANCELED through pump.

    def _cancel_all_but_protection(self, symbol: str) -> None:
        """As `LiveVenue.cancel_all(keep_protection=True)` (REDUCING, and its stop with a
        position left open): every open order but the protective stops / take-profits (the
        account holds no algo order but ours)."""
        with contextlib.suppress(BinanceError):
            self._core.cancel_open_orders(self.account, symbol)
        self.pump()
        for t in self.tracker.open_orders():
            if t.algo and t.symbol == symbol and not t.order.is_protective:
                self._cancel(symbol, t.client_order_id)

    def _applied(self, applied: Applied | None) -> None:
        if applied is None:
            self.stats.foreign_events += 1
            return
        self._deliver(applied[1])

    def _account_update(self, u: AccountReport, recv_ms: int) -> None:
        """As the gateway reads ACCOUNT_UPDATE: the cross wallet as available balance, and the
        leverage this venue knows (none: 1, as ACCOUNT_UPDATE carries none)."""
        t = u.event_time_ms
        wallet = u.wallet
        balance = Balance(
            asset="USDT",
            wallet_balance=wallet,
            available_balance=wallet,
            cross_wallet_balance=wallet,
            update_time_ms=t,
            balance_change=u.balance_change,
        )
        events: list[Event] = [
            BalanceChanged(event_time_ms=t, recv_time_ms=recv_ms, balance=balance, reason=u.reason)
        ]
        leverage = self._leverage
        events.extend(
            PositionChanged(
                event_time_ms=t,
                recv_time_ms=recv_ms,
                position=Position(
                    symbol=p.symbol,
                    qty=p.qty,
                    entry_price=p.entry_price,
                    position_side=PositionSide.BOTH,
                    leverage=leverage.get(p.symbol, 1),
                    margin_type=p.margin_type,
                    update_time_ms=t,
                ),
                reason=u.reason,
            )
            for p in u.positions
            if p.symbol in self.instruments
        )
        self._deliver(events)

    def _emit(self, events: list[Event]) -> None:
        """Our own events (a refusal, a cancel answer): after every engine event before them."""
        if events and self._ack_draw is not None:
            self._ack_later([events])
            return
        if events:
            self._inbox.append(events)
        if not self._delivering:
            self._deliver_all()

    def _deliver(self, events: list[Event]) -> None:
        listener = self.listener
        if listener is None:
            raise RuntimeError("InProcessVenue has no listener")
        for e in events:
            listener(e)


_WIRE_ALGO_STATUS = {s: AlgoStatus(s.value) for s in EngineAlgoStatus}
_LIMIT_TIFS = frozenset({TimeInForce.GTC, TimeInForce.GTX, TimeInForce.IOC, TimeInForce.FOK})
_PRICED = (OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT)
_CLOSE_POSITION = (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


def check_request(request: OrderRequest, inst: Instrument) -> None:
    """ValueError for a request the live executor refuses at its boundary, with the same
    message (`gateway.order_params.order_params`, which also builds the REST parameters)."""
    kind = request.type
    if kind is OrderType.TRAILING_STOP_MARKET or kind is OrderType.LIQUIDATION:
        raise ValueError(f"order type {kind} is not supported")
    if kind.is_conditional:
        if request.stop_price is None:
            raise ValueError(f"{kind} needs a stop price")
        exact(inst.format_price, request.stop_price, "stop price")
    if request.close_position:
        if kind not in _CLOSE_POSITION:
            raise ValueError("closePosition needs STOP_MARKET or TAKE_PROFIT_MARKET")
    else:
        if request.quantity is None or request.quantity <= 0:
            raise ValueError("quantity must be > 0")
        exact(inst.format_qty, request.quantity, "quantity")
    if kind in _PRICED:
        if request.price is None:
            raise ValueError(f"{kind} needs a price")
        exact(inst.format_price, request.price, "price")
        tif = request.time_in_force or TimeInForce.GTC
        if tif not in _LIMIT_TIFS:
            raise ValueError(f"time in force {tif} is not supported")
    elif request.price is not None:
        raise ValueError(f"a {kind} order takes no price")


def order_update(r: OrderReport, recv_ms: int) -> OrderUpdate:
    """The record `gateway.user_wire.parse_order_update` makes of the same report's JSON."""
    return OrderUpdate(
        symbol=r.symbol,
        client_order_id=r.client_order_id,
        order_id=r.order_id,
        side=r.side,
        type=r.type,
        orig_type=r.orig_type,
        time_in_force=r.time_in_force,
        quantity=r.quantity,
        price=r.price,
        avg_price=r.avg_price,
        stop_price=r.stop_price,
        status=r.status,
        cum_qty=r.cum_qty,
        reduce_only=r.reduce_only,
        close_position=r.close_position,
        position_side=r.position_side,
        event_time_ms=r.event_time_ms,
        recv_time_ms=recv_ms,
        execution=r.execution,
        expiry_reason=TEXT[r.expiry_reason],
        last_qty=r.last_qty,
        last_price=r.last_price,
        trade_id=r.trade_id,
        trade_time_ms=r.event_time_ms,
        commission=r.commission,
        commission_asset=r.commission_asset,
        realized_pnl=r.realized_pnl,
        is_maker=r.is_maker,
    )


def algo_update(r: AlgoReport, recv_ms: int) -> AlgoUpdate:
    """The record `gateway.user_wire.parse_algo_update` makes of the same report's JSON."""
    return AlgoUpdate(
        symbol=r.symbol,
        client_algo_id=r.client_algo_id,
        algo_id=r.algo_id,
        side=r.side,
        order_type=r.order_type,
        quantity=r.quantity,
        status=_WIRE_ALGO_STATUS[r.status],
        trigger_price=r.trigger_price,
        price=r.price,
        reduce_only=r.reduce_only,
        close_position=r.close_position,
        position_side=r.position_side,
        time_in_force=r.time_in_force,
        actual_order_id=r.actual_order_id,
        filled_qty=r.filled_qty,
        reason=r.reason,
        event_time_ms=r.event_time_ms,
        recv_time_ms=recv_ms,
    )


def synthetic_touch(price_ticks: int, slippage_bps: Decimal, tick: Decimal) -> tuple[int, int]:
    """(bid, ask) in ticks around a trade price, `slippage_bps` away each side, at least one
    tick apart from the price (rounded away from it): what a taker pays in the bps model."""
    price = price_ticks * tick
    off = price * slippage_bps / Decimal(10_000)
    off_ticks = max(1, int((off / tick).to_integral_value(rounding="ROUND_CEILING")))
    return price_ticks - off_ticks, price_ticks + off_ticks


SYNTHETIC_TOUCH_QTY = Decimal(1_000_000)  # contracts a side: more than any order here takes


def send_synthetic_touch(
    on_book_ticker: Callable[[str, Decimal, Decimal, Decimal, Decimal, int], None],
    symbol: str,
    price_ticks: int,
    slippage_bps: Decimal,
    tick: Decimal,
    time_ms: int,
) -> None:
    """The engine's touch set to `synthetic_touch` around a trade at `price_ticks`, deep enough
    that a taker order fills at it whole: the bps slippage model's book, sent just before the
    trade it surrounds. One rule for the runner's bars and trades and the fast path, whose
    results must stay identical."""
    bid, ask = synthetic_touch(price_ticks, slippage_bps, tick)
    on_book_ticker(
        symbol, bid * tick, SYNTHETIC_TOUCH_QTY, ask * tick, SYNTHETIC_TOUCH_QTY, time_ms
    )
