"""ExecManager: the one path every market-data item and every venue event takes in the daemon.

Market data (`on_item`: Trade, BookTicker, MarkPrice, Bar, GapDetected, GapHealed,
StreamStateChanged), in this order:
  1 BookKeeper.mark(item)                          marks, unrealized PnL
  2 cancel our orders older than `stale_order_ms`  a heap by deadline: O(1) when none is due
  3 portfolio checks                               kill-switch file (the RiskManager stats it at
                                                   most once a second); RiskManager.on_equity
                                                   when equity moved materially, else once a
                                                   second -> ACTIVE / REDUCING / HALTED
  4 strategy callbacks -> proposals                closed bars, trades, book tops; the strategy
                                                   sees the account and its own open orders
                                                   (`StrategyView`)
  5 DecisionMade; RiskManager.check -> the approved OrderRequest, or a RiskDenied
  6 journal [DecisionMade, OrderSubmitted] (or [DecisionMade, RiskDenied])
  7 venue.submit(request), then BookKeeper.apply   submit returns at once (the request is on its
                                                   way); outcomes come back as events, after
                                                   the books know the order
A decision is journaled together with the record it leads to: in one transaction when the
journal has `record_many(events)`, else record by record; always before the venue hears of it.

A `TargetPosition` becomes the order that moves the position to the target, net of the orders
already working toward it: nothing while one of them is still unanswered (PENDING_SUBMIT or
UNKNOWN) or being cancelled; working orders that oppose the target, overshoot it or sit at
another price are cancelled first and the rest follows when the cancel is confirmed. The
latest target per symbol is re-worked after each fill or order end, so a target is reached
without waiting for the next bar. Less than one lot (or, for an entry, less than the minimum
notional) away from the target counts as there. A position closed by its stop-loss or
take-profit, or by the market close sent in its place (a level refused as past, -2021, or
already crossed: `Order.intent`), is not re-opened toward the same target: the symbol stays
flat until the strategy's target turns flat or to the other side (re-worked at once, the exit
was undone by a market order at the next event, and a stop-loss on a falling price by a new
entry at every stop).

Venue events (`on_event`): journal first, then BookKeeper.apply, then react: a fill counts a
trade for the RiskManager (once per order) and has the exchange-side stop-loss and take-profit
fitted to the position (`trading_engine.protection`, which also closes what a stop refused as
already triggered leaves open); OrderStatusUnknown and rejections feed the circuit breaker, but
for those that say where the market is (`venue_events.MARKET_REFUSALS`: -5021, -5022, -2021).
A fill of the exchange's own order on our account (a liquidation, an auto-deleveraging, a
delisting settlement) is booked like any fill, logged as a WARNING ("BTCUSDT liquidated by the
exchange: SELL 0.100 @ ...") and stops the trading (RiskManager.record_forced_close: REDUCING,
then HALTED until an operator resets). A MARGIN_CALL (MarginCalled) is journaled and logged as a
WARNING with the positions at risk (at most one WARNING a minute); nothing is sent for it.
Events for a symbol not traded, or for an order that is not ours, are logged and counted and
change nothing (not even the journal); but a fill of an order placed outside the daemon (by
hand, another program; `core.orders.outside_order`), reported by the user stream or found by a
reconciliation or the start-up, is booked like a liquidation's, without the halt; the order
itself is not ours.

Trading state: on REDUCING (drawdown, daily loss, trades per day, circuit breaker, kill switch,
a stream that FAILED, a liquidation) the positions are flattened, their stop-loss kept until
flat, and once the books say flat with no order open the RiskManager confirms -> HALTED; a
position found while HALTED means REDUCING again (`trading_engine.reducing`). Outside ACTIVE
the strategy still runs, but its proposals are denied with the state and its cause as the
reason (journaled RiskDenied); nothing it says reaches the venue. A target repeated bar after
bar is denied once (again when it, the position or the state changes): a halted daemon journals
no denial a minute.

A `CancelProposal` (a strategy cancelling one of its orders) is journaled as a DecisionMade and
checked by `RiskManager.check_cancel` in any trading state (a cancel never adds exposure):
refused, a CancelDenied is journaled with it (the same refusal again for the same order is
counted, not journaled); approved, the venue's cancel follows. An order whose cancel is already
on its way (ours, or the strategy's last) is not cancelled again, nor journaled. Cancelling an
order that works toward a `TargetPosition` does not drop the target: once the cancel is
confirmed, the target is worked again (a new order); to stop, the strategy sets a new target.

After `stop_trading` (the daemon's shutdown) nothing is sent but the stop-loss of a position
left open without one (`Protection.guard_kept`).

Events a synchronous venue emits from inside `submit` / `cancel` are queued and processed
right after the current step, in order, so the books never change under a decision half made.

Each strategy call is timed (two reads of a real monotonic timer, ~0.15 us): one over
`ExecConfig.max_strategy_call_ms` is counted and warned about (at most once a minute), never
acted on. A callback the strategy's class leaves as StrategyBase's no-op is neither called nor
timed (set on the class, not patched onto the object later).

Hot path: no logging, no string formatting, no allocation when an item changes nothing; the
clock is read once per item.

Parts, one job each (composed here; a part never holds the manager, it acts through the
callables it is given, `trading_engine.exec_desk.Desk`): `protection` (stop-loss / take-profit),
`reducing` (REDUCING and HALTED), `stale_orders` (step 2's watch), `fired_watch` (overdue answers
of crossed stops), `equity_watch` (step 3's equity check, the drawdown peak's journaling),
`bar_intake` (closed bars, each once), `state_denials` (proposals outside ACTIVE),
`strategy_cancels` (`CancelProposal`), `exit_holds` (the re-entry hold), `denial_log` and
`exchange_actions` (log lines), `slow_calls` (strategy calls over budget), `strategy_view`,
`venue_events` (sorting events and refusals), `exec_config` (config, counters, status),
`order_effects` (the order path's effects on the venue, journal, books and risk window, called
through `_fx` only, and their dry twin) and `order_rehearsal` (the order path run dry between
items). What the hot path reads of a part (a heap's head, a due time, a set) it reads as an
attribute, no call.
"""

import contextlib
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any

