"""Parity audit: replay a recorded local session through the backtester and diff it with the
daemon's journal (`backtest_trading_strategy.py --replay-journal JOURNAL_DIR`).

Input: the daemon's journal directory: `journal.sqlite3` (what the daemon decided and what the
exchange did) and `market/session-*.jsonl.gz` (what the ExecManager was fed, in order, with
its clock readings, and the session's effective settings; `trading_engine.market_recorder`).

The replay rebuilds the session's objects (the same ExecManager, RiskManager, BookKeeper and
strategy, from the recorded settings) and runs them against the in-process matching engine
(`exchange_sim.engine.Exchange`, the engine the local exchange runs), both on simulated time:

* the ExecManager gets each recorded item at its recorded clock reading, and the same
  `gap_open` / clock-offset answers the daemon got;
* the engine gets the recorded trades, book tickers and mark prices in exchange-time order,
  and each of our requests at the exchange time the live exchange handled it (the journal's
  acceptance / cancel time of that client order id; one without a live counterpart at once);
  a market item stamped before the request's exchange time goes before it, one stamped at
  the same ms or later after it (the exchange's replay wakes up a little after an item's
  time, a request is handled at once; the daemon's receive order across its market and user
  sockets says nothing: both ways were seen);
* the engine is advanced only where the daemon heard from the exchange, up to the time the
  exchange stamped on that event; what it reports (parsed by the same `gateway` code as
  live) reaches the ExecManager there, up to the event of the same kind and order, so
  reactions happen at the same point; an event the engine sent before that one but the
  daemon got later waits for its own entry (`ParityVenue.deliver_through`); reconciliation
  snapshots and user-stream states are replayed as recorded;
* the start-up reconciliation is replayed as the daemon ran it (`ExecManager.reconciling`):
  its events teach the books, and the stops, flattens and targets it calls for are sent at
  its end, at the clock reading the daemon worked it at (recorded; a session recorded before
  that replays its events one by one, as before);
* the daemon's timer calls while REDUCING (its cancel-all and flatten retries without market
  data) are made at the same recorded clock readings;
* a pause the daemon noticed (recorded: when, how long) is handed to the ExecManager at the
  same clock reading (`ExecManager.note_pause`), so entries are held as the daemon held them,
  until the same recorded reconciliation; the replay infers no pause of its own;
* the kill switch is pulled where the daemon pulled it: a SIGUSR1 or the kill-switch file
  seen by the daemon's watch (or at its start) at the recorded clock reading
  (`ExecManager.kill`), the file seen on the tick path by the RiskManager's own check, which
  answers yes at the first check from the recorded reading on (never from the disk now);
* the trading state the daemon restored at its start (REDUCING, HALTED from an earlier
  session) is restored, and an operator's `--reset-halt` made at its recorded reading;
* so are the portfolio limits' counts it restored from its journal (the drawdown peak,
  today's trades, the day's starting equity: `risk_manager.LimitCounts`, recorded in the
  session's header), by the same `RiskManager.restore_limits`, before anything is replayed.

Then the decisions (`DecisionMade`: time, symbol, strategy, action, reason) and the fills
(client order id, side, price, qty, fee, realized PnL, maker, time) of both are compared in
order; the first difference is named with both sides. Exit 0 identical, 1 divergence, 2 bad
input. The newest session of the journal is audited; a later session in the same journal is
fine (the engine account and the books start as the exchange's start-up snapshot and the
daemon's restored books show them; the protective stops a stop with a position open kept on
the exchange are placed again), unless it started with other orders kept open (--keep-orders:
exit 2). A model strategy is rebuilt with the model file the session traded (the header
names it and its sha256; the registry's promotion since does not matter; a file whose bytes
changed is exit 2). A session with a hole (entries the recorder dropped while the disk refused
its file, or did not record once the session reached `[retention] market_sessions_mb` by
itself) is exit 2, naming the hole; one cut short (the daemon killed, or its disk full at the
stop) is replayed as far as it goes, and the verdict says where it ends. Not reproduced (a
divergence names them): data sets with order-book depth
(the engine also matched against depth the daemon never saw), a model promoted during the
session; and, in sessions recorded before their entries existed, kill switches, a state
and the limits' counts carried over from an earlier session.
"""

