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
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from book_keeper.book_keeper import BookKeeper, BookSummary
from book_keeper.checkpoint import Replay
from book_keeper.journal import SqliteJournal, Synchronous, run_applier
from book_keeper.journal_errors import JournalError, JournalTooNew, journal_dir_refusal
from book_keeper.journal_files import JournalLock, journal_in_use, journal_venue
from book_keeper.journal_format import check_readable
from core.clock import LiveClock
from core.enums import OrderType, ReconcileCause, TradingState
from core.errors import FatalError, RejectedError, RetryableError, TradingError
from core.events import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    StreamState,
    StreamStateChanged,
    TradingStateChanged,
    VenueSnapshot,
)
from core.instrument import Instrument
from core.intervals import KLINE_INTERVALS
from core.market import Bar
from core.orders import ClientOrderIds, Order, outside_client_id
from core.redaction import redact, shown_path, url_without_userinfo
from gateway.checkpoint import FileCheckpoint
from gateway.data_stream import MARKET, DataStream, StreamConfig
from gateway.main_gateway import STREAM as USER_STREAM_ID
from gateway.main_gateway import ExecutorConfig, LiveVenue
from gateway.market_rest import MarketDataRest
from gateway.user_stream import EndpointRefused
from gateway.user_wire import parse_position_risk, parse_rest_algo_order, parse_rest_order
from rest_connect.connection import RestConnection
from rest_connect.rest_factory import create_rest_connection
from risk_manager.risk_manager import DAY_MS, IllegalStateTransition, LimitCounts, RiskManager
from runtime.exchange_process import ExchangeEndpoints, ExchangeStartError, LocalExchangeProcess
from runtime.log_setup import FILE_ONLY
from runtime.retention import keep_newest
from runtime.settings import Mode, Settings, risk_config, shown_setting, strategy_params
from runtime.status_file import (
    USER_STREAM,
    DaemonState,
    HostTime,
    gap_note,
    host_time,
    time_fields,
    untracked_note,
    write_status,
)
from trading_engine.exec_desk import UNANSWERED
from trading_engine.exec_manager import BarSource, ExecConfig, ExecCounters, ExecManager, ExecStatus
from trading_engine.gc_tuning import collect_between_items, freeze_startup_heap
from trading_engine.item_sink import ItemSink
from trading_engine.main_trading_strategy import (
    StrategyLoadError,
    TradingStrategy,
    make_strategy,
    named_once,
)
from trading_engine.market_recorder import MarketRecorder, session_header
from trading_engine.pause_watch import PAUSE_POLL_S, PauseWatch
from trading_engine.protection import guards_close

log = logging.getLogger("daemon")

SHUTDOWN_BUDGET_S = 4.0  # the whole stop must fit in 5 s
# The venue's stop is given what is left of the budget and fits its phases in it; this much
# more before it is cut from outside (its last steps may end a few ms late).
VENUE_STOP_GRACE_S = 0.25
STATUS_WATCH_S = 1.0  # how often a change --status reports is looked for (and written at most)
PROTECT_WAIT_S = 1.5  # of it, at most this for a stop being replaced to go out
KILL_FILE_POLL_S = 0.25
EXEC_TIMER_S = 1.0  # ExecManager.on_timer: REDUCING's retries without market data
STARTUP_CANCEL_S = 1.0  # a start-up abandoned for a stop: its unwinding, at most
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DaemonError(Exception):
    """A problem the user can fix (bad key, unreachable venue, unknown symbol): one line."""


class Severity(IntEnum):
    """How loud a closing-summary line is; its value is the level it is logged at."""

    INFO = logging.INFO
    WARNING = logging.WARNING


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """A line of the closing summary with its severity, chosen by the code that knows the fact
    (it was read back from the text, by its "WARNING", a word meant for the reader: a line
    reworded without it would have been logged at INFO)."""

    text: str
    severity: Severity


