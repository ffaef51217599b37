"""DataStream: gap-free Binance USD-M market data over websockets, parsed into `core` types.

Two combined-stream connections: `/market/stream?streams=` (aggTrade, kline_1m, markPrice@1s)
and `/public/stream?streams=` (bookTicker). Each reconnects with the shared jittered backoff
(reset after a connection that delivered data), is reconnected by a watchdog when it goes quiet
longer than its silence timeout, and is rotated before Binance's 24-hour cut by opening the new
connection first and closing the old one once the new one delivers (duplicates are dropped).

Trades are delivered strictly in aggregate-trade-id order, each exactly once. A missing id
(after a reconnect, on start from the checkpointed id, or a hole in the live sequence) opens a
gap: live trades are held, the hole is backfilled over REST `aggTrades?fromId=`, merged,
de-duplicated, and everything is released in id order, bracketed by `GapDetected` and
`GapHealed`. While a gap is open `gap_open(symbol)` is True (the ExecManager blocks entries);
it is also True right after a (re)connect until the first trade (or a REST probe after
`probe_delay_s`) shows whether anything was missed.
After a gap the closed klines it spanned are checked against REST; closed bars the socket
missed are delivered from REST. Malformed frames are logged, counted and skipped.

Consumers either iterate (`async for item in stream`) or pass `sink=`; items are `Trade`,
`BookTicker`, `MarkPrice`, `Bar`, `GapDetected`, `GapHealed` and `StreamStateChanged`.
A trade counts as processed once the consumer asks for the next item (or the sink returns);
the last processed id per symbol is saved to the `StreamCheckpoint` every
`checkpoint_interval_s` and on stop, so a restart resumes without loss (at-least-once across a
kill: ids after the last save are re-delivered, none are skipped).
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI

from core.backoff import Backoff
from core.clock import Clock
from core.events import GapDetected, GapHealed, StreamStateChanged
from core.intervals import interval_ms
from core.market import Bar, Trade
from gateway.checkpoint import MemoryCheckpoint, StreamCheckpoint
from gateway.market_rest import AGG_TRADES_MAX_LIMIT, MarketDataRest
from gateway.wire import (
    MalformedMessage,
    decode_frame,
    parse_agg_trade,
    parse_book_ticker,
    parse_kline,
    parse_mark_price,
)

log = logging.getLogger(__name__)

_loads = decode_frame
_MALFORMED = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    ArithmeticError,  # decimal.InvalidOperation
    MalformedMessage,
)


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Timing knobs (seconds). Defaults suit mainnet; tests shrink them."""

    market_silence_s: float = 5.0  # markPrice@1s makes /market a 1 Hz heartbeat at least
    public_silence_s: float = 30.0  # bookTicker only: quiet symbols may pause
    # No aggTrade for this long while /market still delivers (marks, klines): ask REST whether
    # the exchange traded meanwhile; if so the trade stream is silently dead -> reconnect.
    trade_silence_s: float = 10.0  # 0 disables
    watchdog_check_s: float = 0.25
    max_connection_age_s: float = 23.5 * 3600  # Binance cuts at 24 h
    rotation_overlap_s: float = 10.0  # wait this long for the new socket's first frame
    reconnect_initial_s: float = 0.2
    reconnect_max_s: float = 10.0
    open_timeout_s: float = 5.0
    close_timeout_s: float = 1.0
    reorder_grace_s: float = 0.05  # a hole may fill itself from a reordered frame
    probe_delay_s: float = 0.5  # after a (re)connect with no live trade yet, ask REST
    backfill_page: int = AGG_TRADES_MAX_LIMIT
    backfill_retry_max_s: float = 5.0
    checkpoint_interval_s: float = 1.0
    kline_interval: str = "1m"
    book_ticker: bool = True
    mark_price: bool = True
    klines: bool = True
    kline_check: bool = True  # after a gap, compare closed klines with REST
    closed_kline_memory: int = 2000  # closed bars remembered per symbol for de-duplication


