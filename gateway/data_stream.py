"""DataStream: gap-free Binance USD-M market data over websockets, parsed into `core` types.

Two combined-stream links (`gateway.stream_link`): `/market/stream?streams=` (aggTrade,
kline_1m, markPrice@1s) and `/public/stream?streams=` (bookTicker). Each reconnects with the
shared jittered backoff (reset after a connection that delivered data), is reconnected when it
goes quiet longer than its silence timeout, and is rotated before Binance's 24-hour cut by
opening the new connection first and closing the old one once the new one delivers (duplicates
are dropped).

Trades are delivered strictly in aggregate-trade-id order, each exactly once, by one
`TradeSequencer` per symbol (`gateway.trade_sequencer`, pure). A missing id (after a
reconnect, on start from the checkpointed id, or a hole in the live sequence) opens a gap:
live trades are held, the hole is backfilled over REST `aggTrades?fromId=`, merged,
de-duplicated, and everything is released in id order, bracketed by `GapDetected` and
`GapHealed`. While a gap is open `gap_open(symbol)` is True (the ExecManager blocks entries);
it is also True right after a (re)connect until the first trade (or a REST probe after
`probe_delay_s`) shows whether anything was missed. A gap is bounded: an id more than
`max_gap_trades` ahead is a *jump* (`GapCause.JUMP`), checked against REST's latest trade
within `jump_confirm_s` and then skipped to (confirmed) or discarded (bogus); a backfill that
has not finished after `max_backfill_s` releases what it holds and reports the rest skipped.
After a gap the closed klines it spanned are checked against REST; closed bars the socket
missed are delivered from REST, in open-time order: a closed kline of the live socket waits
while earlier ones may be missing (a gap or a reconnect's sync open, the check running), since
a consumer drops a bar older than one it has passed on. Malformed frames are logged, counted
and skipped.

Errors: REST and connection errors worth retrying are retried with backoff; fatal ones (an IP
ban, a bad key, an unknown symbol, a bad URL, a crash in our own frame handling) end that link
with `StreamStateChanged(state=FAILED, detail=...)` and are kept in `failures`; the consumer
must act on it (no more data comes on that link; `gap_open()` stays True once "market" failed).

Time: every wait and timer of the DataStream uses the injected `clock` (ms) and `sleep`, so a
test can drive it in simulated time.

Consumers either iterate (`async for item in stream`) or pass `sink=`; items are `Trade`,
`BookTicker`, `MarkPrice`, `Bar`, `GapDetected`, `GapHealed` and `StreamStateChanged`.
A trade counts as processed once the consumer asks for the next item (or the sink returns);
the last processed id per symbol is saved to the `StreamCheckpoint` every
`checkpoint_interval_s` and on stop, so a restart resumes without loss (at-least-once across a
kill: ids after the last save are re-delivered, none are skipped).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.backoff import Backoff, Sleep
from core.clock import Clock
from core.errors import FatalError, RejectedError, RetryableError
from core.events import GapCause, StreamState, StreamStateChanged
from core.intervals import interval_ms
from core.market import Bar, Trade
from core.repeated_lines import RepeatedLines
from gateway.checkpoint import MemoryCheckpoint, StreamCheckpoint
from gateway.market_rest import AGG_TRADES_MAX_LIMIT, MarketDataRest
from gateway.stream_link import LinkConfig, LinkEnd, LinkOutcome, StreamLink
from gateway.trade_sequencer import Gap, Offer, SequenceStats, TradeSequencer
from gateway.wire import (
    MalformedMessage,
    decode_frame,
    parse_agg_trade,
    parse_book_ticker,
    parse_kline,
    parse_mark_price,
)

log = logging.getLogger(__name__)

MARKET = "market"
PUBLIC = "public"
CHECKPOINT = "checkpoint"

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
# REST errors worth another try later (MarketDataRest has already retried the request itself).
REST_RETRYABLE = (RetryableError, OSError, TimeoutError)
# REST errors no retry can fix: IP ban (418), bad key, unknown symbol (-1121), bad parameter.
REST_FATAL = (FatalError, RejectedError)
_DELIVERED = Offer.DELIVERED
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Timing knobs (seconds) and bounds. Defaults suit mainnet; tests shrink them."""

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
    # The largest hole (in aggregate ids) worth a backfill: about 2 minutes of REST at the
    # default weight budget. An id further ahead is a jump: checked, then skipped or discarded.
    max_gap_trades: int = 200_000
    max_backfill_s: float = 300.0  # a gap not healed by then is given up (ids reported skipped)
    jump_confirm_s: float = 1.0  # how long REST may take to show a far-ahead id before it is bogus
    checkpoint_interval_s: float = 1.0
    kline_interval: str = "1m"
    book_ticker: bool = True
    mark_price: bool = True
    klines: bool = True
    kline_check: bool = True  # after a gap, compare closed klines with REST
    closed_kline_memory: int = 2000  # closed bars remembered per symbol for de-duplication


