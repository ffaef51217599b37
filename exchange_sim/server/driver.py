"""The replay driver: recorded market events -> engine, stores, market streams, user streams.

Clock choice (reference section 12, "One clock"): the exchange clock is the wall clock in the
live modes (real time, N x, max) and a test-driven `SimClock` in stepped mode. Recorded event
times are re-based onto it with `replay.timeline.TimeMap`: at speed 1 (and in stepped and max
mode) by a whole number of minutes, `exchange = data + shift`, with the shift rounded DOWN so
that data start <= now (the first < 60 s of data are published at once at start-up, which
fills the aggTrade store for REST backfill instead of making clients wait for the next minute);
at speed N, `exchange = now_at_start + (data - data_start) / N`. A python-binance client whose
timestamp is wall clock + the offset learned from `/time` therefore passes the recvWindow
check at any speed. Event times `E`/`T`, `updateTime` of the engine and kline times all come
from the re-based times.

The clock-skew fault (`Faults.clock_skew`) moves the exchange clock, so every time the exchange
stamps moves with it: stream `E`/`T` (trade times included: the matching engine stamps them with
its clock), hence REST aggTrades `T`, the bookTicker and depth times and the engine's market
times. Pacing stays on the unskewed clock: a skew changes the stamps, not when the events are
sent (as on Binance, where the client's clock is the one that differs; a skew set at run time
is a step of that one clock, trade times never going back). Kline open and close times stay on
whole intervals of the skewed clock (the trades fall into the kline of their skewed time), and
funding times stay on the recorded schedule, as Binance's own.

Max mode publishes without sleeping, as fast as subscribers drain (it pauses while any socket
has more than `MAX_BACKLOG` frames queued); its event times run ahead of the wall clock, while
`/time` and the recvWindow check stay on the wall clock (a documented compromise: a signed
request cannot be checked against a clock that runs faster than the client's).

Streams published: `<s>@aggTrade`, `<s>@bookTicker`, `<s>@depth`, `<s>@depth@100ms` and
`<s>@depth@500ms` (each recorded diff, whatever the suffix: the pu chain stays intact),
`<s>@depth5/10/20[@100ms|@500ms]` (top-N snapshot in the diff event's shape, on each recorded
diff; only with depth data),
`<s>@markPrice@1s` (every mark update) and
`<s>@markPrice` (at most every 3 s), `<s>@kline_<i>` (every 250 ms while it changes, plus the
closing `x: true` update) for every interval the KlineStore serves.
"""

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal

from exchange_sim.engine import Exchange
from exchange_sim.replay.agg_trade_store import AggTradeStore
from exchange_sim.replay.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    EventKind,
    MarketEvent,
    MarkPriceEvent,
)
from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.kline_store import INTERVAL_MS, KlineRow, KlineStore, kline_message
from exchange_sim.replay.messages import (
    agg_trade_message,
    book_ticker_message,
    depth_update_message,
    mark_price_message,
)
from exchange_sim.replay.timeline import MINUTE_MS, MarketReplay, TimeMap

from .market_state import MarketState
from .ws import WsHub

log = logging.getLogger(__name__)

MAX_BACKLOG = 20_000  # frames queued on the slowest socket before max mode pauses
MAX_BATCH_EVENTS = 500  # max mode: aim for about this many events per batch
KLINE_PUSH_MS = 250
MARK_PRICE_SLOW_MS = 3000
ENGINE_DEPTH_LEVELS = 20
ENGINE_DEPTH_INTERVAL_MS = 1000  # the engine's depth copy is refreshed at most this often


def time_map_for(replay: MarketReplay, speed: float | str, now_ms: int) -> TimeMap:
    """Data -> exchange time for a replay starting now (see the module docstring)."""
    t0 = replay.start_ms
    if isinstance(speed, float) and speed != 1.0:
        return TimeMap(t0, now_ms, speed)
    shift = (now_ms - t0) // MINUTE_MS * MINUTE_MS
    return TimeMap(t0, t0 + shift, 1.0)


