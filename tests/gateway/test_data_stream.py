"""DataStream against a real loopback server (tests/gateway/fake_exchange.py).

Each test drives the server step by step and checks what the consumer sees: trades strictly in
aggregate-id order, exactly once, with gaps announced and healed.
"""

import asyncio
import contextlib
import json
from typing import Any

import pytest

from core.clock import LiveClock
from core.events import GapCause, GapDetected, GapHealed, StreamState, StreamStateChanged
from core.market import Bar, BookTicker, MarkPrice, Trade
from gateway.checkpoint import FileCheckpoint, MemoryCheckpoint
from gateway.data_stream import DataStream, StreamConfig
from gateway.market_rest import MarketDataRest
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades, wait_for

FAST = StreamConfig(
    market_silence_s=1.0,
    public_silence_s=30.0,
    watchdog_check_s=0.05,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.2,
    probe_delay_s=0.2,
    reorder_grace_s=0.05,
    checkpoint_interval_s=0.1,
    book_ticker=False,
    kline_check=False,
)


class Consumer:
    """Iterates a DataStream in the background and keeps what it saw."""

    def __init__(self, stream: DataStream) -> None:
        self.stream = stream
        self.items: list[Any] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.stream:
            self.items.append(item)

    def trade_ids(self) -> list[int]:
        return [i.agg_id for i in self.items if isinstance(i, Trade)]

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def fake():
    async with FakeBinance(load_agg_trades()) as server:
        yield server


@contextlib.asynccontextmanager
async def running(fake: FakeBinance, config: StreamConfig = FAST, checkpoint=None):
    clock = LiveClock()
    rest = MarketDataRest(fake.base_url, clock=clock)
    stream = DataStream(
        ws_url=fake.ws_url,
        rest=rest,
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=checkpoint,
        config=config,
    )
    await stream.start()
    consumer = Consumer(stream)
    try:
        await wait_for(lambda: fake.market_clients())
        yield stream, consumer
    finally:
        await consumer.close()
        await stream.stop()
        await rest.close()


async def test_live_trades_are_delivered_in_order_as_domain_trades(fake):
    async with running(fake) as (_stream, consumer):
        await fake.publish(300)
        await wait_for(lambda: len(consumer.trade_ids()) == 300)

    trades = consumer.of(Trade)
    assert consumer.trade_ids() == fake.ids()
    first = trades[0]
    assert first.symbol == "BTCUSDT"
    assert str(first.price) == fake.trades[0]["p"]
    assert first.trade_time_ms == fake.trades[0]["T"]


async def test_reconnect_gap_is_backfilled_and_delivered_in_order_exactly_once(fake):
    async with running(fake) as (stream, consumer):
        await fake.publish(100)
        await wait_for(lambda: len(consumer.trade_ids()) == 100)
        fake.refuse_ws = True
        fake.drop_all()
        await fake.publish(400)  # happens while we are disconnected
        await asyncio.sleep(0.3)
        fake.refuse_ws = False
        await wait_for(lambda: fake.market_clients())
        await fake.publish(50)
        await wait_for(lambda: len(consumer.trade_ids()) == 550)
        await wait_for(lambda: not stream.gap_open("BTCUSDT"))

    assert consumer.trade_ids() == fake.ids()
    (detected,) = consumer.of(GapDetected)
    (healed,) = consumer.of(GapHealed)
    assert (detected.first_missing_id, detected.last_missing_id) == (
        fake.trades[100]["a"],
        fake.trades[499]["a"],
    )
    assert detected.size == 400 and detected.cause is GapCause.RECONNECT
    assert healed.backfilled == 400
    assert consumer.items.index(detected) < consumer.items.index(healed)


async def test_trades_are_held_while_a_gap_is_open(fake):
    async with running(fake) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.rest_fail_next = 10_000  # backfill cannot succeed
        await fake.publish(5, skip_ws=[0])
        await wait_for(lambda: consumer.of(GapDetected))
        await asyncio.sleep(0.2)

        assert stream.gap_open("BTCUSDT")
        assert consumer.trade_ids() == fake.ids(0, 10)
        fake.rest_fail_next = 0
        await wait_for(lambda: len(consumer.trade_ids()) == 15, timeout_s=10)
    assert consumer.trade_ids() == fake.ids()