@dataclass(slots=True)
class StreamStats:
    frames: int = 0
    trades: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    malformed: int = 0
    ignored: int = 0
    stale: int = 0  # book/mark/kline updates older than one already delivered
    connects: int = 0
    silences: int = 0
    rotations: int = 0
    gaps: int = 0
    backfilled: int = 0
    missed_klines: int = 0
    kline_mismatches: int = 0


@dataclass(slots=True)
class _Gap:
    first: int
    last: int
    cause: str
    started_ms: int
    after_trade_ms: int  # trade time of the last trade delivered before the gap
    backfilled: int = 0


@dataclass(slots=True)
class _SymbolState:
    symbol: str
    last_id: int | None  # last delivered aggregate trade id
    pending: dict[int, Trade] = field(default_factory=dict)
    max_held: int = -1  # highest live id held during a gap (to count reordered frames)
    gap: _Gap | None = None
    syncing: str | None = None  # cause while waiting for the first trade after a connect
    healer: asyncio.Task[None] | None = None
    exchange_time_ms: int = 0  # trade time of the last delivered trade
    last_trade_ms: int = 0  # our clock when the last aggTrade frame arrived
    last_book_u: int = -1
    last_mark_e: int = -1
    last_kline: tuple[int, int] = (-1, -1)  # (open time, event time)
    closed_klines: dict[int, Bar] = field(default_factory=dict)
    processed_id: int | None = None
    saved_id: int | None = None


class _Socket:
    __slots__ = ("delivering", "frames", "last_frame", "opened_at", "reader", "ws")

    def __init__(self, ws: ClientConnection, now: float) -> None:
        self.ws = ws
        self.opened_at = now
        self.last_frame = now
        self.frames = 0
        self.delivering = asyncio.Event()  # set on the first frame
        self.reader: asyncio.Task[None] | None = None