class LiveMinute:
    """The current 1m kline of one symbol, folded trade by trade exactly as `KlineStore` folds
    it (integer ticks/steps), so the 250 ms `@kline_1m` updates cost no store aggregation."""

    __slots__ = (
        "c",
        "f",
        "grid",
        "h",
        "last_id",
        "lo",
        "n",
        "o",
        "open_time",
        "q",
        "symbol",
        "tbq",
        "tbv",
        "v",
    )

    def __init__(self, symbol: str, grid: WireGrid) -> None:
        self.symbol = symbol
        self.grid = grid
        self.open_time = -1

    def add(
        self, time_ms: int, price: int, qty: int, buyer_is_maker: bool, first: int, last: int
    ) -> None:
        open_time = time_ms - time_ms % MINUTE_MS
        quote = self.grid.quote_units(price, qty)
        buy = not buyer_is_maker
        if open_time != self.open_time:
            self.open_time = open_time
            self.o = self.h = self.lo = self.c = price
            self.v, self.q, self.n = qty, quote, last - first + 1
            self.tbv, self.tbq = (qty, quote) if buy else (0, 0)
            self.f, self.last_id = first, last
            return
        self.h = max(self.h, price)
        self.lo = min(self.lo, price)
        self.c = price
        self.v += qty
        self.q += quote
        self.n += last - first + 1
        if buy:
            self.tbv += qty
            self.tbq += quote
        self.last_id = last

    def row(self) -> KlineRow:
        g = self.grid
        return KlineRow(
            symbol=self.symbol,
            interval="1m",
            open_time=self.open_time,
            close_time=self.open_time + MINUTE_MS - 1,
            open=g.price_str(self.o),
            high=g.price_str(self.h),
            low=g.price_str(self.lo),
            close=g.price_str(self.c),
            volume=g.qty_str(self.v),
            quote_volume=g.quote_str(self.q),
            trade_count=self.n,
            taker_buy_volume=g.qty_str(self.tbv),
            taker_buy_quote_volume=g.quote_str(self.tbq),
            first_trade_id=self.f,
            last_trade_id=self.last_id,
            closed=False,
        )


class _Streams:
    """Pre-computed stream names of one symbol."""

    __slots__ = (
        "agg",
        "book",
        "depth",
        "depth100",
        "depth500",
        "klines",
        "mark1s",
        "mark3s",
        "partial",
    )

    def __init__(self, symbol: str) -> None:
        s = symbol.lower()
        self.agg = f"{s}@aggTrade"
        self.book = f"{s}@bookTicker"
        self.depth = f"{s}@depth"
        self.depth100 = f"{s}@depth@100ms"
        self.depth500 = f"{s}@depth@500ms"
        self.mark1s = f"{s}@markPrice@1s"
        self.mark3s = f"{s}@markPrice"
        self.klines = {i: f"{s}@kline_{i}" for i in INTERVAL_MS}
        self.partial = [
            (levels, f"{s}@depth{levels}{speed}")
            for levels in (5, 10, 20)
            for speed in ("", "@100ms", "@500ms")
        ]