from core.account import StrategyView
from core.clock import Clock
from core.enums import (
    ForcedClose,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from core.events import (
    CANCEL_ALL,
    CANCEL_ALL_BUT_PROTECTION,
    CANCEL_ONE,
    DecisionMade,
    Event,
    GapDetected,
    GapHealed,
    MarginCalled,
    OrderReconciled,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    RiskDenied,
    StreamState,
    StreamStateChanged,
    TradingStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.journal import Journal
from core.market import Bar, BookTicker, MarkPrice, Trade
from core.orders import (
    PROTECTIVE_TYPES,
    CancelProposal,
    ClientOrderIds,
    Fill,
    Order,
    OrderProposal,
    OrderRequest,
    TargetPosition,
    forced_close,
    outside_order,
)
from core.venue import Venue
from risk_manager.protection import fired_at
from trading_engine.bar_intake import BarIntake
from trading_engine.denial_log import DenialLog
from trading_engine.equity_watch import EquityWatch
from trading_engine.exchange_actions import MarginCalls, say_forced_close
from trading_engine.exec_config import BarSource, ExecConfig, ExecCounters, ExecStatus
from trading_engine.exec_desk import (
    EXEC_STRATEGY,
    UNANSWERED,
    Books,
    Desk,
    Risk,
    proposal_action,
    target_action,
)
from trading_engine.exit_holds import EXIT_CLOSES, ExitHolds
from trading_engine.fired_watch import FiredWatch
from trading_engine.main_trading_strategy import (
    NO_PROPOSALS,
    Proposals,
    StrategyBase,
    TradingStrategy,
    check_proposals,
    never_called_note,
    proposals_problem,
    strategy_failed,
)
from trading_engine.order_effects import DryRunStopped, OrderEffects, dry_effects
from trading_engine.order_rehearsal import OrderRehearsal
from trading_engine.protection import WOULD_TRIGGER_IMMEDIATELY, Protection
from trading_engine.reducing import Reducer
from trading_engine.slow_calls import SlowCalls
from trading_engine.stale_orders import StaleOrders
from trading_engine.state_denials import StateDenials
from trading_engine.strategy_cancels import StrategyCancels
from trading_engine.strategy_view import BooksView
from trading_engine.target_order import plan_target_order
from trading_engine.venue_events import (
    END_EVENTS,
    FILL_EVENTS,
    MONEY_EVENTS,
    RARE_EVENTS,
    UNCOUNTED_REFUSALS,
    subject,
)

log = logging.getLogger(__name__)

_ZERO = Decimal(0)
FLATTEN = OrderIntent.FLATTEN  # REDUCING's closes, told from the rest by the books' order


_CALLBACKS: dict[type, str] = {Trade: "on_trade", Bar: "on_bar", BookTicker: "on_book"}
_COUNTERS = ExecCounters.__slots__  # every counter, which a dry run puts back
_read_counters = attrgetter(*_COUNTERS)
_ABSENT = object()

ACTIVE = TradingState.ACTIVE
REDUCING = TradingState.REDUCING
HALTED = TradingState.HALTED


# --- the manager ---------------------------------------------------------------------------------


class ExecManager:
    """Runs the per-item pipeline and reacts to venue events; see the module docstring."""

    def __init__(
        self,
        *,
        venue: Venue,
        book: Books,
        risk: Risk,
        strategy: TradingStrategy,
        journal: Journal,
        clock: Clock,
        instruments: Mapping[str, Instrument],
        ids: ClientOrderIds,
        config: ExecConfig,
        gap_open: Callable[[str], bool],
        clock_offset_ms: Callable[[], int],
        timer: Callable[[], int] = time.perf_counter_ns,
        journal_peak: Callable[[], None] | None = None,
    ) -> None:
        """`timer`: nanoseconds, monotonic, real: what strategy calls are measured with (not
        the injected clock, which a backtest does not move during a call). `journal_peak`:
        called when the drawdown limit's peak (`Risk.peak_equity`) rises above the last one
        journaled, right after the equity check that raised it, so a restart does not forget
        it (the daemon keeps a balance snapshot of that moment, whose equity net of transfers
        is the new peak, for the journal's applier to append between two market-data items:
        `SqliteJournal.snapshot_soon`); None (backtests, which do not restart): not
        journaled. `gap_open`, `clock_offset_ms`: answers without effect, which the order
        path's rehearsal asks too; a wrapper that records each answer (the daemon's market
        recorder) names the answer itself as its `__wrapped__` (`functools.wraps`), and a
        rehearsal asks that instead, leaving no record."""
        if not config.symbols:
            config = replace(config, symbols=tuple(instruments))
        missing = [s for s in config.symbols if s not in instruments]
        if missing or not config.symbols:
            raise ValueError(f"no instrument for traded symbol(s) {', '.join(missing) or '-'}")
        self._venue = venue
        self._book = book
        self._risk = risk
        self._strategy = strategy
        self._clock = clock
        self._instruments = {s: instruments[s] for s in config.symbols}
        self._ids = ids
        self.config = config
        self._symbols = frozenset(config.symbols)
        self.counters = ExecCounters()
        self._timer = timer
        self._call_budget_ns = int(config.max_strategy_call_ms * 1_000_000)  # whole ns
        self._slow = SlowCalls(
            strategy=strategy, budget_ms=config.max_strategy_call_ms, timer=timer
        )
        self._slow_call = self._slow.note  # over the budget (rare): counted, warned about

        self._kline_bars = config.bar_source is BarSource.KLINES
        # the strategy's closed bars, each once (`trading_engine.bar_intake`)
        bars = BarIntake(
            symbols=config.symbols,
            interval=config.bar_interval,
            from_trades=not self._kline_bars,
            counters=self.counters,
        )
        self._bars = bars
        self._builders = bars.builders
        self._last_bar_open = bars.last_open
        self._fresh_bar = bars.fresh
        self._close_bars = bars.close_bars

        # 2: the stale-order watch; its heap read here (its head, on every item)
        stale = StaleOrders(
            book=book,
            symbols=self._symbols,
            config=config,
            counters=self.counters,
            cancel=self._cancel,
        )
        self._stale = stale.heap
        self._watched = stale.watched
        self._watch_open_orders = stale.watch_open_orders
        self._cancel_stale = stale.cancel_due
        self._cancel_sent: dict[str, int] = {}  # client order id -> when we asked
        self._targets: dict[str, TargetPosition] = {}
        # The re-entry hold (`trading_engine.exit_holds`); its dict read when a target is worked
        self._holds = ExitHolds()
        self._closed_by_protection = self._holds.closed
        self._warned_untraded: set[str] = set()  # symbols a strategy asked for, not traded
        self._journaled_target: dict[str, tuple[Decimal, Decimal | None]] = {}
        # In ACTIVE: the last order toward the current target that a risk check denied, with the
        # reason, per symbol. The target is worked again at every item; while the same order is
        # denied for the same reason (a market-data gap being backfilled, a clock resync), the
        # decision and its denial are journaled once, not once an item.
        self._risk_denied: dict[str, tuple[object, ...]] = {}
        # Risk denials in the log, once per kind of reason (`trading_engine.denial_log`); its
        # dict read here: empty, an approved order makes no call for it.
        denial_log = DenialLog()
        self._denial_logged = denial_log.logged
        self._log_denial = denial_log.denied
        self._log_denials_over = denial_log.entry_passed
        desk = Desk(
            decide=self._decide,
            submit=self._submit,
            cancel=self._cancel,
            cancelling=self._cancelling,
            request=self._request,
            stopped=lambda: self._stopped,
            reconciling=lambda: self._reconciling,
        )
        self._protection = Protection(
            book=book,
            risk=risk,
            instruments=self._instruments,
            ids=ids,
            config=config,
            counters=self.counters,
            desk=desk,
            # a stop refused as past while REDUCING is closed by the flatten (`Reducer` needs
            # the protection, so it comes second: looked up when called)
            flatten=lambda symbol, now: self._reducer.flatten(symbol, now),
        )
        # The protection's own sets (the same objects), read here without a call: on every
        # item (`_protect_on_price`) and venue event, and by the backtest's fast path.
        self._protect_dirty = self._protection.dirty
        self._protect_on_price = self._protection.on_price
        self._reducer = Reducer(
            book=book,
            risk=risk,
            instruments=self._instruments,
            ids=ids,
            config=config,
            counters=self.counters,
            desk=desk,
            cancel_all=self._cancel_all,
            state_changed=self._state_changed,
            protection=self._protection,
        )
        self._margin_calls = MarginCalls()
        # Outside ACTIVE the strategy's targets and orders are denied, a target repeated every
        # bar once (`trading_engine.state_denials`); its dict is cleared at a change of state.
        denials = StateDenials(
            book=book,
            risk=risk,
            ids=ids,
            symbols=self._symbols,
            counters=self.counters,
            desk=desk,
            record=self._record,
            strategy=strategy,
        )
        self._denied_target = denials.denied
        self._deny = denials.deny
        self._catch_up_denials = denials.check_quiet
        # The strategy's cancels, in any state (`trading_engine.strategy_cancels`).
        self._on_cancel = StrategyCancels(
            book=book,
            risk=risk,
            symbols=self._symbols,
            counters=self.counters,
            desk=desk,
            record=self._record,
            send_cancel=self._send_cancel,
            warn_untraded=self._warn_untraded,
            strategy=strategy,
        ).on_cancel
        self._view = BooksView(book)

        # symbol -> how far behind the clock its last trade, book top or mark price was read
        # (ms): a backlog (a suspended daemon reading what the exchange sent meanwhile) is no
        # market to enter. A closed kline comes on the socket of the symbol's trades, after
        # them: their lag is its own (a Bar's close time says nothing of when it was sent).
        self._lag_ms: dict[str, int] = dict.fromkeys(config.symbols, 0)
        # `note_pause`: when the daemon resumed (clock ms) while no snapshot since says what
        # the exchange did meanwhile, and how long it had not run
        self._resumed_ms: int | None = None
        self._paused_ms = 0
        self._exposed = any(not book.position(s).is_flat for s in config.symbols)
        self._marked: set[str] = set()  # symbols with a MarkPrice seen
        # 3: the equity check of the portfolio limits; `next_ms` read on every item
        self._equity = EquityWatch(
            book=book,
            risk=risk,
            config=config,
            state_changed=self._state_changed,
            journal_peak=journal_peak,
        )

        self._busy = False
        self._deferred: deque[Event] = deque()
        self._stopped = False
        self._reconciling = False  # `reconciling()`: the books learn, nothing is sent
        self._pending: list[Event] = []  # decisions waiting to be journaled with what follows
        # 2: protective orders the price crossed, waiting for their answer; `due_ms` read on
        # every item, `seen` when a target is worked
        self._fired = FiredWatch(
            book=book,
            counters=self.counters,
            reconcile_soon=lambda why: self._venue.reconcile_soon(why),
            stopped=lambda: self._stopped,
        )
        self._fired_seen = self._fired.seen
        # The per-symbol state a target changes on its way to an order (`_dry_run` puts it back)
        self._target_state: tuple[dict[str, Any], ...] = (
            self._targets,
            self._journaled_target,
            self._risk_denied,
            self._closed_by_protection,
        )
        # What the order path does to the world (`trading_engine.order_effects`): called
        # through `_fx` alone, which a dry run swaps for `_dry_fx` as a whole
        self._fx = self._real_fx = OrderEffects(
            check=risk.check,
            record=journal.record,
            record_many=getattr(journal, "record_many", None),
            send=venue.submit,
            cancel=venue.cancel,
            cancel_all=venue.cancel_all,
            apply=book.apply,
            next_id=ids.next,
            watch=stale.watch,
            await_answer=self._fired.await_answer,
            gap_open=gap_open,
            clock_offset_ms=clock_offset_ms,
        )
        self._dry_fx = dry_effects(
            rehearse_check=risk.rehearse,
            rehearse_many=getattr(journal, "rehearse_many", None),
            rehearse_send=getattr(venue, "rehearse", None),
            peek_id=partial(ids.next, take=False),
            gap_open=inspect.unwrap(gap_open),  # not a recorder's wrapper: no record
            clock_offset_ms=inspect.unwrap(clock_offset_ms),
        )
        # The order path run without effect between items, to keep it warm (`rehearse_order`)
        self._rehearsal = OrderRehearsal(
            instruments=self._instruments,
            position_prices=book.position_prices,
            dry_run=self._dry_run,
        )
        # symbols whose first live trade (or, with none before it, closed bar) is still to come
        self._unstarted = set(config.symbols)
        self._on_start: Callable[[str, StrategyView], Proposals] | None = (
            getattr(strategy, "on_start", None) if _overrides(strategy, "on_start") else None
        )
        # Callbacks the strategy's class leaves as StrategyBase's (a no-op that proposes
        # nothing) are not called, nor timed: a bar strategy costs no call per trade and book.
        self._asks_trades = _overrides(strategy, "on_trade")
        self._asks_books = _overrides(strategy, "on_book")
        if note := never_called_note(strategy):
            log.warning("%s", note)
        self._watch_open_orders()  # restored from the journal: they can go stale too

    # --- start ---------------------------------------------------------------------------------

    def warm(self, bars: Sequence[Bar]) -> None:
        """Hand history (closed bars, oldest first) to the strategy; later live bars with an
        open time at or before the last warm bar of their symbol are not passed again."""
        closed = [
            b
            for b in bars
            if b.closed and b.symbol in self._symbols and b.interval == self.config.bar_interval
        ]
        try:
            self._strategy.warm(closed)
        except Exception as exc:
            # The author's bug: one line naming where (a backtest and the daemon's start
            # stop with it), not the daemon's "unexpected error, please report it".
            raise strategy_failed(self._strategy.name, "warm", f"{len(closed)} bars", exc) from exc
        self._bars.warmed(closed)

    # --- market data ---------------------------------------------------------------------------

    def on_item(self, item: object, now_ms: int | None = None) -> None:
        """One market-data item through steps 1-7 (see the module docstring). `now_ms`: the
        time of the injected clock the caller read for this item (the daemon's sink shares
        its reading with the pause watch); None: read here."""
        if self._busy:
            raise RuntimeError("ExecManager.on_item called from inside the ExecManager")
        self._busy = True
        try:
            self._on_item(item, self._clock.now_ms() if now_ms is None else now_ms)
            if self._pending:
                self._flush()
            if self._deferred:
                self._drain()
        finally:
            self._busy = False

    def rehearse_order(self, item: object, now_ms: int) -> None:
        """Run the order path for the symbol of `item` (the last market-data item) without any
        effect, so that the next real order finds it warm (`trading_engine.order_rehearsal`;
        the daemon's sink calls it every `rehearse_every_items` items)."""
        symbol = getattr(item, "symbol", None)
        if symbol in self._symbols and not self._stopped and not self._busy:
            self._rehearsal.run(symbol, now_ms)

    def _dry_run(self, target: TargetPosition, now: int) -> bool:
        """`target` worked as the strategy's answer would be, down to the order handed to the
        venue, with `_dry_fx` for the order path's effects (`trading_engine.order_effects`:
        the checks, the journal's encoding and the signed request rehearsed, nothing counted,
        written, sent or booked) and every entry of the ExecManager's own state it changes
        put back. Only in the plain state of ACTIVE trading, nothing pending or logged as
        denied; False when it did not run or stopped at a step it does not rehearse (a
        cancel, a crossed stop): nothing of it took effect either way."""
        if (
            self._pending
            or self._denial_logged
            or self._risk.state is not ACTIVE
            or self._reconciling
            or self._stopped
        ):
            return False
        symbol = target.symbol
        kept = [(d, d.get(symbol, _ABSENT)) for d in self._target_state]
        counters = self.counters
        counted = _read_counters(counters)
        self._fx = self._dry_fx
        try:
            self._handle((target,), now)
        except DryRunStopped:
            return False
        finally:
            self._fx = self._real_fx
            self._pending.clear()
            for d, value in kept:
                if value is _ABSENT:
                    d.pop(symbol, None)
                else:
                    d[symbol] = value
            if _read_counters(counters) != counted:
                for name, value in zip(_COUNTERS, counted, strict=True):
                    setattr(counters, name, value)
        return True

    @property
    def rehearsals(self) -> int:
        """Order path rehearsals run so far (`rehearse_order`)."""
        return self._rehearsal.runs

    @contextlib.contextmanager
    def reconciling(self) -> Iterator[None]:
        """Around the venue's start-up reconciliation (the fills it missed, then its snapshot):
        the books learn from every event, but no stop, flatten or target order is sent until
        it is over, and then on the whole picture. Its events come in the venue's order, not
        the exchange's (a fired take-profit's fill is held until every open order is checked,
        so its stop's expiry comes first): acted on one by one, they sent a stop-loss for a
        position the take-profit had already closed (refused -2021, an error for the circuit
        breaker). If the start fails, nothing is worked."""
        self._reconciling = True
        try:
            yield
        except BaseException:
            self._reconciling = False
            raise
        self._guarded(self._end_reconciling, "start-up reconciliation")

    def _end_reconciling(self, _why: str) -> None:
        self._reconciling = False
        now = self._clock.now_ms()
        if self._risk.state is HALTED:
            self._reducer.reduce_if_open(now)
        if self._risk.state is REDUCING:
            self._reducer.after_reconciling(now)
            return
        self._protection.settle(now)
        for symbol in self.config.symbols:
            self._rework(symbol, now)

    def note_pause(self, paused_ms: int) -> None:
        """The daemon did not run for `paused_ms` (a suspended process, a machine asleep, a
        stalled loop): the exchange's dead-man switch may have cancelled our orders, a stop
        may have filled, and the market data still to be read is that old. Until a venue
        snapshot taken after now (the reconciliation the daemon asks for) has told the books
        what happened, entries are held as on a backlog (`RiskConfig.max_data_lag_ms`): a
        target worked from the books' old position could double it (a stop that filled
        unseen, a reversal sent for the position it closed). Closing orders pass."""
        self._paused_ms = paused_ms
        self._resumed_ms = self._clock.now_ms()

    def _resynced(self, snapshot: VenueSnapshot, now: int) -> None:
        """A venue snapshot taken after the daemon resumed: the books are current again;
        targets held meanwhile are worked (on market data as current as the lag check
        says)."""
        if self._resumed_ms is None or snapshot.event_time_ms < self._resumed_ms:
            return
        self._resumed_ms = None
        log.info("resumed after a pause: books reconciled with the exchange; entries allowed")
        for symbol in self.config.symbols:
            self._rework(symbol, now)

    def decide_stop_cancels(
        self, reason: str, *, keep_protection: bool, now_ms: int | None = None
    ) -> None:
        """The venue's stop is about to cancel the open orders (`LiveVenue.stop`, all but a
        kept position's stop-loss / take-profit with `keep_protection`): that decision
        journaled first, a cancel-all per symbol holding such an order, as every cancel is.
        `now_ms`: the reading the session's recording noted for the stop (the audit's)."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        action = CANCEL_ALL_BUT_PROTECTION if keep_protection else CANCEL_ALL
        symbols = {
            o.symbol
            for o in self._book.orders.values()
            if not (keep_protection and o.is_protective)
        }
        for symbol in sorted(symbols):
            self._decide(symbol, EXEC_STRATEGY, action, reason, now)
        self._flush()

    def stop_trading(self) -> None:
        """Shutdown: from now on nothing is sent to the venue (no order, no cancel) but the
        stop-loss of a position left open that a venue snapshot shows without one
        (`Protection.guard_kept`); items still mark the books and venue events are still
        journaled and booked."""
        self._stopped = True

    def _on_item(self, item: object, now: int) -> None:
        counters = self.counters
        counters.items += 1
        cls = item.__class__
        book = self._book
        proposals: Proposals = NO_PROPOSALS
        if cls is Trade:
            trade: Trade = item  # type: ignore[assignment]
            if trade.symbol not in self._symbols:
                counters.ignored_items += 1
                return
            counters.trades += 1
            self._lag_ms[trade.symbol] = now - trade.event_time_ms
            book.mark(trade)
        elif cls is BookTicker or cls is MarkPrice:
            tick: BookTicker | MarkPrice = item  # type: ignore[assignment]
            if tick.symbol not in self._symbols:
                counters.ignored_items += 1
                return
            self._lag_ms[tick.symbol] = now - tick.event_time_ms
            book.mark(tick)
            if cls is MarkPrice and tick.symbol not in self._marked:
                self._marked.add(tick.symbol)
        elif cls is Bar:
            bar: Bar = item  # type: ignore[assignment]
            if not self._kline_bars or not self._fresh_bar(bar):
                counters.ignored_items += 1  # open, duplicate, other interval or trades mode
                return
        elif cls is StreamStateChanged:
            self._on_stream_state(item, now)  # type: ignore[arg-type]
        elif cls is GapDetected or cls is GapHealed:
            self._record(item)  # type: ignore[arg-type]
        else:
            counters.ignored_items += 1
            return
        if self._stopped:
            return
        if self._protect_on_price:
            self._protection.replan_on_price(item, now)

        # 2: stale orders, and answers overdue
        stale = self._stale
        if stale and stale[0][0] <= now:
            self._cancel_stale(now)
        fired_due = self._fired.due_ms
        if fired_due is not None and now >= fired_due:
            self._fired.ask_overdue(now)

        # 3: portfolio
        risk = self._risk
        if now >= risk.kill_check_due_ms and (changed := risk.check_kill_switch_file(now)):
            self._state_changed(changed, now)
        # The books value positions at the mark price once one has been seen: equity can only
        # move with a MarkPrice then (1 Hz per symbol), with any trade before that.
        equity = self._equity
        if now >= equity.next_ms or (
            self._exposed
            and (cls is MarkPrice or (cls is Trade and trade.symbol not in self._marked))
            and equity.moved()
        ):
            equity.check(now)
        if risk.state is REDUCING:
            self._reducer.progress(now)

        # 4: strategy (what it raises or returns amiss is a StrategyError naming the item)
        strategy = self._strategy
        if cls is Trade:
            if trade.symbol in self._unstarted:
                # The first live trade: act on the warmed state at once, not at the next bar.
                self._unstarted.discard(trade.symbol)
                if self._on_start is not None:
                    self._ask(self._on_start, "on_start", trade.symbol, now)
            if not self._kline_bars:
                # The bars this trade closes come first: the trade belongs to the next bar.
                closed = self._close_bars(trade)
                if closed:
                    for b in closed:
                        if self._fresh_bar(b):
                            self._ask(strategy.on_bar, "on_bar", b, now)
            if not self._asks_trades:
                return
        elif cls is Bar and bar.symbol in self._unstarted:
            # No trade came first (a backtest of klines, a quiet market): the first bar starts
            # the symbol, on the warmed state, before the bar itself is taken.
            self._unstarted.discard(bar.symbol)
            if self._on_start is not None:
                self._ask(self._on_start, "on_start", bar.symbol, now)
        elif cls is BookTicker:
            if not self._asks_books:
                return
        elif cls is not Bar:
            return  # a mark price, a gap, a stream state: no callback
        view = self._view
        timer = self._timer
        started = timer()
        try:
            if cls is Trade:
                proposals = strategy.on_trade(trade, view)
            elif cls is Bar:
                proposals = strategy.on_bar(bar, view)
            else:
                proposals = strategy.on_book(tick, view)  # type: ignore[arg-type]
        except Exception as exc:
            raise strategy_failed(strategy.name, _CALLBACKS[cls], item, exc) from exc
        took = timer() - started
        if took > self._call_budget_ns:
            self._slow_call(_CALLBACKS[cls], item, took)
        if proposals is not NO_PROPOSALS:
            if proposals_problem(proposals):  # one call on the good path
                check_proposals(strategy.name, _CALLBACKS[cls], item, proposals, of=strategy)
            if proposals:
                self._handle(proposals, now)

    def catch_up_bar(self, mark: MarkPrice, bar_open_ms: int, proposals: Proposals) -> None:
        """A closed kline the caller knows to be quiet (the backtest's fast path,
        `backtest.fast_path.KlineFastPath.next_event`: ACTIVE or HALTED, only accepted
        protective orders open, the position at the strategy's target, no limit near), given
        as its close's `mark`, its open time and `proposals`, what the strategy's `on_bar`
        returns for it (`BarFastForward.last_proposals`): the state that `on_item(mark)` then
        `on_item(bar)` leave, without the items' dispatch and the strategy's call.

        Sets what those two items set in such a state, step by step as `_on_item` does it:
        the books' mark and the symbol's lag (step 1); the stale-order watch and the overdue
        answers (step 2: in a quiet state only ended orders leave the watch); the equity
        check and its schedule (step 3, the same condition; at the bar it is not due again);
        the symbol's last bar (`BarIntake.fresh`); and, in ACTIVE, the latest target (`_on_target`
        records it; the position is at it, or held, and its quantity and price were
        journaled already, so nothing is decided or worked). Outside ACTIVE the target is
        denied silently in a quiet state (`StateDenials.deny`: the same one, for the same reason, as
        already journaled) and recorded nowhere. Not set: the counters, which the caller
        counts for its quiet bars in bulk, and the strategy call's timing. What a quiet bar
        cannot do (change the trading state, propose anything but a target already worked,
        come out of order) is a RuntimeError, never a silent difference."""
        now = self._clock.now_ms()
        symbol = mark.symbol
        if bar_open_ms <= self._last_bar_open[symbol]:
            raise RuntimeError(f"catch_up_bar: bar {bar_open_ms} of {symbol} is not newer")
        self._lag_ms[symbol] = now - mark.event_time_ms
        self._book.mark(mark)
        self._marked.add(symbol)
        stale = self._stale
        if stale and stale[0][0] <= now:
            self._cancel_stale(now)
        fired_due = self._fired.due_ms
        if fired_due is not None and now >= fired_due:
            self._fired.ask_overdue(now)
        risk = self._risk
        state = risk.state
        equity = self._equity
        if now >= equity.next_ms or (self._exposed and equity.moved()):
            equity.check(now)
            if risk.state is not state:
                raise RuntimeError(f"catch_up_bar: a quiet bar changed the state: {risk.state}")
        self._last_bar_open[symbol] = bar_open_ms
        if state is not ACTIVE:
            self._catch_up_denials(proposals, state)
            return
        journaled = self._journaled_target
        for p in proposals:
            if p.__class__ is not TargetPosition or journaled.get(p.symbol) != (
                p.qty,  # type: ignore[union-attr]
                p.price,  # type: ignore[union-attr]
            ):
                raise RuntimeError(f"catch_up_bar: {p!r} is not a target already worked")
            self._targets[p.symbol] = p  # type: ignore[assignment]

    def _ask(self, callback: Callable[..., Proposals], name: str, arg: object, now: int) -> None:
        """A strategy callback off the per-item path (on_start, bars built from trades)."""
        started = self._timer()
        try:
            proposals = callback(arg, self._view)
        except Exception as exc:
            raise strategy_failed(self._strategy.name, name, arg, exc) from exc
        took = self._timer() - started
        if took > self._call_budget_ns:
            self._slow_call(name, arg, took)
        check_proposals(self._strategy.name, name, arg, proposals, of=self._strategy)
        if proposals:
            self._handle(proposals, now)

    def _on_stream_state(self, event: StreamStateChanged, now: int) -> None:
        self._record(event)
        if event.state is StreamState.FAILED:
            log.error("stream %s failed (%s): flattening", event.stream, event.detail)
            self._guarded(self._stream_failed, event.detail, event.stream)

    # --- 3: portfolio --------------------------------------------------------------------------

    def on_timer(self) -> None:
        """About once a second, from the daemon: while REDUCING, the cancel-all and flatten
        retries (every `flatten_retry_ms`) go on when no market data arrives to drive them (a
        failed stream is one cause of REDUCING, a quiet market another): a refused flatten
        waited for the next reconciliation, a minute later. Nothing otherwise."""
        if self._risk.state is REDUCING and not self._stopped and not self._busy:
            self._guarded(self._on_timer, "timer")

    def _on_timer(self, _why: str) -> None:
        self._reducer.progress(self._clock.now_ms())

    def kill(self, reason: str) -> None:
        """Stop at once (kill switch, SIGUSR1, a failed stream): REDUCING, cancel, flatten."""
        self._guarded(self._kill, reason)

    def _kill(self, reason: str) -> None:
        changed = self._risk.kill(reason)
        if changed is not None:
            self._state_changed(changed, self._clock.now_ms())

    def _stream_failed(self, detail: str, stream: str) -> None:
        """A stream failed for good: REDUCING as for a kill, the stream named as the reason."""
        changed = self._risk.record_stream_failure(stream, detail)
        if changed is not None:
            self._state_changed(changed, self._clock.now_ms())

    def reset(self, operator_reason: str) -> None:
        """An operator's return to ACTIVE after REDUCING / HALTED (journaled), or the daemon's
        automatic resume at a start (AUTOMATIC_RESET: `RiskManager.reset` re-arms no limit)."""
        self._guarded(self._reset, operator_reason)

    def _reset(self, operator_reason: str) -> None:
        self._state_changed(self._risk.reset(operator_reason), self._clock.now_ms())
        self._equity.peak_reset()
        for s in self.config.symbols:
            self._after_position_change(s)

    def _guarded(self, fn: Callable[..., None], *args: str) -> None:
        """Run `fn` as one step: venue events it causes are processed after it, in order."""
        if self._busy:
            fn(*args)
            return
        self._busy = True
        try:
            fn(*args)
            self._flush()
            if self._deferred:
                self._drain()
        finally:
            self._busy = False

    def _state_changed(self, event: TradingStateChanged, now: int) -> None:
        self._record(event)
        self._denied_target.clear()  # a new state: what it denies is news again
        self._protection.state_changed(event.current)
        self.counters.state_changes += 1
        log.warning("trading state %s -> %s: %s", event.previous, event.current, event.reason)
        if event.current is REDUCING:
            self._targets.clear()
            self._reducer.enter(now)

    # --- 4-7: proposals -> orders --------------------------------------------------------------

    def _handle(self, proposals: Proposals, now: int) -> None:
        self.counters.proposals += len(proposals)
        active = self._risk.state is ACTIVE
        for p in proposals:
            cls = p.__class__
            if cls is CancelProposal:
                self._on_cancel(p, now)  # type: ignore[arg-type]
            elif not active:
                self._deny(p, now)  # type: ignore[arg-type]
            elif cls is TargetPosition:
                self._on_target(p, now)  # type: ignore[arg-type]
            else:
                self._on_proposal(p, now)  # type: ignore[arg-type]

    def _on_proposal(self, p: OrderProposal, now: int) -> None:
        if p.symbol not in self._symbols:
            self.counters.ignored_items += 1
            self._warn_untraded(p.symbol, "proposed an order")
            return
        self._decide(p.symbol, self._strategy.name, proposal_action(p), p.reason, now)
        self._submit(self._request(p), now)

    def _request(self, p: OrderProposal) -> OrderRequest:
        return OrderRequest(
            symbol=p.symbol,
            side=p.side,
            type=p.type,
            quantity=p.quantity,
            client_order_id=self._fx.next_id(),
            price=p.price,
            time_in_force=p.time_in_force,
            stop_price=p.stop_price,
            reduce_only=p.reduce_only,
            close_position=p.close_position,
        )

    def _warn_untraded(self, symbol: str, what: str) -> None:
        """Once per symbol: a strategy that asks for it every bar would fill the log
        (counted in `untraded_proposals` each time)."""
        self.counters.untraded_proposals += 1
        if symbol not in self._warned_untraded:
            self._warned_untraded.add(symbol)
            log.warning(
                "strategy %s for %s, which is not traded (ignored; said once)%s",
                what,
                symbol,
                _traded_hint(symbol, self._symbols),
            )

    def _on_target(self, target: TargetPosition, now: int) -> None:
        symbol = target.symbol
        if symbol not in self._symbols:
            self.counters.ignored_items += 1
            self._warn_untraded(symbol, "set a target")
            return
        self._targets[symbol] = target
        key = (target.qty, target.price)
        if self._journaled_target.get(symbol) != key:
            self._journaled_target[symbol] = key
            self._risk_denied.pop(symbol, None)  # a new decision: its denial is news
            self._decide(symbol, self._strategy.name, target_action(target), target.reason, now)
            self._work_target(symbol, now, journaled=True)
        else:
            self._work_target(symbol, now, journaled=False)

    def _work_target(self, symbol: str, now: int, *, journaled: bool) -> None:
        """Send (or cancel) what moves `symbol` toward its latest target."""
        target = self._targets.get(symbol)
        if target is None:
            return
        closed = self._closed_by_protection.get(symbol)
        if closed is not None:
            if target.qty * closed > 0:
                return  # the same side its stop or take-profit closed: stay flat
            del self._closed_by_protection[symbol]  # the strategy turned: work its target
        book = self._book
        inst = self._instruments[symbol]
        working = _ZERO  # signed remaining quantity of our non-protective open orders
        working_orders: list[Order] = []
        # One read of the books for the symbol (nothing below changes them before the order)
        position, mark, last = book.position_prices(symbol)
        for o in book.orders.values():
            if o.symbol != symbol:
                continue
            # `o.is_protective`, without the property's call on every target order
            if o.type in PROTECTIVE_TYPES and (o.close_position or o.reduce_only):
                if last is not None and fired_at(o, last):
                    # The exchange fires it on that price: the position is about to close.
                    # Worked from the stale position, a flip would leave twice the target
                    # once the stop's fill came. Its fill (or expiry) works the target.
                    if o.client_order_id not in self._fired_seen:
                        self._fx.await_answer(o.client_order_id, now)
                    return
                continue
            if o.status in UNANSWERED or self._cancelling(o.client_order_id, now):
                return  # wait for the answer: never a second order toward the same target
            working += o.remaining_qty if o.side is Side.BUY else -o.remaining_qty
            working_orders.append(o)
        need = target.qty - position
        if working_orders:
            same_way = need != 0 and (working > 0) == (need > 0) and abs(working) <= abs(need)
            if not same_way or not all(_works_at(o, target, inst) for o in working_orders):
                if not journaled:
                    self._decide_target(target, now)
                for o in working_orders:
                    self._cancel(o, now, f"target {target.qty}: working order no longer fits")
                return
        plan = plan_target_order(
            target,
            inst,
            position=position,
            mark=mark,
            working=working,
            has_working=bool(working_orders),
            max_order_notional=self._risk.max_order_notional_usdt,
        )
        if plan is None:
            return  # there, or close enough
        side, order_type, qty, price, reduce_only, reverses = plan
        if not journaled:
            self._decide_target(target, now)
        sent = self._submit_toward_target(
            symbol,
            side,
            order_type,
            qty,
            price,
            now,
            reduce_only=reduce_only,
            toward=need - working,
        )
        if not sent and reverses and not reduce_only and not working_orders:
            self._close_first(symbol, side, order_type, price, abs(position), now)

    def _close_first(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        price: Decimal | None,
        size: Decimal,
        now: int,
    ) -> None:
        """A reversal (one order of both sizes) refused by a check of the side it opens (margin,
        a notional cap, orders per minute, a gap, the clock): the side the strategy leaves is
        closed anyway, reduce-only, which none of them holds back; the opening order follows
        once flat, if it passes then. Refused, the position stayed on the side the strategy
        had turned away from."""
        denied = self._risk_denied.get(symbol)
        why = denied[-1] if denied else "refused"
        inst = self._instruments[symbol]
        qty = min(inst.floor_qty(size, order_type), inst.max_qty(order_type))
        action = f"close {side} {qty} reduce-only first"
        self._decide(symbol, EXEC_STRATEGY, action, f"the reversal was refused: {why}", now)
        self._submit_toward_target(symbol, side, order_type, qty, price, now, reduce_only=True)

    def _submit_toward_target(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        now: int,
        *,
        reduce_only: bool,
        toward: Decimal | None = None,
    ) -> bool:
        """One order toward a target (or the close a refused reversal sends first), after its
        decision: at market, or resting GTC at `price`. Its repeat key leaves the client id
        out, so the same order refused again for the same reason is counted, not journaled;
        reduce-only, it is risk-reducing. True when it went to the venue. `toward`: what the
        target asks for (signed contracts), which a maxQty part's denial names (`_asked`)."""
        request = OrderRequest(
            symbol=symbol,
            side=side,
            type=order_type,
            quantity=qty,
            client_order_id=self._fx.next_id(),
            price=price,
            time_in_force=None if price is None else TimeInForce.GTC,
            reduce_only=reduce_only,
        )
        return self._submit(
            request,
            now,
            repeat_key=(side, qty, price, reduce_only),
            risk_reducing=reduce_only,
            toward=toward,
        )

    def _decide_target(self, target: TargetPosition, now: int) -> None:
        self._decide(target.symbol, self._strategy.name, target_action(target), target.reason, now)

    # --- venue calls (always journaled first) ----------------------------------------------------

    def _decide(self, symbol: str, strategy: str, action: str, reason: str, now: int) -> None:
        """Journal a decision: written with the record that follows it (the OrderSubmitted or
        RiskDenied it leads to), in one transaction when the journal has `record_many`, and
        in any case before the venue hears of it."""
        self._pending.append(
            DecisionMade(
                event_time_ms=now,
                recv_time_ms=now,
                symbol=symbol,
                strategy=strategy,
                action=action,
                reason=reason,
            )
        )
        self.counters.decisions += 1

    def _record(self, event: Event) -> None:
        self._pending.append(event)
        self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        fx = self._fx
        if len(pending) == 1:
            fx.record(pending[0])
        elif fx.record_many is not None:
            fx.record_many(tuple(pending))
        else:
            for event in pending:
                fx.record(event)
        pending.clear()

    def _submit(
        self,
        request: OrderRequest,
        now: int,
        *,
        repeat_key: tuple[object, ...] | None = None,
        risk_reducing: bool = False,
        intent: OrderIntent | None = None,
        at_stop: bool = False,
        toward: Decimal | None = None,
    ) -> bool:
        """Risk check, journal, book, venue. True when the order went to the venue.

        `repeat_key`: what identifies a target's order apart from its client id; the same one
        denied again for the same reason is counted, not journaled (nor its decision).
        `risk_reducing`: an order of ours that takes risk away (a flatten, protection, a
        target's reduce-only close): our own soft limits do not hold it back
        (`RiskManager.check`). `intent`: journaled with the order (a restart reads it);
        None: REDUCING for such an order (reduce-only or closePosition), else ORDINARY.
        `at_stop`: a kept position's stop-loss, sent after `stop_trading`
        (`Protection.guard_kept`). `toward`: what a target's order was cut from (signed
        contracts): a maxQty part's denial names it, worked out on the denial alone (`_asked`),
        not for every order."""
        if self._stopped and not at_stop:
            return False
        symbol = request.symbol
        lag = self._lag_ms.get(symbol, 0)
        if self._resumed_ms is not None:  # the books as they were before a pause
            lag = max(lag, self._paused_ms)
        fx = self._fx
        verdict = fx.check(
            request,
            gap_open=fx.gap_open(symbol),
            clock_offset_ms=fx.clock_offset_ms(),
            risk_reducing=risk_reducing,
            data_lag_ms=lag,
            now_ms=now,
        )
        if verdict.__class__ is RiskDenied:
            if repeat_key is not None:
                key = (*repeat_key, verdict.reason)  # type: ignore[attr-defined]
                if self._risk_denied.get(symbol) == key:
                    pending = self._pending
                    if pending and pending[-1].__class__ is DecisionMade:
                        pending.pop()  # this retry's decision: journaled with the first denial
                        self.counters.decisions -= 1
                    self.counters.denied_repeats += 1
                    return False
                self._risk_denied[symbol] = key
            self._record(verdict)  # type: ignore[arg-type]
            self.counters.denied += 1
            asked = None
            if toward is not None and request.quantity is not None:
                inst = self._instruments[symbol]
                asked = _asked(toward, request.quantity, inst, request.type)
            self._log_denial(verdict, now, asked)  # type: ignore[arg-type]
            return False
        if repeat_key is not None and self._risk_denied:
            self._risk_denied.pop(symbol, None)
        approved: OrderRequest = verdict  # type: ignore[assignment]
        if self._denial_logged and not (approved.reduce_only or approved.close_position):
            self._log_denials_over(symbol)
        if intent is None:
            reducing = risk_reducing and (approved.reduce_only or approved.close_position)
            intent = OrderIntent.REDUCING if reducing else OrderIntent.ORDINARY
        submitted = OrderSubmitted(
            event_time_ms=now, recv_time_ms=now, request=approved, intent=intent
        )
        pending = self._pending
        pending.append(submitted)
        record_many = fx.record_many
        if record_many is not None and len(pending) > 1:
            # `_record` -> `_flush` for the decision and its order, two calls fewer
            record_many(tuple(pending))
            pending.clear()
        else:
            self._flush()
        self.counters.submitted += 1
        try:
            # Journaled: the venue may send it now. The books learn of it right after, before
            # anything can answer (events a venue emits from inside submit wait in
            # `_deferred` until this step is done), so the request leaves a little sooner.
            fx.send(approved)
        finally:
            fx.apply(submitted)
            if not approved.is_protective:
                fx.watch(approved.client_order_id, now + self.config.stale_order_ms)
        return True

    def _cancelling(self, cid: str, now: int) -> bool:
        """A cancel of `cid` was sent and may still be on its way (younger than the stale age:
        a cancel that was lost does not block the symbol forever)."""
        sent = self._cancel_sent.get(cid)
        return sent is not None and now - sent < self.config.stale_order_ms

    def _cancel(self, order: Order, now: int, reason: str) -> None:
        if self._stopped:
            return
        self._decide(order.symbol, EXEC_STRATEGY, CANCEL_ONE + order.client_order_id, reason, now)
        self._send_cancel(order, now)

    def _send_cancel(self, order: Order, now: int) -> None:
        """The decision to cancel `order` is pending: journal it, then ask the venue."""
        cid = order.client_order_id
        self._flush()
        self._cancel_sent[cid] = now
        self.counters.cancels += 1
        self._fx.cancel(order.symbol, cid)

    def _cancel_all(
        self, symbol: str, now: int, reason: str, *, keep_protection: bool = False
    ) -> None:
        """Every open order of `symbol`, those the books do not know included; with
        `keep_protection` all but the position's stop-loss / take-profit."""
        if self._stopped:
            return
        action = CANCEL_ALL_BUT_PROTECTION if keep_protection else CANCEL_ALL
        self._decide(symbol, EXEC_STRATEGY, action, reason, now)
        for o in self._book.orders.values():
            if o.symbol == symbol and not (keep_protection and o.is_protective):
                self._cancel_sent.setdefault(o.client_order_id, now)
        self._flush()
        self.counters.cancel_alls += 1
        self._fx.cancel_all(symbol, keep_protection=keep_protection)

    # --- venue events --------------------------------------------------------------------------

    def on_event(self, event: Event, now_ms: int | None = None) -> None:
        """A venue event: journal, books, reaction. Re-entrant calls are queued, in order (and
        read the clock when their turn comes). `now_ms`: as `on_item`'s."""
        if self._busy:
            self._deferred.append(event)
            return
        self._busy = True
        try:
            self._process(event, now_ms)
            self._flush()
            if self._deferred:
                self._drain()
        finally:
            self._busy = False

    def _drain(self) -> None:
        deferred = self._deferred
        while deferred:
            self._process(deferred.popleft())
            self._flush()

    def _process(self, event: Event, now_ms: int | None = None) -> None:
        now = self._clock.now_ms() if now_ms is None else now_ms
        symbol, cid = subject(event)
        if symbol and (symbol not in self._symbols or (cid and not self._ours(cid))):
            self.counters.ignored_events += 1
            why = "symbol not traded" if symbol not in self._symbols else "order not ours"
            log.warning("ignored %s for %s %s: %s", type(event).__name__, symbol, cid, why)
            return
        if event.__class__ is StreamStateChanged:
            self._on_stream_state(event, now)
            return
        book = self._book
        before = book.orders.get(cid) if cid else None
        qty_before = book.position(symbol).qty if symbol else _ZERO
        self._record(event)
        try:
            book.apply(event)
        except (ArithmeticError, LookupError, TypeError, ValueError):
            # Malformed beyond what the books check themselves: journaled, not acted on.
            self.counters.bad_events += 1
            log.exception("books could not apply %s", type(event).__name__)
            return
        self.counters.events += 1
        ended = before is not None and cid not in book.orders
        moved = bool(symbol) and book.position(symbol).qty != qty_before
        self._react(event, now, symbol, before if ended else None, moved)
        if self._risk.state is REDUCING:
            self._reducer.progress(now)
            return
        if self._risk.state is HALTED:
            self._reducer.reduce_if_open(now)  # REDUCING again, if a position shows up
        if self._protect_dirty:
            self._protection.settle(now)  # outside ACTIVE: only forgets what was to be protected

    def _ours(self, cid: str) -> bool:
        """An order id the books know, the exchange's own (liquidation), one we issued, or an
        order placed outside the daemon whose fills the venue books (`outside_order`)."""
        if cid in self._book.orders or forced_close(cid) is not None or outside_order(cid):
            return True
        seq = ClientOrderIds.seq_of(cid, self._ids.stem)
        return seq is not None and seq < self._ids.next_seq

    def _react(self, event: Event, now: int, symbol: str, ended: Order | None, moved: bool) -> None:
        """What an applied event means for the trading: `ended` is the order (as it was) when
        this event ended it, `moved` says the symbol's position changed."""
        risk = self._risk
        changed: TradingStateChanged | None = None
        cls = event.__class__
        is_fill = cls in FILL_EVENTS
        if is_fill:
            if moved:
                self.counters.fills += 1
                fill: Fill = event.fill  # type: ignore[attr-defined]
                kind = forced_close(fill.client_order_id)
                if kind is not None:
                    changed = self._forced_close(fill, kind) or changed
            else:
                self.counters.duplicate_fills += 1  # booked before: nothing new
        if ended is not None:
            requested = self._cancel_sent.pop(ended.client_order_id, None) is not None
            # An OrderReconciled FILLED ends an order that traded whatever its cause: one in
            # doubt (EXCHANGE), or a taken-over one its fills booked as outside:<id> completed
            # (TAKEN_OVER_FILLS; those fills end no order of the books, so count nothing).
            traded = (
                is_fill
                or ended.filled_qty > 0
                or (isinstance(event, OrderReconciled) and event.status is OrderStatus.FILLED)
            )
            # Why it was sent is on the books' order (journaled, so a restart's order has it).
            exit_close = ended.intent in EXIT_CLOSES
            if traded:
                # Once per order that (partly) filled, on the UTC day of the exchange's time
                # of its end (this event's), as a restart counts it from the journal's row.
                changed = risk.record_trade(event.event_time_ms)
                if (
                    self.config.reentry_hold
                    and (ended.is_protective or exit_close)
                    and moved
                    and self._book.position(symbol).is_flat
                ):
                    self._holds.exit_filled(symbol, ended)
            if (
                cls in END_EVENTS
                and not requested
                and ended.is_protective
                and self.config.protect_positions
            ):
                self._protect_dirty.add(symbol)  # the exchange removed a stop: plan again
            if (
                isinstance(event, OrderRejected)
                and event.code == WOULD_TRIGGER_IMMEDIATELY
                and ended.is_protective
                and self.config.protect_positions
            ):
                self._protection.stop_past(ended, now)
            if isinstance(event, OrderRejected) and (
                ended.is_protective or exit_close or ended.intent is FLATTEN
            ):
                self._protection.close_refused(ended, event, now)
        if cls in MONEY_EVENTS:
            self._equity.next_ms = 0  # re-check equity on the next item
        elif cls not in RARE_EVENTS:
            pass  # the order path's events: no isinstance test of the four below
        elif isinstance(event, OrderRejected):
            self.counters.rejected_orders += 1
            if event.code not in UNCOUNTED_REFUSALS:
                changed = risk.record_error(f"rejected {event.code}") or changed
        elif isinstance(event, OrderStatusUnknown):
            self.counters.unknown_outcomes += 1
            changed = risk.record_unknown(event.client_order_id) or changed
        elif isinstance(event, VenueSnapshot):
            for s in self.config.symbols:
                self._after_position_change(s)
            open_ids = self._book.orders
            for c in [c for c in self._cancel_sent if c not in open_ids]:
                del self._cancel_sent[c]
            self._watch_open_orders()
            if self._resumed_ms is not None:
                self._resynced(event, now)
            if self._stopped:
                self._protection.guard_kept(now)
        elif isinstance(event, MarginCalled):
            self._margin_called(event)
        if moved:
            self._after_position_change(symbol)
        if (moved or ended is not None) and cls is not OrderRejected:
            if self._protect_dirty and risk.state is ACTIVE:
                # The position as it is gets its stop before the next target order: that
                # order would hold protection back until it settled (starved while the
                # strategy turns faster than orders are answered).
                self._protection.settle(now)
            self._rework(symbol, now)
        if changed is not None:
            self._state_changed(changed, now)

    def _forced_close(self, fill: Fill, kind: ForcedClose) -> TradingStateChanged | None:
        """A fill of the exchange's own order, booked: say so, and let the RiskManager
        stop the trading (`RiskManager.record_forced_close`)."""
        self.counters.forced_fills += 1
        detail = say_forced_close(fill, kind, self._book.position(fill.symbol).qty)
        return self._risk.record_forced_close(kind, detail)

    def _margin_called(self, event: MarginCalled) -> None:
        """MARGIN_CALL, journaled: say which positions are at risk. Nothing is sent: the
        reference calls it informational (liquidation may already be under way), and the
        daemon's own limits (drawdown, daily loss) are the lines it acts on."""
        self.counters.margin_calls += 1
        self._equity.next_ms = 0
        self._margin_calls.called(event)

    def _after_position_change(self, symbol: str) -> None:
        book = self._book
        self._protection.position_changed(symbol, book.position(symbol).is_flat)
        self._exposed = any(not book.position(s).is_flat for s in self.config.symbols)
        self._equity.next_ms = 0

    def _rework(self, symbol: str, now: int) -> None:
        if self._reconciling:
            return  # worked once the reconciliation is over
        if symbol in self._targets and self._risk.state is ACTIVE:
            self._work_target(symbol, now, journaled=False)

    # --- status --------------------------------------------------------------------------------

    def status(self) -> ExecStatus:
        """Equity, positions, open orders, PnL, trading state and counters, for the heartbeat."""
        book = self._book
        now = self._clock.now_ms()
        return ExecStatus(
            time_ms=now,
            trading_state=self._risk.state,
            state_reason=self._risk.reason,
            equity=book.equity(),
            wallet=book.wallet(),
            realized_pnl=book.realized_pnl,
            realized_pnl_today=book.pnl_today(now),
            unrealized_pnl=book.unrealized_pnl(),
            positions={s: q for s in self.config.symbols if (q := book.position(s).qty)},
            open_orders=book.open_order_count(),
            counters=replace(self.counters),
            last_margin_call_ms=self._margin_calls.last_ms,
            slow_strategy_calls=self._slow.count,
            slowest_strategy_call_ms=self._slow.slowest_ms,
            orders_in_doubt=self.orders_in_doubt(),
            order_rehearsals=self._rehearsal.runs,
        )

    def orders_in_doubt(self) -> int:
        """Open orders of the books the exchange has not answered for (PENDING_SUBMIT,
        UNKNOWN) or that a cancel was sent for and are still open: each one an outcome the
        daemon still waits to learn (a cancel whose order ended is pruned when it ends)."""
        return sum(
            1
            for cid, o in self._book.orders.items()
            if o.status in UNANSWERED or cid in self._cancel_sent
        )

    @property
    def protection_pending(self) -> bool:
        """A stop-loss / take-profit still to be placed (a replacement waiting for the old
        one's cancel, or a refused one for the next price), while trading is ACTIVE."""
        return bool(self._protect_dirty or self._protect_on_price) and (
            not self._stopped and self._risk.state is ACTIVE
        )

    @property
    def _next_equity_ms(self) -> int:
        """When equity is next checked (`EquityWatch.next_ms`), clock ms."""
        return self._equity.next_ms

    @property
    def _last_equity(self) -> Decimal | None:
        """Equity at the last check (`EquityWatch.last`), USDT."""
        return self._equity.last

    @property
    def _fired_due(self) -> int | None:
        """When the earliest crossed stop's answer is overdue (`FiredWatch.due_ms`), clock ms."""
        return self._fired.due_ms

    @property
    def slow_strategy_calls(self) -> int:
        """Strategy calls over `ExecConfig.max_strategy_call_ms` so far (real time)."""
        return self._slow.count

    @property
    def slowest_strategy_call_ms(self) -> float:
        """The slowest of them, ms (0.0 before the first)."""
        return self._slow.slowest_ms

    @property
    def trading_state(self) -> TradingState:
        return self._risk.state

    def target(self, symbol: str) -> TargetPosition | None:
        """The strategy's latest target for `symbol` (None before the first one)."""
        return self._targets.get(symbol)

    def restore_exit(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        intent: OrderIntent = OrderIntent.ORDINARY,
    ) -> None:
        """A restart: `symbol`'s last fill was of a `side` `order_type` order sent with
        `intent`. If that was its stop-loss or take-profit, or the market close of one refused
        as already triggered (-2021) or of a level already crossed, and the position is flat,
        the closed side stays held as it would have in the last session (else the first target
        bought it back at once)."""
        if self.config.reentry_hold and self._book.position(symbol).is_flat:
            self._holds.restore(symbol, side, order_type, intent)

    def hold_exit(self, symbol: str, closing_side: Side) -> None:
        """Hold `symbol`'s side that a `closing_side` stop-loss or take-profit closed (a SELL
        closed a long), as at the exit itself: the parity audit's replay starts so too."""
        self._holds.hold(symbol, closing_side)

    def held_exits(self) -> dict[str, Side]:
        """The symbols whose closed side is held, with the side of the order that closed it."""
        return self._holds.held()

    def target_held(self, symbol: str) -> bool:
        """Whether `symbol`'s target is on the side its stop-loss or take-profit closed, so it
        is not worked (see the module docstring): the symbol stays flat, as if at target."""
        closed = self._closed_by_protection.get(symbol)
        target = self._targets.get(symbol)
        return closed is not None and target is not None and target.qty * closed > 0


def _traded_hint(symbol: str, traded: frozenset[str]) -> str:
    """`: symbols are upper case, BTCUSDT` for a strategy's `btcusdt`; "" for another."""
    upper = symbol.strip().upper() if isinstance(symbol, str) else ""
    return f": symbols are upper case, {upper}" if upper != symbol and upper in traded else ""


def _overrides(strategy: TradingStrategy, callback: str) -> bool:
    """Whether `strategy` has its own `callback`, not StrategyBase's no-op."""
    own = getattr(type(strategy), callback, None)
    return own is not getattr(StrategyBase, callback) or callback in getattr(
        strategy, "__dict__", ()
    )


def _works_at(order: Order, target: TargetPosition, inst: Instrument) -> bool:
    """The order works the way the target asks: at the market, or at the target's price."""
    if target.price is None:
        return order.type is OrderType.MARKET
    return order.type is OrderType.LIMIT and order.price == inst.round_price(
        target.price, order.side
    )


def _asked(delta: Decimal, qty: Decimal, inst: Instrument, order_type: OrderType) -> Decimal | None:
    """The quantity a target asks for (`delta`, signed, on the lot's grid) when the order
    toward it, `qty`, is cut to the symbol's maxQty; None when the order is all of it. Its
    denial named only the part ("BUY 1000.000 denied" of 10,613 BTC asked)."""
    if qty < inst.max_qty(order_type):
        return None
    asked = inst.floor_qty(abs(delta), order_type)
    return asked if asked > qty else None
