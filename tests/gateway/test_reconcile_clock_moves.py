"""A reconciliation during which the offset to the exchange's clock is measured again (a read
answered -1021: the exchange's clock moved) dates its reads for the books on both clocks, the
earlier (`gateway.venue_sync.reads_began`). Each test has its own local exchange: one whose
clock went forward and back again leaves its engine's timers off for the next."""

from dataclasses import replace

import pytest
import pytest_asyncio

from core.enums import Side
from core.events import OrderFilled
from tests.gateway.venue_harness import FAST, SYMBOL, session, start_exchange

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def _account_with_a_fill(ex):
    """An account with a fill, so that a venue on it reads fills by trade id from its start: a
    read by time (an account without a fill) from a time our clock has gone back before is
    refused (-1023), another matter."""
    creds = ex.create_account()
    async with session(ex, creds=creds) as first:
        request = first.market(Side.BUY)
        first.venue.submit(request)
        await first.rec.wait_for(OrderFilled, request.client_order_id)
    return creds


async def test_a_reconciliation_that_finds_the_clock_ahead_dates_its_reads_on_the_new_one(ex):
    """The exchange's clock goes 6 s back, so ours is 6 s ahead: the pass's first signed read
    is answered -1021 and the offset is measured again. The snapshot's time (when its reads
    began), which the books compare with the exchange's event times, is then on the
    exchange's clock: within the pass. It was our clock's from before the measurement, 6 s
    past the end of the pass: the books took what changed during the reads (an order placed
    after the open orders were read) for what the reads had seen."""
    creds = await _account_with_a_fill(ex)
    async with session(ex, creds=creds, config=replace(FAST, deadman_countdown_ms=0)) as s:
        ex.faults.clock_skew(-6_000)
        resyncs = s.venue.rest.stats.resyncs
        before = ex.clock.now_ms()
        snapshot = await s.venue.reconcile("test")
        after = ex.clock.now_ms()

        assert s.venue.rest.stats.resyncs > resyncs  # measured again during the pass
        assert before - 50 <= snapshot.event_time_ms <= after  # 50 ms: the offset's error


async def test_a_reconciliation_that_finds_the_clock_behind_keeps_its_reads_time_of_before(ex):
    """The exchange's clock goes 6 s forward, so ours is 6 s behind: the pass's first signed
    read is refused -1021 (outside the 2 s recvWindow) and the offset is measured again. The
    snapshot's time stays what our clock read as the pass began: times of ours taken during
    the reads before the measurement (an algo order's cancel answer carries none of the
    exchange's) are on that clock. Dated on the clock after, 6 s later, the books took such a
    cancel during the reads for one before them, and the order for open again."""
    creds = await _account_with_a_fill(ex)
    async with session(ex, creds=creds, config=replace(FAST, deadman_countdown_ms=0)) as s:
        ex.faults.clock_skew(6_000)
        resyncs = s.venue.rest.stats.resyncs
        before = s.venue.clock.now_ms()  # our clock, before the measurement
        snapshot = await s.venue.reconcile("test")

        assert s.venue.rest.stats.resyncs > resyncs
        assert before <= snapshot.event_time_ms <= before + 1_000  # not 6 s later


async def test_a_fresh_start_that_finds_the_clock_ahead_reads_fills_by_time_from_its_reads(ex):
    """A fresh account (no fill: its fills are read on by time) whose start-up pass finds our
    clock 6 s ahead of the exchange's (-1021, the offset measured again): the time its fills
    are read from is when the reads began on the exchange's clock (less the offset's error),
    not later than the pass ended there. From our clock of before the measurement, 6 s
    late, a fill made during those 6 s after the reads would bear an earlier time than the
    window's start and never be read."""
    async with session(ex, start=False, config=replace(FAST, deadman_countdown_ms=0)) as s:
        ex.faults.clock_skew(-6_000)  # after the connection measured the offset
        resyncs = s.venue.rest.stats.resyncs
        before = ex.clock.now_ms()
        await s.venue.start()
        after = ex.clock.now_ms()

        assert s.venue.rest.stats.resyncs > resyncs  # measured again during the pass
        since = s.venue.sync.trades_since_ms[SYMBOL]
        assert before - 1_000 <= since <= after  # 1 s: more than the offset's error