class DataStream:
    """Market data for `symbols` from one Binance-compatible websocket base URL."""

    def __init__(
        self,
        *,
        ws_url: str,
        rest: MarketDataRest,
        symbols: list[str],
        clock: Clock,
        checkpoint: StreamCheckpoint | None = None,
        config: StreamConfig | None = None,
        sink: Callable[[object], object] | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("DataStream needs at least one symbol")
        self.ws_url = ws_url.rstrip("/")
        self.rest = rest
        self.clock = clock
        self.config = config or StreamConfig()
        interval_ms(self.config.kline_interval)
        self.checkpoint = checkpoint if checkpoint is not None else MemoryCheckpoint()
        self.stats = StreamStats()
        self._sink = sink
        self._now_ms = clock.now_ms
        self._buffer: deque[object] = deque()  # delivered, not yet taken by the consumer
        self._waiter: asyncio.Future[None] | None = None
        self._states = {
            s.upper(): _SymbolState(s.upper(), self.checkpoint.load(s.upper())) for s in symbols
        }
        for st in self._states.values():
            st.processed_id = st.saved_id = st.last_id
        self._yielded: Trade | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: set[_Socket] = set()
        self._started = False
        self._stopping = False
        self._stale_links: dict[str, str] = {}  # link -> why it must be reconnected
        self._market_connected_ms = 0
        self._market_up = False

    # --- public API ---------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return list(self._states)

    def stream_urls(self) -> dict[str, str]:
        """The combined-stream URL per routed path ("market", "public")."""
        cfg = self.config
        market: list[str] = []
        public: list[str] = []
        for sym in self._states:
            low = sym.lower()
            market.append(f"{low}@aggTrade")
            if cfg.klines:
                market.append(f"{low}@kline_{cfg.kline_interval}")
            if cfg.mark_price:
                market.append(f"{low}@markPrice@1s")
            if cfg.book_ticker:
                public.append(f"{low}@bookTicker")
        urls = {"market": f"{self.ws_url}/market/stream?streams={'/'.join(market)}"}
        if public:
            urls["public"] = f"{self.ws_url}/public/stream?streams={'/'.join(public)}"
        return urls

    def gap_open(self, symbol: str | None = None) -> bool:
        """True while trades of `symbol` (any symbol if None) are held back for a backfill."""
        states = self._states.values() if symbol is None else [self._states[symbol.upper()]]
        return any(st.gap is not None or st.syncing is not None for st in states)

    def last_delivered_id(self, symbol: str) -> int | None:
        return self._states[symbol.upper()].last_id

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for name, url in self.stream_urls().items():
            cfg = self.config
            silence = cfg.market_silence_s if name == "market" else cfg.public_silence_s
            self._spawn(self._run_link(name, url, silence), f"datastream-{name}")
        self._spawn(self._checkpoint_loop(), "datastream-checkpoint")
        if self.config.trade_silence_s > 0:
            self._spawn(self._trade_watchdog(), "datastream-trade-watchdog")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every task, close the sockets, save the checkpoint; never hangs."""
        self._stopping = True
        # The last item handed out is not marked processed here: the consumer may still be
        # working on it (it is marked when the consumer asks for the next one). A restart
        # then re-delivers it: at-least-once, never a loss.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for sock in list(self._sockets):
            sock.ws.transport.abort()
        self._sockets.clear()
        self._flush_checkpoint()

    async def __aenter__(self) -> "DataStream":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __aiter__(self) -> "DataStream":
        return self

    async def __anext__(self) -> object:
        self._mark_processed()
        buffer = self._buffer
        while not buffer:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = buffer.popleft()
        if type(item) is Trade:
            self._yielded = item
        return item

    def get_nowait(self) -> object:
        """The next item if one is ready (raises `asyncio.QueueEmpty`); marks like `__anext__`."""
        self._mark_processed()
        if not self._buffer:
            raise asyncio.QueueEmpty
        item = self._buffer.popleft()
        if type(item) is Trade:
            self._yielded = item
        return item

    def pending_items(self) -> int:
        """Items delivered but not yet taken by the consumer."""
        return len(self._buffer)

    def handle_frame(self, raw: str | bytes) -> None:
        """Parse one websocket text frame and deliver what it holds (also the in-process feed)."""
        self.stats.frames += 1
        try:
            msg = _loads(raw)
            data = msg.get("data", msg)
            kind = data.get("e")
            if kind == "aggTrade":
                self._on_trade(parse_agg_trade(data, self._now_ms()))
                return
            recv = self._now_ms()
            if kind == "bookTicker":
                self._on_book(data, recv)
            elif kind == "markPriceUpdate":
                self._on_mark(data, recv)
            elif kind == "kline":
                self._on_kline(data)
            elif kind is not None:
                self.stats.ignored += 1  # an event type this stream does not use
            elif "result" in msg or "id" in msg:
                pass  # reply to a control request
            else:
                self.stats.malformed += 1
                log.warning("frame without an event skipped: %.200r", raw)
        except _MALFORMED as exc:
            self.stats.malformed += 1
            if self.stats.malformed <= 20 or self.stats.malformed % 1000 == 0:
                log.warning(
                    "malformed frame #%d skipped (%s): %.200r", self.stats.malformed, exc, raw
                )

    # --- delivery -----------------------------------------------------------------------------

    def _emit(self, item: object) -> None:
        if self._sink is None:
            self._buffer.append(item)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        self._sink(item)
        if type(item) is Trade:
            self._states[item.symbol].processed_id = item.agg_id

    def _mark_processed(self) -> None:
        trade = self._yielded
        if trade is not None:
            self._states[trade.symbol].processed_id = trade.agg_id
            self._yielded = None

    def _now(self) -> int:
        return self._now_ms()

    def _state_event(self, stream: str, state: str, detail: str = "") -> None:
        now = self._now()
        self._emit(
            StreamStateChanged(
                event_time_ms=now, recv_time_ms=now, stream=stream, state=state, detail=detail
            )
        )

    # --- trades: ordering, gaps, backfill --------------------------------------------------------

    def _on_trade(self, trade: Trade) -> None:
        st = self._states.get(trade.symbol)
        if st is None:
            self.stats.ignored += 1
            return
        a = trade.agg_id
        last = st.last_id
        if last is None:
            self._deliver(st, trade)
            st.syncing = None
            return
        st.last_trade_ms = trade.recv_time_ms
        if a == last + 1 and st.gap is None:  # the hot path: the next trade, no gap
            st.syncing = None
            st.last_id = a
            st.exchange_time_ms = trade.trade_time_ms
            self.stats.trades += 1
            self._emit(trade)
            return
        if a <= last or a in st.pending:
            self.stats.duplicates += 1
            return
        if st.gap is None:
            if a == last + 1:  # pragma: no cover - handled above
                return
            cause = st.syncing or "sequence"
            st.syncing = None
            st.pending[a] = trade
            st.max_held = a
            self._open_gap(st, last + 1, a - 1, cause)
            return
        if a < st.max_held:
            self.stats.out_of_order += 1
        else:
            st.max_held = a
        st.pending[a] = trade
        self._advance(st)

    def _deliver(self, st: _SymbolState, trade: Trade) -> None:
        st.last_id = trade.agg_id
        st.exchange_time_ms = trade.trade_time_ms
        self.stats.trades += 1
        self._emit(trade)

    def _open_gap(self, st: _SymbolState, first: int, last: int, cause: str) -> None:
        now = self._now()
        st.gap = _Gap(
            first=first,
            last=last,
            cause=cause,
            started_ms=now,
            after_trade_ms=st.exchange_time_ms,
        )
        self.stats.gaps += 1
        log.warning("%s: aggTrade ids %d..%d missing (%s)", st.symbol, first, last, cause)
        self._emit(
            GapDetected(
                event_time_ms=now,
                recv_time_ms=now,
                symbol=st.symbol,
                first_missing_id=first,
                last_missing_id=last,
                cause=cause,
            )
        )
        if st.healer is None or st.healer.done():
            st.healer = self._spawn(self._heal(st), f"heal-{st.symbol}")

    def _advance(self, st: _SymbolState) -> bool:
        """Release held trades that are now contiguous; close the gap when nothing is held."""
        pending = st.pending
        while pending:
            nxt = pending.pop(st.last_id + 1, None)  # type: ignore[operator]
            if nxt is None:
                break
            self._deliver(st, nxt)
        gap = st.gap
        if gap is None or pending or st.last_id < gap.last:  # type: ignore[operator]
            return False
        self._close_gap(st)
        return True

    def _close_gap(self, st: _SymbolState) -> None:
        gap = st.gap
        assert gap is not None
        st.gap = None
        now = self._now()
        duration = now - gap.started_ms
        log.info(
            "%s: gap %d..%d healed in %d ms (%d backfilled)",
            st.symbol,
            gap.first,
            gap.last,
            duration,
            gap.backfilled,
        )
        self._emit(
            GapHealed(
                event_time_ms=now,
                recv_time_ms=now,
                symbol=st.symbol,
                first_missing_id=gap.first,
                last_missing_id=gap.last,
                backfilled=gap.backfilled,
                duration_ms=duration,
            )
        )
        if self.config.klines and self.config.kline_check and gap.backfilled:
            self._spawn(self._check_klines(st, gap), f"kline-check-{st.symbol}")

    async def _heal(self, st: _SymbolState) -> None:
        """Backfill the open gap over REST until every held trade is released."""
        cfg = self.config
        if st.gap is not None and st.gap.cause == "sequence" and cfg.reorder_grace_s > 0:
            await asyncio.sleep(cfg.reorder_grace_s)
        backoff = Backoff(initial_s=0.05, max_s=cfg.backfill_retry_max_s)
        while st.gap is not None:
            try:
                page = await self.rest.agg_trades(
                    st.symbol, from_id=st.last_id + 1, limit=cfg.backfill_page
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next_delay()
                log.error("%s: backfill failed (%s); retry in %.2f s", st.symbol, exc, delay)
                await backoff.sleep(delay)
                continue
            self._merge(st, page)
            if st.gap is None:
                return
            if not page:
                # REST has nothing newer yet but a hole remains before the held trades:
                # the exchange's history lags its stream; poll again shortly.
                await backoff.sleep(backoff.next_delay())
            else:
                backoff.reset()

    def _merge(self, st: _SymbolState, page: list[Trade]) -> None:
        gap = st.gap
        last = st.last_id
        pending = st.pending
        fresh = 0
        for trade in page:
            a = trade.agg_id
            if last is not None and a <= last:
                continue
            if a not in pending:
                pending[a] = trade
                fresh += 1
        if gap is not None:
            gap.backfilled += fresh
        self.stats.backfilled += fresh
        self._advance(st)

    def _on_connected(self, link: str, first: bool) -> None:
        if link != "market":
            return
        self._market_connected_ms = self._now()
        self._market_up = True
        self._stale_links.pop("market", None)
        cause = "start" if first else "reconnect"
        for st in self._states.values():
            if st.last_id is None or st.gap is not None:
                continue
            st.syncing = cause
            self._spawn(self._probe(st, cause), f"probe-{st.symbol}")

    async def _probe(self, st: _SymbolState, cause: str) -> None:
        """After a connect, find a gap even if the market is too quiet to reveal it live."""
        await asyncio.sleep(self.config.probe_delay_s)
        if st.syncing != cause or st.gap is not None or st.last_id is None:
            return
        page: list[Trade] = []
        size = self.config.backfill_page
        try:
            while True:
                start = page[-1].agg_id + 1 if page else st.last_id + 1
                chunk = await self.rest.agg_trades(st.symbol, from_id=start, limit=size)
                page.extend(chunk)
                if len(chunk) < size or st.syncing != cause:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s: gap probe failed (%s)", st.symbol, exc)
            return
        if st.syncing != cause or st.gap is not None:
            # A live trade arrived meanwhile; the live path owns the gap (if any).
            if st.gap is not None:
                self._merge(st, page)
            return
        st.syncing = None
        page = [t for t in page if t.agg_id > st.last_id]
        if not page:
            return
        st.pending.update((t.agg_id, t) for t in page)
        first = st.last_id + 1
        self._open_gap(st, first, page[-1].agg_id, cause)
        st.gap.backfilled += len(page)  # type: ignore[union-attr]
        self.stats.backfilled += len(page)
        self._advance(st)

    # --- klines, book, mark ------------------------------------------------------------------

    def _on_kline(self, data: dict[str, Any]) -> None:
        bar = parse_kline(data)
        st = self._states.get(bar.symbol)
        if st is None:
            self.stats.ignored += 1
            return
        key = (bar.open_time_ms, data["E"])
        if key <= st.last_kline:
            self.stats.stale += 1
            return
        st.last_kline = key
        if bar.closed:
            if bar.open_time_ms in st.closed_klines:
                self.stats.duplicates += 1
                return
            self._remember_closed(st, bar)
        self._emit(bar)

    def _remember_closed(self, st: _SymbolState, bar: Bar) -> None:
        closed = st.closed_klines
        closed[bar.open_time_ms] = bar
        if len(closed) > self.config.closed_kline_memory:
            del closed[next(iter(closed))]

    async def _check_klines(self, st: _SymbolState, gap: _Gap) -> None:
        """Compare the closed klines spanning a healed gap with REST; deliver missed ones."""
        step = interval_ms(self.config.kline_interval)
        now_ms = st.exchange_time_ms
        end_open = now_ms - now_ms % step - step  # open time of the last closed bar
        start = gap.after_trade_ms - gap.after_trade_ms % step if gap.after_trade_ms else end_open
        start = max(start, end_open - step * 1000)
        if end_open < start:
            return
        try:
            bars = await self.rest.klines(
                st.symbol,
                self.config.kline_interval,
                start_ms=start,
                end_ms=end_open,
                limit=1500,
                closed_before_ms=st.exchange_time_ms,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s: kline check after gap failed (%s)", st.symbol, exc)
            return
        for bar in bars:
            if not bar.closed:
                continue
            seen = st.closed_klines.get(bar.open_time_ms)
            if seen is None:
                self.stats.missed_klines += 1
                self._remember_closed(st, bar)
                self._emit(bar)
            elif seen != bar:
                self.stats.kline_mismatches += 1
                log.error("%s: closed kline %d differs from REST", st.symbol, bar.open_time_ms)

    def _on_book(self, data: dict[str, Any], recv: int) -> None:
        tick = parse_book_ticker(data, recv)
        st = self._states.get(tick.symbol)
        if st is None:
            self.stats.ignored += 1
            return
        if tick.update_id <= st.last_book_u:
            self.stats.stale += 1
            return
        st.last_book_u = tick.update_id
        self._emit(tick)

    def _on_mark(self, data: dict[str, Any], recv: int) -> None:
        mark = parse_mark_price(data, recv)
        st = self._states.get(mark.symbol)
        if st is None:
            self.stats.ignored += 1
            return
        if mark.event_time_ms <= st.last_mark_e:
            self.stats.stale += 1
            return
        st.last_mark_e = mark.event_time_ms
        self._emit(mark)

    # --- connections -------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s died", task.get_name(), exc_info=task.exception())

    async def _open(self, url: str) -> _Socket:
        cfg = self.config
        ws = await connect(
            url,
            open_timeout=cfg.open_timeout_s,
            close_timeout=cfg.close_timeout_s,
            compression=None,
            proxy=None,
            max_size=2**22,
            max_queue=1024,
        )
        sock = _Socket(ws, asyncio.get_running_loop().time())
        self._sockets.add(sock)
        return sock

    async def _pump(self, sock: _Socket) -> None:
        loop = asyncio.get_running_loop()
        handle = self.handle_frame
        with contextlib.suppress(ConnectionClosed):
            async for raw in sock.ws:
                sock.last_frame = loop.time()
                if not sock.frames:
                    sock.delivering.set()
                sock.frames += 1
                handle(raw)

    def _start_reader(self, sock: _Socket, link: str) -> None:
        sock.reader = self._spawn(self._pump(sock), f"datastream-{link}-reader")

    async def _close(self, sock: _Socket) -> None:
        self._sockets.discard(sock)
        if sock.reader is not None:
            sock.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sock.reader
        try:
            async with asyncio.timeout(self.config.close_timeout_s):
                await sock.ws.close()
        except (TimeoutError, OSError, ConnectionClosed):
            sock.ws.transport.abort()

    async def _connect(self, link: str, url: str, backoff: Backoff) -> _Socket:
        while True:
            try:
                return await self._open(url)
            except asyncio.CancelledError:
                raise
            except InvalidURI:
                raise
            except Exception as exc:  # refused, reset, timeout, HTTP error on the handshake
                delay = backoff.next_delay()
                log.info("%s: connect failed (%s); retry in %.2f s", link, exc, delay)
                await backoff.sleep(delay)

    async def _run_link(self, link: str, url: str, silence_s: float) -> None:
        cfg = self.config
        backoff = Backoff(initial_s=cfg.reconnect_initial_s, max_s=cfg.reconnect_max_s)
        first = True
        sock: _Socket | None = None
        while True:
            if sock is None:
                sock = await self._connect(link, url, backoff)
                self.stats.connects += 1
                self._state_event(link, "connected", "" if first else "reconnected")
                self._on_connected(link, first)
                first = False
                self._start_reader(sock, link)
            reason = await self._watch(link, sock, silence_s)
            if reason == "rotate":
                sock = await self._rotate(link, url, sock)
                continue
            if reason.startswith("silent"):
                self.stats.silences += 1
                self._state_event(link, "silent", reason.partition(": ")[2])
            else:
                self._state_event(link, "disconnected", reason)
            good = sock.frames > 0
            if link == "market":
                self._market_up = False
            await self._close(sock)
            sock = None
            if good:
                backoff.reset()
            await backoff.sleep(backoff.next_delay())

    async def _watch(self, link: str, sock: _Socket, silence_s: float) -> str:
        """Wait until the socket closes, goes silent, or is due for rotation."""
        loop = asyncio.get_running_loop()
        reader = sock.reader
        assert reader is not None
        check = self.config.watchdog_check_s
        while True:
            done, _ = await asyncio.wait({reader}, timeout=check)
            if done:
                code = sock.ws.close_code
                return f"closed (code {code})"
            now = loop.time()
            if now - sock.last_frame > silence_s:
                return f"silent: no frame for {silence_s:.1f} s"
            stale = self._stale_links.pop(link, None)
            if stale is not None:
                return f"silent: {stale}"
            if now - sock.opened_at > self.config.max_connection_age_s:
                return "rotate"

    async def _rotate(self, link: str, url: str, old: _Socket) -> _Socket:
        """Open the replacement first, switch when it delivers, then close the old one."""
        try:
            new = await self._open(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: rotation connect failed (%s); keeping the old socket", link, exc)
            old.opened_at += 60.0
            return old
        self._start_reader(new, link)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.rotation_overlap_s):
                await new.delivering.wait()
        await self._close(old)
        self.stats.rotations += 1
        self._state_event(link, "connected", "rotated before the 24 h limit")
        return new

    async def _trade_watchdog(self) -> None:
        """Catch an aggTrade stream that died while the rest of /market keeps flowing."""
        limit_ms = int(self.config.trade_silence_s * 1000)
        while True:
            await asyncio.sleep(max(self.config.watchdog_check_s, limit_ms / 4000))
            now = self._now()
            for st in self._states.values():
                quiet_since = max(st.last_trade_ms, self._market_connected_ms)
                if (
                    not self._market_up
                    or st.last_id is None
                    or st.gap is not None
                    or st.syncing is not None
                    or now - quiet_since <= limit_ms
                    or "market" in self._stale_links
                ):
                    continue
                last = st.last_id
                try:
                    newer = await self.rest.agg_trades(st.symbol, from_id=last + 1, limit=1)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("%s: trade-silence probe failed (%s)", st.symbol, exc)
                    continue
                st.last_trade_ms = self._now()  # probe again only after another full period
                if newer and st.last_id == last and st.gap is None and self._market_up:
                    self._stale_links["market"] = (
                        f"{st.symbol.lower()}@aggTrade silent for {(now - quiet_since) / 1000:.1f}"
                        f" s while the exchange traded (id {newer[0].agg_id})"
                    )

    # --- checkpoint ---------------------------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_interval_s)
            changed = [
                (st.symbol, st.processed_id)
                for st in self._states.values()
                if st.processed_id is not None and st.processed_id != st.saved_id
            ]
            for symbol, agg_id in changed:
                await asyncio.to_thread(self.checkpoint.save, symbol, agg_id)
                self._states[symbol].saved_id = agg_id

    def _flush_checkpoint(self) -> None:
        for st in self._states.values():
            if st.processed_id is not None and st.processed_id != st.saved_id:
                self.checkpoint.save(st.symbol, st.processed_id)
                st.saved_id = st.processed_id