@dataclass(slots=True)
class _Parts:
    rest: RestConnection
    market_rest: MarketDataRest
    journal: SqliteJournal
    book: BookKeeper
    risk: RiskManager
    exec_manager: ExecManager
    venue: LiveVenue
    stream: DataStream


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
        self._relay_events: _Relay | None = None  # venue events -> the ExecManager
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
        self._start_status_written = False  # journal_dir is this run's: its status is ours
        self._started_wall = time.monotonic()
        self._sink: ItemSink | None = None  # the market-data stream's (`_guarded`)
        self._journal_broken = False
        self._status_failing = False  # status.json could not be written (said once)
        self._reconciled = _Reconciled()  # the last reconciliation the books compared
        # Ticked by every market item and venue event before it is handed on, and by a timer:
        # the first of them after a pause says so (trading_engine.pause_watch).
        self._pause_watch = PauseWatch(
            self.clock.now_ms,
            self._resumed,
            offset=self.clock,  # our estimate of the exchange's clock: resyncs move it
        )
        # market-data link (or USER_STREAM) -> its state, while not up
        self.streams_down: dict[str, str] = {}
        self._down_since_ms: dict[str, int] = {}  # the same links -> when they went down
        self._last_items = (0, time.monotonic())  # (items, when) at the last status line
        self._recorder: MarketRecorder | None = None  # local mode: for the parity audit

    # --- lifecycle ------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def run(self) -> int:
        """Run until stopped; returns the process exit status."""
        loop = asyncio.get_running_loop()
        # SIGHUP: the terminal of an ssh session went away; stopped as cleanly as SIGTERM
        # (by default it killed the daemon with its orders working and no summary).
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGUSR1, self._kill_switch_signal)
        try:
            try:
                parts = await self._start_said_in_one_line()
            except DaemonError as exc:
                self._write_start_status(
                    DaemonState.STOPPED, stop_reason=redact(f"start failed: {exc}"), exit_status=1
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
            loop.remove_signal_handler(signal.SIGUSR1)
            try:
                # The stop signals stay ours (a repeat is a no-op) until the journal and the
                # local exchange are closed: a double Ctrl+C raised KeyboardInterrupt through
                # their close, and a clean stop exited 130. The close is bounded by timeouts.
                await self._close_all()
            finally:
                for sig in _STOP_SIGNALS:
                    loop.remove_signal_handler(sig)

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
        try:
            return await self._start_unless_stopped()
        except DaemonError:
            raise
        except ExchangeStartError as exc:
            raise DaemonError(str(exc)) from None
        except EndpointRefused as exc:  # REST answered: the websocket URL is the wrong one
            where = "; check [endpoints] ws_url" if self.settings.endpoints.ws_url else ""
            raise DaemonError(f"{exc}{where}") from None
        except JournalTooNew as exc:  # a row of a newer version's, found by the restore
            raise DaemonError(str(exc)) from None
        except FatalError as exc:
            raise DaemonError(f"the exchange refused us: {exc}") from None
        except (RetryableError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DaemonError(f"cannot reach {self._endpoint_hint()}: {exc}") from None

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
        """`claim_journal_dir`, before anything is started: the user's directory, not the
        exchange, when it fails."""
        s = self.settings
        # The journal's lock first, held from now on (the journal takes it over when it
        # opens): a second daemon started with this one is refused here, before it starts an
        # exchange, touches the venue or writes status.json, not at the journal's opening.
        try:
            self._journal_lock = JournalLock(s.journal_dir)
        except JournalError:
            raise DaemonError(
                f"the journal in {shown_path(s.journal_dir)} (journal_dir) is in use by another "
                "process (a daemon running? `python app.py --status`)"
            ) from None
        except OSError as exc:
            raise DaemonError(journal_dir_refusal(s.journal_dir, exc.strerror or exc)) from None
        self._closers.append(self._journal_lock.release)
        try:
            moved = claim_journal_dir(Path(s.journal_dir), venue, self.clock.now_ms(), held=True)
        except OSError as exc:
            reason = exc.strerror or exc
            raise DaemonError(
                journal_dir_refusal(s.journal_dir, f"the last run's: {reason}")
            ) from None
        self._prune_earlier_runs()
        if moved is None:  # this run continues the journal (if there is one)
            try:  # a newer version's: refused before anything is started or written
                check_readable(s.journal_dir)
            except JournalTooNew as exc:
                raise DaemonError(str(exc)) from None
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

    def _prune_earlier_runs(self) -> None:
        """`[retention] earlier_runs`: the oldest archived runs go."""
        s = self.settings
        dropped = keep_newest(earlier_runs(Path(s.journal_dir)), s.retention.earlier_runs)
        if dropped:
            log.info(
                "retention.earlier_runs = %d: deleted %d older run(s) from %s",
                s.retention.earlier_runs,
                len(dropped),
                Path(s.journal_dir) / EARLIER_RUNS,
            )

    def _endpoint_hint(self) -> str:
        url = redact(self.settings.rest_url)  # a proxy's user:password@ is not shown
        return f"the exchange at {url}" if url else "the local exchange"

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
        s = self.settings
        account = venue_of(s)  # what the journal is bound to
        self._claim_journal_dir(account)
        self._start_status_written = True
        self._write_start_status(DaemonState.STARTING)
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
        instruments = await self._instruments(rest)
        await check_one_way_mode(rest)
        await check_single_asset_mode(rest)
        for symbol in s.symbols:
            try:
                await rest.call(
                    "futures_change_leverage",
                    symbol=symbol,
                    leverage=s.risk.leverage,
                    mutating=True,
                )
            except RejectedError as exc:
                msg = f"cannot set leverage {s.risk.leverage} on {symbol}: {exc}"
                raise DaemonError(msg) from None

        journal_dir = Path(s.journal_dir)
        sync = Synchronous(s.execution.journal_synchronous)
        # Applied to its tables by this loop between market-data items, not by a thread that
        # would compete with the order path for the GIL (book_keeper.journal).
        try:
            journal = SqliteJournal(
                journal_dir, synchronous=sync, writer_thread=False, lock=self._journal_lock
            )
        except JournalTooNew as exc:  # its one line says which journal_dir
            raise DaemonError(str(exc)) from None
        except (JournalError, OSError) as exc:  # the user's directory, not the exchange
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise DaemonError(journal_dir_refusal(journal_dir, reason)) from None
        self._closers.append(journal.close)
        if journal.venue != account:  # unbound, or bound with a proxy's password in it
            journal.bind_venue(account)
        book = BookKeeper(
            starting_balances=None,
            instruments=instruments,
            clock=self.clock,
            leverage=dict.fromkeys(s.symbols, s.risk.leverage),
        )
        # From the newest checkpoint, then the rows after it; checkpointed from here on.
        replay = book.restore(journal)
        book.journal_extremes(journal)  # a restart keeps this run's peak and max drawdown
        journal.keep_checkpoints(replay, every_records=s.execution.journal_checkpoint_records)
        untraded = replay.symbols - set(s.symbols)
        for line in await check_untraded_symbols(rest, untraded, journal.open_orders()):
            self._tell(f"WARNING: {line}", logging.WARNING)
        self._spawn(self._apply_journal(journal), "journal-applier")
        # `<prefix>-<tag>-<n>`: the journal's tag keeps its ids apart from an earlier
        # journal's on the same account (core.orders.ClientOrderIds).
        prefix, tag = s.execution.client_id_prefix, journal.client_id_tag
        stem = ClientOrderIds.stem_of(prefix, tag)
        ids = ClientOrderIds(prefix, replay.max_client_seq(journal, stem) + 1, tag=tag)
        risk = RiskManager(
            config=risk_config(s),
            instruments=instruments,
            clock=self.clock,
            view=book,
        )
        # Trading-state changes journaled by earlier runs: the limits' counts and the state.
        state_changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
        limits = _restore_limits(journal, state_changes, risk, book, self.clock.now_ms(), replay)
        params = strategy_params(s, instruments)
        # The live feature log is wiring, not a parameter: kept out of `params`.
        sink: dict[str, Any] = {}
        if s.strategy.name == "logistic_regression" and s.strategy.log_features:
            from model.live import FeatureLog

            feature_log = FeatureLog(  # a writer thread
                journal_dir / "features.csv", max_bytes=s.retention.features_csv_mb * 1_000_000
            )
            self._closers.append(feature_log.close)
            sink["feature_sink"] = feature_log
        try:
            strategy = make_strategy(s.strategy.name, **params, **sink)
        except (OSError, ValueError) as exc:  # a missing or mismatched model file, bad params
            line = named_once(s.strategy.name, exc)
            raise DaemonError(
                line if isinstance(exc, StrategyLoadError) else f"strategy {line}"
            ) from None
        if note := synthesized_flow_note(s.mode, strategy):
            self._tell(f"WARNING: {note}", logging.WARNING)
        identity = getattr(strategy, "model_identity", None)
        model: dict[str, Any] | None = None
        if callable(identity):  # which model trades: the file and its bytes' hash, in the log
            m = model = identity()
            version = f", registry version {m['version']}" if m["version"] else ""
            log.info(
                "strategy %s: model %s (sha256 %s%s)",
                s.strategy.name,
                m["path"],
                m["sha256"],
                version,
            )
        relay_items = _Relay()
        bar_source = BarSource(s.execution.bar_source)
        klines = bar_source is BarSource.KLINES
        stream = DataStream(
            ws_url=endpoints.ws_url,
            rest=market_rest,
            symbols=list(s.symbols),
            clock=self.clock,
            checkpoint=FileCheckpoint(journal_dir / "stream"),
            config=StreamConfig(
                kline_interval=s.strategy.bar_interval if klines else "1m", klines=klines
            ),
            sink=self._guarded(relay_items),
        )
        relay_events = _Relay(
            on_journal_error=self._journal_failed,
            before=self._pause_watch.tick,
            now_ms=self.clock.now_ms,
        )
        self._relay_events = relay_events  # the shutdown looks at the last snapshot it passed
        venue = LiveVenue(
            rest=rest,
            ws_url=endpoints.ws_url,
            symbols=list(s.symbols),
            instruments=instruments,
            clock=self.clock,
            journal=journal,
            listener=relay_events,
            config=ExecutorConfig(
                deadman_countdown_ms=s.execution.deadman_countdown_ms,
                deadman_refresh_s=s.execution.deadman_refresh_s,
                reconcile_interval_s=s.execution.reconcile_interval_s,
                recv_window_ms=s.execution.recv_window_ms,
                client_id_prefix=prefix,
            ),
        )
        last_record_ms = replay.last_record_ms(journal)
        venue.restore(
            journal.open_orders(),
            trade_ids=journal.open_order_trade_ids(),
            last_trade_ids={sym: tid for sym in s.symbols if (tid := journal.last_trade_id(sym))},
            funding_since_ms=last_record_ms,
            funding_booked=book.funding_settlements,
            # fills of orders not ours made while no daemon ran are booked at the start,
            # those it had in its books told by the exchange's trade ids and times
            outside_since_ms=last_record_ms,
            seen_trade_ids=journal.last_snapshot_trade_ids(),
            seen_until_ms=journal.last_exchange_ms(),
            taken_over=journal.taken_over_qtys(),
        )
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
        exec_manager = ExecManager(
            venue=venue,
            book=book,
            risk=risk,
            strategy=strategy,
            journal=journal,
            clock=em_clock,
            instruments=instruments,
            ids=ids,
            config=ExecConfig(
                symbols=tuple(s.symbols),
                bar_interval=s.strategy.bar_interval,
                bar_source=bar_source,
                stale_order_ms=s.risk.stale_order_ms,
                reentry_hold=s.risk.reentry_hold,
                max_strategy_call_ms=Decimal(s.strategy.max_call_ms),
            ),
            gap_open=gap_open,
            clock_offset_ms=clock_offset,
            # A new drawdown peak is journaled (a balance snapshot): a restart keeps it.
            journal_peak=lambda: book.record_snapshot(journal, soon=True),
        )
        for symbol in s.symbols:  # a position its stop closed stays flat across a restart
            if (last := journal.last_fill_order(symbol)) is not None:
                exec_manager.restore_exit(symbol, *last)
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
            state_changes, risk, exec_manager, snapshot=lambda: book.record_snapshot(journal)
        )
        await self._warm(exec_manager, strategy, market_rest)
        # The start-up reconciliation: the venue emits the fills it missed and then the
        # snapshot, which the ExecManager journals and the books compare (each difference is
        # logged as it is adopted); orders found open are watched for staleness.
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
        with reconciling():  # stops and flattens on the whole picture, after it
            self._kill_if_asked(exec_manager)
            await venue.start()
        recovered = _recovery_lines(
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
        relay_items.target = exec_manager.on_item
        if self._recorder is not None:
            relay_items.target = self._recorder.items(exec_manager.on_item)
        freeze_startup_heap()  # start-up objects leave the collector's scans (GC pauses)
        self._spawn(collect_between_items(), "gc")  # collections between items, not in one
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
        )

    def _restore_trading_state(
        self,
        changes: list[Any],
        risk: RiskManager,
        exec_manager: ExecManager,
        snapshot: Callable[[], None] | None = None,
    ) -> None:
        """A daemon that was REDUCING or HALTED stays so across a restart, unless the operator
        resets it (`--reset-halt`). `snapshot` journals the balance at the reset: the equity
        the daily-loss limit was re-armed from, which a later restart that day restores."""
        last = changes[-1] if changes else None
        assert last is None or isinstance(last, TradingStateChanged)
        if last is None or last.current is TradingState.ACTIVE:
            if self.reset_halt:  # said, or the operator cannot tell it was looked at
                # Refused as a reset of HALTED is: "nothing to reset" then a halt by the
                # kill switch within a second told the operator the reset had worked.
                if (kill := risk.kill_file_present()) is not None:
                    raise DaemonError(
                        f"--reset-halt refused: remove the kill-switch file {kill} first"
                    )
                self._tell("--reset-halt: trading state is ACTIVE already, nothing to reset")
            return
        risk.restore_state(last.current, last.reason)
        reset: Callable[[str], None] = exec_manager.reset
        if self._recorder is not None:  # the audit restores (and resets) the same state
            self._recorder.restored(last.current, last.reason)
            reset = self._recorder.reset(reset)
        if self.reset_halt:
            try:
                reset("--reset-halt")
            except IllegalStateTransition as e:  # e.g. the kill-switch file is still there
                raise DaemonError(f"--reset-halt refused: {e}") from None
            if snapshot is not None:
                snapshot()
            self._tell(f"trading state was {last.current} ({last.reason}): reset to ACTIVE")
        else:
            self._tell(
                f"trading state restored: {last.current} ({last.reason}); "
                "no new entries until an operator restarts with --reset-halt"
            )

    async def _instruments(self, rest: RestConnection) -> dict[str, Instrument]:
        info = await rest.call("futures_exchange_info")
        known = {e.get("symbol"): e for e in info.get("symbols", [])}
        missing = [sym for sym in self.settings.symbols if sym not in known]
        if missing:
            raise DaemonError(
                f"symbols: {', '.join(missing)} not traded on this exchange "
                f"(it lists {', '.join(sorted(str(k) for k in known)[:20])})"
            )
        return {sym: Instrument.from_exchange_info(known[sym]) for sym in self.settings.symbols}

    async def _warm(
        self, exec_manager: ExecManager, strategy: TradingStrategy, market_rest: MarketDataRest
    ) -> None:
        """Feed the strategy the last closed bars so its indicators are ready at once."""
        need = int(getattr(strategy, "warmup_bars", 0))
        interval = self.settings.strategy.bar_interval
        if need <= 0:
            return
        if interval not in KLINE_INTERVALS:
            log.info("no REST klines of %s: the strategy warms on live bars", interval)
            return
        for symbol in self.settings.symbols:
            # One more than asked: the last row is the exchange's current (open) bar, unless
            # our clock is a few ms ahead of the exchange's across a bar's close; then all of
            # them have closed (by our clock) and the strategy gets the newest `need`.
            limit = min(need + 1, 1500)
            closed = await self._closed_klines(market_rest, symbol, interval, limit)
            # A bar that closed by our clock less than WARM_SETTLE_MS ago may be open at the
            # exchange still, or lack its last trades there (our clock is the exchange's to
            # within half a round trip): read once more after it settled, or the strategy
            # keeps a short bar whose whole version the live stream no longer passes on.
            if closed:
                wait_ms = closed[-1].close_time_ms + WARM_SETTLE_MS - self.clock.now_ms()
                if wait_ms > 0:
                    await self._sleep(wait_ms / 1000)
                    closed = await self._closed_klines(market_rest, symbol, interval, limit)
            closed = closed[-need:]
            exec_manager.warm(closed)
            if self._recorder is not None:
                self._recorder.warm(closed)
            log.info("%s: strategy warmed with %d closed bars", symbol, len(closed))

    async def _closed_klines(
        self, market_rest: MarketDataRest, symbol: str, interval: str, limit: int
    ) -> list[Bar]:
        """The closed bars (by our clock) among the last `limit` REST klines."""
        bars = await market_rest.klines(
            symbol, interval, limit=limit, closed_before_ms=self.clock.now_ms()
        )
        return [b for b in bars if b.closed]

    def _guarded(self, on_item: Callable[[object, int], None]) -> ItemSink:
        """The stream's sink (`ItemSink`): the pause watch's tick, the stream lag, then the
        item; a bug on one item is logged and counted, never kills the feed."""
        self._sink = ItemSink(
            on_item,
            clock=self.clock,
            tick=self._pause_watch.tick,
            on_stream_state=self._stream_state,
            on_journal_error=self._journal_failed,
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

    def _stream_state(self, change: StreamStateChanged) -> None:
        """Which market-data links and whether the user stream are down, for the heartbeat and
        `--status`: without it they go on showing the last stream lag as if data still arrived,
        and say nothing while fills go unheard (the user stream is down)."""
        name = USER_STREAM if change.stream == USER_STREAM_ID else change.stream
        if change.state is StreamState.CONNECTED:
            if self.streams_down.pop(name, None) is not None:
                since = self._down_since_ms.pop(name, change.event_time_ms)
                down_s = (change.event_time_ms - since) / 1000
                log.info("%s reconnected after %.1f s down", name, down_s)
        else:
            if name not in self.streams_down:
                self._down_since_ms[name] = change.event_time_ms
                self._log_down(name, change)
            self.streams_down[name] = change.state.value

    @staticmethod
    def _log_down(name: str, change: StreamStateChanged) -> None:
        """One WARNING when a link goes down (the heartbeat only showed it while it lasted, and
        the log said nothing of a drop or a silence), saying what the daemon does meanwhile. A
        FAILED link is the ExecManager's to log: it flattens."""
        if change.state is StreamState.FAILED:
            return
        why = f"{change.state.value}{': ' + change.detail if change.detail else ''}"
        doing = ""
        if name == USER_STREAM:
            doing = "; fills are not heard until it is back, then read by a reconciliation"
        elif name == MARKET:
            doing = "; entries wait while the trades missed are backfilled"
        log.warning("%s DISCONNECTED (%s): reconnecting%s", name, why, doing)

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
        """The heartbeat's ` | market data DISCONNECTED (market disconnected)` and
        ` | user stream DISCONNECTED (disconnected)`, "" while all are up."""
        down = dict(self.streams_down)
        user = down.pop(USER_STREAM, None)
        note = ""
        if down:
            note += (
                " | market data DISCONNECTED ("
                + ", ".join(f"{k} {v}" for k, v in down.items())
                + ")"
            )
        if user is not None:
            note += f" | user stream DISCONNECTED ({user}): fills not heard"
        return note

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
        if path and _file_exists(path):
            log.warning("kill switch: file %s exists", path)
            self._kill(exec_manager, f"file {path} exists")
            if active:
                self._killed_at_start = self._halted_line(f"kill switch file {path} present", path)

    def _halted_line(self, what: str, path: str | None) -> str:
        """What a kill at the start-up did and what lifts it (README): on an account whose
        journal goes on, removing the file and a restart with --reset-halt; the embedded
        local exchange is a new account and journal at each start."""
        if self.settings.attaches:
            removed = f"{path} is removed and " if path else ""
            return (
                f"{what}: trading HALTED until {removed}the daemon is restarted with --reset-halt"
            )
        remove = f"; remove {path} before the next start" if path else ""
        return f"{what}: trading HALTED for this run (no new entries){remove}"

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
                and _file_exists(path)
            ):
                log.warning("kill switch: file %s exists", path)
                self._kill(parts.exec_manager, f"file {path} exists")

    def _kill(self, em: ExecManager, reason: str) -> None:
        """`em.kill(reason)`; in a local session recorded, so that the audit pulls the same
        switch at the same clock reading."""
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
        lag = self.stream_lag_ms
        positions = ", ".join(f"{sym} {qty:f}" for sym, qty in st.positions.items()) or "flat"
        gap = gap_note(parts.stream.gap_open(), self._gap_symbols(parts))
        now = time.monotonic()
        items = st.counters.items
        rate = (items - self._last_items[0]) / max(1e-9, now - self._last_items[1])
        self._last_items = (items, now)
        state = st.trading_state + (f" ({st.state_reason})" if st.state_reason else "")
        return (
            f"application running | equity {_money(st.equity)} USDT | position {positions} | "
            f"open orders {st.open_orders}{_doubt_note(st.orders_in_doubt)} | "
            f"realized {_money(st.realized_pnl)} | "
            f"today {_money(st.realized_pnl_today)} net of fees | "
            f"unrealized {_money(st.unrealized_pnl)} | "
            f"fills {st.counters.fills} this run | "
            f"items {rate:,.0f}/s | stream lag {'-' if lag is None else f'{lag} ms'}{gap}"
            f"{self._down_note()}{_margin_call_note(st)}"
            f"{slow_note(st, self.settings.strategy.max_call_ms)} | state {state}"
        )

    def _write_start_status(self, state: DaemonState, **extra: Any) -> None:
        """status.json before the parts exist: starting, or a start that ended (not written
        before journal_dir is claimed: another daemon's status is not ours to replace)."""
        if self._start_status_written:
            self._put_status({**self._status_header(state), **extra})

    def _status_header(self, state: DaemonState) -> dict[str, Any]:
        """What status.json says of the process and its settings, before any figure."""
        s = self.settings
        now = host_time()  # the wall clock and the steady count: --status measures on the latter
        return {
            "state": state.value,
            "pid": os.getpid(),
            "boot_id": now.boot_id,
            **time_fields("updated", now),
            **time_fields("started", self._started or now),
            "heartbeat_s": s.execution.heartbeat_s,
            "reconcile_interval_s": s.execution.reconcile_interval_s,  # --status ages against it
            "mode": s.mode,
            # Settings as --check-config shows them: a secret-shaped value is not written out.
            "venue": shown_setting(
                redact(s.rest_url) if s.attaches else f"local exchange ({s.local.data})"
            ),
            # Stopped with the daemon, its account and orders too (`--status` says so).
            "exchange_embedded": not s.attaches,
            "symbols": [shown_setting(sym) for sym in s.symbols],
            "strategy": shown_setting(s.strategy.name),
        }

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
        s = self.settings
        untracked = parts.venue.tracker.stats
        status: dict[str, Any] = {
            **self._status_header(state),
            "trading_state": st.trading_state.value,
            "state_reason": st.state_reason,
            "equity": _money(st.equity),
            "wallet": _money(st.wallet),
            "unrealized_pnl": _money(st.unrealized_pnl),
            "realized_pnl": _money(st.realized_pnl),
            "realized_pnl_today": _money(st.realized_pnl_today),
            "positions": {sym: f"{qty:f}" for sym, qty in st.positions.items()},
            "open_orders": st.open_orders,
            "orders_submitted": st.counters.submitted,  # this run
            "fills": st.counters.fills,
            "orders_submitted_total": parts.book.orders_submitted,  # the whole journal
            "fills_total": parts.book.fill_count,
            # this run: market-data items and CPU seconds, read together (cost per item)
            "items": st.counters.items,
            "cpu_s": round(time.process_time(), 3),
            "stream_lag_ms": self.stream_lag_ms,
            "gap_open": parts.stream.gap_open(),
            "gap_symbols": self._gap_symbols(parts),  # whose entries are held
            "streams_down": dict(self.streams_down),
            "margin_calls": st.counters.margin_calls,  # this run
            "last_margin_call_ms": st.last_margin_call_ms,
            "forced_fills": st.counters.forced_fills,  # liquidation / ADL fills, this run
            "strategy_max_call_ms": s.strategy.max_call_ms,
            "strategy_slow_calls": st.slow_strategy_calls,  # this run
            "strategy_slowest_ms": round(st.slowest_strategy_call_ms),
            "orders_in_doubt": st.orders_in_doubt,
            **self._note_doubt(st.orders_in_doubt),
            # this run: reports of orders not tracked, ids of ours (something is off) and
            # orders placed by hand (left alone by design)
            "unknown_client_ids": untracked.unknown_client_ids,
            "hand_order_reports": untracked.hand_order_reports,
            **self._reconciled.status(),
            **self._recording_status(),
            **extra,
        }
        self._status_said = self._watched(st.trading_state, st.orders_in_doubt)
        self._put_status(status)

    def _recording_status(self) -> dict[str, Any]:
        """A recorded session the size limit stopped: when, and the limit (MB), for --status
        (said otherwise only in one WARNING); nothing while it records or without one."""
        recorder = self._recorder
        stopped = None if recorder is None else recorder.stopped_at_ms
        if stopped is None:
            return {}
        mb = self.settings.retention.market_sessions_mb
        return {"recording_stopped_ms": stopped, "recording_limit_mb": mb}

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
        if self._recorder is not None:  # where trading stops: after the wait, whose stop-loss
            # (placed on a venue event while it waits) the audit replays before the stop
            self._recorder.stopping(
                cancel_orders=not self.keep_orders, keep_protection=keep_protection
            )
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
        )
        summary = parts.book.summary()
        tracked = parts.venue.tracker.stats
        state, reason = parts.risk.state, parts.risk.reason
        self._write_summary(
            summary,
            final_differences=parts.book.differences - differences_before,
            checked_at_exit=checked,  # the last reconciliation reached the exchange
            # status.json's names: a script reads them the same way in both
            trading_state=state.value,
            state_reason=reason,
            unknown_client_ids=tracked.unknown_client_ids,  # this run
            hand_order_reports=tracked.hand_order_reports,
        )
        self._tell("closing summary:")
        if scope := _journal_scope(parts.exec_manager.counters, summary):
            self._tell(f"  {scope}")
        for line in summary.lines():
            self._tell(f"  {line}")
        if state is not TradingState.ACTIVE:  # the heartbeat said it; a stop's reader sees this
            self._tell(f"  trading state at the stop: {state.value} ({reason})", logging.WARNING)
        untracked = untracked_note(tracked.unknown_client_ids, tracked.hand_order_reports)
        if untracked:
            self._tell(f"  {untracked}")
        if self.keep_orders:
            self._tell(f"  {_kept_orders_note(embedded=self._exchange is not None)}")
        for guarded in left:
            self._tell(f"  {guarded.text}", guarded.severity)
        self._tell(f"  books vs exchange at exit: {verdict}")
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

    def _write_summary(self, summary: Any, **extra: Any) -> None:
        """`<journal_dir>/summary.json`: the closing summary for scripts and tests, the books'
        figures with `extra`, what the printed one says besides them."""
        data = {**_jsonable(summary), **extra}
        path = Path(self.settings.journal_dir) / "summary.json"
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(data, indent=2, sort_keys=True))

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


