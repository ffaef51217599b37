"""Acceptance: the DataStream against the local exchange replaying real BTCUSDT trades.

The seed scenario: the socket is cut for 10 s (real wall time) while the exchange keeps
trading; afterwards the delivered aggregate ids must be exactly the exchange's published
sequence (no gap, no duplicate, same order), the gap reported with its size, and recovery done
within 2 s of the reconnect. Also: a connected-but-silent stream is detected and healed, and
a process restart resumes from the checkpointed id without loss.
"""

import asyncio
import contextlib
from dataclasses import replace

import pytest

from core.clock import LiveClock
from core.events import GapCause, GapDetected, GapHealed, StreamState, StreamStateChanged
from core.market import Trade
from exchange_sim.replay.messages import agg_trade_message
from exchange_sim.server import LocalExchange
from gateway.checkpoint import FileCheckpoint
from gateway.data_stream import DataStream, StreamConfig
from gateway.market_rest import MarketDataRest
from tests.gateway.fake_exchange import wait_for

CONFIG = StreamConfig(
    market_silence_s=1.0,
    public_silence_s=5.0,
    watchdog_check_s=0.05,
    reconnect_initial_s=0.1,
    reconnect_max_s=0.5,
    probe_delay_s=0.3,
    trade_silence_s=1.0,
    checkpoint_interval_s=0.2,
)


class Consumer:
    def __init__(self, stream: DataStream, clock: LiveClock) -> None:
        self.stream = stream
        self.clock = clock
        self.items: list = []
        self.seen_at: list[int] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.stream:
            self.items.append(item)
            self.seen_at.append(self.clock.now_ms())

    def ids(self) -> list[int]:
        return [i.agg_id for i in self.items if isinstance(i, Trade)]

    def of(self, kind: type) -> list:
        return [i for i in self.items if isinstance(i, kind)]

    def when(self, item: object) -> int:
        return self.seen_at[next(k for k, i in enumerate(self.items) if i is item)]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def exchange():
    async with LocalExchange(data="btcusdt-2024-08-08", symbols=["BTCUSDT"], speed=10.0) as ex:
        yield ex


@contextlib.asynccontextmanager
async def streaming(ex: LocalExchange, checkpoint=None):
    clock = LiveClock()
    rest = MarketDataRest(ex.rest_url, clock=clock)
    stream = DataStream(
        ws_url=ex.ws_url,
        rest=rest,
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=checkpoint,
        config=CONFIG,
    )
    consumer = Consumer(stream, clock)
    await stream.start()
    try:
        yield stream, consumer
    finally:
        await consumer.close()
        await stream.stop()
        await rest.close()


def published_slice(ex: LocalExchange, ids: list[int]) -> list[int]:
    published = ex.published_agg_ids("BTCUSDT")
    first = published.index(ids[0])
    return published[first : first + len(ids)]


async def test_ten_second_cut_is_healed_gap_free_within_two_seconds(exchange):
    async with streaming(exchange) as (stream, consumer):
        await wait_for(lambda: len(consumer.ids()) > 100, timeout_s=5)
        last_before_cut = consumer.ids()[-1]

        exchange.faults.drop_websockets(refuse_s=10.0)
        await wait_for(lambda: not exchange.faults.ws_refusing(), timeout_s=11)
        # From the cut's end: a loaded machine may take a while to get there (the bound is
        # only against a hang; the heal's 2 s are measured from the reconnect, below).
        await wait_for(lambda: consumer.of(GapHealed), timeout_s=20)
        await asyncio.sleep(1.0)  # keep receiving live trades after the heal

    ids = consumer.ids()
    (detected,) = consumer.of(GapDetected)
    (healed,) = consumer.of(GapHealed)
    reconnect = [
        e for e in consumer.of(StreamStateChanged)
        if e.stream == "market" and e.state is StreamState.CONNECTED and e.detail == "reconnected"
    ]  # fmt: skip
    assert ids == published_slice(exchange, ids)  # same sequence: no gap, no dup, same order
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    # Trades already on the wire when the socket was cut still arrive before the gap is seen:
    # the gap starts right after the last trade delivered before the GapDetected.
    before_gap = consumer.items[: consumer.items.index(detected)]
    last_before_gap = [i.agg_id for i in before_gap if isinstance(i, Trade)][-1]
    assert last_before_cut <= last_before_gap
    assert detected.first_missing_id == last_before_gap + 1
    assert detected.cause is GapCause.RECONNECT
    assert detected.size > 500  # ~10 s of trading at 10x replay speed
    assert (healed.first_missing_id, healed.last_missing_id) == (
        detected.first_missing_id,
        detected.last_missing_id,
    )
    healed_after_ms = consumer.when(healed) - reconnect[0].event_time_ms
    # What the heal asked of REST, should it be slow (2.4 s once under a 4x CPU load, while
    # 30-200 ms is usual): retries, empty pages polled again, or slow answers.
    assert healed_after_ms <= 2_000, (healed_after_ms, healed, stream.stats, stream.rest.stats)
    assert not stream.gap_open("BTCUSDT")


