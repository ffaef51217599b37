"""DataStream under faults: bounded gaps (jumps, backlogs, backfills that cannot finish),
fatal errors surfaced as FAILED, and its timers driven by simulated time.

Against the loopback fake exchange (tests/gateway/fake_exchange.py). Tests that inject
`VirtualTime` never wait on the wall clock for a timeout: they only poll for socket I/O.
"""

import asyncio
import contextlib
from typing import Any

import pytest

from core.clock import LiveClock
from core.events import GapCause, GapDetected, GapHealed, StreamState, StreamStateChanged
from core.market import Bar, Trade
from gateway.checkpoint import MemoryCheckpoint
from gateway.data_stream import DataStream, StreamConfig
from gateway.market_rest import MarketDataRest
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades, wait_for
from tests.gateway.virtual_time import VirtualTime

FAST = StreamConfig(
    market_silence_s=5.0,
    public_silence_s=30.0,
    watchdog_check_s=0.25,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.2,
    probe_delay_s=0.2,
    reorder_grace_s=0.05,
    trade_silence_s=0,
    checkpoint_interval_s=60.0,
    book_ticker=False,
    kline_check=False,
)


def config(**changes: Any) -> StreamConfig:
    fields = {name: getattr(FAST, name) for name in FAST.__dataclass_fields__}
    return StreamConfig(**{**fields, **changes})


class Consumer:
    def __init__(self, stream: DataStream) -> None:
        self.items: list[Any] = []
        self.task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: DataStream) -> None:
        async for item in stream:
            self.items.append(item)

    def trade_ids(self) -> list[int]:
        return [i.agg_id for i in self.items if isinstance(i, Trade)]

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]

    def states(self, state: StreamState) -> list[StreamStateChanged]:
        return [e for e in self.of(StreamStateChanged) if e.state is state]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def fake():
    async with FakeBinance(load_agg_trades()) as server:
        yield server


@contextlib.asynccontextmanager
async def running(
    fake: FakeBinance,
    cfg: StreamConfig = FAST,
    *,
    vt: VirtualTime | None = None,
    checkpoint: MemoryCheckpoint | None = None,
    wait_connected: bool = True,
):
    clock = vt.clock if vt is not None else LiveClock()
    sleep = vt.sleep if vt is not None else asyncio.sleep
    rest = MarketDataRest(fake.base_url, clock=clock, sleep=sleep, max_attempts=2)
    stream = DataStream(
        ws_url=fake.ws_url,
        rest=rest,
        symbols=["BTCUSDT"],
        clock=clock,
        checkpoint=checkpoint,
        config=cfg,
        sleep=sleep,
    )
    consumer = Consumer(stream)
    await stream.start()
    try:
        if wait_connected:
            await wait_for(lambda: fake.market_clients())
        yield stream, consumer
    finally:
        await consumer.close()
        await stream.stop()
        await rest.close()


async def advance_until(vt: VirtualTime, predicate: Any, step_s: float = 0.1, limit_s=60.0):
    """Advance simulated time in steps until `predicate()`; between steps, let I/O complete."""
    elapsed = 0.0
    while not predicate():
        if elapsed > limit_s:
            raise TimeoutError(f"condition not met within {limit_s} simulated seconds")
        await vt.advance(step_s)
        elapsed += step_s
        await asyncio.sleep(0.002)  # socket I/O (REST, websocket) is real


def forged(fake: FakeBinance, offset: int, by: int) -> str:
    """A well-formed aggTrade frame: the trade at `offset` with its id moved `by` ahead."""
    return fake.frame({**fake.trades[offset], "a": fake.trades[offset]["a"] + by})


# --- time is injected ---------------------------------------------------------------------------


