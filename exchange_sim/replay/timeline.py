"""One time-ordered stream of market events from a data set, and data time <-> exchange time.

`MarketReplay` merges every source of the chosen symbols (aggTrades built from recorded trades,
bookTicker, depth diffs after the recorded snapshot, recorded or derived mark prices) into one
stream ordered by recorded event time `E` (ties: capture receive time, then kind). A driver
pulls "everything up to data time t" with `events_until(t)`, or the next instant with `step()`.
It is pure and synchronous; the server's async driver owns sleeping and publishing.

Long runs: when the recorded capture ends, each symbol continues with trades synthesized from
the bundled real 1m klines (`synth`), starting at the next whole minute, moved by a whole
number of ticks so the first synthesized bar opens at the last recorded price. When the kline
week is used up it plays again from its first bar, alternately mirrored and forward
(`KlineLoop`): a mirrored pass maps every price p to K - p (high and low swap; volumes, times
and bar shapes stay the real ones), with K chosen so the pass opens exactly at the previous
close. A mirrored pass undoes the forward pass's drift tick for tick, so the drift never
accumulates: however long the run, prices stay inside the week's own range (anchored at the
start price) or its mirror image, and every 24 hours is a real day or the mirror image of one.
Before, each loop was only shifted to start at the last price and a week's +10 % trend repeated
every loop (BTCUSDT 70,279 -> 150,465 within minutes at max speed). Trade ids,
aggregate ids and bookTicker update ids continue strictly increasing; nothing is ever reused.
Synthesized events carry `synthesized=True`; mark prices computed by the replay `derived=True`.
Recorded depth diffs stop with the capture (the exchange's own book takes over).

Kline history: the minutes before the replay start that `KlineStore` should serve. For the
kline data set these are its first `kline_history_minutes` real bars; for recorded data sets,
the last `history_minutes` bars of the kline week moved in time and price to end just before
the capture's first minute at its first price (real bar shapes, synthesized placement).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import partial

import numpy as np

from exchange_sim.replay.aggregate import DEFAULT_FIRST_AGG_ID, aggregate_trades
from exchange_sim.replay.catalog import Dataset
from exchange_sim.replay.derive import (
    DEFAULT_FUNDING_RATE,
    book_ticker_from_trades,
    derive_mark_prices,
)
from exchange_sim.replay.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    MarketEvent,
    MarkPriceEvent,
)
from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.synth import SynthConfig, synthesize_trades, with_details
from exchange_sim.replay.tapes import (
    AggTradeTape,
    BookTickerTape,
    DepthSnapshot,
    DepthUpdate,
    KlineBars,
    MarkPriceTape,
    TradeTape,
)

MINUTE_MS = 60_000
DEFAULT_HISTORY_MINUTES = 1440
DEFAULT_CHUNK_MINUTES = 60
# first ids of kline-only data sets (no recorded ids to continue from); chosen, not real ids
FIRST_SYNTH_TRADE_ID = 6_000_000_000
FIRST_SYNTH_BOOK_ID = 7_000_000_000_000
# same-time tie order: book changes first, then the trade, then the mark price
_RANK = {"depthUpdate": 0, "bookTicker": 1, "aggTrade": 2, "markPriceUpdate": 3}


class ReplayMode(StrEnum):
    """How a driver paces the replay (the iteration API is the same for all three).

    REALTIME: publish `events_until(time_map.to_data(clock_now))` as the clock passes
              `time_map.to_exchange(next_event_time())` (speed from the TimeMap).
    AFAP:     as fast as possible: set the simulated clock to the next event's exchange time
              and publish `step()`, without sleeping.
    STEPPED:  tests move the clock themselves and call `events_until(...)`.
    """

    REALTIME = "realtime"
    AFAP = "afap"
    STEPPED = "stepped"


@dataclass(frozen=True, slots=True)
class TimeMap:
    """Data time (recorded) <-> exchange time: exchange = start + (data - t0) / speed.

    With speed 1 and a whole-minute shift (`aligned`) kline boundaries of the recording stay
    kline boundaries on the exchange clock.
    """

    data_start_ms: int
    exchange_start_ms: int
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")

    @classmethod
    def aligned(cls, data_start_ms: int, now_ms: int, speed: float = 1.0) -> "TimeMap":
        """Start at the first exchange time >= now_ms that is a whole number of minutes after
        data_start_ms (so minute boundaries of data and exchange time coincide)."""
        shift = -(-(now_ms - data_start_ms) // MINUTE_MS) * MINUTE_MS
        return cls(data_start_ms, data_start_ms + shift, speed)

    @property
    def shift_ms(self) -> int:
        """exchange - data time at the start (the whole shift when speed == 1)."""
        return self.exchange_start_ms - self.data_start_ms

    def to_exchange(self, data_ms: int) -> int:
        if self.speed == 1.0:
            return data_ms + self.shift_ms
        return self.exchange_start_ms + int((data_ms - self.data_start_ms) // self.speed)

    def to_data(self, exchange_ms: int) -> int:
        if self.speed == 1.0:
            return exchange_ms - self.shift_ms
        return self.data_start_ms + int((exchange_ms - self.exchange_start_ms) * self.speed)

    def shift_bars(self, bars: KlineBars) -> KlineBars:
        """History bars in exchange time: moved by the shift rounded down to whole minutes."""
        return bars.shifted(time_ms=self.shift_ms - self.shift_ms % MINUTE_MS)


@dataclass(frozen=True, slots=True)
class _Stream:
    times: np.ndarray  # data time used for ordering
    tie: np.ndarray  # secondary key (capture receive ns, 0 if none)
    rank: int
    make: Callable[[int], MarketEvent]


class _Segment:
    """Merged, ordered events of several streams over one stretch of data time."""

    def __init__(self, streams: list[_Stream], start_ms: int) -> None:
        streams = [s for s in streams if len(s.times)]
        self.streams = streams
        if not streams:
            self.times = np.zeros(0, dtype=np.int64)
            self.src = self.row = self.times
        else:
            times = np.concatenate([s.times for s in streams])
            tie = np.concatenate([s.tie for s in streams])
            rank = np.concatenate([np.full(len(s.times), s.rank) for s in streams])
            src = np.concatenate([np.full(len(s.times), i) for i, s in enumerate(streams)])
            row = np.concatenate([np.arange(len(s.times)) for s in streams])
            order = np.lexsort((row, src, rank, tie, times))
            keep = times[order] >= start_ms
            order = order[keep]
            self.times, self.src, self.row = times[order], src[order], row[order]
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.times) - self.pos

    def take_until(self, data_ms: int) -> list[MarketEvent]:
        end = int(np.searchsorted(self.times, data_ms, side="right"))
        out = [
            self.streams[self.src[i]].make(int(self.row[i]))
            for i in range(self.pos, max(end, self.pos))
        ]
        self.pos = max(end, self.pos)
        return out


def _agg_stream(grid: WireGrid, aggs: AggTradeTape) -> _Stream:
    price, qty, sym, syn = grid.price, grid.qty, aggs.symbol, aggs.synthesized

    def make(i: int) -> AggTradeEvent:
        return AggTradeEvent(
            symbol=sym,
            data_time_ms=int(aggs.event_time[i]),
            agg_id=int(aggs.agg_id[i]),
            price=price(aggs.price[i]),
            qty=qty(aggs.qty[i]),
            first_trade_id=int(aggs.first_trade_id[i]),
            last_trade_id=int(aggs.last_trade_id[i]),
            trade_time_ms=int(aggs.time[i]),
            buyer_is_maker=bool(aggs.buyer_maker[i]),
            synthesized=syn,
        )

    return _Stream(aggs.event_time, aggs.recv_time_ns, _RANK["aggTrade"], make)


def _book_stream(grid: WireGrid, book: BookTickerTape) -> _Stream:
    price, qty, sym, syn = grid.price, grid.qty, book.symbol, book.synthesized

    def make(i: int) -> BookTickerEvent:
        return BookTickerEvent(
            symbol=sym,
            data_time_ms=int(book.event_time[i]),
            update_id=int(book.update_id[i]),
            bid_price=price(book.bid_price[i]),
            bid_qty=qty(book.bid_qty[i]),
            ask_price=price(book.ask_price[i]),
            ask_qty=qty(book.ask_qty[i]),
            transaction_time_ms=int(book.transaction_time[i]),
            synthesized=syn,
        )

    # a synthesized quote is derived from the trade at the same ms: order it after that trade
    tie = np.ones(len(book), dtype=np.int64) if syn else book.recv_time_ns
    return _Stream(book.event_time, tie, _RANK["bookTicker"], make)


def _depth_stream(updates: list[DepthUpdate]) -> _Stream:
    def make(i: int) -> DepthUpdateEvent:
        u = updates[i]
        return DepthUpdateEvent(
            symbol=u.symbol,
            data_time_ms=u.event_time,
            transaction_time_ms=u.transaction_time,
            first_update_id=u.first_update_id,
            final_update_id=u.final_update_id,
            prev_final_update_id=u.prev_final_update_id,
            bids=u.bids,
            asks=u.asks,
        )

    times = np.array([u.event_time for u in updates], dtype=np.int64)
    tie = np.array([u.recv_time_ns for u in updates], dtype=np.int64)
    return _Stream(times, tie, _RANK["depthUpdate"], make)


def _mark_stream(marks: MarkPriceTape) -> _Stream:
    def make(i: int) -> MarkPriceEvent:
        return MarkPriceEvent(
            symbol=marks.symbol,
            data_time_ms=int(marks.event_time[i]),
            mark_price=marks.mark_price[i],
            index_price=marks.index_price[i],
            settle_price=marks.settle_price[i],
            funding_rate=marks.funding_rate[i],
            next_funding_time_ms=int(marks.next_funding_time[i]),
            derived=marks.derived,
        )

    return _Stream(marks.event_time, marks.recv_time_ns, _RANK["markPriceUpdate"], make)


def applicable_depth(snapshot: DepthSnapshot, updates: list[DepthUpdate]) -> list[DepthUpdate]:
    """The diffs to apply after a snapshot (section 9): drop u < lastUpdateId; the first kept
    must have U <= lastUpdateId <= u. Raises ValueError if the snapshot is too old."""
    last = snapshot.last_update_id
    kept = [u for u in updates if u.final_update_id >= last]
    if kept and kept[0].first_update_id > last:
        raise ValueError(f"{snapshot.symbol}: depth snapshot {last} is older than the diffs")
    return kept


@dataclass
class KlineLoop:
    """Endless 1m bars from a finite source, played forward, mirrored, forward, ... (ticks).

    Pass 1 plays `bars[first_bar:]` moved by `offset` ticks; every later pass plays the whole
    source, mirrored (price p -> offset - p, high and low swapped) on even passes and forward
    (p -> offset + p) on odd ones, each anchored so its first bar opens at the previous close.
    Forward then mirrored returns to the price the forward pass started from, exactly.
    """

    bars: KlineBars  # the source 1m bars (detailless OK)
    next_bar: int
    offset: int
    last_price: int
    mirrored: bool = False

    @classmethod
    def anchored(cls, bars: KlineBars, *, first_bar: int, price: int | None) -> "KlineLoop":
        """Play from `first_bar`, moved so that bar opens at `price` (ticks; None: unmoved)."""
        if len(bars) == 0:
            raise ValueError(f"{bars.symbol}: no kline bars to continue from")
        first_bar = min(first_bar, len(bars))
        start = int(bars.open[first_bar]) if first_bar < len(bars) else int(bars.close[-1])
        price = start if price is None else price
        return cls(bars=bars, next_bar=first_bar, offset=price - start, last_price=price)

    def take(self, start_ms: int, minutes: int) -> list[KlineBars]:
        """The next `minutes` bars as consecutive runs, the first opening at `start_ms`."""
        bars = self.bars
        parts: list[KlineBars] = []
        cursor = start_ms
        while minutes:
            if self.next_bar >= len(bars):  # the source is used up: play it again, reflected
                self.next_bar = 0
                self.mirrored = not self.mirrored
                first = int(bars.open[0])
                self.offset = self.last_price + (first if self.mirrored else -first)
            take = min(minutes, len(bars) - self.next_bar)
            src = bars.take(slice(self.next_bar, self.next_bar + take))
            shift_ms = cursor - int(src.open_time[0])
            if self.mirrored:
                moved = _mirrored(src, self.offset).shifted(time_ms=shift_ms)
            else:
                moved = src.shifted(time_ms=shift_ms, price_ticks=self.offset)
            if int(moved.low.min()) <= 0:
                raise ValueError(f"{bars.symbol}: price offset {self.offset} leaves the price grid")
            parts.append(moved)
            self.next_bar += take
            cursor += take * MINUTE_MS
            minutes -= take
            self.last_price = int(moved.close[-1])
        return parts


def _mirrored(bars: KlineBars, total: int) -> KlineBars:
    """Bars with every price p replaced by total - p (high and low swap; volumes unchanged;
    the taker sides swap, so the taker-buy volume becomes the taker-sell volume)."""
    no_quote = np.full_like(bars.quote_volume, -1)
    tbv = bars.taker_buy_volume
    return KlineBars(
        symbol=bars.symbol,
        interval_ms=bars.interval_ms,
        open_time=bars.open_time,
        open=total - bars.open,
        high=total - bars.low,
        low=total - bars.high,
        close=total - bars.close,
        volume=bars.volume,
        quote_volume=no_quote,
        trade_count=bars.trade_count,
        taker_buy_volume=np.where(tbv >= 0, bars.volume - tbv, -1),
        taker_buy_quote_volume=no_quote,
    )


@dataclass
class _Continuation:
    """Per-symbol state of the synthesized continuation."""

    loop: KlineLoop
    next_trade_id: int
    next_agg_id: int
    next_book_id: int


class MarketReplay:
    """Merged market events of a data set, pulled by data time. Not thread-safe.

    `start_ms` (data time): events before it are skipped; default: the latest recorded depth
    snapshot time (so the book snapshot and the stream agree), else the first event, and for
    kline-only data sets the first bar after the kline history.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        symbols: tuple[str, ...] | None = None,
        start_ms: int | None = None,
        first_agg_id: int = DEFAULT_FIRST_AGG_ID,
        synth: SynthConfig = SynthConfig(),
        continue_with_klines: bool = True,
        default_funding_rate: Decimal = DEFAULT_FUNDING_RATE,
        history_minutes: int = DEFAULT_HISTORY_MINUTES,
        chunk_minutes: int = DEFAULT_CHUNK_MINUTES,
    ) -> None:
        self.dataset = dataset
        self.symbols = tuple(symbols or dataset.symbols)
        unknown = set(self.symbols) - set(dataset.symbols)
        if unknown:
            raise ValueError(f"symbols {sorted(unknown)} are not in data set {dataset.name}")
        self.synth = synth
        self._default_rate = default_funding_rate
        self._chunk = chunk_minutes
        self._first_agg_id = first_agg_id
        # symbol -> zero-argument builder; built on first `history()` call (synthesis costs)
        self._history_src: dict[str, Callable[[], KlineBars]] = {}
        self._history: dict[str, KlineBars] = {}
        self._cont: dict[str, _Continuation] = {}
        self._history_minutes = history_minutes
        recorded = [s for s in self.symbols if s in dataset.trades]
        if recorded:
            first = self._build_recorded(recorded, start_ms)
        else:
            first = self._start_kline_only(start_ms)
        self.start_ms = first.times[0] if first.remaining else self._cursor_ms
        self.start_ms = int(self.start_ms)
        self._segments: Iterator[_Segment] = self._segment_iter(first, continue_with_klines)
        self._current: _Segment | None = next(self._segments)

    # --- public API -------------------------------------------------------------------------

    def next_event_time(self) -> int | None:
        """Data time of the next event, or None when the replay is exhausted."""
        seg = self._advance()
        return None if seg is None else int(seg.times[seg.pos])

    def events_until(self, data_time_ms: int) -> list[MarketEvent]:
        """Every not yet returned event with data time <= data_time_ms, in order."""
        out: list[MarketEvent] = []
        while (seg := self._advance()) is not None and seg.times[seg.pos] <= data_time_ms:
            out.extend(seg.take_until(data_time_ms))
        return out

    def step(self) -> list[MarketEvent]:
        """All events at the next event time (empty when exhausted)."""
        t = self.next_event_time()
        return [] if t is None else self.events_until(t)

    @property
    def exhausted(self) -> bool:
        return self._advance() is None

    def initial_depth(self, symbol: str) -> DepthSnapshot | None:
        """The recorded REST depth snapshot the replayed diffs continue from (None if none)."""
        return self.dataset.snapshots.get(symbol) if symbol in self.symbols else None

    def history(self, symbol: str) -> KlineBars | None:
        """Detailed 1m bars (data time) before `start_ms` for KlineStore.load_history."""
        if symbol not in self._history and symbol in self._history_src:
            self._history[symbol] = self._history_src[symbol]()
        return self._history.get(symbol)

    # --- construction -----------------------------------------------------------------------

    def _build_recorded(self, symbols: list[str], start_ms: int | None) -> _Segment:
        ds = self.dataset
        streams: list[_Stream] = []
        depth_first: list[int] = []
        for sym in symbols:
            if sym in ds.snapshots:
                updates = applicable_depth(ds.snapshots[sym], ds.depth_updates.get(sym, []))
                if updates:
                    streams.append(_depth_stream(updates))
                    depth_first.append(updates[0].event_time)
        snap_times = [ds.snapshots[s].event_time for s in symbols if s in ds.snapshots]
        if start_ms is None:
            start_ms = max(snap_times) if snap_times else None
            if start_ms is not None and depth_first:
                start_ms = min(start_ms, min(depth_first))
        end_ms = 0
        aggs_by_sym: dict[str, AggTradeTape] = {}
        for sym in symbols:
            aggs = aggregate_trades(ds.trades[sym], self._first_agg_id)
            aggs_by_sym[sym] = aggs
            streams.append(_agg_stream(ds.grids[sym], aggs))
            end_ms = max(end_ms, int(aggs.event_time[-1]) if len(aggs) else 0)
            if sym in ds.book_ticker:
                streams.append(_book_stream(ds.grids[sym], ds.book_ticker[sym]))
                end_ms = max(end_ms, int(ds.book_ticker[sym].event_time[-1]))
        if start_ms is None:
            start_ms = min(int(s.times[0]) for s in streams if len(s.times))
        for sym in symbols:
            if sym in ds.marks:
                streams.append(_mark_stream(ds.marks[sym]))
            else:
                streams.append(
                    _mark_stream(
                        derive_mark_prices(
                            ds.grids[sym],
                            start_ms=start_ms,
                            end_ms=end_ms,
                            trades=aggs_by_sym[sym],
                            book=ds.book_ticker.get(sym),
                            funding=ds.funding.get(sym),
                            default_rate=self._default_rate,
                        )
                    )
                )
        self._cursor_ms = -(-(end_ms + 1) // MINUTE_MS) * MINUTE_MS  # next whole minute
        first_minute = start_ms - start_ms % MINUTE_MS
        for sym in symbols:
            aggs = aggs_by_sym[sym]
            trades = ds.trades[sym]
            book = ds.book_ticker.get(sym)
            bars = ds.klines.get(sym)
            if bars is None or len(aggs) == 0:
                continue
            self._cont[sym] = _Continuation(
                loop=KlineLoop.anchored(bars, first_bar=0, price=int(aggs.price[-1])),
                next_trade_id=int(trades.trade_id[-1]) + 1,
                next_agg_id=int(aggs.agg_id[-1]) + 1,
                next_book_id=(int(book.update_id[-1]) if book is not None else 0) + 10,
            )
            if self._history_minutes > 0:
                self._history_src[sym] = partial(
                    self._recorded_history, sym, bars, first_minute, aggs, start_ms
                )
        return _Segment(streams, start_ms)

    def _recorded_history(
        self, sym: str, bars: KlineBars, first_minute: int, aggs: AggTradeTape, start_ms: int
    ) -> KlineBars:
        n = min(self._history_minutes, len(bars))
        src = bars.take(slice(len(bars) - n, len(bars)))
        live = np.flatnonzero(aggs.event_time >= start_ms)
        first_price = int(aggs.price[live[0]]) if len(live) else int(aggs.price[0])
        moved = src.shifted(
            time_ms=first_minute - n * MINUTE_MS - int(src.open_time[0]),
            price_ticks=first_price - int(src.close[-1]),
        )
        return with_details(moved, self.dataset.grids[sym], config=self.synth)

    def _start_kline_only(self, start_ms: int | None) -> _Segment:
        ds = self.dataset
        hist = ds.spec.kline_history_minutes
        for sym in self.symbols:
            bars = ds.klines[sym]
            k = hist
            if start_ms is not None:
                k = int(np.searchsorted(bars.open_time, start_ms - start_ms % MINUTE_MS))
            if k > 0:
                self._history_src[sym] = partial(
                    with_details, bars.take(slice(0, k)), ds.grids[sym], config=self.synth
                )
            self._cont[sym] = _Continuation(
                loop=KlineLoop.anchored(bars, first_bar=k, price=None),
                next_trade_id=FIRST_SYNTH_TRADE_ID,
                next_agg_id=self._first_agg_id,
                next_book_id=FIRST_SYNTH_BOOK_ID,
            )
        loop0 = self._cont[self.symbols[0]].loop
        self._cursor_ms = int(loop0.bars.open_time[min(loop0.next_bar, len(loop0.bars) - 1)])
        return _Segment([], self._cursor_ms)

    # --- segments ---------------------------------------------------------------------------

    def _advance(self) -> _Segment | None:
        while self._current is not None and self._current.remaining == 0:
            self._current = next(self._segments, None)
        return self._current

    def _segment_iter(self, first: _Segment, cont: bool) -> Iterator[_Segment]:
        yield first
        if not cont or not self._cont:
            return
        while True:
            yield self._synth_chunk()

    def _synth_chunk(self) -> _Segment:
        """The next `chunk_minutes` of synthesized data for every continuing symbol."""
        start = self._cursor_ms
        end = start + self._chunk * MINUTE_MS - 1
        streams: list[_Stream] = []
        for sym, c in self._cont.items():
            grid = self.dataset.grids[sym]
            parts = c.loop.take(start, self._chunk)
            trades = _concat_synth(parts, first_trade_id=c.next_trade_id, config=self.synth)
            if len(trades) == 0:
                continue
            c.next_trade_id = int(trades.trade_id[-1]) + 1
            aggs = aggregate_trades(trades, c.next_agg_id)
            c.next_agg_id = int(aggs.agg_id[-1]) + 1
            book = book_ticker_from_trades(
                aggs, first_update_id=c.next_book_id, seed=self.synth.seed
            )
            c.next_book_id = int(book.update_id[-1]) + 10
            marks = derive_mark_prices(
                grid,
                start_ms=start,
                end_ms=end,
                trades=aggs,
                book=book,
                funding=self.dataset.funding.get(sym),
                default_rate=self._default_rate,
            )
            streams += [_agg_stream(grid, aggs), _book_stream(grid, book), _mark_stream(marks)]
        self._cursor_ms = end + 1
        return _Segment(streams, start)


def _concat_synth(parts: list[KlineBars], *, first_trade_id: int, config: SynthConfig) -> TradeTape:
    """Synthesized trades of consecutive bar runs with continuous trade ids."""
    tapes = []
    next_id = first_trade_id
    for bars in parts:
        tape = synthesize_trades(bars, first_trade_id=next_id, config=config)
        if len(tape):
            next_id = int(tape.trade_id[-1]) + 1
        tapes.append(tape)
    if len(tapes) == 1:
        return tapes[0]
    return TradeTape(
        symbol=tapes[0].symbol,
        **{
            f: np.concatenate([getattr(t, f) for t in tapes])
            for f in (
                "trade_id",
                "price",
                "qty",
                "time",
                "event_time",
                "buyer_maker",
                "trade_type",
                "recv_time_ns",
            )
        },
        synthesized=True,
    )