class ReplayDriver:
    """Pulls `MarketReplay` events and makes them happen on the exchange (sync core + async)."""

    def __init__(
        self,
        *,
        replay: MarketReplay,
        time_map: TimeMap,
        engine: Exchange,
        hub: WsHub,
        market: MarketState,
        agg_store: AggTradeStore,
        kline_store: KlineStore,
        grids: dict[str, WireGrid],
        flush_user_events: Callable[[], int],
        skew_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        self.replay = replay
        self.time_map = time_map
        self.engine = engine
        self.hub = hub
        self.market = market
        self.agg_store = agg_store
        self.kline_store = kline_store
        self.grids = grids
        self.flush_user_events = flush_user_events
        self.skew_ms = skew_ms  # the clock-skew fault now (ms), added to every stamped time
        self.published = 0
        self.market_now_ms = time_map.to_exchange(replay.start_ms)
        self._streams = {s: _Streams(s) for s in replay.symbols}
        self._last_trade_ms: dict[str, int] = {}
        self._mark_slow_ms: dict[str, int] = {}
        self._kline_open: dict[tuple[str, str], int] = {}
        self._kline_push_ms: dict[tuple[str, str], int] = {}
        self._engine_depth_ms: dict[str, int] = {}
        self._pending_books: dict[str, tuple[BookTickerEvent, int]] = {}
        self.live_minutes = {s: LiveMinute(s, grids[s]) for s in replay.symbols}
        self._load_initial_state()

    # ---- set-up -------------------------------------------------------------------------------

    def _load_initial_state(self) -> None:
        to_ex = self._stamper()
        for symbol in self.replay.symbols:
            history = self.replay.history(symbol)
            if history is not None and len(history):
                self.kline_store.load_history(self.time_map.shift_bars(history))
            snap = self.replay.initial_depth(symbol)
            if snap is not None:
                self.market.load_depth_snapshot(
                    symbol,
                    {
                        "lastUpdateId": snap.last_update_id,
                        "E": to_ex(snap.event_time),
                        "T": to_ex(snap.transaction_time),
                        "bids": [list(level) for level in snap.bids],
                        "asks": [list(level) for level in snap.asks],
                    },
                )
                self._feed_engine_depth(symbol, to_ex(snap.transaction_time))

    # ---- the synchronous core -------------------------------------------------------------------

    def _stamper(self) -> Callable[[int], int]:
        """Data time -> the exchange time stamped on an event: re-based, plus the skew now."""
        to_ex, skew = self.time_map.to_exchange, self.skew_ms()
        if not skew:
            return to_ex
        return lambda data_ms: to_ex(data_ms) + skew

    def kline_now_ms(self, symbol: str) -> int:
        """The time the KlineStore is read at: the last published trade time of `symbol`."""
        return self._last_trade_ms.get(symbol, self.market_now_ms)

    def publish_until(self, exchange_ms: int) -> int:
        """Publish every event due at or before `exchange_ms` (the exchange clock without the
        skew: pacing ignores it); return how many."""
        return self.publish_data_until(self.time_map.to_data(exchange_ms))

    def publish_data_until(self, data_ms: int) -> int:
        """Publish every event at or before data time `data_ms`; return how many."""
        events = self.replay.events_until(data_ms)
        for ev in events:
            self._process(ev)
        self.published += len(events)
        if self._pending_books:
            self.flush_book_tickers()
        self.flush_user_events()
        return len(events)

    def _process(self, ev: MarketEvent) -> None:
        kind = ev.kind
        if kind is EventKind.BOOK_TICKER:
            self._book_ticker(ev)  # type: ignore[arg-type]
            return
        if self._pending_books:
            self.flush_book_tickers()
        if kind is EventKind.AGG_TRADE:
            self._agg_trade(ev)  # type: ignore[arg-type]
        elif kind is EventKind.DEPTH_UPDATE:
            self._depth(ev)  # type: ignore[arg-type]
        elif kind is EventKind.MARK_PRICE:
            self._mark_price(ev)  # type: ignore[arg-type]

    def _agg_trade(self, ev: AggTradeEvent) -> None:
        to_ex = self._stamper()
        e_ms = to_ex(ev.data_time_ms)
        t_ms = to_ex(ev.trade_time_ms)
        symbol = ev.symbol
        # Trade times never go back, even when the skew does; the first trade is not put
        # before the history's last kline (loaded unskewed: with a skew back in time set
        # before the start, trade times wait at its open until the skewed clock gets there).
        last = self._last_trade_ms.get(symbol)
        if last is None:
            last = self.kline_store.last_open(symbol)
        if last is not None and t_ms < last:
            t_ms = last
        self.market_now_ms = max(self.market_now_ms, e_ms)
        msg = agg_trade_message(ev, event_time_ms=e_ms, trade_time_ms=t_ms)
        grid = self.grids[symbol]
        price_ticks, qty_steps = grid.ticks_of(ev.price), grid.steps_of(ev.qty)
        self.agg_store.append(ev, trade_time_ms=t_ms, price_ticks=price_ticks, qty_steps=qty_steps)
        self.kline_store.add_trade(
            symbol,
            time_ms=t_ms,
            price_ticks=price_ticks,
            qty_steps=qty_steps,
            buyer_is_maker=ev.buyer_is_maker,
            first_trade_id=ev.first_trade_id,
            last_trade_id=ev.last_trade_id,
        )
        self.live_minutes[symbol].add(
            t_ms, price_ticks, qty_steps, ev.buyer_is_maker, ev.first_trade_id, ev.last_trade_id
        )
        self._last_trade_ms[symbol] = t_ms
        self.market.on_trade(symbol, msg["p"], t_ms)
        self.engine.on_trade_ticks(symbol, price_ticks, qty_steps, ev.buyer_is_maker, t_ms)
        self.hub.publish(self._streams[symbol].agg, msg)
        self._push_klines(symbol, t_ms)

    def _book_ticker(self, ev: BookTickerEvent) -> None:
        to_ex = self._stamper()
        e_ms = to_ex(ev.data_time_ms)
        t_ms = to_ex(ev.transaction_time_ms)
        if e_ms > self.market_now_ms:
            self.market_now_ms = e_ms
        msg = book_ticker_message(ev, event_time_ms=e_ms, transaction_time_ms=t_ms)
        self.market.book_tickers[ev.symbol] = msg
        # consecutive touches coalesce: the engine gets the latest one before anything that
        # could take liquidity (a trade, depth, mark price) and before every REST operation
        self._pending_books[ev.symbol] = (ev, t_ms)
        self.hub.publish(self._streams[ev.symbol].book, msg)

    def flush_book_tickers(self) -> None:
        """Hand the engine the latest pending bookTicker of each symbol."""
        pending = self._pending_books
        for ev, t_ms in pending.values():
            self.engine.on_book_ticker(
                ev.symbol, ev.bid_price, ev.bid_qty, ev.ask_price, ev.ask_qty, t_ms
            )
        pending.clear()

    def _depth(self, ev: DepthUpdateEvent) -> None:
        to_ex = self._stamper()
        e_ms = to_ex(ev.data_time_ms)
        t_ms = to_ex(ev.transaction_time_ms)
        self.market_now_ms = max(self.market_now_ms, e_ms)
        msg = depth_update_message(ev, event_time_ms=e_ms, transaction_time_ms=t_ms)
        self.market.on_message(msg)
        if t_ms - self._engine_depth_ms.get(ev.symbol, -ENGINE_DEPTH_INTERVAL_MS) >= (
            ENGINE_DEPTH_INTERVAL_MS
        ):
            self._feed_engine_depth(ev.symbol, t_ms)
        streams = self._streams[ev.symbol]
        self.hub.publish(streams.depth, msg)
        self.hub.publish(streams.depth100, msg)
        self.hub.publish(streams.depth500, msg)
        for levels, stream in streams.partial:
            if self.hub.has_subscribers(stream):
                bids, asks = self.market.books[ev.symbol].top(levels)
                partial = {**msg, "b": [list(b) for b in bids], "a": [list(a) for a in asks]}
                self.hub.publish(stream, partial)

    def sync_engine_depth(self) -> None:
        """Give the engine the latest depth of every symbol whose book changed (before a REST
        operation, so takers see the current book)."""
        for symbol, book in self.market.books.items():
            if book.dirty:
                self._feed_engine_depth(symbol, book.transaction_time)

    def _feed_engine_depth(self, symbol: str, time_ms: int) -> None:
        book = self.market.books.get(symbol)
        if book is None:
            return
        self._engine_depth_ms[symbol] = time_ms
        book.dirty = False
        bids, asks = book.top(ENGINE_DEPTH_LEVELS)
        self.engine.on_depth(
            symbol,
            [(Decimal(p), Decimal(q)) for p, q in bids],
            [(Decimal(p), Decimal(q)) for p, q in asks],
            time_ms,
        )

    def _mark_price(self, ev: MarkPriceEvent) -> None:
        to_ex = self._stamper()
        e_ms = to_ex(ev.data_time_ms)
        self.market_now_ms = max(self.market_now_ms, e_ms)
        next_funding = self.time_map.to_exchange(ev.next_funding_time_ms)  # a schedule: no skew
        msg = mark_price_message(ev, event_time_ms=e_ms, next_funding_time_ms=next_funding)
        self.market.on_message(msg)
        self.engine.on_mark_price(
            ev.symbol, ev.mark_price, ev.index_price, ev.funding_rate, next_funding, e_ms
        )
        streams = self._streams[ev.symbol]
        self.hub.publish(streams.mark1s, msg)
        if e_ms - self._mark_slow_ms.get(ev.symbol, -MARK_PRICE_SLOW_MS) >= MARK_PRICE_SLOW_MS:
            self._mark_slow_ms[ev.symbol] = e_ms
            self.hub.publish(streams.mark3s, msg)

    def _push_klines(self, symbol: str, now: int) -> None:
        """Kline stream updates after a trade: the closing `x: true` update of the previous
        kline when a new one opens, and at most one update per 250 ms of the current one."""
        for interval, stream in self._streams[symbol].klines.items():
            if not self.hub.has_subscribers(stream):
                continue
            key = (symbol, interval)
            iv = INTERVAL_MS[interval]
            open_time = now - now % iv
            prev_open = self._kline_open.get(key)
            rolled = prev_open is not None and prev_open != open_time
            due = now - self._kline_push_ms.get(key, -KLINE_PUSH_MS) >= KLINE_PUSH_MS
            if not (rolled or due):
                continue
            if rolled and prev_open is not None:
                closed = self.kline_store.kline(symbol, interval, prev_open, now_ms=now)
                if closed is not None:
                    self.hub.publish(stream, kline_message(closed, event_time_ms=now))
            self._kline_open[key] = open_time
            self._kline_push_ms[key] = now
            if interval == "1m":
                row: KlineRow | None = self.live_minutes[symbol].row()
            else:
                row = self.kline_store.current(symbol, interval, now_ms=now)
            if row is not None:
                self.hub.publish(stream, kline_message(row, event_time_ms=now))

    # ---- async pacing -------------------------------------------------------------------------

    def publish_start(self, exchange_ms: int) -> int:
        """Publish what is due at start-up, before the server answers its first request, so a
        client that orders the moment the exchange is up finds the book (a MARKET order sent
        right after the ready line expired unfilled when the replay task had not run yet). At
        most the first minute of data: at a huge speed far more is due at once, and
        `run_live` publishes that in batches."""
        first = self.replay.next_event_time()
        if first is None:
            return 0
        due = max(self.time_map.to_data(exchange_ms), first)
        return self.publish_data_until(min(due, first + MINUTE_MS))

    async def run_live(self, now_ms: Callable[[], int]) -> None:
        """Real time or N x: publish each event when the exchange clock reaches its time.

        What is due is published in batches of about `MAX_BATCH_EVENTS` events, yielding to
        the server between them (and, while behind, pausing for a backed-up subscriber as max
        mode does): at a huge speed (1e12) everything is due at once, which in one call never
        ended (the synthesized continuation has no end) and starved the REST server.
        """
        replay, to_ex, to_data = self.replay, self.time_map.to_exchange, self.time_map.to_data
        window_ms = 100  # data time per batch, sized as in run_max
        while True:
            nxt = replay.next_event_time()
            if nxt is None:
                return
            wait_ms = to_ex(nxt) - now_ms()
            if wait_ms > 0:
                await asyncio.sleep(min(wait_ms / 1000, 0.5))
                continue
            due, until = to_data(now_ms()), nxt + window_ms
            count = self.publish_data_until(min(due, until))
            if due > until:  # behind: more is due at once than one batch
                window_ms = _next_window(window_ms, count)
                await self.hub.wait_backlog_below(MAX_BACKLOG)
            await asyncio.sleep(0)

    async def run_max(self) -> None:
        """As fast as possible, pausing while the slowest subscriber has a large backlog.

        Each batch covers a window of data time sized so that it holds about
        `MAX_BATCH_EVENTS` events (dense recorded data and sparse synthesized data alike).
        """
        replay, to_ex, hub = self.replay, self.time_map.to_exchange, self.hub
        window_ms = 100
        while True:
            await hub.wait_backlog_below(MAX_BACKLOG)
            nxt = replay.next_event_time()
            if nxt is None:
                return
            count = self.publish_until(to_ex(nxt + window_ms))
            window_ms = _next_window(window_ms, count)
            await asyncio.sleep(0)


def _next_window(window_ms: int, count: int) -> int:
    """The data-time window of the next batch, so that it holds about `MAX_BATCH_EVENTS`."""
    if count < MAX_BATCH_EVENTS // 2:
        return min(window_ms * 2, 3_600_000)
    if count > MAX_BATCH_EVENTS * 2:
        return max(window_ms // 2, 1)
    return window_ms