async def test_silence_timeout_runs_on_the_injected_clock(fake):
    vt = VirtualTime()
    async with running(fake, vt=vt) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.silence_all()
        await fake.publish(20)  # nothing reaches us
        quiet_since = vt.now_ms()

        await vt.advance(4.5)  # 18 watchdog ticks, no frame: still below the 5 s limit
        assert consumer.states(StreamState.SILENT) == []

        await vt.advance(1.0)
        (silent,) = consumer.states(StreamState.SILENT)
        assert silent.stream == "market" and "5.0 s" in silent.detail
        # Frames are noticed at the next watchdog check: limit + at most two checks.
        assert 5_000 < silent.event_time_ms - quiet_since <= 5_500

        await advance_until(vt, lambda: len(fake.market_clients()) == 1 and fake.ws_connects == 2)
        await advance_until(vt, lambda: len(consumer.trade_ids()) == 30)  # the probe's backfill
        await fake.publish(5)
        await wait_for(lambda: len(consumer.trade_ids()) == 35)

    assert consumer.trade_ids() == fake.ids()
    (gap,) = consumer.of(GapDetected)
    assert gap.cause is GapCause.SILENCE and gap.size == 20
    assert stream.stats.silences == 1


async def test_unconfirmed_far_ahead_trade_is_discarded_after_the_confirm_window(fake):
    vt = VirtualTime()
    async with running(fake, config(jump_confirm_s=1.0), vt=vt) as (stream, consumer):
        await fake.publish(20)
        await wait_for(lambda: len(consumer.trade_ids()) == 20)

        await fake.send_market(forged(fake, 20, 10**9))
        await wait_for(lambda: consumer.of(GapDetected))
        (detected,) = consumer.of(GapDetected)
        assert detected.cause is GapCause.JUMP and detected.size == 10**9
        assert stream.gap_open("BTCUSDT")

        await fake.publish(3)  # the real trades keep flowing while the jump is checked
        await wait_for(lambda: len(consumer.trade_ids()) == 23)
        await advance_until(vt, lambda: fake.rest_calls.count(_LATEST) > 0 and vt.sleepers())
        assert stream.gap_open("BTCUSDT")  # REST is behind the far id; still within the window

        await advance_until(vt, lambda: not stream.gap_open("BTCUSDT"), limit_s=2.0)
        await fake.publish(5)
        await wait_for(lambda: len(consumer.trade_ids()) == 28)

    assert consumer.trade_ids() == fake.ids()  # the forged trade was never delivered
    (healed,) = consumer.of(GapHealed)
    assert (healed.first_missing_id, healed.last_missing_id) == (
        detected.first_missing_id,
        detected.last_missing_id,
    )
    assert healed.skipped == 0 and healed.backfilled == 0
    assert 1_000 <= healed.duration_ms <= 1_600
    assert stream.stats.jumps == 1 and stream.stats.jump_discarded == 1


_LATEST = "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1"


async def test_confirmed_exchange_jump_resumes_at_the_far_id_and_reports_the_skipped_range(fake):
    for trade in fake.trades[30:]:
        trade["a"] += 10**9  # the exchange's aggregate ids really jump after the 30th trade
    async with running(fake) as (stream, consumer):
        await fake.publish(30)
        await wait_for(lambda: len(consumer.trade_ids()) == 30)
        await fake.publish(20)
        await wait_for(lambda: len(consumer.trade_ids()) == 50)
        await wait_for(lambda: not stream.gap_open("BTCUSDT"))

    assert consumer.trade_ids() == fake.ids()
    (detected,) = consumer.of(GapDetected)
    (healed,) = consumer.of(GapHealed)
    assert detected.cause is GapCause.JUMP
    assert (healed.first_missing_id, healed.last_missing_id) == (
        fake.trades[29]["a"] + 1,
        fake.trades[30]["a"] - 1,
    )
    assert healed.skipped == 10**9 and stream.stats.skipped == 10**9
    assert stream.stats.backfilled < 100  # no backfill of a billion ids