@dataclass(slots=True)
class StreamStats(SequenceStats):
    """Counters of the whole stream (the trade counters are shared with the sequencers)."""

    frames: int = 0
    malformed: int = 0
    ignored: int = 0
    stale: int = 0  # book/mark/kline updates older than one already delivered
    connects: int = 0
    silences: int = 0
    rotations: int = 0
    missed_klines: int = 0
    kline_mismatches: int = 0
    failures: int = 0


@dataclass(slots=True)
class _SymbolState:
    seq: TradeSequencer
    healer: asyncio.Task[None] | None = None
    checker: asyncio.Task[None] | None = None  # the jump check
    last_book_u: int = -1
    last_mark_e: int = -1
    last_kline: tuple[int, int] = (-1, -1)  # (open time, event time)
    closed_klines: dict[int, Bar] = field(default_factory=dict)
    # Closed klines of the live socket held while earlier ones may be missing (trades' gap
    # open, or the kline check running), so that the bars go out in open-time order.
    held_klines: list[Bar] = field(default_factory=list)
    kline_checking: bool = False
    processed_id: int | None = None
    saved_id: int | None = None


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
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not symbols:
            raise ValueError("DataStream needs at least one symbol")
        self.ws_url = ws_url.rstrip("/")
        self.rest = rest
        self.clock = clock
        self._failed_lines = RepeatedLines()  # an outage's connect failures: once a minute
        self.config = cfg = config or StreamConfig()
        interval_ms(cfg.kline_interval)
        self.checkpoint = checkpoint if checkpoint is not None else MemoryCheckpoint()
        self._checkpoint_errors: set[str] = set()  # symbols whose last save failed (said)
        self.stats = StreamStats()
        self.failures: dict[str, str] = {}  # link/task group -> why it stopped for good
        self._sink = sink
        self._sleep = sleep
        self._now_ms = clock.now_ms
        self._buffer: deque[object] = deque()  # delivered, not yet taken by the consumer
        self._waiter: asyncio.Future[None] | None = None
        self._states: dict[str, _SymbolState] = {}
        self._seqs: dict[str, TradeSequencer] = {}
        self._offers: dict[str, Callable[[Trade, int], Offer]] = {}  # the hot path's lookup
        self._klines_waiting = False  # some symbol holds closed klines (see _klines_held)
        for s in symbols:
            sym = s.upper()
            last = self.checkpoint.load(sym)
            seq = TradeSequencer(
                sym,
                last_id=last,
                emit=self._emit,
                max_gap_trades=cfg.max_gap_trades,
                stats=self.stats,
            )
            self._seqs[sym] = seq
            self._offers[sym] = seq.offer
            self._states[sym] = _SymbolState(seq, processed_id=last, saved_id=last)
        self._yielded: Trade | None = None
        self._tasks: dict[asyncio.Task[Any], str] = {}  # task -> group (a link name, ...)
        self._links: dict[str, StreamLink] = {}
        self._started = False
        self._stopping = False
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
        urls = {MARKET: f"{self.ws_url}/market/stream?streams={'/'.join(market)}"}
        if public:
            urls[PUBLIC] = f"{self.ws_url}/public/stream?streams={'/'.join(public)}"
        return urls

    def gap_open(self, symbol: str | None = None) -> bool:
        """True while trades of `symbol` (any symbol if None) may be missing or held back.

        Also True for good once the market link has failed (no trades will come).
        """
        if MARKET in self.failures:
            return True
        if symbol is None:
            return any(seq.gap_open for seq in self._seqs.values())
        return self._seqs[symbol.upper()].gap_open

    def last_delivered_id(self, symbol: str) -> int | None:
        return self._seqs[symbol.upper()].last_id

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        cfg = self.config
        for name, url in self.stream_urls().items():
            link = StreamLink(
                name=name,
                url=url,
                on_frame=self.handle_frame,
                clock=self.clock,
                sleep=self._sleep,
                config=LinkConfig(
                    silence_s=cfg.market_silence_s if name == MARKET else cfg.public_silence_s,
                    check_s=cfg.watchdog_check_s,
                    max_age_s=cfg.max_connection_age_s,
                    rotation_overlap_s=cfg.rotation_overlap_s,
                    open_timeout_s=cfg.open_timeout_s,
                    close_timeout_s=cfg.close_timeout_s,
                ),
            )
            self._links[name] = link
            self._spawn(self._run_link(link), f"datastream-{name}", name)
        self._spawn(self._checkpoint_loop(), "datastream-checkpoint", CHECKPOINT)
        if cfg.trade_silence_s > 0:
            self._spawn(self._trade_watchdog(), "datastream-trade-watchdog", MARKET)

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
        for link in self._links.values():
            link.abort()
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
            if kind == "aggTrade":  # the hot path: _on_trade inlined
                trade = parse_agg_trade(data, self._now_ms())
                offer = self._offers.get(trade.symbol)
                if offer is None:
                    self.stats.ignored += 1
                elif offer(trade, trade.recv_time_ms) is not _DELIVERED or self._klines_waiting:
                    # the sequencer's state changed, or a sync ended on the hot path with
                    # closed klines held: they may go now
                    self._react(self._states[trade.symbol])
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

    def _state_event(self, stream: str, state: StreamState, detail: str = "") -> None:
        now = self._now()
        self._emit(
            StreamStateChanged(
                event_time_ms=now, recv_time_ms=now, stream=stream, state=state, detail=detail
            )
        )

    # --- trades: sequencing, backfill, jumps ---------------------------------------------------

    def _react(self, st: _SymbolState) -> None:
        """Start what the sequencer's state now needs: a backfill, a jump check, a kline check."""
        seq = st.seq
        healed = seq.take_healed()
        if self._stopping or MARKET in self.failures:
            return
        sym = seq.symbol
        if seq.gap is not None and (st.healer is None or st.healer.done()):
            st.healer = self._spawn(self._heal(st), f"heal-{sym}", MARKET)
        if seq.jump is not None and (st.checker is None or st.checker.done()):
            st.checker = self._spawn(self._check_jump(st), f"jump-check-{sym}", MARKET)
        cfg = self.config
        # Trades fetched or skipped: bars may have closed unseen (not for a gap that live
        # frames arriving out of order closed by themselves).
        if (
            healed is not None
            and (healed.backfilled or healed.skipped)
            and cfg.klines
            and cfg.kline_check
        ):
            st.kline_checking = True
            self._spawn(self._check_klines(st, healed), f"kline-check-{sym}", MARKET)
        if st.held_klines and not self._klines_held(st):
            self._release_klines(st, [])

    async def _heal(self, st: _SymbolState) -> None:
        """Backfill the open gap over REST until every held trade is released (or time is up)."""
        seq = st.seq
        cfg = self.config
        gap = seq.gap
        if gap is not None and gap.cause is GapCause.SEQUENCE and cfg.reorder_grace_s > 0:
            await self._sleep(cfg.reorder_grace_s)
        backoff = Backoff(initial_s=0.05, max_s=cfg.backfill_retry_max_s, sleep=self._sleep)
        limit_ms = cfg.max_backfill_s * 1000
        while (gap := seq.gap) is not None:
            if self._now() - gap.started_ms >= limit_ms:
                skipped = seq.give_up(self._now())
                log.error(
                    "%s: gap %d..%d not healed within %.0f s: %d ids skipped",
                    seq.symbol,
                    gap.first,
                    gap.last,
                    cfg.max_backfill_s,
                    skipped,
                )
                self._react(st)
                continue
            assert seq.last_id is not None
            from_id = seq.last_id + 1
            left_s = (limit_ms - (self._now() - gap.started_ms)) / 1000
            try:
                page = await self._within(
                    left_s,
                    self.rest.agg_trades(seq.symbol, from_id=from_id, limit=cfg.backfill_page),
                )
            except REST_RETRYABLE as exc:
                delay = backoff.next_delay()
                log.error("%s: backfill failed (%s); retry in %.2f s", seq.symbol, exc, delay)
                await backoff.sleep(delay)
                continue
            except REST_FATAL as exc:
                self._fail(MARKET, f"{seq.symbol}: backfill: {type(exc).__name__}: {exc}")
                return
            if page is None:
                continue  # out of time: given up at the top of the loop
            seq.merge(page, self._now(), from_id=from_id)
            self._react(st)
            if seq.gap is None:
                return
            if not page:
                # REST has nothing newer yet but a hole remains before the held trades:
                # the exchange's history lags its stream; poll again shortly.
                await backoff.sleep(backoff.next_delay())
            else:
                backoff.reset()

    async def _check_jump(self, st: _SymbolState) -> None:
        """Ask REST whether the exchange really reached a far-ahead id; then resolve the jump."""
        seq = st.seq
        while (jump := seq.jump) is not None:
            log.error(
                "%s: aggTrade id %d is %d ids past the last delivered one (%s; max_gap_trades"
                " %d): checking it with REST",
                seq.symbol,
                jump.far_id,
                jump.far_id - jump.first + 1,
                seq.last_id,
                self.config.max_gap_trades,
            )
            try:
                latest = await self._latest_trade(seq.symbol, jump.far_id, jump.detected_ms)
            except REST_FATAL as exc:
                self._fail(MARKET, f"{seq.symbol}: jump check: {type(exc).__name__}: {exc}")
                return
            if seq.jump is not jump:
                continue
            verdict = seq.resolve_jump(latest, self._now())
            log.error(
                "%s: far-ahead aggTrade id %d %s (REST's latest id: %s)",
                seq.symbol,
                jump.far_id,
                verdict,
                None if latest is None else latest.agg_id,
            )
            self._react(st)

    async def _latest_trade(self, symbol: str, agg_id: int, since_ms: int) -> Trade | None:
        """REST's latest trade, polled until its id reaches `agg_id` or `jump_confirm_s` ends.

        Fatal REST errors propagate; retryable ones count as "REST could not tell".
        """
        deadline = since_ms + self.config.jump_confirm_s * 1000
        backoff = Backoff(initial_s=0.1, max_s=0.5, sleep=self._sleep)
        latest: Trade | None = None
        while True:
            # One answer is wanted even if the window has passed; REST's own retries may not
            # stretch the check much beyond it.
            left_s = max((deadline - self._now()) / 1000, 0.5)
            try:
                rows = await self._within(left_s, self.rest.agg_trades(symbol, limit=1))
            except REST_RETRYABLE as exc:
                log.warning("%s: jump check failed (%s)", symbol, exc)
            else:
                if rows:
                    latest = rows[-1]
            if (latest is not None and latest.agg_id >= agg_id) or self._now() >= deadline:
                return latest
            await backoff.sleep(backoff.next_delay())

    def _on_connected(self, link: str, first: bool, after_silence: bool) -> None:
        if link != MARKET:
            return
        self._market_connected_ms = self._now()
        self._market_up = True
        if first:
            cause = GapCause.START
        else:
            cause = GapCause.SILENCE if after_silence else GapCause.RECONNECT
        for st in self._states.values():
            if st.seq.start_sync(cause):
                self._spawn(self._probe(st, cause), f"probe-{st.seq.symbol}", MARKET)

    async def _probe(self, st: _SymbolState, cause: GapCause) -> None:
        """After a connect, find a gap even if the market is too quiet to reveal it live."""
        seq = st.seq
        cfg = self.config
        await self._sleep(cfg.probe_delay_s)
        backoff = Backoff(initial_s=0.05, max_s=cfg.backfill_retry_max_s, sleep=self._sleep)
        while seq.syncing is cause and seq.gap is None and seq.last_id is not None:
            try:
                page = await self._probe_pages(st, cause)
            except REST_RETRYABLE as exc:
                delay = backoff.next_delay()
                log.error("%s: gap probe failed (%s); retry in %.2f s", seq.symbol, exc, delay)
                await backoff.sleep(delay)
                continue
            except REST_FATAL as exc:
                self._fail(MARKET, f"{seq.symbol}: gap probe: {type(exc).__name__}: {exc}")
                return
            if page is not None:
                seq.end_sync(cause, page, self._now())
            self._react(st)
            return

    async def _probe_pages(self, st: _SymbolState, cause: GapCause) -> list[Trade] | None:
        """REST's trades after the last delivered id; None if it resynced to REST's latest."""
        seq = st.seq
        size = self.config.backfill_page
        assert seq.last_id is not None
        page: list[Trade] = []
        while True:
            start = page[-1].agg_id + 1 if page else seq.last_id + 1
            chunk = await self.rest.agg_trades(seq.symbol, from_id=start, limit=size)
            page.extend(chunk)
            if len(chunk) < size or seq.syncing is not cause:
                return page
            if len(page) == size:  # a full first page: is the hole too large to backfill?
                rows = await self.rest.agg_trades(seq.symbol, limit=1)
                last = seq.last_id
                if rows and rows[-1].agg_id - last - 1 > self.config.max_gap_trades:
                    log.error(
                        "%s: %d trades missed since id %d: too many to backfill; resuming at %d",
                        seq.symbol,
                        rows[-1].agg_id - last - 1,
                        last,
                        rows[-1].agg_id,
                    )
                    seq.resync(rows[-1], self._now())
                    return None

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
            if self._klines_held(st):
                st.held_klines.append(bar)  # after the missed ones the check will fetch
                self._klines_waiting = True
                return
        if st.held_klines:
            self._release_klines(st, [])
        self._emit(bar)

    def _klines_held(self, st: _SymbolState) -> bool:
        """Closed bars wait while the trades say bars may be missing: delivered after them, a
        bar older than one already passed on is dropped by the consumer (a hole in its bars)."""
        cfg = self.config
        return cfg.kline_check and cfg.klines and (st.seq.gap_open or st.kline_checking)

    def _release_klines(self, st: _SymbolState, missed: list[Bar]) -> None:
        """Deliver the held closed bars and `missed` (fetched over REST) in open-time order,
        unless bars may still be missing: then they all wait for the next release."""
        bars = sorted([*st.held_klines, *missed], key=lambda b: b.open_time_ms)
        if self._klines_held(st):
            st.held_klines = bars
            self._klines_waiting = bool(bars) or self._klines_waiting
            return
        st.held_klines = []
        self._klines_waiting = any(other.held_klines for other in self._states.values())
        for bar in bars:
            self._emit(bar)

    def _remember_closed(self, st: _SymbolState, bar: Bar) -> None:
        closed = st.closed_klines
        closed[bar.open_time_ms] = bar
        if len(closed) > self.config.closed_kline_memory:
            del closed[next(iter(closed))]

    async def _check_klines(self, st: _SymbolState, gap: Gap) -> None:
        """Compare the closed klines spanning a healed gap with REST; deliver missed ones,
        with the live ones held meanwhile, in open-time order."""
        missed: list[Bar] = []
        try:
            await self._fetch_missed_klines(st, gap, missed)
        finally:
            st.kline_checking = False
            if not self._stopping:
                self._release_klines(st, missed)

    async def _fetch_missed_klines(self, st: _SymbolState, gap: Gap, missed: list[Bar]) -> None:
        seq = st.seq
        step = interval_ms(self.config.kline_interval)
        now_ms = seq.exchange_time_ms
        end_open = now_ms - now_ms % step - step  # open time of the last closed bar
        start = gap.after_trade_ms - gap.after_trade_ms % step if gap.after_trade_ms else end_open
        start = max(start, end_open - step * 1000)
        if end_open < start:
            return
        try:
            bars = await self.rest.klines(
                seq.symbol,
                self.config.kline_interval,
                start_ms=start,
                end_ms=end_open,
                limit=1500,
                closed_before_ms=seq.exchange_time_ms,
            )
        except REST_RETRYABLE as exc:
            log.error("%s: kline check after gap failed (%s)", seq.symbol, exc)
            return
        except REST_FATAL as exc:
            self._fail(MARKET, f"{seq.symbol}: kline check: {type(exc).__name__}: {exc}")
            return
        for bar in bars:
            if not bar.closed:
                continue
            seen = st.closed_klines.get(bar.open_time_ms)
            if seen is None:
                self.stats.missed_klines += 1
                self._remember_closed(st, bar)
                missed.append(bar)
            elif seen != bar:
                self.stats.kline_mismatches += 1
                log.error("%s: closed kline %d differs from REST", seq.symbol, bar.open_time_ms)

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

    # --- tasks and failures --------------------------------------------------------------------

    async def _within(self, seconds: float, call: Coroutine[Any, Any, _T]) -> _T | None:
        """`await call`, unless `seconds` (injected sleep) pass first: then cancel it, None."""
        task = asyncio.ensure_future(call)
        tick = asyncio.ensure_future(self._sleep(max(seconds, 0.0)))
        try:
            await asyncio.wait({task, tick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tick.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            return None
        return task.result()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str, group: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[task] = group
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        group = self._tasks.pop(task, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("task %s died", task.get_name(), exc_info=exc)
        if group is not None and not self._stopping:
            self._fail(group, f"internal error in {task.get_name()}: {type(exc).__name__}: {exc}")

    def _fail(self, group: str, detail: str) -> None:
        """A fatal error: stop `group` (a link and what depends on it) and tell the consumer."""
        if group in self.failures:
            return
        self.failures[group] = detail
        self.stats.failures += 1
        log.error("%s stream failed: %s", group, detail)
        self._state_event(group, StreamState.FAILED, detail)
        current = asyncio.current_task()
        for task, task_group in list(self._tasks.items()):
            if task_group == group and task is not current:
                task.cancel()
        link = self._links.get(group)
        if link is not None:
            link.abort()
        if group == MARKET:
            self._market_up = False

    # --- connections -------------------------------------------------------------------------

    async def _run_link(self, link: StreamLink) -> None:
        """Keep `link` connected: reconnect with backoff, rotate, give up only on a fatal error."""
        cfg = self.config
        backoff = Backoff(
            initial_s=cfg.reconnect_initial_s, max_s=cfg.reconnect_max_s, sleep=self._sleep
        )
        name = link.name
        first = True
        after_silence = False
        while True:
            end = await link.open()
            if end is not None:
                if end.outcome is LinkOutcome.FAILED:
                    self._fail(name, end.detail)
                    return
                delay = backoff.next_delay()
                self._failed_lines.say(
                    log,
                    logging.INFO,
                    name,
                    self.clock.now_ms(),
                    "%s: connect failed (%s); retry in %.2f s",
                    name,
                    end.detail,
                    delay,
                )
                await backoff.sleep(delay)
                continue
            self.stats.connects += 1
            self._failed_lines.clear(name)
            self._state_event(name, StreamState.CONNECTED, "" if first else "reconnected")
            self._on_connected(name, first, after_silence)
            first = False
            end = await self._watch(link)
            if end.outcome is LinkOutcome.FAILED:
                self._fail(name, end.detail)
                await link.close()
                return
            if end.outcome is LinkOutcome.SILENT:
                self.stats.silences += 1
                self._state_event(name, StreamState.SILENT, end.detail)
            else:
                self._state_event(name, StreamState.DISCONNECTED, end.detail)
            after_silence = end.outcome is LinkOutcome.SILENT
            good = link.delivered
            if name == MARKET:
                self._market_up = False
            await link.close()
            if good:
                backoff.reset()
            await backoff.sleep(backoff.next_delay())

    async def _watch(self, link: StreamLink) -> LinkEnd:
        """Watch the link, rotating it when due; returns when the connection must be replaced."""
        while True:
            end = await link.watch()
            if end.outcome is not LinkOutcome.ROTATE:
                return end
            failure = await link.rotate()
            if failure is None:
                self.stats.rotations += 1
                self._state_event(link.name, StreamState.CONNECTED, "rotated before the 24 h limit")
            elif failure.outcome is LinkOutcome.FAILED:
                return failure

    async def _trade_watchdog(self) -> None:
        """Catch an aggTrade stream that died while the rest of /market keeps flowing."""
        cfg = self.config
        limit_ms = int(cfg.trade_silence_s * 1000)
        market = self._links[MARKET]
        while True:
            await self._sleep(max(cfg.watchdog_check_s, limit_ms / 4000))
            now = self._now()
            for seq in self._seqs.values():
                quiet_since = max(seq.last_live_ms, self._market_connected_ms)
                if (
                    not self._market_up
                    or seq.last_id is None
                    or seq.gap_open
                    or now - quiet_since <= limit_ms
                    or market.flagged
                ):
                    continue
                last = seq.last_id
                try:
                    newer = await self.rest.agg_trades(seq.symbol, from_id=last + 1, limit=1)
                except REST_RETRYABLE as exc:
                    log.warning("%s: trade-silence probe failed (%s)", seq.symbol, exc)
                    continue
                except REST_FATAL as exc:
                    self._fail(MARKET, f"{seq.symbol}: trade-silence probe: {exc}")
                    return
                seq.last_live_ms = self._now()  # probe again only after another full period
                if newer and seq.last_id == last and seq.gap is None and self._market_up:
                    market.flag_silent(
                        f"{seq.symbol.lower()}@aggTrade silent for {(now - quiet_since) / 1000:.1f}"
                        f" s while the exchange traded (id {newer[0].agg_id})"
                    )

    # --- checkpoint ---------------------------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        while True:
            await self._sleep(self.config.checkpoint_interval_s)
            changed = [
                (sym, st.processed_id)
                for sym, st in self._states.items()
                if st.processed_id is not None and st.processed_id != st.saved_id
            ]
            for symbol, agg_id in changed:
                try:
                    await asyncio.to_thread(self.checkpoint.save, symbol, agg_id)
                except OSError as exc:  # e.g. disk full: keep going, try again next time
                    self._checkpoint_failed(symbol, exc)
                    continue
                self._checkpoint_errors.discard(symbol)
                self._states[symbol].saved_id = agg_id

    def _flush_checkpoint(self) -> None:
        """The last ids, saved at the stop. A full disk must not end the stop here (the
        cancels and the closing summary come after it): the next start then backfills from
        the last checkpoint that was saved, which delivers again what was processed since
        (at-least-once, as after a crash)."""
        for sym, st in self._states.items():
            if st.processed_id is not None and st.processed_id != st.saved_id:
                try:
                    self.checkpoint.save(sym, st.processed_id)
                except OSError as exc:
                    self._checkpoint_failed(sym, exc)
                    continue
                st.saved_id = st.processed_id

    def _checkpoint_failed(self, symbol: str, exc: OSError) -> None:
        """Said once per symbol until a save succeeds again (every second, a full disk
        filled the log too)."""
        if symbol not in self._checkpoint_errors:
            self._checkpoint_errors.add(symbol)
            log.error("%s: checkpoint save failed (%s); retried every second", symbol, exc)