import contextlib
import copy
import csv
import functools
import hashlib
import heapq
import json
import logging
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from book_keeper.book_keeper import BookKeeper
from book_keeper.codec import from_jsonable
from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError, JournalTooNew
from book_keeper.journal_files import journal_file, journal_in_use
from book_keeper.journal_format import check_readable
from core.account import Position
from core.atomic_file import write_problem
from core.clock import SimClock
from core.enums import Side, TradingState
from core.events import (
    BalanceChanged,
    DecisionMade,
    Event,
    FundingPaid,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    PositionChanged,
    StreamStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.market import BookTicker, MarkPrice, Trade
from core.orders import ClientOrderIds, Fill, Order, OrderRequest, forced_close
from core.redaction import shown_path
from core.wording import counted
from exchange_sim.engine import EngineConfig, Exchange
from exchange_sim.errors import BinanceError
from gateway.order_params import order_params
from risk_manager.config import RiskConfig
from risk_manager.risk_manager import LimitCounts, RiskManager
from runtime.flags import ToolParser, error_line, exit_status, nonempty_path, path_text
from trading_engine import slow_calls
from trading_engine.exec_manager import ExecConfig, ExecManager
from trading_engine.main_trading_strategy import build_strategy, strategy_factory
from trading_engine.market_recorder import (
    EVENT,
    GAP,
    ITEM,
    KILL,
    KILL_FILE,
    MODEL,
    OFFSET,
    PAUSE,
    RECONCILED,
    RECONCILING,
    RESET,
    RESTORED,
    SESSION_DIR,
    STOP,
    TIMER,
    WARM,
    Session,
    read_session,
    session_files,
    unjsonable,
)
from trading_engine.strategy_determinism import nondeterminism_notes

from .venue import InProcessVenue

log = logging.getLogger(__name__)
_T = TypeVar("_T")

EXIT_IDENTICAL, EXIT_DIVERGED, EXIT_BAD_INPUT = 0, 1, 2
PROG = "python -m backtest.parity"  # its error lines start `backtest.parity: error: `
ACCOUNT = "parity"
PLACEMENT_WINDOW_MS = 25  # see _placement
# Venue events replayed exactly as the daemon got them (not produced by the matching engine).
VERBATIM = (VenueSnapshot, StreamStateChanged, OrderReconciled)


class ParityInputError(ValueError):
    """The journal or its recorded session cannot be audited (exit 2, one line)."""


# --- what the daemon did ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveFacts:
    decisions: list[DecisionMade]
    fills: list[Fill]
    accepted_ms: dict[str, int]  # client order id -> exchange time it was handled
    canceled_ms: dict[str, int]  # client order id -> exchange time of its cancel


def load_live(journal_dir: Path, session: Session) -> LiveFacts:
    """The session's decisions and fills from the daemon's journal, and when the exchange
    handled each of its orders and cancels."""
    header = session.header
    first_seq = int(header["client_id_next"])
    # A session of a journal without a tag (an earlier version's) has no client_id_tag.
    stem = ClientOrderIds.stem_of(header["client_id_prefix"], header.get("client_id_tag", ""))
    started = int(header["started_ms"])
    try:
        journal = SqliteJournal(journal_dir, readonly=True)
    except JournalTooNew as exc:
        raise ParityInputError(str(exc)) from None
    except (JournalError, OSError) as exc:
        raise ParityInputError(
            f"cannot read the journal in {shown_path(journal_dir)}: {exc}"
        ) from None
    try:
        kinds = ("DecisionMade", "OrderAccepted", "OrderCanceled", "OrderExpired", "OrderRejected")
        events: list[Event | Fill] = [e for _, e in journal.load_events(kinds)]
        events.extend(journal.load_fills())  # fills live in their own table
    except JournalTooNew as exc:  # a value inside an event only a newer version knows
        raise ParityInputError(str(exc)) from None
    finally:
        journal.close()

    def ours(cid: str) -> bool:
        seq = ClientOrderIds.seq_of(cid, stem)
        return (seq is not None and seq >= first_seq) or forced_close(cid) is not None

    decisions: list[DecisionMade] = []
    fills: list[Fill] = []
    accepted: dict[str, int] = {}
    canceled: dict[str, int] = {}
    for e in events:
        if isinstance(e, DecisionMade):
            if e.event_time_ms >= started:
                decisions.append(e)
            continue
        if isinstance(e, Fill):
            cid, t = e.client_order_id, e.trade_time_ms
            if ours(cid):
                fills.append(e)
        else:
            assert isinstance(e, OrderAccepted | OrderCanceled | OrderExpired | OrderRejected)
            cid, t = e.client_order_id, e.event_time_ms
            if isinstance(e, OrderRejected) and e.code == 0:
                continue  # refused by us before sending: the exchange never saw it
            if isinstance(e, OrderCanceled):
                canceled.setdefault(cid, t)
                if cid in accepted:
                    continue
        if ours(cid) and (cid not in accepted or t < accepted[cid]):
            accepted[cid] = t
    return LiveFacts(decisions=decisions, fills=fills, accepted_ms=accepted, canceled_ms=canceled)


# --- the replay --------------------------------------------------------------------------------


class ListJournal:
    """`core.journal.Journal` keeping every event in memory (a session is short)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)

    def record_many(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def event_key(event: Event) -> tuple[str, str]:
    """What identifies a venue event across the live venue and the replay: kind and subject."""
    kind = type(event).__name__
    if isinstance(event, OrderFilled | OrderPartiallyFilled):
        return kind, event.fill.client_order_id
    if isinstance(event, BalanceChanged):
        return kind, event.balance.asset
    if isinstance(event, PositionChanged):
        return kind, event.position.symbol
    if isinstance(event, FundingPaid):
        return kind, event.symbol
    return kind, str(getattr(event, "client_order_id", ""))


class ParityVenue(InProcessVenue):
    """The in-process venue with requests executed at the exchange times the live exchange
    handled them, and engine events held until the replay reaches the point where the daemon
    received them."""

    def __init__(
        self,
        *,
        due_order: Callable[[str], int | None],
        due_cancel: Callable[[str], int | None],
        request_time: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._due_order = due_order
        self._due_cancel = due_cancel
        self._request_time = request_time
        self.held: deque[Event] = deque()
        self.owed: Counter[tuple[str, str]] = Counter()  # entries passed before their event
        self.requests: dict[int, OrderRequest] = {}  # queue seq -> the order it sends

    def submit(self, request: OrderRequest) -> None:
        self.tracker.track(request, now_ms=self.clock.now_ms())
        self.stats.submitted += 1
        due = self._due_order(request.client_order_id)
        self._at(due, lambda: self._send(request))
        self.requests[self._seq] = request

    def cancel(self, symbol: str, client_order_id: str) -> None:
        self.stats.cancels += 1
        due = self._due_cancel(client_order_id)
        self._at(due, lambda: self._cancel(symbol, client_order_id))

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        self.cancel_all_at(symbol, None, keep_protection=keep_protection)

    def reconcile_soon(self, reason: str) -> None:
        """Nothing is overdue here: the engine answers every request in turn."""

    def cancel_all_at(self, symbol: str, due: int | None, *, keep_protection: bool) -> None:
        """The daemon's cancel-all at shutdown (the live venue's own, not the ExecManager's);
        with `keep_protection` as `LiveVenue.stop`: the protective stops stay."""
        if keep_protection:
            self._at(due, lambda: self._cancel_all_but_protection(symbol))
        else:
            self._at(due, lambda: self._cancel_all(symbol))

    def _at(self, due: int | None, action: Callable[[], None]) -> None:
        """Queue a request for the exchange time `due` the live exchange handled it at, or
        for now when the live session has no counterpart."""
        self._seq += 1
        when = self._request_time() if due is None else due
        heapq.heappush(self.queue, (when, self._seq, action))

    def execute_next(self) -> None:
        """The earliest queued request, at its exchange time."""
        due, _, action = heapq.heappop(self.queue)
        self.engine.on_time(max(due, self.clock.now_ms()))
        action()
        self.pump()

    def _deliver(self, events: list[Event]) -> None:
        self.held.extend(events)

    def deliver_through(
        self, key: tuple[str, str], later: Counter[tuple[str, str]] | None = None
    ) -> int:
        """Hand the held events up to and including the first one with `key` to the listener
        (nothing when none has it yet); how many were handed on. One before it that the
        daemon got at a later entry (`later`: the recording's event entries still to come, by
        key; paired in order, the earliest held first) waits for that entry: the engine's
        order and the daemon's receipt order across its REST answers and user stream differ
        (both ways were seen), and handed on here the ExecManager acted on it at this
        entry's clock reading, a ms or more early on a busy machine. Without `later`, beyond
        the entries to come of its key, or once its own entry has passed (the engine behind
        the daemon), an event goes now (as the daemon had it)."""
        held = self.held
        match = next((i for i, e in enumerate(held) if event_key(e) == key), None)
        if match is None:
            if later is not None:
                self.owed[key] += 1  # this entry's event: handed on as soon as it comes
            return 0
        before = [held.popleft() for _ in range(match)]
        now: list[Event] = []
        waiting: list[Event] = []
        count = Counter(event_key(e) for e in before)
        going = {  # of each key, how many (the earliest) have no entry to come
            k: n if later is None else min(n, max(self.owed[k], n - later[k]))
            for k, n in count.items()
        }
        for e in before:
            k = event_key(e)
            if going[k] > 0:
                going[k] -= 1
                if self.owed[k] > 0:
                    self.owed[k] -= 1
                now.append(e)
            else:
                waiting.append(e)
        now.append(held.popleft())
        held.extendleft(reversed(waiting))
        listener = self.listener
        assert listener is not None
        for e in now:
            listener(e)
        return len(now)

    def deliver_all(self) -> int:
        return self._hand_on(len(self.held))

    def _hand_on(self, n: int) -> int:
        listener = self.listener
        assert listener is not None
        for _ in range(n):
            listener(self.held.popleft())
        return n


def _exchange_time(item: object) -> int:
    if isinstance(item, Trade):
        return item.trade_time_ms
    if isinstance(item, BookTicker):
        return item.transaction_time_ms
    assert isinstance(item, MarkPrice)
    return item.event_time_ms


@dataclass(slots=True)
class Replay:
    decisions: list[DecisionMade]
    fills: list[Fill]
    book_differences: int
    item_errors: int
    counters: dict[str, int] = field(default_factory=dict)
    placed_by_fill: int = 0  # orders not at their usual place in the stream (`_placement`)
    live_item_errors: int | None = None  # the daemon's (its stop entry; None: not recorded)


def _traded_model_file(model: dict[str, Any], base_dir: str) -> str:
    """The model file the session traded (its header's `model`), checked to hold the same
    bytes: a registry's promotion since then, or a retrain into the same file, would rebuild
    another session."""
    path = Path(model["path"])
    if not path.is_absolute() and base_dir:
        path = Path(base_dir) / path
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ParityInputError(
            f"the session traded the model file {path}, which cannot be read now "
            f"({exc.strerror}): the audit needs it to rebuild the session"
        ) from None
    if digest != model["sha256"]:
        raise ParityInputError(
            f"the session traded the model file {path} with sha256 {model['sha256'][:12]}; "
            f"it holds {digest[:12]} now (retrained or replaced since): the audit cannot "
            "rebuild the session with it"
        )
    return str(path)


def _replayed(answers: "deque[_T]", default: _T) -> Callable[..., _T]:
    """The ExecManager's `gap_open` / `clock_offset_ms` in a replay: the session's recorded
    answers in order (`default` once they run out), and, as its `__wrapped__`, the answer
    without a record, which the ExecManager's order path rehearsal would ask (a replay does
    not rehearse; the daemon's recorder is built the same way)."""

    def unrecorded(*_args: object) -> _T:
        return default

    @functools.wraps(unrecorded)
    def replayed(*_args: object) -> _T:
        return answers.popleft() if answers else default

    return replayed


def replay_session(session: Session, live: LiveFacts) -> Replay:
    """Run the recorded session through the backtester's objects (see the module docstring)."""
    h = session.header
    try:
        instruments = {
            sym: from_jsonable(Instrument, data) for sym, data in h["instruments"].items()
        }
        risk_config = from_jsonable(RiskConfig, h["risk"])
        exec_config = from_jsonable(ExecConfig, h["exec"])
        params = unjsonable(h["strategy_params"])
        if h.get("model"):
            params["model_path"] = _traded_model_file(h["model"], h.get("strategy_dir") or "")
        # A strategy of one's own is found where the daemon found it: a relative file path or
        # a module in the daemon's working directory (not the audit's).
        factory = strategy_factory(h["strategy"], base_dir=h.get("strategy_dir") or None)
        strategy = build_strategy(h["strategy"], factory, {**params, "instruments": instruments})
        for note in nondeterminism_notes(h["strategy"], factory):  # a divergence's likely cause
            log.warning("%s", note)
        # What the limits had counted when the daemon started (None: recorded before that).
        limits = None if h.get("limits") is None else from_jsonable(LimitCounts, h["limits"])
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ParityInputError(f"cannot rebuild the session's settings: {exc}") from None
    except ArithmeticError:  # decimal.InvalidOperation, whose text names only its class
        raise ParityInputError(
            "cannot rebuild the session's settings: a number in its header is not a decimal"
        ) from None
    entries = session.entries
    started = int(h["started_ms"])
    em_clock = SimClock(started)
    switches = _model_switches(entries, h.get("strategy_dir") or "")
    switch_model = getattr(strategy, "switch_model", None)
    market_types = (Trade, BookTicker, MarkPrice)
    feed = sorted(  # (exchange time, receipt index, item); receipt order at equal times
        (_exchange_time(e[2]), i, e[2])
        for i, e in enumerate(entries)
        if e[0] == ITEM and isinstance(e[2], market_types)
    )
    start_snapshot = next(
        (e[2] for e in entries if e[0] == EVENT and isinstance(e[2], VenueSnapshot)), None
    )
    if start_snapshot is None:
        raise ParityInputError(f"{session.path}: no start-up snapshot of the account recorded")
    engine_start = min([started, *(x[0] for x in feed[:1])]) - 1
    engine, engine_clock, kept_orders = _engine_at_start(
        instruments, engine_start, start_snapshot, risk_config.leverage
    )

    book = BookKeeper(
        starting_balances=None,
        instruments=instruments,
        clock=em_clock,
        leverage=dict.fromkeys(instruments, risk_config.leverage),
    )
    risk = RiskManager(
        config=risk_config,
        instruments=instruments,
        clock=em_clock,
        view=book,
        file_exists=recorded_file_answers(entries, em_clock.now_ms),
    )
    if limits is not None:  # as the daemon restored them, before its start-up's first step
        risk.restore_limits(limits)
    journal = ListJournal()
    due_cancel = live.canceled_ms.get
    venue = ParityVenue(
        engine=engine,
        account=ACCOUNT,
        clock=engine_clock,
        instruments=instruments,
        due_order=live.accepted_ms.get,
        due_cancel=due_cancel,
        request_time=em_clock.now_ms,
    )
    for order in kept_orders:  # as LiveVenue.restore tracks the journal's open orders
        venue.tracker.restore(order, algo=True)
    gaps = deque(bool(e[2]) for e in entries if e[0] == GAP)
    offsets = deque(int(e[1]) for e in entries if e[0] == OFFSET)
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=strategy,
        journal=journal,
        clock=em_clock,
        instruments=instruments,
        ids=ClientOrderIds(
            h["client_id_prefix"], int(h["client_id_next"]), tag=h.get("client_id_tag", "")
        ),
        config=exec_config,
        gap_open=_replayed(gaps, False),
        clock_offset_ms=_replayed(offsets, 0),
    )
    venue.listener = em.on_event
    for symbol, side in h.get("held_exits", {}).items():  # as the daemon restored them
        em.hold_exit(symbol, Side(side))

    fed = 0
    n_feed = len(feed)

    immediate: dict[str, list[tuple[Decimal, Decimal]]] = {}  # fills at acceptance time
    for f in live.fills:
        if f.trade_time_ms == live.accepted_ms.get(f.client_order_id):
            immediate.setdefault(f.client_order_id, []).append((f.price, f.qty))
    placed_by_fill = 0

    def advance(to_ms: float) -> None:
        """The engine catches up with exchange time `to_ms`: recorded market data and our
        requests in the order the exchange handled them (`_request_first`). Called only
        where the daemon heard from the exchange, with the time the exchange stamped on it:
        the daemon's and the exchange's clocks differ by a few ms (the offset is estimated
        from REST round trips), so a request is queued before the engine gets that far."""
        nonlocal fed, placed_by_fill
        queue = venue.queue
        while True:
            item = feed[fed] if fed < n_feed else None
            if queue and (item is None or _request_first(queue[0][0], item[0])):
                if queue[0][0] > to_ms:
                    return
                venue.execute_next()
            elif (
                queue
                and item is not None
                and (due_ms := queue[0][0]) <= to_ms
                and due_ms - PLACEMENT_WINDOW_MS <= item[0]
                and (request := venue.requests.pop(queue[0][1], None)) is not None
                and (expected := immediate.get(request.client_order_id))
            ):
                k = _placement(engine, feed, fed, due_ms, request, instruments, expected)
                for x in feed[fed : fed + k]:
                    _feed_engine(engine, x[2])
                    venue.pump()
                fed += k
                placed_by_fill += k != _items_before(feed, fed - k, due_ms)
                venue.execute_next()
            elif item is not None and item[0] <= to_ms:
                _feed_engine(engine, item[2])
                fed += 1
                venue.pump()
            else:
                return

    books_log = logging.getLogger(BookKeeper.__module__)
    with _silenced(books_log):  # seeding is not a difference
        for data in h.get("positions", ()):  # where the daemon's books started (its journal)
            p = from_jsonable(Position, data)
            if p.qty and p.symbol in instruments:
                book.apply(PositionChanged(event_time_ms=started, recv_time_ms=started,
                                           position=p, reason="books at start"))  # fmt: skip
    later = Counter(  # the venue events still to come, as the daemon got them
        event_key(e[2]) for e in entries if e[0] == EVENT and not isinstance(e[2], VERBATIM)
    )
    item_errors = 0
    live_item_errors: int | None = None
    items_seen = False
    reconciliation: contextlib.AbstractContextManager[None] | None = None
    start_differences = book.differences
    for i, entry in enumerate(entries):
        for path, version in switches.get(i, ()):  # before the item whose bar switched
            try:
                switch_model(path, version)  # type: ignore[misc]
            except (TypeError, OSError, ValueError) as exc:
                raise ParityInputError(
                    f"cannot switch the replay to the model the session switched to, {path}: {exc}"
                ) from None
        code = entry[0]
        if code == WARM:
            em.warm(entry[1])
            continue
        if code == STOP:  # the daemon's shutdown: no more trading, open orders canceled
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            if entry[2] and len(entry) > 5 and entry[5]:  # older sessions journaled none
                em.decide_stop_cancels(
                    str(entry[5]), keep_protection=bool(entry[3]), now_ms=int(entry[1])
                )
            em.stop_trading()
            keep_protection = len(entry) > 3 and bool(entry[3])  # older sessions: 3 fields
            if len(entry) > 4:  # older sessions did not count the daemon's item errors
                live_item_errors = int(entry[4])
            if entry[2]:
                for sym in instruments:
                    ids = [o.client_order_id for o in book.orders.values() if o.symbol == sym]
                    dues = [d for c in ids if (d := due_cancel(c)) is not None]
                    venue.cancel_all_at(
                        sym, min(dues) if dues else None, keep_protection=keep_protection
                    )
            continue
        if code == PAUSE:  # the daemon noticed it had not run: it held entries from here
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            em.note_pause(int(entry[2]))
            continue
        if code == RECONCILING:  # the books learn from what follows; nothing is sent
            reconciliation = em.reconciling()
            reconciliation.__enter__()
            continue
        if code == RECONCILED and reconciliation is not None:  # worked at the daemon's reading
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            reconciliation.__exit__(None, None, None)
            reconciliation = None
            continue
        if code == KILL:  # a kill switch the daemon pulled (SIGUSR1, its file watch)
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            em.kill(str(entry[2]))
            continue
        if code == RESTORED:  # the state the daemon's journal held at its start
            risk.restore_state(TradingState(entry[1]), str(entry[2]))
            continue
        if code == RESET:  # the operator's --reset-halt
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            em.reset(str(entry[2]))
            continue
        if code == TIMER:  # the daemon's timer, REDUCING: its retries at the same reading
            em_clock.set_ms(max(em_clock.now_ms(), int(entry[1])))
            em.on_timer()
            continue
        if code not in (ITEM, EVENT):
            continue
        t = int(entry[1])
        if t > em_clock.now_ms():
            em_clock.set_ms(t)
        obj = entry[2]
        if code == ITEM:
            items_seen = True
            try:
                em.on_item(obj)
            except Exception:  # the daemon's sink counts (and logs: not repeated here)
                item_errors += 1
        elif isinstance(obj, VERBATIM):
            if items_seen:
                em.on_event(obj)
            else:  # the start-up snapshot sets the replayed books (seeded with positions only:
                # its open orders, a stop-loss say, are news to them, not a difference)
                with _silenced(books_log):
                    em.on_event(obj)
                start_differences = book.differences
        else:  # the exchange got this far (its own time) when it sent what the daemon got here
            advance(obj.event_time_ms)
            key = event_key(obj)
            later[key] -= 1
            venue.deliver_through(key, later)
    advance(em_clock.now_ms())
    venue.deliver_all()
    decisions = [e for e in journal.events if isinstance(e, DecisionMade)]
    fills: list[Fill] = []
    seen: set[tuple[str, int]] = set()
    for e in journal.events:  # each trade once, as the live journal stores it
        if isinstance(e, OrderFilled | OrderPartiallyFilled):
            trade = (e.fill.client_order_id, e.fill.trade_id)
            if trade not in seen:
                seen.add(trade)
                fills.append(e.fill)
    counters = {k: int(getattr(em.counters, k)) for k in em.counters.__dataclass_fields__}
    return Replay(
        decisions=decisions,
        fills=fills,
        book_differences=book.differences - start_differences,
        item_errors=item_errors,
        counters=counters,
        placed_by_fill=placed_by_fill,
        live_item_errors=live_item_errors,
    )


def _model_switches(
    entries: Sequence[tuple[Any, ...]], base_dir: str
) -> dict[int, list[tuple[str, str | None]]]:
    """The model switches the session recorded (a registry's hot swap): the model file and
    its version, by the index of the entry whose bar switched (the item, or the warm-up; the
    switch is recorded after it), each file checked to hold the bytes the session traded."""
    switches: dict[int, list[tuple[str, str | None]]] = {}
    at = 0
    for i, entry in enumerate(entries):
        if entry[0] in (ITEM, WARM):
            at = i
        elif entry[0] == MODEL:
            model = entry[2]
            path = _traded_model_file(model, base_dir)
            switches.setdefault(at, []).append((path, model.get("version")))
    return switches


def _items_before(feed: Sequence[tuple[int, int, object]], start: int, due_ms: int) -> int:
    """How many feed items from `start` on are stamped before `due_ms`."""
    n = start
    while n < len(feed) and feed[n][0] < due_ms:
        n += 1
    return n - start


def _placement(
    engine: Exchange,
    feed: Sequence[tuple[int, int, object]],
    start: int,
    due_ms: int,
    request: OrderRequest,
    instruments: dict[str, Instrument],
    expected: list[tuple[Decimal, Decimal]],
) -> int:
    """How many of the feed items from `start` on the exchange had applied when it took
    `request` (stamped `due_ms`), for an order that filled at once: the usual answer (those
    stamped before `due_ms`, `_request_first`) unless another position within
    `PLACEMENT_WINDOW_MS` is the only way to get the fills the exchange reported (under load
    its replay publishes a few ms late). Each candidate is tried on a copy of the engine."""
    usual = _items_before(feed, start, due_ms)
    same_ms = usual
    while start + same_ms < len(feed) and feed[start + same_ms][0] == due_ms:
        same_ms += 1
    earliest = usual
    while earliest > 0 and feed[start + earliest - 1][0] >= due_ms - PLACEMENT_WINDOW_MS:
        earliest -= 1
    candidates = [usual, *range(usual + 1, same_ms + 1), *range(usual - 1, earliest - 1, -1)]
    if request.type.is_conditional:
        return usual
    params = order_params(request, instruments[request.symbol])
    for k in candidates:
        trial = copy.deepcopy(engine)
        for x in feed[start : start + k]:
            _feed_engine(trial, x[2])
        trial.on_time(due_ms)
        trial.drain_user_events()
        try:
            trial.new_order(ACCOUNT, params)
        except BinanceError:
            continue
        fills = [
            (Decimal(o["L"]), Decimal(o["l"]))
            for account, ev in trial.drain_user_events()
            if account == ACCOUNT
            and ev.get("e") == "ORDER_TRADE_UPDATE"
            and (o := ev["o"])["x"] == "TRADE"
            and o["c"] == request.client_order_id
        ]
        if fills == expected:
            return k
    return usual


def _request_first(due_ms: int, item_ms: int) -> bool:
    """Did the exchange handle a request of exchange time `due_ms` before publishing a market
    item stamped `item_ms`? Yes when the item is of the same ms or later (see the module
    docstring): seen in every case in a batch of local sessions at speeds 20 to 300."""
    return item_ms >= due_ms


def _engine_at_start(
    instruments: dict[str, Instrument], start_ms: int, snapshot: VenueSnapshot, leverage: int
) -> tuple[Exchange, SimClock, list[Order]]:
    """The engine with the account as the start-up snapshot shows it: the USDT wallet,
    each open position (opened by a market order at its entry price, the fee added to the
    wallet first so that it ends exactly at the snapshot's) and the protective stops /
    take-profits a stop with a position open kept on the exchange (returned with the
    engine's algo ids, for the venue to track)."""
    kept = [o for o in snapshot.open_orders if o.symbol in instruments]
    others = [o for o in kept if not o.is_protective]
    if others:
        raise ParityInputError(
            f"the session started with {counted(len(others), 'open order')} other than protective "
            "stops (--keep-orders): the audit cannot put them back on the engine"
        )
    wallet = sum((b.wallet_balance for b in snapshot.balances if b.asset == "USDT"), Decimal(0))
    positions = [p for p in snapshot.positions if p.qty != 0 and p.symbol in instruments]
    fee = Decimal(0)
    for _ in range(2):  # the second pass knows what opening the positions costs
        clock = SimClock(start_ms)
        engine = Exchange(instruments, clock, EngineConfig())
        engine.create_account(ACCOUNT, {"USDT": wallet + fee})
        for sym in instruments:
            engine.change_leverage(ACCOUNT, {"symbol": sym, "leverage": str(leverage)})
        for i, p in enumerate(positions):
            inst = instruments[p.symbol]
            if inst.round_price(p.entry_price, Side.BUY) != p.entry_price:
                raise ParityInputError(
                    f"the session started with a {p.symbol} position at {p.entry_price}, off "
                    "the tick grid: the audit cannot open it on the engine"
                )
            engine.on_trade(p.symbol, p.entry_price, abs(p.qty), False, start_ms)
            engine.new_order(
                ACCOUNT,
                {
                    "symbol": p.symbol,
                    "side": "BUY" if p.qty > 0 else "SELL",
                    "type": "MARKET",
                    "quantity": f"{abs(p.qty):f}",
                    "newClientOrderId": f"parity-start-{i}",
                },
            )
        engine.drain_user_events()
        now = sum(
            (Decimal(b["balance"]) for b in engine.balance(ACCOUNT, {}) if b["asset"] == "USDT"),
            Decimal(0),
        )
        if now == wallet:
            return engine, clock, [_place_kept(engine, o, instruments) for o in kept]
        fee += wallet - now
    raise ParityInputError(f"cannot open the starting positions on the engine at {wallet} USDT")


def _place_kept(engine: Exchange, order: Order, instruments: dict[str, Instrument]) -> Order:
    """A kept protective order placed again on the engine, as the executor placed it; the
    order with the engine's algo id."""
    request = OrderRequest(
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        quantity=None if order.close_position else order.quantity,
        client_order_id=order.client_order_id,
        stop_price=order.stop_price,
        reduce_only=order.reduce_only,
        close_position=order.close_position,
        position_side=order.position_side,
    )
    answer = engine.new_algo_order(ACCOUNT, order_params(request, instruments[order.symbol]))
    engine.drain_user_events()  # its NEW: the books know the order from the snapshot
    return dc_replace(order, order_id=int(answer["algoId"]))


def recorded_file_answers(
    entries: Sequence[tuple[Any, ...]], now_ms: Callable[[], int]
) -> Callable[[str], bool]:
    """The replay's `RiskManager.file_exists`: yes once per recorded ``f`` entry, at the
    first check from its reading on, else no. The file on the audit's disk says nothing about
    the session (a kill switch removed since, or one there now for the running daemon)."""
    found = deque(int(e[1]) for e in entries if e[0] == KILL_FILE)

    def exists(_path: str) -> bool:
        if found and found[0] <= now_ms():
            found.popleft()
            return True
        return False

    return exists


def _feed_engine(engine: Exchange, item: object) -> None:
    """One recorded market item to the engine, as the local exchange's replay driver does."""
    if isinstance(item, Trade):
        engine.on_trade(item.symbol, item.price, item.qty, item.buyer_is_maker, item.trade_time_ms)
    elif isinstance(item, BookTicker):
        engine.on_book_ticker(
            item.symbol,
            item.bid_price,
            item.bid_qty,
            item.ask_price,
            item.ask_qty,
            item.transaction_time_ms,
        )
    elif isinstance(item, MarkPrice):
        engine.on_mark_price(
            item.symbol,
            item.mark_price,
            item.index_price,
            item.funding_rate,
            item.next_funding_time_ms,
            item.event_time_ms,
        )


# --- the diff ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Divergence:
    what: str  # "decision", "fill", "books"
    index: int  # 0-based position in the compared sequence
    live: str
    replay: str

    def lines(self) -> list[str]:
        return [
            f"parity: first divergence at {self.what} #{self.index + 1}",
            f"  live:   {self.live}",
            f"  replay: {self.replay}",
        ]


def decision_text(d: DecisionMade | None) -> str:
    if d is None:
        return "(none)"
    return f"{d.event_time_ms} {d.symbol} {d.strategy}: {d.action} ({d.reason})"


def fill_text(f: Fill | None) -> str:
    if f is None:
        return "(none)"
    return (
        f"{f.trade_time_ms} {f.client_order_id} {f.side} {f.qty:f} @ {f.price:f} "
        f"fee {f.commission:f} {f.commission_asset} realized {f.realized_pnl:f} "
        f"{'maker' if f.is_maker else 'taker'}"
    )


def _decision_key(d: DecisionMade) -> tuple[Any, ...]:
    return (d.event_time_ms, d.symbol, d.strategy, d.action, d.reason)


def _fill_key(f: Fill) -> tuple[Any, ...]:
    return (
        f.trade_time_ms,
        f.client_order_id,
        f.symbol,
        f.side,
        f.price,
        f.qty,
        f.commission,
        f.commission_asset,
        f.realized_pnl,
        f.is_maker,
    )


def _first_difference(
    live: Sequence[Any], replay: Sequence[Any], key: Callable[[Any], tuple[Any, ...]]
) -> int | None:
    for i in range(max(len(live), len(replay))):
        a = live[i] if i < len(live) else None
        b = replay[i] if i < len(replay) else None
        if a is None or b is None or key(a) != key(b):
            return i
    return None


def _in_time_order(fills: Sequence[Fill]) -> list[Fill]:
    """Fills as compared: by time, then client order id (the two sides book them in the order
    their events arrived, which may differ within a ms)."""
    return sorted(fills, key=lambda f: (f.trade_time_ms, f.client_order_id))


def diff(live: LiveFacts, replay: Replay) -> Divergence | None:
    """The first divergence: decisions, then fills, then the replay's books against the
    exchange snapshots the daemon got; None when they agree."""
    i = _first_difference(live.decisions, replay.decisions, _decision_key)
    if i is not None:
        a = live.decisions[i] if i < len(live.decisions) else None
        b = replay.decisions[i] if i < len(replay.decisions) else None
        return Divergence("decision", i, decision_text(a), decision_text(b))
    live_fills = _in_time_order(live.fills)
    replay_fills = _in_time_order(replay.fills)
    i = _first_difference(live_fills, replay_fills, _fill_key)
    if i is not None:
        fa = live_fills[i] if i < len(live_fills) else None
        fb = replay_fills[i] if i < len(replay_fills) else None
        return Divergence("fill", i, fill_text(fa), fill_text(fb))
    if replay.book_differences:
        return Divergence(
            "books",
            0,
            "the exchange's snapshots",
            f"{counted(replay.book_differences, 'difference')} of the replayed books from them",
        )
    return None


# --- entry points --------------------------------------------------------------------------------


def find_session(path: Path) -> tuple[Path, Path, int]:
    """(journal directory, recorded session, sessions recorded) for a journal directory or
    file (its newest session) or for one of its session files (`market/session-*.jsonl.gz`:
    that one)."""
    path = Path(path)
    chosen = path if path.is_file() and path.parent.name == SESSION_DIR else None
    if chosen is not None:
        journal_dir = path.parent.parent
    else:
        journal_dir = path.parent if path.is_file() else path
    if not journal_file(journal_dir).is_file():
        raise ParityInputError(f"no journal at {shown_path(path)}")
    if journal_in_use(journal_dir):
        # Its session file is still being written (gzip holds back even the header).
        raise ParityInputError(
            f"a daemon is still running on {shown_path(journal_dir)} (its journal is locked): "
            "stop it, then audit its session"
        )
    try:  # before its session is read: a newer version recorded both
        check_readable(journal_dir)
    except JournalTooNew as exc:
        raise ParityInputError(str(exc)) from None
    files = session_files(journal_dir)
    if chosen is not None:
        if chosen.name not in {f.name for f in files}:
            raise ParityInputError(
                f"{shown_path(chosen)} is not a recorded session (session-<ms>.jsonl.gz)"
            )
        return journal_dir, chosen, len(files)
    if not files:
        raise ParityInputError(
            f"no recorded session in {shown_path(journal_dir / SESSION_DIR)} (sessions are "
            "recorded in local mode)"
        )
    return journal_dir, files[-1], len(files)


@dataclass(frozen=True, slots=True)
class AuditResult:
    decisions: int
    fills: int
    divergence: Divergence | None
    replay: Replay
    live: LiveFacts
    session: Path  # the recorded session file audited
    cut_short_at_ms: int | None = None  # the recording's last clock reading, when cut short
    sessions_recorded: int = 1  # in the journal's market/ folder

    @property
    def exit_code(self) -> int:
        return EXIT_IDENTICAL if self.divergence is None else EXIT_DIVERGED

    def lines(self) -> list[str]:
        notes = []
        if self.sessions_recorded > 1:
            notes.append(
                f"  (session {shown_path(self.session)}, one of {self.sessions_recorded} "
                "recorded: --replay-journal takes a session file to audit another)"
            )
        if placed := self.replay.placed_by_fill:
            by = "its fill" if placed == 1 else "their fills"
            notes.append(
                f"  ({counted(placed, 'order')} placed in the market stream by {by}, within "
                f"{PLACEMENT_WINDOW_MS} ms before the exchange's time stamp)"
            )
        if self.cut_short_at_ms is not None:
            notes.append(
                f"  (the recording is cut short at {_utc(self.cut_short_at_ms)}: the daemon was "
                "killed, or its disk was full at the stop; what the journal holds after that "
                "was not replayed)"
            )
        if errors := self.replay.item_errors:
            live = self.replay.live_item_errors
            session = "not counted in this recording" if live is None else f"{live} in the session"
            notes.append(
                f"  (the strategy raised on {counted(errors, 'item')} in the replay; {session})"
            )
        elif self.replay.live_item_errors:
            notes.append(
                f"  (the strategy raised on {counted(self.replay.live_item_errors, 'item')} in the "
                "session, on none in the replay)"
            )
        if self.divergence is None:
            counts = f"{counted(self.decisions, 'decision')}, {counted(self.fills, 'fill')}"
            return [f"parity: identical ({counts})", *notes]
        return [*self.divergence.lines(), *notes]


def audit(path: Path) -> AuditResult:
    """Replay the newest recorded session of the journal at `path` (or the session file
    `path`) and diff it."""
    journal_dir, session_path, sessions = find_session(path)
    try:
        session = read_session(session_path)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise ParityInputError(str(exc)) from None
    if holes := session.holes:
        reasons = "; ".join(dict.fromkeys(h.reason() for h in holes))
        raise ParityInputError(
            f"{session_path}: the recording has {counted(len(holes), 'hole')} ({reasons}): "
            f"{'; '.join(h.text() for h in holes)}: a replay without them cannot be compared "
            "with the journal"
        )
    live = load_live(journal_dir, session)
    with _state_lines_dropped(logging.getLogger(ExecManager.__module__)):
        replay = replay_session(session, live)
    divergence = diff(live, replay)
    return AuditResult(
        decisions=len(live.decisions),
        fills=len(live.fills),
        divergence=divergence,
        replay=replay,
        live=live,
        session=session_path,
        cut_short_at_ms=None if session.complete else _recording_end(session),
        sessions_recorded=sessions,
    )


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _recording_end(session: Session) -> int:
    """Where a cut-short recording ends: its last clock reading (its start if it has none)."""
    last = session.last_ms()
    return int(session.header["started_ms"]) if last is None else last


# The files `write_report` writes into its folder.
REPORT_FILES = ("parity.txt", "parity.json", "parity_decisions.csv", "parity_fills.csv")


def _side_by_side(
    path: Path,
    live: Sequence[Any],
    replay: Sequence[Any],
    key: Callable[[Any], tuple[Any, ...]],
    text: Callable[[Any], str],
) -> None:
    """One CSV row per position in the compared sequences: both sides' texts and whether
    they are equal (`(none)` where a side has fewer)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["n", "same", "live", "replay"])
        for i in range(max(len(live), len(replay))):
            a = live[i] if i < len(live) else None
            b = replay[i] if i < len(replay) else None
            same = a is not None and b is not None and key(a) == key(b)
            w.writerow([i + 1, int(same), text(a), text(b)])


def write_report(result: AuditResult, out_dir: Path) -> list[Path]:
    """The audit into `out_dir`: `parity.txt` (the lines printed), `parity.json` (verdict,
    counts, first divergence), and the whole diff side by side, one row per decision
    (`parity_decisions.csv`) and per fill in time order (`parity_fills.csv`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    txt, js, decisions, fills = paths
    txt.write_text("".join(f"{line}\n" for line in result.lines()))
    d = result.divergence
    doc = {
        "session": str(result.session),
        "verdict": "identical" if d is None else "diverged",
        "recording_cut_short_at_ms": result.cut_short_at_ms,
        "exit_code": result.exit_code,
        "live": {
            "decisions": len(result.live.decisions),
            "fills": len(result.live.fills),
            "item_errors": result.replay.live_item_errors,  # None: not in the recording
        },
        "replay": {
            "decisions": len(result.replay.decisions),
            "fills": len(result.replay.fills),
            "book_differences": result.replay.book_differences,
            "item_errors": result.replay.item_errors,
            "placed_by_fill": result.replay.placed_by_fill,
        },
        "first_divergence": None
        if d is None
        else {"what": d.what, "n": d.index + 1, "live": d.live, "replay": d.replay},
    }
    js.write_text(json.dumps(doc, indent=2) + "\n")
    live, replay = result.live, result.replay
    _side_by_side(decisions, live.decisions, replay.decisions, _decision_key, decision_text)
    _side_by_side(
        fills, _in_time_order(live.fills), _in_time_order(replay.fills), _fill_key, fill_text
    )
    return paths


@contextlib.contextmanager
def _silenced(logger: logging.Logger) -> Iterator[None]:
    """`logger` says nothing inside: what the replay's seeding makes it say is not news, and
    the command's output is its verdict (lines of a logger with no handler went to stderr)."""
    quiet, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = quiet


def _is_not_a_state_line(record: logging.LogRecord) -> bool:
    return not (
        record.getMessage().startswith("trading state ") or record.pathname == slow_calls.__file__
    )


@contextlib.contextmanager
def _state_lines_dropped(logger: logging.Logger) -> Iterator[None]:
    """The replay's trading-state lines (a kill switch, a limit: REDUCING, HALTED) and its
    warnings of slow strategy calls (timed on the audit's machine) are the daemon's, in its
    log already; the audit's output is its verdict (a divergence in the state shows in the
    decisions and fills). Its other lines (errors) still go out."""
    logger.addFilter(_is_not_a_state_line)
    try:
        yield
    finally:
        logger.removeFilter(_is_not_a_state_line)


def run(path: str | Path, out: Any = None, out_dir: Path | None = None, *, prog: str = PROG) -> int:
    """The CLI's `--replay-journal PATH [--out DIR]`: print the verdict (and write the report
    into `out_dir`, then a line saying where it went); exit status 0 / 1 / 2. An error is one
    line `error_line(prog, ...)`: `backtest.parity: error: ...`, or the backtester's own name
    for its `--replay-journal`."""
    out = out or sys.stdout
    if out_dir is not None and (problem := write_problem(out_dir)):  # before the replay
        print(error_line(prog, f"--out: {problem}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = audit(Path(path))
    except ParityInputError as exc:
        print(error_line(prog, str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in result.lines():
        print(line, file=out)
    if out_dir is not None:
        write_report(result, out_dir)
        print(f"parity report -> {out_dir}", file=out)
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = ToolParser(
        prog=PROG,
        description="Replay a local session's recorded market data; diff decisions and fills.",
    )
    parser.add_argument(
        "journal", type=path_text, help="the daemon's journal directory (journal_dir)"
    )
    parser.add_argument("--out", type=nonempty_path, help="also write the report into this folder")
    args = parser.parse_args(argv)
    return run(args.journal, out_dir=args.out)


if __name__ == "__main__":
    sys.exit(exit_status(main))