async def test_lost_frame_is_detected_by_sequence_and_backfilled(fake):
    async with running(fake) as (_stream, consumer):
        await fake.publish(20)
        await fake.publish(20, skip_ws=[3])
        await wait_for(lambda: len(consumer.trade_ids()) == 40)

    assert consumer.trade_ids() == fake.ids()
    (gap,) = consumer.of(GapDetected)
    assert gap.cause is GapCause.SEQUENCE and gap.size == 1
    assert consumer.of(GapHealed)[0].backfilled == 1


async def test_reordered_frame_is_put_back_in_order_without_rest(fake):
    async with running(fake) as (stream, consumer):
        await fake.publish(5)
        later, earlier = fake.trades[6], fake.trades[5]
        fake.published = 7
        await fake.send_market(fake.frame(later))
        await fake.send_market(fake.frame(earlier))
        await wait_for(lambda: len(consumer.trade_ids()) == 7)

    assert consumer.trade_ids() == fake.ids()
    assert consumer.of(GapHealed)[0].backfilled == 0
    assert stream.stats.out_of_order == 1


async def test_duplicated_frame_is_delivered_once(fake):
    async with running(fake) as (stream, consumer):
        await fake.publish(5)
        await fake.send_market(fake.frame(fake.trades[4]))
        await fake.publish(1)
        await wait_for(lambda: len(consumer.trade_ids()) == 6)

    assert consumer.trade_ids() == fake.ids()
    assert stream.stats.duplicates == 1


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "s": "BTCUSDT"}}',
        '{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1, "s": "BTCUSDT",'
        ' "a": "12", "p": "1.0", "q": "1", "f": 1, "l": 1, "T": 1, "m": false}}',
        '{"stream": "btcusdt@aggTrade", "data": [1, 2]}',
        '{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1, "s": "BTCUSDT",'
        ' "a": 12, "p": 1.5, "q": "1", "f": 1, "l": 1, "T": 1, "m": false}}',
    ],
)
async def test_malformed_frame_is_counted_and_skipped(fake, frame):
    async with running(fake) as (stream, consumer):
        await fake.publish(3)
        await fake.send_market(frame)
        await fake.publish(3)
        await wait_for(lambda: len(consumer.trade_ids()) == 6)

    assert consumer.trade_ids() == fake.ids()
    assert stream.stats.malformed + stream.stats.ignored == 1


async def test_silent_connection_is_reconnected_and_the_gap_healed(fake):
    async with running(fake) as (_stream, consumer):
        await fake.publish(50)
        await wait_for(lambda: len(consumer.trade_ids()) == 50)
        fake.silence_all()
        await fake.publish(200)  # nothing reaches us
        await wait_for(lambda: fake.ws_connects >= 2, timeout_s=5)
        await wait_for(lambda: len(fake.market_clients()) == 1)
        await fake.publish(20)
        await wait_for(lambda: len(consumer.trade_ids()) == 270)

    assert consumer.trade_ids() == fake.ids()
    silent = [e for e in consumer.of(StreamStateChanged) if e.state is StreamState.SILENT]
    assert silent and silent[0].stream == "market"
    assert consumer.of(GapDetected)[0].size == 200


async def test_gap_after_reconnect_is_found_by_probe_when_no_trade_follows(fake):
    async with running(fake) as (_stream, consumer):
        await fake.publish(30)
        await wait_for(lambda: len(consumer.trade_ids()) == 30)
        fake.refuse_ws = True
        fake.drop_all()
        await fake.publish(70)
        fake.refuse_ws = False
        await wait_for(lambda: len(consumer.trade_ids()) == 100, timeout_s=5)

    assert consumer.trade_ids() == fake.ids()
    (gap,) = consumer.of(GapDetected)
    assert gap.size == 70 and gap.cause is GapCause.RECONNECT


