"""The daemon: one asyncio loop wiring DataStream -> ExecManager -> LiveVenue, with the books.

Start-up, in order: the venue's endpoints (the embedded local exchange as a child process, or
the configured one), the REST connection (clock offset measured), exchangeInfo -> instruments,
leverage, the journal and the books restored from it, the strategy warmed from REST klines,
the venue started (user stream, dead-man switch, reconciliation with the exchange: every
difference logged), then the market-data stream feeding the ExecManager item by item.

While it runs: a heartbeat line every `execution.heartbeat_s` (and status.json then, and
within `STATUS_WATCH_S` of a change `--status` acts on), the kill switch (flag file and
SIGUSR1), the duration limit. SIGINT/SIGTERM: no new orders, cancel open orders (unless
`keep_orders`), flush the journal, print a closing summary, exit 0 within 5 s. A position left
open keeps its exchange-side stop-loss: one the stop's last reconciliation shows without it
(the exchange expired or cancelled it unseen) gets one then, confirmed before the summary,
which warns, naming the position, when it could not be placed.

User mistakes and unreachable venues end with one line (`DaemonError`), never a traceback.
"""

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from book_keeper.book_keeper import BookKeeper
from book_keeper.checkpoint import Replay
from book_keeper.journal import SqliteJournal, Synchronous, run_applier
from book_keeper.journal_errors import JournalError
from book_keeper.journal_files import JournalLock
from core.clock import LiveClock
from core.enums import TradingState
from core.errors import TradingError
from core.events import (
    AUTOMATIC_RESET,
    Event,
    OrderFilled,
    OrderPartiallyFilled,
    StreamStateChanged,
    TradingStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.orders import forced_close
from core.redaction import redact
from gateway.data_stream import DataStream
from gateway.main_gateway import STREAM as USER_STREAM
from gateway.main_gateway import LiveVenue
from gateway.market_rest import MarketDataRest
from gateway.venue_sync import AccountChanged
from rest_connect.connection import RestConnection
from rest_connect.rest_factory import create_rest_connection
from risk_manager.risk_manager import IllegalStateTransition, RiskManager
from runtime.exchange_process import ExchangeEndpoints, LocalExchangeProcess
from runtime.log_setup import FILE_ONLY
from runtime.settings import Mode, Settings, risk_config, shown_setting, strategy_params
from runtime.status_file import (
    DaemonState,
    HostTime,
    StartPhase,
    gap_note,
    host_time,
    time_fields,
    unclean_stop_note,
    write_status,
)
from runtime.stop_signals import (
    catch_kill_signal,
    catch_stop_signals,
    release_kill_signal,
    release_stop_signals,
)
from trading_engine.account_checks import (
    check_one_way_mode,
    check_single_asset_mode,
    check_unknown_positions,
    check_untraded_symbols,
    read_instruments,
    set_leverage,
)
from trading_engine.closing_summary import closing_lines, exit_check, write_summary
from trading_engine.daemon_error import DaemonError, StartFailure, needs_the_user
from trading_engine.daemon_status import books_status, recording_status, status_header
from trading_engine.exec_manager import ExecManager
from trading_engine.gc_tuning import collect_between_items, freeze_startup_heap
from trading_engine.heartbeat_line import heartbeat_line
from trading_engine.item_sink import ItemSink
from trading_engine.journal_dir import (
    LOCAL_VENUE,
    archive_for_run,
    check_claim,
    lock_journal_dir,
    open_journal,
    prune_earlier_runs,
    refuse_newer,
    venue_of,
)
from trading_engine.kill_switch import KILL_FILE_POLL_S, file_exists, halted_line, reset_refused
from trading_engine.limits_restore import restore_limits
from trading_engine.main_trading_strategy import TradingStrategy
from trading_engine.market_recorder import MarketRecorder, session_header
from trading_engine.pause_watch import PAUSE_POLL_S, PauseWatch
from trading_engine.reconciled import Reconciled
from trading_engine.recovery_log import recovery_lines
from trading_engine.relay import Relay
from trading_engine.start_errors import account_changed_line, start_failures_in_one_line
from trading_engine.strategy_setup import (
    entry_size_note,
    load_strategy,
    model_in_use,
    model_logged,
    synthesized_flow_note,
)
from trading_engine.stream_links import StreamLinks
from trading_engine.warm_up import warm_strategy
from trading_engine.wiring import (
    client_ids,
    market_stream,
    restored_books,
    restored_exec_manager,
    restored_venue,
)

log = logging.getLogger("daemon")

SHUTDOWN_BUDGET_S = 4.0  # the whole stop must fit in 5 s
# The venue's stop is given what is left of the budget and fits its phases in it; this much
# more before it is cut from outside (its last steps may end a few ms late).
VENUE_STOP_GRACE_S = 0.25
STATUS_WATCH_S = 1.0  # how often a change --status reports is looked for (and written at most)
PROTECT_WAIT_S = 1.5  # of it, at most this for a stop being replaced to go out
EXEC_TIMER_S = 1.0  # ExecManager.on_timer: REDUCING's retries without market data
STARTUP_CANCEL_S = 1.0  # a start-up abandoned for a stop: its unwinding, at most


@dataclass(slots=True)
class _Parts:
    """What a completed start-up made, used while running and by the stop."""

    rest: RestConnection
    market_rest: MarketDataRest
    journal: SqliteJournal
    book: BookKeeper
    risk: RiskManager
    exec_manager: ExecManager
    venue: LiveVenue
    stream: DataStream
    strategy: TradingStrategy


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        keep_orders: bool = False,
        reset_halt: bool = False,
        add_secrets: Callable[[Iterable[str]], None] | None = None,
        out: TextIO = sys.stdout,
        clock: LiveClock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep  # the warm-up's wait for a bar to settle (tests pass their own)
        self.keep_orders = keep_orders
        self.reset_halt = reset_halt
        self._add_secrets = add_secrets  # the log redaction learns keys made at run time
        self.out = out
        self.clock = clock or LiveClock()
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self.exit_status = 0  # what run() returns after a clean shutdown
        self._exchange: LocalExchangeProcess | None = None
        self._closers: list[Callable[[], Any]] = []  # what _start opened, closed in reverse
        self._journal_lock: JournalLock | None = None  # journal_dir's, from its claim on
        self._moves_last_run = False  # the claim's: this run's journal replaces the one there
        self._relay_events: Relay | None = None  # venue events -> the ExecManager
        self._parts: _Parts | None = None
        # The ExecManager from the start-up reconciliation on (before `_parts` exists), and a
        # SIGUSR1 that came before it: applied to it then, not lost.
        self._starting_em: ExecManager | None = None
        self._starting_venue: LiveVenue | None = None  # likewise, for a pause noticed then
        self._kill_pending = False
        # What pulled the kill switch during the start-up ("kill switch file KILL present"),
        # said under the "application running" line: else only the log told why it halted.
        self._killed_at_start: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat_task: asyncio.Task[Any] | None = None
        self._status_watch_task: asyncio.Task[Any] | None = None
        # What status.json said when last written (`_watched`): a change is rewritten promptly.
        self._status_said: tuple[Any, ...] | None = None
        self._doubt_since: HostTime | None = None  # orders in doubt without a break since then
        self._started: HostTime | None = None  # this machine's clocks then, for status.json
        self._start_began: HostTime | None = None  # ... and when its start began
        self._start_status_written = False  # journal_dir is this run's: its status is ours
        self._started_wall = time.monotonic()
        self._sink: ItemSink | None = None  # the market-data stream's (`_guarded`)
        self._journal_broken = False
        self._status_failing = False  # status.json could not be written (said once)
        self._reconciled = Reconciled()  # the last reconciliation the books compared
        # Ticked by every market item and venue event before it is handed on, and by a timer:
        # the first of them after a pause says so (trading_engine.pause_watch).
        self._pause_watch = PauseWatch(
            self.clock.now_ms,
            self._resumed,
            offset=self.clock,  # our estimate of the exchange's clock: resyncs move it
        )
        self._links = StreamLinks()  # the market-data links and the user stream, while down
        self._last_items = (0, time.monotonic())  # (items, when) at the last status line
        self._recorder: MarketRecorder | None = None  # local mode: for the parity audit
        # A halt the start may lift by itself (`_restore_trading_state`): (the state change
        # restored, why it is cleared, the reset), decided by `_resume_if_cleared` once the
        # start-up reconciliation recovered its fills.
        self._killed = False  # the kill switch was pulled (`_kill`): no automatic resume then
        self._pending_resume: tuple[TradingStateChanged, str, Callable[[str], None]] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def run(self) -> int:
        """Run until stopped; returns the process exit status."""
        loop = asyncio.get_running_loop()
        catch_stop_signals(loop, self.request_stop)
        catch_kill_signal(loop, self._kill_switch_signal)
        try:
            try:
                parts = await self._start_said_in_one_line()
            except DaemonError as exc:
                self._write_start_status(
                    DaemonState.STOPPED,
                    stop_reason=redact(f"start failed: {exc}"),
                    exit_status=int(exc.failure),
                )
                raise
            if parts is None:
                log.info("stopped during start-up: %s", self._stop_reason)
                self._print(f"stopped during start-up ({self._stop_reason}): nothing was traded")
                self._write_start_status(
                    DaemonState.STOPPED,
                    stop_reason=f"stopped during start-up: {self._stop_reason}",
                    exit_status=self.exit_status,
                )
                return self.exit_status
            self._parts = parts
            self._started = host_time()
            self._write_status(DaemonState.RUNNING)
            self._start_heartbeat()
            self._spawn(self._exec_timer(), "exec-timer")
            if self.settings.risk.kill_switch_file:
                self._spawn(self._watch_kill_file(self.settings.risk.kill_switch_file), "kill-file")
            if self.settings.duration_s:
                loop.call_later(self.settings.duration_s, self.request_stop, "duration reached")
            self._say_running()
            await self._stop.wait()
            log.info("stopping: %s", self._stop_reason)
            return await self._shutdown()
        finally:
            release_kill_signal(loop)
            try:
                # The stop signals stay ours (a repeat is a no-op) until the journal and the
                # local exchange are closed: a double Ctrl+C raised KeyboardInterrupt through
                # their close, and a clean stop exited 130. The close is bounded by timeouts.
                await self._close_all()
            finally:
                release_stop_signals(loop)

    async def _start_said_in_one_line(self) -> "_Parts | None":
        """`_start_unless_stopped()`, its failures translated into one DaemonError line. A
        start that did not complete recorded no session worth auditing: its file goes (else
        a supervisor retrying a refused start fills `journal/market/` with empty sessions,
        newer than the real ones the count limit then deletes)."""
        try:
            parts = await self._start_translated()
        except BaseException:
            self._discard_session()
            raise
        if parts is None:
            self._discard_session()
        return parts

    def _discard_session(self) -> None:
        if self._recorder is not None:
            self._recorder.discard()

    async def _start_translated(self) -> "_Parts | None":
        """`_start_unless_stopped()`'s failures as one DaemonError line each."""
        with start_failures_in_one_line(self.settings):
            return await self._start_unless_stopped()

    async def _start_unless_stopped(self) -> "_Parts | None":
        """`_start()`, abandoned (None) when a stop is asked for first: a venue that never
        answers must not hold Ctrl+C / SIGTERM for the length of its request timeouts. What
        the start had opened is closed by `_close_all`; the start sends no order."""
        start = asyncio.ensure_future(self._start())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not start.done():
                start.cancel()
                await asyncio.wait({start}, timeout=STARTUP_CANCEL_S)
        if start.cancelled() or not start.done():
            return None
        return start.result()

    def _claim_journal_dir(self, venue: str) -> None:
        """`check_claim`, before anything is started: the user's directory, not the exchange,
        when it fails. The journal's lock first, held from now on. The last run's journal
        stays where it is until this run opens its own (`_archive_last_run`)."""
        s = self.settings
        self._journal_lock = lock_journal_dir(s.journal_dir)
        self._closers.append(self._journal_lock.release)
        self._moves_last_run = check_claim(s.journal_dir, venue)
        if not self._moves_last_run:  # this run continues the journal (if there is one)
            refuse_newer(s.journal_dir)

    def _archive_last_run(self, venue: str) -> None:
        """The last run's journal moved to `earlier/` as this run opens its own, not when the
        start begins: a local start refused for a busy port moved it away for nothing."""
        s = self.settings
        moved = None
        if self._moves_last_run:
            moved = archive_for_run(s.journal_dir, self.clock.now_ms())
        prune_earlier_runs(s.journal_dir, s.retention.earlier_runs)
        if moved is None:
            return
        log.info("the last run's journal moved to %s", moved)
        if venue == LOCAL_VENUE:
            self._print(
                "local mode: each run is a new exchange with a new demo account; "
                f"the last run's journal was moved to {moved}"
            )
        else:
            self._print(
                "the journal in journal_dir was a local demo run's (the embedded exchange's "
                f"account, not this one): moved to {moved}"
            )

    async def _endpoints(self) -> ExchangeEndpoints:
        s = self.settings
        if s.attaches:
            assert s.api_key is not None and s.api_secret is not None
            return ExchangeEndpoints(
                rest_url=s.rest_url,
                ws_url=s.ws_url,
                api_key=s.api_key.reveal(),
                api_secret=s.api_secret.reveal(),
            )
        self._exchange = LocalExchangeProcess(
            data=s.local.data,
            symbols=s.symbols,
            speed=s.local.speed,
            port=s.local.port,
            balance=s.local.starting_balance_usdt,
            log_dir=Path(s.logging.dir),
        )
        self._print("starting the local exchange (bundled real data, no keys needed) ...")
        endpoints = await self._exchange.start()
        if self._add_secrets is not None:
            self._add_secrets([endpoints.api_key, endpoints.api_secret])
        return endpoints

    async def _start(self) -> _Parts:
        """The composition root: the account checked, the books restored from the journal,
        the parts built and wired, reconciled with the exchange, then the market data on.
        Each part is closed by `_close_all` (in reverse) whatever happens after it opened."""
        s = self.settings
        account = venue_of(s)  # what the journal is bound to
        self._claim_journal_dir(account)
        if note := unclean_stop_note(s.journal_dir):
            log.warning("%s", note)
        self._start_status_written = True
        self._start_phase(StartPhase.CONNECTING)
        endpoints, rest, market_rest, instruments = await self._connect()
        journal_dir = Path(s.journal_dir)
        self._start_phase(StartPhase.RESTORING)
        journal, book, replay = await self._open_books(account, rest, instruments)
        ids = client_ids(s, journal, replay)
        risk = RiskManager(
            config=risk_config(s),
            instruments=instruments,
            clock=self.clock,
            view=book,
        )
        # Trading-state changes journaled by earlier runs: the limits' counts and the state.
        state_changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
        limits = restore_limits(journal, state_changes, risk, book, self.clock.now_ms(), replay)
        params = strategy_params(s, instruments)
        strategy = load_strategy(s, params, journal_dir, self._closers)
        if note := synthesized_flow_note(s.mode, strategy):
            self._tell(f"WARNING: {note}", logging.WARNING)
        model = model_logged(strategy, s.strategy.name)
        relay_items = Relay()
        relay_rehearsals = Relay()  # the ExecManager's `rehearse_order`, once it exists
        stream = market_stream(
            s,
            endpoints.ws_url,
            market_rest,
            self.clock,
            self._guarded(relay_items, relay_rehearsals),
        )
        relay_events = Relay(
            on_journal_error=self._journal_failed,
            before=self._pause_watch.tick,
            now_ms=self.clock.now_ms,
        )
        self._relay_events = relay_events  # the shutdown looks at the last snapshot it passed
        venue = restored_venue(
            s,
            ws_url=endpoints.ws_url,
            rest=rest,
            instruments=instruments,
            clock=self.clock,
            journal=journal,
            book=book,
            replay=replay,
            listener=relay_events,
        )
        venue.on_account_changed = self._account_changed
        # Local sessions record what the ExecManager is fed (backtest.parity replays it).
        em_clock: Any = self.clock
        gap_open: Callable[[str], bool] = stream.gap_open
        clock_offset: Callable[[], int] = lambda: rest.stats.last_rtt_ms // 2  # noqa: E731
        if s.mode == Mode.LOCAL:
            recorder = self._recorder = MarketRecorder(
                journal_dir, self.clock, max_bytes=s.retention.market_sessions_mb * 1_000_000
            )
            self._closers.append(recorder.close)
            em_clock = recorder.clock
            risk.file_exists = recorder.kill_file(risk.file_exists)
            gap_open = recorder.gap_open(gap_open)
            clock_offset = recorder.clock_offset(clock_offset)
            if hasattr(strategy, "model_switched"):  # a registry's hot swap, replayed there too
                strategy.model_switched = recorder.model_switched  # type: ignore[attr-defined]
        exec_manager = restored_exec_manager(
            s,
            venue=venue,
            book=book,
            risk=risk,
            strategy=strategy,
            journal=journal,
            clock=em_clock,
            instruments=instruments,
            ids=ids,
            gap_open=gap_open,
            clock_offset=clock_offset,
        )
        relay_events.target = exec_manager.on_event
        if self._recorder is not None:
            self._recorder.start(
                session_header(
                    strategy=s.strategy.name,
                    strategy_params=params,
                    risk=risk.config,
                    exec_config=exec_manager.config,
                    instruments=instruments,
                    client_id_prefix=ids.prefix,
                    client_id_next=ids.next_seq,
                    client_id_tag=ids.tag,
                    local={"data": s.local.data, "speed": s.local.speed, "attached": s.attaches},
                    positions=[book.position(sym) for sym in s.symbols],
                    held_exits=exec_manager.held_exits(),
                    limits=limits,
                    strategy_dir=os.getcwd(),
                    model=model,
                )
            )
            relay_events.target = self._recorder.events(exec_manager.on_event)
        # Outermost: the books have compared a snapshot when it returns (status.json says when).
        relay_events.target = self._reconciled.watch(relay_events.target, lambda: book.differences)
        relay_events.target = self._user_stream_watch(relay_events.target)
        self._restore_trading_state(
            state_changes,
            risk,
            exec_manager,
            snapshot=lambda: book.record_snapshot(journal),
            forced_fill_since=journal.forced_fill_since,
        )
        self._start_phase(StartPhase.WARMING)
        await self._warm(exec_manager, strategy, market_rest, instruments)
        self._start_phase(StartPhase.RECONCILING)
        await self._reconcile_at_start(exec_manager, venue, book, journal, relay_events)
        relay_items.target = exec_manager.on_item
        relay_rehearsals.target = exec_manager.rehearse_order  # type: ignore[assignment]
        if self._recorder is not None:
            relay_items.target = self._recorder.items(exec_manager.on_item)
        freeze_startup_heap()  # start-up objects leave the collector's scans (GC pauses)
        self._spawn(collect_between_items(), "gc")  # collections between items, not in one
        self._start_phase(StartPhase.STREAMING)
        await stream.start()
        if self._recorder is not None:  # started: older sessions beyond the limits go now
            self._recorder.keep_older(s.retention.market_sessions)
        self._spawn(rest.run_time_sync(), "time-sync")
        return _Parts(
            rest=rest,
            market_rest=market_rest,
            journal=journal,
            book=book,
            risk=risk,
            exec_manager=exec_manager,
            venue=venue,
            stream=stream,
            strategy=strategy,
        )

    async def _connect(
        self,
    ) -> tuple[ExchangeEndpoints, RestConnection, MarketDataRest, dict[str, Instrument]]:
        """The exchange (the embedded one started in local mode), its REST connections, the
        symbols' rules, and the account checked and set as the daemon trades it: one-way
        positions, single-asset margin, the configured leverage."""
        s = self.settings
        endpoints = await self._endpoints()
        rest = await create_rest_connection(
            rest_url=endpoints.rest_url,
            api_key=endpoints.api_key,
            api_secret=endpoints.api_secret,
            clock=self.clock,
            recv_window_ms=s.execution.recv_window_ms,
        )
        self._closers.append(rest.close)
        market_rest = MarketDataRest(endpoints.rest_url, clock=self.clock, ban=rest.governor)
        self._closers.append(market_rest.close)
        instruments = await read_instruments(rest, s.symbols)
        await check_one_way_mode(rest)
        await check_single_asset_mode(rest)
        await set_leverage(rest, s.symbols, s.risk.leverage)
        return endpoints, rest, market_rest, instruments

    async def _open_books(
        self, account: str, rest: RestConnection, instruments: dict[str, Instrument]
    ) -> tuple[SqliteJournal, BookKeeper, Replay]:
        """The journal (bound to `account`) and the books restored from it, with what the
        replay found; a symbol the journal holds that is no longer traded is warned about.
        The journal's applier runs from here on."""
        s = self.settings
        sync = Synchronous(s.execution.journal_synchronous)
        self._archive_last_run(account)
        journal = open_journal(Path(s.journal_dir), sync, self._journal_lock)
        self._closers.append(journal.close)
        if journal.venue != account:  # unbound, or bound with a proxy's password in it
            journal.bind_venue(account)
        book, replay = restored_books(s, instruments, self.clock, journal)
        untraded = replay.symbols - set(s.symbols)
        for line in await check_untraded_symbols(rest, untraded, journal.open_orders()):
            self._tell(f"WARNING: {line}", logging.WARNING)
        self._spawn(self._apply_journal(journal), "journal-applier")
        return journal, book, replay

    async def _reconcile_at_start(
        self,
        exec_manager: ExecManager,
        venue: LiveVenue,
        book: BookKeeper,
        journal: SqliteJournal,
        relay_events: Relay,
    ) -> None:
        """The start-up reconciliation: the venue emits the fills it missed and then the
        snapshot, which the ExecManager journals and the books compare (each difference is
        logged as it is adopted); orders found open are watched for staleness. A position
        the journal does not explain (its books, with the fills of its own orders made while
        it was down, not those of orders placed by hand), above the position limit, is
        refused before any of those events is journaled (`check_unknown_positions`, the
        venue holding them until it passed): adopted, the strategy's first target would
        close it at market. Refused, the journal is as it was: the start after the user
        closed the position books its fills and the hand orders' alike."""
        differences_before = book.differences
        restored = {o.client_order_id for o in journal.open_orders()}  # some in doubt
        relay_events.seen = []
        # The books are the exchange's from this reconciliation on: a pause from here on
        # (before the market data even starts, or while it is read) makes them stale.
        self._starting_venue = venue
        self._watch_pauses()
        reconciling: Callable[[], AbstractContextManager[None]] = exec_manager.reconciling
        if self._recorder is not None:  # its end works at a recorded reading (the audit's too)
            reconciling = self._recorder.reconciling(reconciling)
        limit = self.settings.risk.max_position_notional_usdt

        async def vet(snapshot: VenueSnapshot, recovered: Sequence[Event]) -> None:
            books = {sym: book.position(sym).qty for sym in self.settings.symbols}
            await check_unknown_positions(venue.rest, snapshot, books, limit, recovered)
            self._resume_if_cleared(recovered)

        with reconciling():  # stops and flattens on the whole picture, after it
            self._kill_if_asked(exec_manager)
            await venue.start(vet=vet)
        recovered = recovery_lines(
            relay_events.seen, back_ms=venue.connected_ms, restored_ids=restored
        )
        relay_events.seen = None
        for line in recovered:
            log.warning("recovered at start-up: %s", line)
        found = book.differences - differences_before
        log.info(
            "start-up reconciliation with the exchange: %d event(s) recovered, %s",
            len(recovered),
            "no difference" if not found else f"{found} difference(s) adopted (see above)",
        )

    def _restore_trading_state(
        self,
        changes: list[Any],
        risk: RiskManager,
        exec_manager: ExecManager,
        snapshot: Callable[[], None] | None = None,
        forced_fill_since: Callable[[int], str | None] | None = None,
    ) -> None:
        """A daemon that was REDUCING or HALTED stays so across a restart, unless the operator
        resets it (`--reset-halt`), or its cause was the user stream failing for good (the key
        refused, say) and nothing that calls for a person came since (`stream_halt_cleared`):
        this start's signed requests were accepted, and its user stream must connect before
        anything is traded (or the start fails), so it resumes ACTIVE by itself, saying why.
        That resume only lifts the halt (AUTOMATIC_RESET): unlike `--reset-halt` it re-arms no
        limit, which count on what they had counted (restored from the journal), and a later
        restart counts through it. `snapshot` journals the balance at `--reset-halt`: the
        equity the daily-loss limit was re-armed from, which a later restart that day restores.
        `forced_fill_since(ms)`: the client id of a journaled fill of the exchange's own order
        (a liquidation) since then."""
        last = changes[-1] if changes else None
        assert last is None or isinstance(last, TradingStateChanged)
        if last is None or last.current is TradingState.ACTIVE:
            if self.reset_halt:  # said, or the operator cannot tell it was looked at
                # Refused as a reset of HALTED is: "nothing to reset" then a halt by the
                # kill switch within a second told the operator the reset had worked.
                if (kill := risk.kill_file_present()) is not None:
                    raise needs_the_user(reset_refused(kill))
                self._tell("--reset-halt: trading state is ACTIVE already, nothing to reset")
            return
        risk.restore_state(last.current, last.reason)
        reset: Callable[[str], None] = exec_manager.reset
        if self._recorder is not None:  # the audit restores (and resets) the same state
            self._recorder.restored(last.current, last.reason)
            reset = self._recorder.reset(reset)
        cleared = None
        if not self.reset_halt:
            forced = forced_fill_since(last.event_time_ms) if forced_fill_since else None
            cleared = stream_halt_cleared(last, forced, risk.kill_file_present())
        if self.reset_halt:
            try:
                reset("--reset-halt")
            except IllegalStateTransition as e:  # e.g. the kill-switch file is still there
                raise needs_the_user(f"--reset-halt refused: {e}") from None
            if snapshot is not None:
                snapshot()
            self._tell(f"trading state was {last.current} ({last.reason}): reset to ACTIVE")
        elif cleared is not None:
            # decided once the start-up reconciliation's fills are known (`_resume_if_cleared`)
            self._pending_resume = (last, cleared, reset)
        else:
            self._tell(
                f"trading state restored: {last.current} ({last.reason}); "
                "no new entries until an operator restarts with --reset-halt"
            )

    def _resume_if_cleared(self, recovered: Sequence[Event]) -> None:
        """The automatic resume `_restore_trading_state` left pending, once the start-up
        reconciliation recovered what happened while no daemon ran (`recovered`, before any of
        it is journaled): a fill of the exchange's own order among it (a liquidation while
        down, which the journal could not hold when the state was restored) keeps the halt
        for the operator, as one journaled does; so does the kill switch pulled during the
        start (a SIGUSR1, the file), which the restored halt made a no-op."""
        pending, self._pending_resume = self._pending_resume, None
        if pending is None:
            return
        last, cleared, reset = pending
        forced = next(
            (
                e.fill.client_order_id
                for e in recovered
                if isinstance(e, OrderFilled | OrderPartiallyFilled)
                and forced_close(e.fill.client_order_id) is not None
            ),
            None,
        )
        why = (
            "the kill switch was pulled during the start"
            if self._killed
            else None
            if forced is None
            else f"a fill of the exchange's own order {forced} was found at the start"
        )
        if why is not None:
            self._tell(
                f"trading state restored: {last.current} ({last.reason}); "
                f"no new entries until an operator restarts with --reset-halt ({why})"
            )
            return
        reset(f"{AUTOMATIC_RESET}: {cleared}")
        self._tell(
            f"trading state was {last.current} ({last.reason}): resumed ACTIVE ({cleared}); "
            "the limits were not re-armed: the drawdown peak, the day's loss and its trades "
            "count on from before the halt",
            logging.WARNING,
        )

    async def _warm(
        self,
        exec_manager: ExecManager,
        strategy: TradingStrategy,
        market_rest: MarketDataRest,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        """Feed the strategy the last closed bars so its indicators are ready at once; warn,
        at their last close, of a size (order_notional_usdt) that can open no position."""
        closes = await warm_strategy(
            exec_manager,
            strategy,
            market_rest,
            symbols=self.settings.symbols,
            interval=self.settings.strategy.bar_interval,
            clock=self.clock,
            sleep=self._sleep,
            recorder=self._recorder,
        )
        notional = getattr(strategy, "order_notional_usdt", None)
        if not isinstance(notional, Decimal) or instruments is None:
            return  # a strategy of one's own that sizes otherwise
        for symbol, close in closes.items():
            if note := entry_size_note(symbol, notional, close, instruments[symbol]):
                self._tell(f"WARNING: {note}", logging.WARNING)

    def _guarded(
        self,
        on_item: Callable[[object, int], None],
        rehearse: Callable[[object, int], None] | None = None,
    ) -> ItemSink:
        """The stream's sink (`ItemSink`): the pause watch's tick, the stream lag, then the
        item; a bug on one item is logged and counted, never kills the feed. Every
        `rehearse_every_items` items, `rehearse(item, now_ms)` (the order path kept warm)."""
        self._sink = ItemSink(
            on_item,
            clock=self.clock,
            tick=self._pause_watch.tick,
            on_stream_state=self._stream_state,
            on_journal_error=self._journal_failed,
            rehearse=rehearse,
            rehearse_every=self.settings.execution.rehearse_every_items,
            rehearse_every_ms=self.settings.execution.rehearse_every_ms,
        )
        return self._sink

    @property
    def item_errors(self) -> int:
        """Market-data items whose handling raised (logged, skipped)."""
        return 0 if self._sink is None else self._sink.item_errors

    @property
    def stream_lag_ms(self) -> int | None:
        """How far behind the exchange the last trade arrived (ms; None before one)."""
        return None if self._sink is None else self._sink.stream_lag_ms

    @property
    def streams_down(self) -> dict[str, str]:
        """Market-data link (or USER_STREAM) -> its state, while not up."""
        return self._links.down

    def _stream_state(self, change: StreamStateChanged) -> None:
        """A link's new state, for the heartbeat and `--status` (`StreamLinks`)."""
        self._links.changed(change)

    def _user_stream_watch(
        self, handler: Callable[[Any, int | None], None]
    ) -> Callable[[Any, int | None], None]:
        """`handler` (the venue events' target), noting the user stream's state changes first
        (venue events only: the market data's own come through the sink)."""

        def seen(item: Any, now: int | None) -> None:
            if item.__class__ is StreamStateChanged:
                self._stream_state(item)
            handler(item, now)

        return seen

    def _down_note(self) -> str:
        """The heartbeat's note of the links down, "" while all are up."""
        return self._links.note()

    async def _apply_journal(self, journal: SqliteJournal) -> None:
        """The journal's applier (`run_applier`). It returns only when applying failed (disk
        full, I/O error): from then on nothing can be journaled, so nothing may be done (an
        order must be journaled before it is sent): stop, with exit status 1."""
        self._journal_failed(await run_applier(journal))

    def _journal_failed(self, error: JournalError | None) -> None:
        """Writing or applying the journal failed (disk full, I/O error): nothing more can be
        journaled, so nothing may be done (an order must be journaled before it is sent, a
        fill before it is booked); stop, with exit status 1. The exchange still knows every
        fill: the next start recovers the ones the journal missed (`userTrades`)."""
        if self._journal_broken:
            return  # every later write fails the same way until the stop: said once
        self._journal_broken = True
        cause = f": {error}" if error is not None else " (see the log)"
        self.exit_status = 1
        # Said in full on the console: on a full disk the log file may not take it.
        self._tell(
            f"the journal failed{cause}; nothing more can be journaled, so nothing more is "
            "sent: stopping as on SIGTERM (the next start recovers from the exchange what was "
            "not journaled)",
            logging.ERROR,
        )
        self.request_stop("journal failed")

    def _account_changed(self, exc: AccountChanged) -> None:
        """A reconciliation found the exchange's account is not the one the journal records
        (reset under the daemon: a restarted local exchange, a testnet reset): its fills reuse
        ids the books hold, which they would drop as booked already. Nothing more is sent to
        it or booked from it: stop, leaving its orders as they are (`--keep-orders`: the next
        start, on a new journal, takes ours over), with exit status 2: a restart on this
        journal is refused the same way (`start_errors.account_changed_line`)."""
        if self.exit_status == int(StartFailure.NEEDS_THE_USER):
            return  # each later pass finds it again until the stop: said once
        self.exit_status = int(StartFailure.NEEDS_THE_USER)
        self.keep_orders = True
        if self._parts is not None:
            self._parts.exec_manager.stop_trading()
        self._tell(
            f"{account_changed_line(exc, self.settings)}. Nothing more is sent to it: stopping, "
            "its orders and positions left as they are",
            logging.ERROR,
        )
        self.request_stop("the exchange account changed (reset?)")

    def _kill_switch_signal(self) -> None:
        em = self._parts.exec_manager if self._parts is not None else self._starting_em
        if em is None:
            # Starting (journal, warm-up): nothing can be traded yet, and nothing may be once
            # the books exist: the kill waits for them instead of being dropped.
            if not self._kill_pending:
                log.warning("SIGUSR1 during start-up: kill switch, acting once the books exist")
            self._kill_pending = True
            return
        log.warning("SIGUSR1: kill switch")
        self._kill(em, "SIGUSR1 received")

    def _kill_if_asked(self, exec_manager: ExecManager) -> None:
        """At the start of the start-up reconciliation (nothing sent yet; its flatten and
        cancels wait for the whole picture): a SIGUSR1 received while starting, or the
        kill-switch file already there, stops the trading before anything is traded."""
        self._starting_em = exec_manager
        active = exec_manager.trading_state is TradingState.ACTIVE
        if self._kill_pending:
            self._kill_pending = False
            log.warning("SIGUSR1 (sent during start-up): kill switch")
            self._kill(exec_manager, "SIGUSR1 received during start-up")
            if active:
                self._killed_at_start = self._halted_line(
                    "kill switch (SIGUSR1 received during start-up)", None
                )
        path = self.settings.risk.kill_switch_file
        if path and file_exists(path):
            log.warning("kill switch: file %s exists", path)
            self._kill(exec_manager, f"file {path} exists")
            if active:
                self._killed_at_start = self._halted_line(f"kill switch file {path} present", path)

    def _halted_line(self, what: str, path: str | None) -> str:
        """What a kill at the start-up did and what lifts it (`halted_line`)."""
        return halted_line(what, path, attaches=self.settings.attaches)

    def _say_running(self) -> None:
        """The start's last line, and under it, when the kill switch was pulled during the
        start-up, why nothing will be traded (else only the log and a heartbeat told)."""
        self._print(
            f"application running: trading {', '.join(self.settings.symbols)} "
            f"({shown_setting(self.settings.strategy.name)}); Ctrl+C stops"
        )
        if self._killed_at_start is not None:
            self._tell(self._killed_at_start, logging.WARNING)

    async def _watch_kill_file(self, path: str) -> None:
        """The kill switch file acts within a second even when no market data arrives (the
        ExecManager also checks it on the tick path)."""
        while True:
            await asyncio.sleep(KILL_FILE_POLL_S)
            parts = self._parts
            if (
                parts is not None
                and parts.exec_manager.trading_state is TradingState.ACTIVE
                and file_exists(path)
            ):
                log.warning("kill switch: file %s exists", path)
                self._kill(parts.exec_manager, f"file {path} exists")

    def _kill(self, em: ExecManager, reason: str) -> None:
        """`em.kill(reason)`; in a local session recorded, so that the audit pulls the same
        switch at the same clock reading."""
        self._killed = True
        if self._recorder is None:
            em.kill(reason)
            return
        self._recorder.kill(em.kill)(reason)

    async def _exec_timer(self) -> None:
        """The ExecManager's retries that market data usually drives (REDUCING's flatten and
        cancel-all) go on without it: once a second (`ExecManager.on_timer`)."""
        while True:
            await asyncio.sleep(EXEC_TIMER_S)
            parts = self._parts
            if parts is None:
                continue
            try:
                self._timer_call(parts.exec_manager)
            except JournalError as exc:
                self._journal_failed(exc)
            except Exception:
                log.exception("ExecManager timer")

    def _timer_call(self, em: ExecManager) -> None:
        """`em.on_timer()`; in a local session recorded while it may act (REDUCING), so that
        the audit replays its retries at the same clock reading."""
        if self._recorder is None:
            em.on_timer()
            return
        self._recorder.timer(em.on_timer, lambda: em.trading_state is TradingState.REDUCING)()

    def _watch_pauses(self) -> None:
        """Arm the pause watch, with its timer: from the start-up reconciliation on, which
        tells the books what the exchange holds (a slow start before it is no pause: that
        reconciliation reads the exchange after it anyway)."""
        self._pause_watch.arm()
        self._spawn(self._tick_pauses(), "pause-watch")

    async def _tick_pauses(self) -> None:
        """The pause watch's tick while no market data or venue event comes (a quiet market,
        or the start still connecting the market data): a pause is noticed within
        `PAUSE_POLL_S` of the daemon running again."""
        while True:
            await asyncio.sleep(PAUSE_POLL_S)
            self._pause_watch.tick(self.clock.now_ms())

    def _resumed(self, paused_ms: int) -> None:
        """After a pause: the exchange's dead-man switch may have cancelled our working
        orders, fills and funding may have come, the listenKey may have expired, and the
        market data still to be read is old. Said in one line; the venue reconciles at once
        (not at its next pass, up to `reconcile_interval_s` later) and no entry is sent until
        that reconciliation has told the books what happened and the market data read is
        current again (`ExecManager.note_pause`). Also while the start goes on after its
        reconciliation (the ExecManager and the venue exist, the watch is armed): that
        reconciliation read the exchange before the pause."""
        self._tell(
            f"WARNING: the daemon did not run for {paused_ms / 1000:.1f} s (process stopped, "
            "machine suspended or overloaded): reconciling with the exchange now (its dead-man "
            "switch may have cancelled our orders); no new entries until market data is current",
            logging.WARNING,
        )
        parts = self._parts
        em = self._starting_em if parts is None else parts.exec_manager
        venue = self._starting_venue if parts is None else parts.venue
        if em is None or venue is None:
            return  # not armed before the start-up reconciliation: it comes after the pause
        note_pause: Callable[[int], None] = em.note_pause
        if self._recorder is not None:  # the parity audit holds entries as the daemon did
            note_pause = self._recorder.pause(note_pause)
        note_pause(paused_ms)
        venue.reconcile_soon("resumed after a pause", job="reconcile-after-pause")

    # --- heartbeat and summary -------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self._heartbeat_task = self._spawn(self._heartbeat(), "heartbeat")
        self._status_watch_task = self._spawn(self._watch_status(), "status-watch")

    def _stop_heartbeat(self) -> None:
        """At shutdown: the closing summary is the last thing printed, not a status line, and
        the stop's status.json is the last written (no `running` after it)."""
        for task in (self._heartbeat_task, self._status_watch_task):
            if task is not None:
                task.cancel()
        self._heartbeat_task = self._status_watch_task = None

    async def _watch_status(self) -> None:
        """status.json rewritten within `STATUS_WATCH_S` of a change a monitor acts on (the
        trading state, a stream down or up, orders in doubt or none, a reconciliation done),
        not up to a heartbeat later; at most once per `STATUS_WATCH_S`, and off the market
        data's path (a timer, not a check per item)."""
        while True:
            await asyncio.sleep(STATUS_WATCH_S)
            parts = self._parts
            if parts is None:
                continue
            em = parts.exec_manager
            try:
                if self._watched(em.trading_state, em.orders_in_doubt()) != self._status_said:
                    self._write_status(DaemonState.RUNNING)
            except Exception:  # a bug: said once; the heartbeats still keep the file fresh
                log.exception("status.json no longer rewritten on a change, only at heartbeats")
                return

    def _watched(self, trading_state: TradingState, in_doubt: int) -> tuple[Any, ...]:
        """What of status.json a change of rewrites it at once (`_watch_status`)."""
        down = tuple(sorted(self.streams_down.items()))
        return (trading_state, down, in_doubt > 0, self._reconciled.at)

    def _note_doubt(self, in_doubt: int) -> dict[str, Any]:
        """`orders_in_doubt_since_ms` (+ `_steady_ms`): since when some order's outcome has
        been unknown without a break (as of a write, at most `STATUS_WATCH_S` late), None
        when none is: `--status` says a doubt that lasts over a minute."""
        if in_doubt == 0:
            self._doubt_since = None
        elif self._doubt_since is None:
            self._doubt_since = host_time()
        if self._doubt_since is None:
            return {"orders_in_doubt_since_ms": None, "orders_in_doubt_since_steady_ms": None}
        return time_fields("orders_in_doubt_since", self._doubt_since)

    async def _heartbeat(self) -> None:
        """The status line on stdout and in the log file, and a balance snapshot journaled."""
        while True:
            await asyncio.sleep(self.settings.execution.heartbeat_s)
            line = self.status_line()
            self._print(line)
            log.info("%s", line, extra=FILE_ONLY)
            self._write_status(DaemonState.RUNNING)
            parts = self._parts
            if parts is not None:
                try:
                    parts.book.record_snapshot(parts.journal)
                except JournalError as exc:
                    self._journal_failed(exc)
                except TradingError:
                    log.exception("balance snapshot not journaled")

    def _gap_symbols(self, parts: _Parts) -> list[str]:
        return [sym for sym in self.settings.symbols if parts.stream.gap_open(sym)]

    def status_line(self) -> str:
        parts = self._parts
        if parts is None:
            return "application running: starting"
        st = parts.exec_manager.status()
        gap = gap_note(parts.stream.gap_open(), self._gap_symbols(parts))
        now = time.monotonic()
        items = st.counters.items
        rate = (items - self._last_items[0]) / max(1e-9, now - self._last_items[1])
        self._last_items = (items, now)
        return heartbeat_line(
            st,
            items_per_s=rate,
            stream_lag_ms=self.stream_lag_ms,
            gap=gap,
            down=self._down_note(),
            max_call_ms=self.settings.strategy.max_call_ms,
            item_errors=self.item_errors,
        )

    def _start_phase(self, phase: StartPhase) -> None:
        """status.json while starting says what the start waits on, and since when: an
        exchange that does not answer kept `--status` at "starting, not trading yet" for
        minutes with only the log saying why."""
        where = redact(self.settings.rest_url) or "the local exchange"
        now = host_time()
        if self._start_began is None:
            self._start_began = now
        self._write_start_status(
            DaemonState.STARTING,
            start_phase=shown_setting(phase.value.format(exchange=where)),
            **time_fields("start_phase", now),
        )

    def _write_start_status(self, state: DaemonState, **extra: Any) -> None:
        """status.json before the parts exist: starting, or a start that ended (not written
        before journal_dir is claimed: another daemon's status is not ours to replace)."""
        if self._start_status_written:
            self._put_status({**self._status_header(state), **extra})

    def _status_header(self, state: DaemonState) -> dict[str, Any]:
        """What status.json says of the process and its settings, before any figure."""
        return status_header(self.settings, state, self._started or self._start_began)

    def _put_status(self, status: dict[str, Any]) -> None:
        try:
            write_status(self.settings.journal_dir, status)
        except OSError as exc:  # a view only: the journal is the record
            if not self._status_failing:  # said once (a full disk: at every heartbeat)
                log.warning("status file not written: %s", exc)
            self._status_failing = True
            return
        self._status_failing = False

    def _write_status(self, state: DaemonState, **extra: Any) -> None:
        """`<journal_dir>/status.json` for `python app.py --status` (runtime.status_file)."""
        parts = self._parts
        if parts is None:
            return
        st = parts.exec_manager.status()
        status: dict[str, Any] = {
            **self._status_header(state),
            **books_status(
                st, parts.book, parts.venue.tracker.stats, self.settings.strategy.max_call_ms
            ),
            "model": model_in_use(parts.strategy),  # after a hot swap, the new one
            "stream_lag_ms": self.stream_lag_ms,
            "item_errors": self.item_errors,  # this run: items that raised (strategy errors)
            "gap_open": parts.stream.gap_open(),
            "gap_symbols": self._gap_symbols(parts),  # whose entries are held
            "streams_down": dict(self.streams_down),
            **self._note_doubt(st.orders_in_doubt),
            **self._reconciled.status(),
            **self._recording_status(),
            **extra,
        }
        self._status_said = self._watched(st.trading_state, st.orders_in_doubt)
        self._put_status(status)

    def _recording_status(self) -> dict[str, Any]:
        """A recorded session the size limit stopped, for --status (`recording_status`)."""
        return recording_status(self._recorder, self.settings.retention.market_sessions_mb)

    def _print(self, line: str) -> None:
        """A line on stdout, if there still is one: a closed pipe, or the terminal of a dropped
        ssh session (EIO), must not end the heartbeat that keeps status.json fresh."""
        with contextlib.suppress(OSError, ValueError):
            print(line, file=self.out, flush=True)

    def _tell(self, line: str, level: int = logging.INFO) -> None:
        """A line for the operator: on stdout, and in the log file (stdout is often gone on a
        server: nohup, a closed terminal)."""
        self._print(line)
        log.log(level, "%s", line.strip(), extra=FILE_ONLY)

    async def _shutdown(self) -> int:
        parts = self._parts
        assert parts is not None
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        self._stop_heartbeat()
        await parts.stream.stop(timeout_s=1.0)
        # A position left open keeps its exchange-side stop-loss / take-profit: cancelling
        # them with the working orders would leave it unguarded while the daemon is down.
        open_positions = [p for sym in self.settings.symbols if (p := parts.book.position(sym)).qty]
        keep_protection = bool(open_positions)
        if keep_protection:
            await self._settle_protection(parts.exec_manager, deadline)
        why = f"the daemon stops: {self._stop_reason or 'stop'}"
        stop_ms: int | None = None
        if self._recorder is not None:  # where trading stops: after the wait, whose stop-loss
            # (placed on a venue event while it waits) the audit replays before the stop
            stop_ms = self._recorder.stopping(
                cancel_orders=not self.keep_orders, keep_protection=keep_protection, reason=why
            )
        if not self.keep_orders and not self._journal_broken:
            try:  # the venue's stop cancels them: decided (journaled) first, as every cancel
                parts.exec_manager.decide_stop_cancels(
                    why, keep_protection=keep_protection, now_ms=stop_ms
                )
            except JournalError as exc:  # cancelled all the same: safer than left working
                self._journal_failed(exc)
        parts.exec_manager.stop_trading()
        remaining = max(0.5, deadline - time.monotonic())
        differences_before = parts.book.differences
        reconciles_before = parts.venue.stats.reconciles
        relay = self._relay_events
        if relay is not None:
            relay.seen = []  # what the venue says at its stop (read when the journal failed)
        try:
            async with asyncio.timeout(remaining + VENUE_STOP_GRACE_S):
                await parts.venue.stop(
                    cancel_orders=not self.keep_orders,
                    keep_protection=keep_protection,
                    within_s=remaining,
                )
        except TimeoutError:
            log.error("venue did not stop in time; open orders are left to the dead-man switch")
        seen = [] if relay is None or relay.seen is None else relay.seen
        if relay is not None:
            relay.seen = None
        exchange_view = next((e for e in reversed(seen) if isinstance(e, VenueSnapshot)), None)
        # venue.stop() ends with a last reconciliation: any difference it found was logged.
        left, verdict, checked = exit_check(
            parts.book,
            self.settings.symbols,
            reconciled=parts.venue.stats.reconciles > reconciles_before,
            differences=parts.book.differences - differences_before,
            journal_failed=self._journal_broken,
            exchange_view=exchange_view,
            embedded=self._exchange is not None,  # its orders end with it
        )
        summary = parts.book.summary()
        tracked = parts.venue.tracker.stats
        state, reason = parts.risk.state, parts.risk.reason
        write_summary(
            self.settings.journal_dir,
            summary,
            final_differences=parts.book.differences - differences_before,
            checked_at_exit=checked,  # the last reconciliation reached the exchange
            # status.json's names: a script reads them the same way in both
            trading_state=state.value,
            state_reason=reason,
            unknown_client_ids=tracked.unknown_client_ids,  # this run
            hand_order_reports=tracked.hand_order_reports,
            item_errors=self.item_errors,  # this run
        )
        self._tell("closing summary:")
        for line in closing_lines(
            summary,
            parts.exec_manager.counters,
            state=state,
            reason=reason,
            tracked=tracked,
            kept_orders_embedded=(self._exchange is not None) if self.keep_orders else None,
            left=left,
            verdict=verdict,
            item_errors=self.item_errors,
        ):
            self._tell(f"  {line.text}", line.severity)
        self._write_status(
            DaemonState.STOPPED, stop_reason=self._stop_reason, exit_status=self.exit_status
        )
        return self.exit_status

    async def _settle_protection(self, exec_manager: ExecManager, deadline: float) -> None:
        """A position left open keeps its stop: a stop being replaced (the old one's cancel
        sent, the new one waiting for its confirmation) gets up to PROTECT_WAIT_S of the
        shutdown budget to go out, so the daemon does not leave it without one."""
        until = min(deadline - SHUTDOWN_BUDGET_S / 2, time.monotonic() + PROTECT_WAIT_S)
        for _ in range(int(PROTECT_WAIT_S / 0.02)):  # polled: the venue's events settle it
            if not exec_manager.protection_pending or time.monotonic() >= until:
                break
            await asyncio.sleep(0.02)
        if exec_manager.protection_pending:
            log.warning(
                "stopping with a protective order not yet placed (a position the stop's last "
                "reconciliation shows without a stop-loss gets one then)"
            )

    async def _close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for close in reversed(self._closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except (JournalError, OSError) as exc:  # a full disk: said, not a traceback
                what = getattr(close, "__qualname__", repr(close))
                log.error("closing (%s): %s", what, exc)
            except Exception:
                log.exception("error while closing")
        self._closers.clear()
        if self._exchange is not None:
            await self._exchange.stop()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def stream_halt_cleared(
    last: TradingStateChanged, forced_fill: str | None, kill_file: str | None
) -> str | None:
    """Why a restart may lift a halt by itself, or None: its cause was the user stream failing
    for good (`RiskManager.record_stream_failure`: the key refused, the listenKey lost for
    good), which a start that gets through clears (its signed requests accepted, its user
    stream connected before anything is traded); not while the kill-switch file is there, nor
    after a fill of the exchange's own order (a liquidation found since: a person looks)."""
    if not last.reason.startswith(f"{USER_STREAM} stream failed"):
        return None
    if kill_file is not None or forced_fill is not None:
        return None
    return "the user stream's failure is cleared: this start's signed requests were accepted"


__all__ = ["Daemon"]