EARLIER_RUNS = "earlier"  # <journal_dir>/earlier/<UTC time>/: journals of earlier local runs
# What a run leaves in journal_dir about its account (status.json stays: it is the daemon's).
_RUN_FILES = (
    "journal.sqlite3",
    "journal.sqlite3-wal",
    "journal.sqlite3-shm",
    "journal.wal",
    "stream",
    "market",
    "features.csv",
    "features.csv.1",
    "summary.json",
)


HEDGE_MODE = (
    "the account is in Hedge Mode (Binance's Position Mode: Hedge), and this daemon keeps one "
    "position per symbol: switch the Position Mode to One-way in the futures settings (with "
    "no open position or order), then start again"
)


async def check_one_way_mode(rest: RestConnection) -> None:
    """The books keep one position per symbol (one-way mode). In Hedge Mode Binance keeps a
    LONG and a SHORT one and refuses every order without a positionSide (-4061): refused at
    start, in one line, rather than switched (the setting is the account's, for every
    symbol). An answer that says nothing either way lets the start go on."""
    answer = await rest.call("futures_get_position_mode", weight=30)
    hedge = answer.get("dualSidePosition") if isinstance(answer, dict) else None
    if str(hedge).lower() == "true":  # True, or "true" from a lenient proxy
        raise DaemonError(HEDGE_MODE)