@pytest.mark.parametrize("silenced", [None, "btcusdt@aggTrade"], ids=["connection", "aggTrade"])
async def test_connected_but_silent_stream_is_detected_and_healed(exchange, silenced):
    async with streaming(exchange) as (stream, consumer):
        await wait_for(lambda: len(consumer.ids()) > 50, timeout_s=5)

        exchange.faults.silence(seconds=None, stream=silenced)
        await wait_for(
            lambda: any(e.state is StreamState.SILENT for e in consumer.of(StreamStateChanged)),
            timeout_s=10,
        )
        exchange.faults.unsilence()
        await wait_for(lambda: consumer.of(GapHealed), timeout_s=10)
        await asyncio.sleep(0.5)

    ids = consumer.ids()
    assert ids == published_slice(exchange, ids)
    assert consumer.of(GapDetected)[0].size > 0
    assert stream.stats.silences >= 1


async def test_restart_resumes_from_the_checkpointed_id_without_loss(exchange, tmp_path):
    async with streaming(exchange, FileCheckpoint(tmp_path)) as (_, first_run):
        await wait_for(lambda: len(first_run.ids()) > 50, timeout_s=5)
    saved = FileCheckpoint(tmp_path).load("BTCUSDT")
    await asyncio.sleep(2.0)  # the process is down; the exchange keeps trading

    async with streaming(exchange, FileCheckpoint(tmp_path)) as (_stream, second_run):
        await wait_for(lambda: second_run.of(GapHealed), timeout_s=10)
        await asyncio.sleep(0.5)

    ids = second_run.ids()
    assert saved is not None and saved in first_run.ids()
    assert ids[0] == saved + 1
    assert ids == published_slice(exchange, ids)
    (gap,) = second_run.of(GapDetected)
    assert gap.cause is GapCause.START and gap.first_missing_id == saved + 1


async def test_malformed_and_duplicated_frames_from_the_exchange_leave_the_sequence_intact(
    exchange,
):
    async with streaming(exchange) as (stream, consumer):
        await wait_for(lambda: len(consumer.ids()) > 50, timeout_s=5)

        exchange.faults.duplicate_frames(count=20)
        exchange.faults.malformed_frames(count=5)
        # Until the faulty frames came (not a fixed 1.5 s: a busy machine is slower).
        await wait_for(
            lambda: (
                stream.stats.malformed == 5 and stream.stats.duplicates + stream.stats.stale >= 1
            ),
            timeout_s=20,
        )
        await wait_for(lambda: not stream.gap_open("BTCUSDT"), timeout_s=5)

    ids = consumer.ids()
    assert ids == published_slice(exchange, ids)
    assert stream.stats.malformed == 5 and stream.stats.duplicates + stream.stats.stale >= 1


async def test_far_ahead_aggtrade_frame_is_discarded_and_the_stream_carries_on(exchange):
    """Issue 8 item 9: one well-formed aggTrade 1e9 ids ahead must not wedge `gap_open()`."""
    async with streaming(exchange) as (stream, consumer):
        await wait_for(lambda: len(consumer.ids()) > 50, timeout_s=5)
        last = exchange.agg_store.last("BTCUSDT")
        assert last is not None
        event, trade_time = last
        bogus = replace(event, agg_id=event.agg_id + 10**9)
        frame = agg_trade_message(bogus, event_time_ms=trade_time + 1, trade_time_ms=trade_time)

        exchange.hub.publish("btcusdt@aggTrade", frame)
        await wait_for(lambda: consumer.of(GapDetected), timeout_s=5)
        assert stream.gap_open("BTCUSDT")
        await wait_for(lambda: not stream.gap_open("BTCUSDT"), timeout_s=5)
        count = len(consumer.ids())
        await wait_for(lambda: len(consumer.ids()) > count + 20, timeout_s=5)

    ids = consumer.ids()
    assert bogus.agg_id not in ids
    assert ids == published_slice(exchange, ids)  # nothing lost, nothing repeated, in order
    (detected,) = consumer.of(GapDetected)
    (healed,) = consumer.of(GapHealed)
    assert detected.cause is GapCause.JUMP and detected.last_missing_id == bogus.agg_id - 1
    assert healed.skipped == 0 and healed.duration_ms <= 2_000
    assert stream.stats.jump_discarded == 1 and stream.stats.backfilled == 0


@pytest.mark.slow
async def test_soak_random_drops_and_silences_never_lose_or_repeat_a_trade(exchange):
    import random

    rng = random.Random(20240808)
    async with streaming(exchange) as (stream, consumer):
        await wait_for(lambda: len(consumer.ids()) > 50, timeout_s=5)
        for _ in range(8):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            if rng.random() < 0.5:
                exchange.faults.drop_websockets(refuse_s=rng.uniform(0.0, 3.0))
            else:
                exchange.faults.silence(seconds=rng.uniform(1.0, 3.0))
        exchange.faults.clear()
        await asyncio.sleep(2.0)
        await wait_for(lambda: not stream.gap_open("BTCUSDT"), timeout_s=10)

    ids = consumer.ids()
    assert ids == published_slice(exchange, ids)
    assert len(consumer.of(GapDetected)) == len(consumer.of(GapHealed)) >= 3