async def test_restart_resumes_after_the_checkpointed_id(fake, tmp_path):
    checkpoint = FileCheckpoint(tmp_path)
    async with running(fake, checkpoint=checkpoint) as (_stream, consumer):
        await fake.publish(40)
        await wait_for(lambda: len(consumer.trade_ids()) == 40)
    first_run = consumer.trade_ids()
    await fake.publish(60)  # the process is down

    async with running(fake, checkpoint=FileCheckpoint(tmp_path)) as (_stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) >= 70)
    second_run = consumer.trade_ids()

    saved = FileCheckpoint(tmp_path).load("BTCUSDT")
    assert first_run[-1] in (fake.trades[38]["a"], fake.trades[39]["a"])
    assert second_run[0] == first_run[-1] + 1 or second_run[0] == first_run[-1]
    assert sorted(set(first_run + second_run)) == fake.ids()
    assert consumer.of(GapDetected)[0].cause is GapCause.START
    assert saved is not None and saved >= fake.trades[108]["a"]


async def test_connection_is_rotated_with_overlap_and_nothing_is_lost(fake):
    config = StreamConfig(**{**_fields(FAST), "max_connection_age_s": 0.4})
    async with running(fake, config=config) as (stream, consumer):
        for _ in range(10):
            await fake.publish(20)
            await asyncio.sleep(0.1)
        await wait_for(lambda: len(consumer.trade_ids()) == 200)

    assert stream.stats.rotations >= 1
    assert consumer.trade_ids() == fake.ids()
    assert consumer.of(GapDetected) == []


async def test_book_ticker_mark_price_and_klines_are_parsed_and_stale_ones_dropped(fake):
    config = StreamConfig(**{**_fields(FAST), "book_ticker": True})
    book = _fixture("futures_bookTicker__BTCUSDT_2024-08-08__hftbacktest.json")
    mark = _fixture("futures_markPriceUpdate_1s__BTCUSDT_2023-04-04__hftbacktest.json")
    kline = _fixture("futures_kline_1m__closed__SUSHIUSDT_2021-07-22__cryptofeed.json")
    kline["data"]["s"] = kline["data"]["k"]["s"] = "BTCUSDT"
    async with running(fake, config=config) as (stream, consumer):
        await wait_for(lambda: len(fake._clients) == 2)
        for msg in (book, book):
            await fake.send_public(json.dumps(msg))
        for msg in (mark, mark, kline, kline):
            await fake.send_market(json.dumps(msg))
        # Until all six are handled (the book tickers come on the other socket, in no order
        # with the bar), not for a fixed time.
        await wait_for(
            lambda: (
                [len(consumer.of(k)) for k in (BookTicker, MarkPrice, Bar)] == [1, 1, 1]
                and stream.stats.stale == 3
            )
        )

    (tick,) = consumer.of(BookTicker)
    (mp,) = consumer.of(MarkPrice)
    (bar,) = consumer.of(Bar)
    assert str(tick.bid_price) == "61800.20" and tick.update_id == 5123107839020
    assert str(mp.funding_rate) == "0.00002754"
    assert bar.closed and bar.trade_count == 113 and str(bar.taker_buy_volume) == "1900"
    assert stream.stats.stale == 3


async def test_closed_kline_missed_during_a_gap_is_delivered_from_rest(fake):
    config = StreamConfig(**{**_fields(FAST), "kline_check": True})
    minute = fake.trades[0]["T"] - fake.trades[0]["T"] % 60_000
    fake.klines = [
        [minute, "1", "2", "0.5", "1.5", "10", minute + 59_999, "15", 7, "4", "6", "0"],
    ]
    next_minute = next(i for i, t in enumerate(fake.trades) if t["T"] >= minute + 60_000)
    async with running(fake, config=config) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.refuse_ws = True
        fake.drop_all()
        await fake.publish(next_minute - 10)
        fake.refuse_ws = False
        await wait_for(lambda: fake.market_clients())
        await fake.publish(5)
        await wait_for(lambda: consumer.of(Bar), timeout_s=5)

    (bar,) = consumer.of(Bar)
    assert bar.open_time_ms == minute and bar.closed and bar.trade_count == 7
    assert stream.stats.missed_klines == 1