MULTI_ASSETS_MODE = (
    "the account is in Multi-Assets Mode (Binance's Asset Mode: Multi-Assets), and this daemon "
    "keeps its books in USDT alone: switch the Asset Mode to Single-Asset in the futures "
    "settings (with no open position or order), then start again"
)


async def check_single_asset_mode(rest: RestConnection) -> None:
    """The books keep one margin wallet, USDT (Single-Asset Mode). In Multi-Assets Mode the
    margin is the USD value of every asset held (USDC, BNB, BTC, BNFCR credits...), the
    account's totals are USD sums and a loss may be settled in another asset than USDT: the
    books' wallet and equity, and with them the drawdown and daily-loss limits, would be
    wrong. Refused at start, in one line, rather than switched (the setting is the
    account's). Read from `GET /fapi/v1/accountConfig` (reference 7.5, weight 5), which says
    it beside the position mode. An answer that says nothing either way lets the start go
    on, and so does an exchange that refuses the query (logged)."""
    try:
        answer = await rest.call("futures_account_config", weight=5)
    except RejectedError as exc:
        log.warning("account configuration unreadable (%s): Multi-Assets Mode not checked", exc)
        return
    multi = answer.get("multiAssetsMargin") if isinstance(answer, dict) else None
    if str(multi).lower() == "true":  # True, or "true" from a lenient proxy
        raise DaemonError(MULTI_ASSETS_MODE)