async def test_backlog_after_a_long_downtime_resyncs_to_rests_latest_trade(fake):
    checkpoint = MemoryCheckpoint()
    checkpoint.save("BTCUSDT", fake.trades[0]["a"])
    await fake.publish(1_500)  # happened while the daemon was down
    cfg = config(max_gap_trades=500, backfill_page=100)
    async with running(fake, cfg, checkpoint=checkpoint) as (_stream, consumer):
        await wait_for(lambda: consumer.trade_ids())
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 11)

    assert consumer.trade_ids() == fake.ids(1_499)
    (detected,) = consumer.of(GapDetected)
    (healed,) = consumer.of(GapHealed)
    assert detected.cause is GapCause.JUMP
    assert healed.skipped == 1_498 and healed.last_missing_id == fake.trades[1_498]["a"]
    assert len([c for c in fake.rest_calls if "fromId" in c]) == 1  # one page, then resync


async def test_klines_closed_during_a_skipped_backlog_are_fetched_from_rest(fake):
    """A resync skips the trades of a long downtime instead of backfilling them; the bars that
    closed meanwhile were missed by the kline socket too. Before, only a backfilled gap was
    followed by the kline check, so the strategy's bars had a hole after every jump."""
    minute = fake.trades[0]["T"] - fake.trades[0]["T"] % 60_000
    assert fake.trades[1_498]["T"] >= minute + 60_000  # the bar of `minute` closed meanwhile
    fake.klines = [
        [minute, "1", "2", "0.5", "1.5", "10", minute + 59_999, "15", 7, "4", "6", "0"],
    ]
    checkpoint = MemoryCheckpoint()
    checkpoint.save("BTCUSDT", fake.trades[0]["a"])
    await fake.publish(1_500)  # happened while the daemon was down
    cfg = config(max_gap_trades=500, backfill_page=100, kline_check=True)
    async with running(fake, cfg, checkpoint=checkpoint) as (stream, consumer):
        await wait_for(lambda: consumer.trade_ids())
        await fake.publish(10)
        await wait_for(lambda: consumer.of(Bar), timeout_s=5)

    (healed,) = consumer.of(GapHealed)
    assert healed.skipped == 1_498
    (bar,) = consumer.of(Bar)
    assert (bar.open_time_ms, bar.trade_count) == (minute, 7)
    assert stream.stats.missed_klines == 1


async def test_backfill_that_cannot_finish_is_given_up_after_max_backfill_s(fake):
    vt = VirtualTime()
    cfg = config(max_backfill_s=10.0, market_silence_s=60.0)  # the socket stays quiet meanwhile
    async with running(fake, cfg, vt=vt) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.rest_fail_next = 10**6  # REST answers 500 from now on
        await fake.publish(5, skip_ws=[0])
        await wait_for(lambda: consumer.of(GapDetected))

        await advance_until(vt, lambda: consumer.of(GapHealed), step_s=0.5, limit_s=15.0)

    (healed,) = consumer.of(GapHealed)
    assert healed.skipped == 1 and healed.duration_ms >= 10_000
    assert consumer.trade_ids() == fake.ids(0, 10) + fake.ids(11, 15)
    assert not stream.gap_open("BTCUSDT") and stream.stats.skipped == 1


# --- fatal errors -------------------------------------------------------------------------------


async def test_ip_ban_during_backfill_fails_the_market_link_and_stops_it(fake):
    async with running(fake) as (stream, consumer):
        await fake.publish(10)
        await wait_for(lambda: len(consumer.trade_ids()) == 10)
        fake.banned = True
        await fake.publish(5, skip_ws=[0])
        await wait_for(lambda: consumer.states(StreamState.FAILED))
        await wait_for(lambda: not fake.market_clients())
        connects = fake.ws_connects
        await asyncio.sleep(0.3)  # several reconnect delays: none is attempted

        (failed,) = consumer.states(StreamState.FAILED)
        assert failed.stream == "market" and "IpBanStop" in failed.detail
        assert stream.failures.keys() == {"market"}
        assert stream.gap_open("BTCUSDT") and stream.gap_open()
        assert fake.ws_connects == connects == 1


async def test_unknown_symbol_rejected_by_rest_fails_the_market_link(fake):
    checkpoint = MemoryCheckpoint()
    checkpoint.save("BTCUSDT", fake.trades[0]["a"])
    fake.reject_rest = (400, -1121, "Invalid symbol.")
    async with running(fake, checkpoint=checkpoint) as (stream, consumer):
        await wait_for(lambda: consumer.states(StreamState.FAILED))

    (failed,) = consumer.states(StreamState.FAILED)
    assert failed.stream == "market" and "-1121" in failed.detail
    assert "market" in stream.failures