async def test_a_live_closed_kline_waits_for_the_missed_one_before_it(fake):
    """The socket was down over minute M's close. It is back just before M+1 closes, and M+1's
    closed kline comes live before the trades' gap is healed and M is fetched from REST.
    Delivered as they came, M+1 then M: the ExecManager drops a bar older than one it has
    passed on, so the strategy never saw M (its features spanned a hole). The live bar is
    held while earlier ones may be missing: M, then M+1."""
    config = StreamConfig(**{**_fields(FAST), "kline_check": True})
    minute = fake.trades[0]["T"] - fake.trades[0]["T"] % 60_000
    fake.klines = [
        [minute, "1", "2", "0.5", "1.5", "10", minute + 59_999, "15", 7, "4", "6", "0"],
    ]
    next_minute = next(i for i, t in enumerate(fake.trades) if t["T"] >= minute + 60_000)
    live = _closed_kline(minute + 60_000)
    async with running(fake, config=config) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.refuse_ws = True
        fake.drop_all()
        await fake.publish(next_minute - 10)
        fake.refuse_ws = False
        await wait_for(lambda: fake.market_clients())
        await fake.send_market(json.dumps(live))  # M+1 closes before any trade is back
        await asyncio.sleep(0.1)
        await fake.publish(5)
        await wait_for(lambda: len(consumer.of(Bar)) == 2, timeout_s=5)

    assert [b.open_time_ms for b in consumer.of(Bar)] == [minute, minute + 60_000]
    assert stream.stats.missed_klines == 1