async def check_untraded_symbols(
    rest: RestConnection, symbols: Collection[str], journal_open: Collection[Order] = ()
) -> list[str]:
    """`symbols`: those the journal traded that `symbols` no longer names. A position or open
    order of one of them on the exchange would be left to itself: no stop-loss moved or put
    back, no fill booked, the position out of the equity the limits watch, and out of the
    heartbeat and the closing summary, so forgotten. Refused at start, in one line that says
    what is there and what to do; a symbol flat with no order (closed before it was removed)
    is fine. An exchange that does not list the symbol any more holds nothing of it.

    Returns a warning per such symbol whose orders the journal (`journal_open`: its open
    orders) still holds open: they ended while no daemon ran, and how is not booked (its
    stop-loss filled? the fill's PnL would be taken as money moved in or out)."""
    held: list[tuple[str, str]] = []
    warnings: list[str] = []
    for symbol in sorted(symbols):
        try:
            rows = await rest.call("futures_position_information", weight=5, symbol=symbol)
            orders = await rest.call("futures_get_open_orders", symbol=symbol)
            algos = await rest.call("futures_get_open_algo_orders", symbol=symbol)
        except RejectedError as exc:
            log.info("%s, traded before, is not listed by the exchange (%s)", symbol, exc)
            continue
        qty = sum((parse_position_risk(r).qty for r in rows), Decimal(0))
        what = [
            f"{o.type.value} {o.side.value} {o.quantity:f}" + (f" @ {o.price:f}" if o.price else "")
            for o in (parse_rest_order(r, 0) for r in orders)
        ] + [
            f"{a.order_type.value} {a.side.value} at {a.trigger_price:f}"
            for a in (parse_rest_algo_order(r, 0) for r in algos)
        ]
        if not qty and not what:
            if ended := [o for o in journal_open if o.symbol == symbol]:
                warnings.append(
                    f"{symbol} is no longer in symbols, and its order(s) "
                    + ", ".join(
                        f"{o.client_order_id} ({o.side.value} {o.type.value})" for o in ended
                    )
                    + ", open when a daemon last traded it, are no longer open on the exchange: "
                    "if one filled (a stop-loss while the daemon was down), that fill is not "
                    "booked and the wallet's change is taken as money moved in or out; add "
                    f"{symbol} back to symbols for one start to book how they ended"
                )
            continue
        found = [f"position {qty:f}"] if qty else []
        if what:
            found.append(f"{len(what)} open order(s): {', '.join(what)}")
        held.append((symbol, f"{symbol} {'; '.join(found)}"))
    if held:
        names = ", ".join(symbol for symbol, _ in held)
        raise DaemonError(
            f"symbols: {names} {'is' if len(held) == 1 else 'are'} no longer in symbols, but "
            f"this daemon traded there and the exchange holds: {', '.join(h for _, h in held)}."
            " Not traded, it would be forgotten (no stop-loss managed, no fill booked, out of "
            f"the equity, the limits and the summary): add {names} back to symbols, or close "
            "the position and cancel the orders on the exchange, then start again"
        )
    return warnings