async def test_websocket_ip_ban_on_the_handshake_fails_the_link_without_retrying(fake):
    fake.refuse_ws = True
    fake.refuse_ws_status = 418
    async with running(fake, wait_connected=False) as (_stream, consumer):
        await wait_for(lambda: consumer.states(StreamState.FAILED))
        await asyncio.sleep(0.2)

    (failed,) = consumer.states(StreamState.FAILED)
    assert failed.stream == "market" and "418" in failed.detail
    assert fake.ws_refusals == 1


async def test_refused_handshake_503_is_retried(fake):
    fake.refuse_ws = True
    async with running(fake, wait_connected=False) as (stream, consumer):
        await wait_for(lambda: fake.ws_refusals >= 3)
        fake.refuse_ws = False
        await wait_for(lambda: fake.market_clients())

    assert consumer.states(StreamState.FAILED) == [] and not stream.failures


async def test_bad_websocket_url_fails_every_link_at_once():
    clock = LiveClock()
    rest = MarketDataRest("http://127.0.0.1:9", clock=clock)
    stream = DataStream(ws_url="http://127.0.0.1:9", rest=rest, symbols=["BTCUSDT"], clock=clock)
    consumer = Consumer(stream)
    await stream.start()
    try:
        await wait_for(lambda: len(consumer.states(StreamState.FAILED)) == 2)
    finally:
        await consumer.close()
        await stream.stop()
        await rest.close()

    assert {e.stream for e in consumer.states(StreamState.FAILED)} == {"market", "public"}
    assert all("InvalidURI" in e.detail for e in consumer.states(StreamState.FAILED))


class BrokenHistory:
    """A REST client with a bug: not a network error, so it must not be retried forever."""

    calls = 0

    async def agg_trades(self, symbol: str, **kwargs: Any) -> list[Trade]:
        self.calls += 1
        raise ValueError("bug in the REST client")


async def test_an_unexpected_error_in_the_backfill_is_reported_not_retried():
    rows = load_agg_trades()[:5]
    server = FakeBinance(rows)
    history = BrokenHistory()
    stream = DataStream(
        ws_url="ws://127.0.0.1:9",
        rest=history,  # type: ignore[arg-type]
        symbols=["BTCUSDT"],
        clock=LiveClock(),
        config=config(reorder_grace_s=0),
    )
    stream.handle_frame(server.frame(rows[0]))
    stream.handle_frame(server.frame(rows[2]))  # id 1 missing: backfill
    await wait_for(lambda: stream.failures)
    items = [stream.get_nowait() for _ in range(stream.pending_items())]
    await stream.stop()

    failed = [i for i in items if isinstance(i, StreamStateChanged)]
    assert [e.state for e in failed] == [StreamState.FAILED]
    assert "ValueError" in failed[0].detail and history.calls == 1


async def test_an_error_in_the_consumers_sink_fails_the_link_instead_of_reconnecting(fake):
    seen: list[Any] = []

    def sink(item: object) -> None:
        if isinstance(item, Trade) and item.agg_id == fake.trades[3]["a"]:
            raise RuntimeError("consumer bug")
        seen.append(item)

    clock = LiveClock()
    rest = MarketDataRest(fake.base_url, clock=clock)
    stream = DataStream(
        ws_url=fake.ws_url, rest=rest, symbols=["BTCUSDT"], clock=clock, config=FAST, sink=sink
    )
    await stream.start()
    try:
        await wait_for(lambda: fake.market_clients())
        await fake.publish(6)
        await wait_for(lambda: stream.failures)
    finally:
        await stream.stop()
        await rest.close()

    failed = [
        i for i in seen if isinstance(i, StreamStateChanged) and i.state is StreamState.FAILED
    ]
    assert failed[0].stream == "market" and "consumer bug" in failed[0].detail
    assert fake.ws_connects == 1