async def test_a_kline_held_after_a_reconnect_goes_out_when_the_next_trade_shows_no_gap(fake):
    """Held while the reconnect's sync is pending; the next trade follows the last one (nothing
    was missed): the bar goes out then, not a minute later with the next kline."""
    config = StreamConfig(**{**_fields(FAST), "kline_check": True, "probe_delay_s": 30.0})
    minute = fake.trades[0]["T"] - fake.trades[0]["T"] % 60_000
    live = _closed_kline(minute)
    async with running(fake, config=config) as (_stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.drop_all()
        await wait_for(lambda: fake.market_clients())
        await fake.send_market(json.dumps(live))
        await asyncio.sleep(0.1)
        assert consumer.of(Bar) == []  # the sync is pending: trades may have been missed
        await fake.publish(1)
        await wait_for(lambda: consumer.of(Bar), timeout_s=10)  # not with the next kline

    assert [b.open_time_ms for b in consumer.of(Bar)] == [minute]
    assert consumer.of(GapDetected) == []


async def test_stop_cancels_everything_and_returns_even_while_reconnecting(fake):
    async with running(fake) as (stream, _consumer):
        fake.refuse_ws = True
        fake.drop_all()
        await asyncio.sleep(0.2)
        async with asyncio.timeout(3):
            await stream.stop()
    assert not stream._tasks


async def test_in_process_feed_delivers_through_the_same_path():
    clock = LiveClock()
    rest = MarketDataRest("http://127.0.0.1:9", clock=clock)
    stream = DataStream(
        ws_url="ws://127.0.0.1:9",
        rest=rest,
        symbols=["CTKUSDT"],
        clock=clock,
        checkpoint=MemoryCheckpoint(),
    )
    frame = (_FIXTURES / "futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json").read_text()

    stream.handle_frame(frame)
    stream.handle_frame(frame)

    trade = stream.get_nowait()
    assert isinstance(trade, Trade) and trade.agg_id == 16599292 and str(trade.price) == "1.01100"
    assert stream.pending_items() == 0 and stream.stats.duplicates == 1
    await rest.close()


_FIXTURES = (
    __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures/binance_api/ws_market"
)


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((_FIXTURES / name).read_text())


def _closed_kline(open_ms: int) -> dict[str, Any]:
    """The real closed-kline frame, as BTCUSDT's 1m bar opening at `open_ms`, sent at its
    close."""
    frame = _fixture("futures_kline_1m__closed__SUSHIUSDT_2021-07-22__cryptofeed.json")
    data = frame["data"]
    data["s"] = data["k"]["s"] = "BTCUSDT"
    data["k"]["t"], data["k"]["T"], data["E"] = open_ms, open_ms + 59_999, open_ms + 60_000
    return frame


def _fields(config: StreamConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


async def test_sink_consumer_gets_items_and_the_checkpoint_follows_it():
    clock = LiveClock()
    rest = MarketDataRest("http://127.0.0.1:9", clock=clock)
    checkpoint = MemoryCheckpoint()
    seen: list = []
    stream = DataStream(
        ws_url="ws://127.0.0.1:9",
        rest=rest,
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=checkpoint,
        sink=seen.append,
    )
    fake_rows = load_agg_trades()[:3]
    server = FakeBinance(fake_rows)

    for row in fake_rows:
        stream.handle_frame(server.frame(row))
    await stream.stop()

    assert [t.agg_id for t in seen] == [r["a"] for r in fake_rows]
    assert checkpoint.load("BTCUSDT") == fake_rows[-1]["a"]
    await rest.close()


class FullDiskCheckpoint(MemoryCheckpoint):
    """A checkpoint on a disk that is full while `full` is set."""

    full = True

    def save(self, symbol: str, last_agg_id: int) -> None:
        if self.full:
            raise OSError(28, "No space left on device")
        super().save(symbol, last_agg_id)


async def test_a_checkpoint_that_cannot_be_saved_at_the_stop_does_not_end_the_stop(caplog):
    """On a full disk the stop's checkpoint raised out of `DataStream.stop`, and the daemon's
    shutdown ended there: no cancels, no closing summary, a traceback instead."""
    checkpoint = FullDiskCheckpoint()
    stream = DataStream(
        ws_url="ws://127.0.0.1:9", rest=None, symbols=["BTCUSDT"], clock=LiveClock(),
        checkpoint=checkpoint,
    )  # type: ignore[arg-type]  # fmt: skip
    stream._states["BTCUSDT"].processed_id = 42  # processed, not saved yet

    await stream.stop()
    await stream.stop()  # said once, not at every attempt

    failed = [r for r in caplog.records if "checkpoint save failed" in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in failed] == [("ERROR", None)]
    assert checkpoint.load("BTCUSDT") is None
    checkpoint.full = False
    stream._flush_checkpoint()
    assert checkpoint.load("BTCUSDT") == 42


async def test_the_closed_kline_memory_keeps_the_newest_bars_up_to_its_bound():
    """A daemon on 1m bars for weeks: the closed bars remembered (to drop a re-sent one and to
    compare a gap's bars with REST) stay at `closed_kline_memory` per symbol, the oldest
    forgotten first; every bar is still delivered once."""
    clock = LiveClock()
    rest = MarketDataRest("http://127.0.0.1:9", clock=clock)
    config = StreamConfig(**{**_fields(FAST), "closed_kline_memory": 50})
    stream = DataStream(
        ws_url="ws://127.0.0.1:9",
        rest=rest,
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=MemoryCheckpoint(),
        config=config,
    )
    minutes = [60_000 * m for m in range(1_000)]  # 20 x the bound

    for open_ms in minutes:
        stream.handle_frame(json.dumps(_closed_kline(open_ms)))
    again = _closed_kline(minutes[-1])
    again["data"]["E"] += 1  # the last bar re-sent (later event time: not stale)
    stream.handle_frame(json.dumps(again))

    delivered = []
    while stream.pending_items():
        delivered.append(stream.get_nowait())
    assert [b.open_time_ms for b in delivered] == minutes
    assert list(stream._states["BTCUSDT"].closed_klines) == minutes[-50:]
    assert stream.stats.duplicates == 1
    await rest.close()