def synthesized_flow_note(mode: Mode, strategy: object) -> str | None:
    """What to tell the operator of a strategy that reads the bars' taker buy volume or trade
    count (`uses_taker_flow`, a flow model) on the local exchange, or None. There those columns
    come from trades made up from 1m OHLCV bars (`exchange_sim.replay.synth.with_details`, the
    live bars from the same synthesized trades): only a recorded trade capture has real ones,
    minutes in the bundled data sets. Said, not refused: a flow model's plumbing (orders,
    protection, the parity audit) is worth trying there; its results are not evidence."""
    if mode != Mode.LOCAL or not getattr(strategy, "uses_taker_flow", False):
        return None
    name = getattr(strategy, "name", type(strategy).__name__)
    return (
        f"strategy {name} uses the taker-flow features (taker buy volume, trade count), and "
        "the local exchange synthesizes them: its bars' taker columns come from trades made "
        "up from 1m OHLCV (exchange_sim.replay.synth.with_details), but for a recorded trade "
        "capture (minutes in the bundled data). What the strategy does here says nothing about "
        "those features; judge it on Binance's own data (--mode testnet)"
    )


# The warm-up reads klines only once the newest closed bar closed this long ago (by our clock).
WARM_SETTLE_MS = 1_000

LOCAL_VENUE = "local exchange (embedded)"  # the venue of `python app.py` without endpoints


def venue_of(settings: Settings) -> str:
    """The exchange this run trades, as journals are bound to it: the REST URL without its
    userinfo (a proxy's `user:password@`: a secret, and not what names the exchange), or
    LOCAL_VENUE for the embedded local exchange (a new one, on a new port, each run)."""
    return bound_form(settings.rest_url) if settings.attaches else LOCAL_VENUE


def bound_form(venue: str) -> str:
    """A venue as a journal is bound to it: an earlier version stored the REST URL as given,
    userinfo included, which names the same exchange as the URL without it."""
    return url_without_userinfo(venue).rstrip("/")


def claim_journal_dir(
    journal_dir: Path, venue: str, now_ms: int, *, held: bool = False
) -> Path | None:
    """Make `journal_dir` this run's. A journal belongs to one exchange account: restored
    into another, its books, drawdown peak and daily loss would be that account's (a demo's
    10,000 USDT restored into a 500 USDT account halted it at once, "lost 9500 USDT today").

    - the embedded local exchange's journal (a demo account that ended with its exchange) is
      moved to `earlier/` by any run, and so is an unbound one (made before journals were
      bound) by a local run;
    - another exchange's journal is refused with a DaemonError (one line; nothing is moved);
    - this exchange's, or an unbound one when attaching, stays: this run continues it.

    `held`: this process holds the journal's lock (`JournalLock`). The folder the journal was
    moved to, if it was."""
    bound = journal_venue(journal_dir)
    if bound is not None:
        bound = bound_form(bound)
    if venue != LOCAL_VENUE and bound in (None, venue):
        return None
    if bound not in (None, LOCAL_VENUE):
        here = "the local exchange" if venue == LOCAL_VENUE else venue
        raise DaemonError(
            f"journal_dir {shown_path(journal_dir)} holds the journal of {bound}, and this run "
            f"trades {here}: a journal belongs to one exchange account. Give this run its own "
            "journal_dir (or move that journal away to start afresh)"
        )
    return archive_earlier_run(journal_dir, now_ms, held=held)


def earlier_runs(journal_dir: Path) -> list[Path]:
    """The archived runs in `<journal_dir>/earlier/`, oldest first (by their UTC stamp, then
    the `-n` of a second run in the same second)."""
    folder = journal_dir / EARLIER_RUNS
    if not folder.is_dir():
        return []

    def when(path: Path) -> tuple[str, int]:
        stamp, _, n = path.name.partition("Z-")
        return stamp.rstrip("Z"), int(n) if n.isdigit() else 1

    return sorted((p for p in folder.iterdir() if p.is_dir()), key=when)


def archive_earlier_run(journal_dir: Path, now_ms: int, *, held: bool = False) -> Path | None:
    """Move an earlier run's journal to `<journal_dir>/earlier/<UTC time>/`; its folder, or
    None when there is none (or a running daemon holds it: its open says so, in one line;
    `held`: this process holds the journal's lock, so no other does)."""
    if (
        not (journal_dir / "journal.sqlite3").exists()
        and not (journal_dir / "journal.wal").exists()
    ):
        return None
    if not held and journal_in_use(journal_dir):
        return None
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%SZ")
    target = journal_dir / EARLIER_RUNS / stamp
    n = 1
    while target.exists():  # two runs in one second
        n += 1
        target = journal_dir / EARLIER_RUNS / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for name in _RUN_FILES:
        if (journal_dir / name).exists():
            os.replace(journal_dir / name, target / name)
    return target


def _restore_limits(
    journal: SqliteJournal,
    state_changes: list[Any],
    risk: RiskManager,
    book: BookKeeper,
    now_ms: int,
    replay: Replay | None = None,
) -> LimitCounts:
    """The drawdown peak, today's trade count and the daily loss's base survive a restart:
    counted from the journal since the last operator reset (which re-armed them), the trades
    since 00:00 UTC too, and restored into `risk`; returned for the session's recording (the
    parity audit restores the same counts). `replay`: the books' restore, which kept the peak
    since the last reset (else it is read from every balance snapshot since)."""
    resets = [
        e.event_time_ms
        for e in state_changes
        if isinstance(e, TradingStateChanged) and e.current is TradingState.ACTIVE
    ]
    since = resets[-1] if resets else 0
    day_start = now_ms - now_ms % DAY_MS
    # The portfolio limits count equity net of transfers (ExecManager._check_equity).
    equity = book.equity() - book.transfers if book.wallet_known else None
    realized_today = book.pnl_today(now_ms)
    day_start_equity, realized_base = _day_base(journal, book, since, day_start, realized_today)
    peak = (
        journal.peak_net_equity(since) if replay is None else replay.peak_net_equity(journal, since)
    )
    counts = LimitCounts(
        at_ms=now_ms,
        peak_equity=peak,
        trades_today=journal.orders_filled_since(max(since, day_start)),
        equity=equity,
        day_start_equity=day_start_equity,
        realized_today=realized_today,
        realized_base=realized_base,
    )
    risk.restore_limits(counts)
    return counts


def _day_base(
    journal: SqliteJournal, book: BookKeeper, since: int, day_start: int, realized_today: Decimal
) -> tuple[Decimal | None, Decimal]:
    """The daily-loss limit's base after a restart, net of transfers (USDT): the day's starting
    equity (None: the first equity seen, as at a first start) and the part of today's realized
    PnL already accepted by an operator reset.

    - An operator reset today re-armed the limit from its equity and realized PnL then: the
      balance snapshot journaled at the reset. None (an older journal without it): the equity
      found now, and the whole day's realized PnL counts (the careful side).
    - Else the last equity journaled before 00:00 UTC, when it is of the day before (the daemon
      ran until midnight, or stopped that day holding what it held: its loss while stopped
      is today's, not forgiven); else the first equity journaled today (a run that began
      today); else None."""
    if since >= day_start:
        snap = journal.first_snapshot_since(since)
        if snap is None:
            return None, Decimal(0)
        _, equity, wallet, transfers = snap
        moved_since = (book.wallet() - book.transfers) - (wallet - transfers)
        return equity - transfers, realized_today - moved_since
    snap = journal.last_snapshot_before(day_start)
    if snap is None or snap[0] < day_start - DAY_MS:
        snap = journal.first_snapshot_since(day_start)
    if snap is None:
        return None, Decimal(0)
    return snap[1] - snap[3], Decimal(0)


def exit_check(
    book: BookKeeper,
    symbols: Iterable[str],
    *,
    reconciled: bool,
    differences: int,
    journal_failed: bool,
    exchange_view: VenueSnapshot | None,
) -> tuple[list[SummaryLine], str, bool]:
    """The closing summary's last lines: what guards each position left open, the verdict
    on the books against the exchange, and whether they were compared at all.

    `reconciled`: the venue's last reconciliation read the exchange; `differences`: what it
    found in the books; `exchange_view`: the snapshot it read. A reconciliation that could
    not be journaled was not booked either (the journal failed), so nothing was compared;
    the books may then miss what could not be journaled (a fill, a stop-loss's end), and
    what is left open is the exchange's word."""
    symbols = list(symbols)
    if journal_failed and exchange_view is not None:
        held = {p.symbol: p.qty for p in exchange_view.positions}
        left = _guards(
            {sym: held.get(sym, Decimal(0)) for sym in symbols},
            exchange_view.open_orders,
            "(the exchange's, read at the stop) ",
        )
    else:
        left = _left_open(book, symbols)
    if journal_failed:
        verdict = (
            "not checked: the journal failed, so what the exchange said since was not "
            "booked (the next start recovers it from the exchange)"
        )
        return left, verdict, False
    if not reconciled:
        verdict = (
            "not checked: the exchange could not be reached "
            "(orders may still be working there; see the log)"
        )
        return left, verdict, False
    return (
        left,
        "identical" if differences == 0 else f"{differences} difference(s), see the log",
        True,
    )


def _left_open(book: BookKeeper, symbols: Iterable[str]) -> list[SummaryLine]:
    """What guards each position the daemon leaves open, by its books."""
    return _guards({sym: book.position(sym).qty for sym in symbols}, book.orders.values())


def _guards(
    positions: Mapping[str, Decimal], orders: Iterable[Order], whose: str = ""
) -> list[SummaryLine]:
    """What guards each open position (symbol -> signed qty): its protective orders still on
    the exchange, or a warning that nothing does. Only a stop-loss on the position's closing
    side that the exchange has confirmed guards it (one on the other side was placed for
    another position; one sent at the stop and not answered may not be there). `whose`
    qualifies the position."""
    orders = list(orders)
    lines: list[SummaryLine] = []
    for symbol, qty in positions.items():
        if not qty:
            continue
        protective = [
            o for o in orders if o.symbol == symbol and o.is_protective and not o.is_terminal
        ]
        guards = [_guard_named(o, qty) for o in protective]
        stops = [o for o in protective if guards_close(o, qty)]
        # one sent and not answered (or its answer lost) may not be on the exchange
        if any(o.status not in UNANSWERED for o in stops):
            text = (
                f"position {symbol} {qty:f} {whose}left open, guarded on the exchange by "
                + ", ".join(guards)
            )
            lines.append(SummaryLine(text, Severity.INFO))
        elif stops:
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open, its stop-loss "
                f"{stops[0].type.value} {stops[0].stop_price:f} sent but not confirmed by the "
                "exchange (see the log)"
            )
            lines.append(SummaryLine(text, Severity.WARNING))
        elif guards:  # a take-profit alone does not limit a loss
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open WITHOUT an exchange-side "
                f"stop-loss (only {', '.join(guards)})"
            )
            lines.append(SummaryLine(text, Severity.WARNING))
        else:
            text = (
                f"WARNING: position {symbol} {qty:f} {whose}left open WITHOUT an exchange-side "
                "stop-loss (risk.stop_loss_pct is 0, or it could not be placed: see the log)"
            )
            lines.append(SummaryLine(text, Severity.WARNING))
    return lines


def _guard_named(order: Order, qty: Decimal) -> str:
    """A protective order as the closing summary names it beside a position of `qty`: a
    stop-loss on the other side (placed for another position, a flip unseen) says so, or
    "WITHOUT an exchange-side stop-loss (only STOP_MARKET 58800.0)" read as a contradiction."""
    named = f"{order.type.value} {order.stop_price:f}"
    if order.type is OrderType.STOP_MARKET and not guards_close(order, qty):
        named += f" {order.side.value}, which does not close a {'long' if qty > 0 else 'short'}"
    return named


class _Relay:
    """Late-bound callback: the stream and the venue are built before the ExecManager that
    listens to them; nothing is handed on before `target` is set. Each item goes on with the
    time of our clock it is handled at (`target(item, now_ms)`): the one its caller read (the
    market-data sink), else read here once (`now_ms`: the venue's events), shared with
    `before` (the pause watch's tick)."""

    def __init__(
        self,
        on_journal_error: Callable[[JournalError], None] | None = None,
        before: Callable[[int], None] | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.target: Callable[[Any, int | None], None] | None = None
        self.seen: list[Any] | None = None  # set to a list to keep a copy of what passes
        self._on_journal_error = on_journal_error
        self._before = before  # called first with each item (the pause watch's tick)
        self._now_ms = now_ms

    def __call__(self, item: Any, now: int | None = None) -> None:
        if now is None and self._now_ms is not None:
            now = self._now_ms()
        if self._before is not None and now is not None:
            self._before(now)
        if self.seen is not None:
            self.seen.append(item)
        if self.target is not None:
            try:
                self.target(item, now)
            except JournalError as exc:
                if self._on_journal_error is None:
                    raise
                self._on_journal_error(exc)


class _Reconciled:
    """The last reconciliation with the exchange that the books compared, for status.json:
    when (this machine's clocks: `--status` and a monitor measure its age as the heartbeat's)
    and the differences it found (each adopted from the exchange and logged). A VPS user reads
    whether the books were checked since a fault; the chaos test stops on it."""

    def __init__(self) -> None:
        self.at: HostTime | None = None
        self.differences = 0

    def watch(
        self, handler: Callable[[Any, int | None], None], differences: Callable[[], int]
    ) -> Callable[[Any, int | None], None]:
        """`handler` (the venue events' target), noting each `VenueSnapshot` once it is applied;
        `differences`: the books' running count of differences."""

        def seen(item: Any, now: int | None) -> None:
            if not isinstance(item, VenueSnapshot):
                handler(item, now)
                return
            before = differences()
            handler(item, now)
            self.at = host_time()
            self.differences = max(0, differences() - before)  # a withdrawal: none found

        return seen

    def status(self) -> dict[str, Any]:
        """`last_reconciled_ms` (+ `_steady_ms`) and `last_reconcile_differences`: None before
        the first reconciliation."""
        if self.at is None:
            return {"last_reconciled_ms": None, "last_reconcile_differences": None}
        return {
            **time_fields("last_reconciled", self.at),
            "last_reconcile_differences": self.differences,
        }


def _file_exists(path: str) -> bool:
    """One stat (microseconds): cheap enough for the event loop every quarter second."""
    return os.path.exists(path)


def _recovery_lines(
    events: list[Any], *, back_ms: int | None, restored_ids: Collection[str]
) -> list[str]:
    """What the start-up reconciliation told us that the journal did not know: fills made
    and order outcomes reached while the daemon was down (or before it ever saw them).

    `events` are all that passed during the start-up, the new session's own among them: what
    the exchange did from `back_ms` on (its clock, when the user stream connected: seen live,
    a fill of a resting order, or an answer to an order the start sent, such as the flatten
    at its end) was not missed. The exception is what became of an order of the last run
    (`restored_ids`: the journal's open orders) that the exchange no longer shows, which
    carries the time we learnt it: one in flight at the stop, resolved; one forgotten."""
    lines = []
    for e in events:
        if back_ms is not None and e.event_time_ms >= back_ms:
            resolves = isinstance(e, OrderReconciled | OrderRejected | OrderExpired)
            if not (resolves and e.client_order_id in restored_ids):
                continue
        if isinstance(e, OrderFilled | OrderPartiallyFilled):
            f = e.fill
            lines.append(
                f"fill {f.symbol} trade {f.trade_id} of {f.client_order_id}: {f.side} "
                f"{f.qty:f} @ {f.price:f}, fee {f.commission:f} {f.commission_asset}, "
                f"realized {f.realized_pnl:f}"
            )
        elif isinstance(e, OrderCanceled | OrderExpired):
            lines.append(f"order {e.client_order_id} ({e.symbol}) is {type(e).__name__[5:]}")
        elif isinstance(e, OrderReconciled) and e.cause is ReconcileCause.TAKEN_OVER_FILLS:
            # nothing was in doubt: the fills listed as outside:<its id> completed it
            lines.append(
                f"order {e.client_order_id} ({e.symbol}), taken over, is {e.status}: filled by "
                f"its fills booked as {outside_client_id(e.client_order_id)}"
            )
        elif isinstance(e, OrderReconciled):
            lines.append(f"order {e.client_order_id} ({e.symbol}) resolved as {e.status}")
        elif isinstance(e, OrderRejected):
            lines.append(f"order {e.client_order_id} ({e.symbol}) rejected: {e.reason}")
    return lines


def slow_note(status: ExecStatus, max_call_ms: float) -> str:
    """The heartbeat's note of strategy calls over `strategy.max_call_ms` ("" without any)."""
    if not status.slow_strategy_calls:
        return ""
    return (
        f" | slow strategy calls {status.slow_strategy_calls} (over {max_call_ms:g} ms, "
        f"slowest {status.slowest_strategy_call_ms:,.0f} ms)"
    )


def _margin_call_note(st: ExecStatus) -> str:
    """ " | MARGIN CALL x2 (last 14:03:07 UTC)" once the exchange sent one this run."""
    if not st.counters.margin_calls or st.last_margin_call_ms is None:
        return ""
    at = datetime.fromtimestamp(st.last_margin_call_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    return f" | MARGIN CALL x{st.counters.margin_calls} (last {at} UTC)"


def _money(value: Decimal) -> str:
    """USDT to the cent, for a person: a loss that rounds to nothing is "0.00", not the
    "-0.00" the heartbeat showed of a position a tick under water."""
    return f"{value:z,.2f}"


def _doubt_note(in_doubt: int) -> str:
    """The heartbeat's ` (2 in doubt)` after its open orders: orders whose outcome the daemon
    does not know yet (the request timed out or is unanswered, a cancel unconfirmed) and is
    resolving; only `--status` showed them. "" at 0: the line stays short."""
    return f" ({in_doubt} in doubt)" if in_doubt else ""


def _kept_orders_note(*, embedded: bool) -> str:
    """The closing summary's line for --keep-orders. The embedded local exchange is stopped
    with the daemon, its orders and its account with it: "left on the exchange" alone
    promised orders that no exchange holds a second later."""
    if not embedded:
        return "open orders were left on the exchange (--keep-orders)"
    return (
        "open orders were left on the exchange (--keep-orders), but the embedded local "
        "exchange stops with the daemon and they end with it (attach to one with [endpoints] "
        "to keep them)"
    )


def _journal_scope(this_run: ExecCounters, summary: BookSummary) -> str | None:
    """The closing summary's first line when its figures are not this run's alone (a
    journal continued by a restart on the same account): they count the whole journal, which
    a reader of "orders: 40 submitted" after a run that sent 7 could not tell. None when they
    are this run's (a new journal, every local run's)."""
    if (this_run.submitted, this_run.fills) == (summary.orders_submitted, summary.fills):
        return None
    return (
        "figures of the whole journal; this run: "
        f"orders sent {this_run.submitted}, fills {this_run.fills}"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):  # StrEnum members too
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


__all__ = ["Daemon", "DaemonError", "TradingError"]
