"""What one bad answer or an unlucky reconnect must not do to the TradeExecutor, against the
local exchange: end the user stream (the daemon would flatten and halt), end the dead-man or
the reconciliation loop for good, or drop the reconciliation a reconnect needs."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from core.clock import LiveClock
from core.enums import OrderStatus, OrderType, Side, TimeInForce
from core.errors import RetryableError
from core.events import (
    FundingPaid,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    StreamState,
    StreamStateChanged,
    VenueSnapshot,
)
from core.journal import MemoryJournal
from core.orders import Order, OrderRequest
from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange, connected_client
from gateway.main_gateway import LiveVenue
from gateway.user_stream import EndpointRefused
from gateway.venue_sync import FUNDING_OVERLAP_MS
from rest_connect import create_rest_connection
from tests.gateway.venue_harness import (
    DATASET,
    FAST,
    GENEROUS,
    SYMBOL,
    TICK,
    session,
    start_exchange,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex() -> AsyncIterator[Any]:
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


def _answer_once(venue: Any, method: str, answer: Callable[[], Any]) -> list[bool]:
    """The venue's next REST call of `method` gets `answer()` (returned, or what it raises)
    instead of the exchange's; a flag list, [False] once that happened."""
    real = venue.rest.call
    pending = [True]

    async def call(name: str, /, **kw: Any) -> Any:
        if name == method and pending[0]:
            pending[0] = False
            return answer()
        return await real(name, **kw)

    venue.rest.call = call
    return pending


def _reasons(s: Any) -> list[str]:
    return [e.reason for e in s.rec.of(VenueSnapshot)]


def _order_update(now: int, order_id: object) -> dict[str, Any]:
    return {
        "s": SYMBOL, "c": "x", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1", "p": "1",
        "ap": "0", "sp": "0", "x": "NEW", "X": "NEW", "i": order_id, "l": "0", "z": "0",
        "L": "0", "T": now, "t": 0, "m": False, "R": False, "ot": "LIMIT", "ps": "BOTH",
    }  # fmt: skip


async def test_a_user_event_with_an_unparsable_id_is_skipped_and_the_stream_lives_on(ex) -> None:
    async with session(ex) as s:
        key = s.venue.stream.listen_key
        now = ex.now_ms()
        for bad in ("--1", "²"):  # digits to str.isdigit(), not to int()
            ex.hub.publish_user(
                key, {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": _order_update(now, bad)}
            )
        await s.rec.until(lambda: s.venue.stats.malformed_events >= 2, within_s=5)
        request = s.limit(Side.BUY)
        s.venue.submit(request)
        await s.rec.wait_for(OrderAccepted, request.client_order_id, within_s=5)

        assert s.venue.stats.malformed_events == 2
        assert s.venue.stream.failure is None and s.venue.stream.connected.is_set()
        assert [e.state for e in s.rec.of(StreamStateChanged)] == [StreamState.CONNECTED]


async def test_an_undecodable_answer_fails_one_dead_man_refresh_not_the_loop(ex) -> None:
    async with session(ex, config=replace(FAST, deadman_refresh_s=0.2)) as s:
        v = s.venue

        def undecodable() -> Any:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

        once = _answer_once(v, "futures_countdown_cancel_all", undecodable)
        await s.rec.until(lambda: not once[0], within_s=5)
        refreshed = v.stats.deadman_refreshes
        await s.rec.until(lambda: v.stats.deadman_refreshes >= refreshed + 2, within_s=5)

        assert v.stats.deadman_failures == 1
        assert v._deadman_task is not None and not v._deadman_task.done()


async def test_an_unreadable_open_order_row_fails_nothing_and_reconciliation_goes_on(ex) -> None:
    async with session(ex, config=replace(FAST, reconcile_interval_s=0.2)) as s:
        v = s.venue
        _answer_once(v, "futures_get_open_orders", lambda: [None])  # a row not an object
        await s.rec.until(
            lambda: len([e for e in s.rec.of(VenueSnapshot) if e.reason == "periodic"]) >= 3,
            within_s=5,
        )

        assert v.stats.malformed_rows == 1
        assert v.stats.reconcile_failures == 0


async def test_a_reconnect_during_the_last_reconnects_reconciliation_is_reconciled_too(ex) -> None:
    """The first pass read the open orders before the second gap; an order cancelled by
    someone else in that gap is learnt by the pass the second reconnect asks for."""
    async with (
        session(ex) as s,
        connected_client(ex, s.creds.api_key, s.creds.api_secret) as other,
    ):
        v = s.venue
        resting = s.limit(Side.BUY)
        v.submit(resting)
        await s.rec.wait_for(OrderAccepted, resting.client_order_id)
        real_funding = v.sync.catch_up_funding
        in_funding = asyncio.Event()

        async def slow_funding() -> None:  # the pass's last step, after the order reads
            in_funding.set()
            await asyncio.sleep(1.5)
            await real_funding()

        v.sync.catch_up_funding = slow_funding  # type: ignore[method-assign]
        ex.faults.drop_websockets(refuse_s=0.3)
        await s.rec.until(lambda: v.stream.stats.connects >= 2, within_s=5)
        # The first pass has read the open orders (not a fixed 0.4 s: later on a busy machine).
        await asyncio.wait_for(in_funding.wait(), 10)
        ex.faults.drop_websockets(refuse_s=0.3)
        await s.rec.until(lambda: v.stream.stats.disconnects >= 2, within_s=5)
        await other.futures_cancel_order(symbol=SYMBOL, origClientOrderId=resting.client_order_id)
        await s.rec.until(lambda: v.stream.stats.connects >= 3, within_s=5)
        await s.rec.wait_for(OrderCanceled, resting.client_order_id, within_s=8)
        await s.rec.until(lambda: _reasons(s).count("reconnect") == 2, within_s=5)

        assert _reasons(s) == ["start", "reconnect", "reconnect"]
        order = v.order(resting.client_order_id)
        assert order is not None and order.status is OrderStatus.CANCELED


@pytest.mark.parametrize("since", [1_700_000_000_000, None])
async def test_a_restart_reads_the_funding_settled_since_an_overlap_before_the_last_record(
    ex, since: int | None
) -> None:
    """Funding settled while the daemon was down is read back at start, from
    FUNDING_OVERLAP_MS before the journal's last record (and booked, once: the books skip a
    settlement they already hold); without a journal, from the start on."""
    async with session(ex, start=False) as s:
        v = s.venue
        real = v.rest.call
        asked: list[int] = []

        async def call(method: str, /, **kw: Any) -> Any:
            if method == "futures_income_history":
                asked.append(kw["startTime"])
            return await real(method, **kw)

        v.rest.call = call  # type: ignore[method-assign]
        v.restore([], funding_since_ms=since)
        before = ex.now_ms()
        await v.start()

        assert asked, "the start-up reconciliation reads the funding history"
        if since is None:
            assert asked[0] >= before - 5_000  # the exchange's now, not the past
        else:
            assert asked[0] == since - FUNDING_OVERLAP_MS


async def test_a_funding_row_whose_rate_lookup_fails_is_read_again_not_lost() -> None:
    """The first pass fails looking up the rate: the settlement stays unseen and the next
    pass emits it (it was remembered as seen and never emitted)."""
    engine = EngineConfig(funding_interval_ms=2000, fixed_funding_rate=Decimal("0.001"))
    exchange = await LocalExchange(
        data=DATASET, symbols=[SYMBOL], speed=1.0, rate_limits=GENEROUS, engine_config=engine
    ).start()
    try:
        async with session(exchange) as s:
            sync = s.venue.sync
            real_rate = sync._funding_rate
            failures = [0]

            async def failing_once(symbol: str, time_ms: int) -> Decimal:
                if failures[0] == 0:
                    failures[0] += 1
                    raise RetryableError("fundingRate: 503")
                return await real_rate(symbol, time_ms)

            sync._funding_rate = failing_once  # type: ignore[method-assign]
            entry = s.market(Side.BUY, qty="0.002")
            s.venue.submit(entry)
            await s.rec.wait_for(OrderFilled, entry.client_order_id)
            await s.rec.until(lambda: failures[0] == 1, within_s=10)  # the FUNDING_FEE job
            await s.venue.reconcile("check")  # the next pass

            incomes = exchange.engine.income(s.account, {"incomeType": "FUNDING_FEE"})
            booked = {(i["time"], Decimal(i["income"])) for i in incomes}
            emitted = {(e.event_time_ms, e.amount) for e in s.rec.of(FundingPaid)}
            assert booked and booked <= emitted
    finally:
        await exchange.stop()


async def test_a_funding_catch_up_dropped_while_one_runs_makes_no_coroutine() -> None:
    """A FUNDING_FEE update while a funding catch-up already runs: the second catch-up is not
    started, and its coroutine is not even made (it was made and never awaited: a
    RuntimeWarning on stderr after a restart)."""
    import gc
    import warnings

    from gateway.main_gateway import LiveVenue
    from gateway.user_wire import AccountUpdate

    class Sync:
        calls = 0

        def catch_up_funding(self) -> object:
            self.calls += 1
            return asyncio.sleep(0)

    venue = LiveVenue.__new__(LiveVenue)  # only the account-update path is exercised
    venue.sync = Sync()  # type: ignore[assignment]
    venue.instruments = {}
    venue._emit = lambda events: None  # type: ignore[method-assign]
    venue._busy = {("funding", ""): None}  # type: ignore[dict-item]  # one is running
    update = AccountUpdate(
        reason="FUNDING_FEE",
        balances=(),
        positions=(),
        event_time_ms=1,
        transaction_time_ms=1,
        recv_time_ms=1,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        venue._on_account_update(update)
        gc.collect()

    assert venue.sync.calls == 0  # type: ignore[attr-defined]
    assert not [w for w in caught if "never awaited" in str(w.message)], caught


async def test_a_stop_that_filled_while_nobody_listened_is_recovered_and_never_called_foreign(
    caplog,
) -> None:
    """A stop-loss that triggers while the daemon is down fills as a new matching-engine
    order. The restart's userTrades catch-up reads that fill before the sweep has learned the
    new order's id from the algo order: it is ours, recovered once, never logged or counted
    as "not ours" (the log said both)."""
    exchange = await LocalExchange(
        data=DATASET, symbols=[SYMBOL], speed=20.0, rate_limits=GENEROUS
    ).start()
    try:
        creds = exchange.create_account()
        async with session(exchange, creds=creds, stop_cancels=False) as a:
            entry = a.market(Side.BUY, qty="0.002")
            a.venue.submit(entry)
            filled = await a.rec.wait_for(OrderFilled, entry.client_order_id)
            for _ in range(5):  # the replay may pass the trigger before the order lands (-2021)
                last = exchange.engine.last_price(SYMBOL)
                assert last is not None
                stop = OrderRequest(
                    symbol=SYMBOL,
                    side=Side.SELL,
                    type=OrderType.STOP_MARKET,
                    quantity=None,
                    stop_price=last - 2 * TICK,
                    close_position=True,
                    client_order_id=a.ids.next(),
                )
                a.venue.submit(stop)
                answer = await a.rec.wait_for(OrderAccepted | OrderRejected, stop.client_order_id)
                if isinstance(answer, OrderAccepted):
                    break
            resting = a.venue.order(stop.client_order_id)
            assert resting is not None and resting.status is OrderStatus.NEW
        # Nobody listens now; the replay (20x) takes the price through the stop.
        for _ in range(600):
            if a.exchange_position() == 0:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the stop-loss did not fire within 60 s")

        async with session(exchange, creds=creds, start=False) as b:
            b.venue.restore(
                [resting],
                trade_ids={entry.client_order_id: [filled.fill.trade_id]},
                last_trade_ids={SYMBOL: filled.fill.trade_id},
            )
            with caplog.at_level(logging.INFO, logger="gateway.venue_sync"):
                await b.venue.start()
            fills = b.rec.of(OrderFilled, stop.client_order_id)

            assert [f.fill.qty for f in fills] == [Decimal("0.002")]
            assert b.venue.stats.foreign_trades == 0
            assert "is not ours" not in caplog.text
    finally:
        await exchange.stop()


async def test_an_order_the_exchange_forgot_after_3_days_without_a_fill_is_closed(ex) -> None:
    """A restart long after the dead-man switch cancelled a resting order: Binance no longer
    finds an order that ended without a fill 3 days after its creation (-2013). Such an order
    is closed as EXPIRED, saying why; a younger one the exchange does not find stays open
    (asked about again at the next reconciliation): it may only be slow to show."""
    now = ex.now_ms()

    def resting(cid: str, age_ms: int, order_id: int) -> Order:
        return Order(
            client_order_id=cid, symbol=SYMBOL, side=Side.BUY, type=OrderType.LIMIT,
            quantity=Decimal("0.002"), price=Decimal("50000.0"), time_in_force=TimeInForce.GTC,
            status=OrderStatus.NEW, created_ms=now - age_ms, updated_ms=now - age_ms,
            order_id=order_id,
        )  # fmt: skip

    old = resting("gone-1", 3 * 86_400_000 + 3_600_000, 990_000_001)
    young = resting("gone-2", 3_600_000, 990_000_002)
    async with session(ex, start=False) as s:
        s.venue.restore([old, young])
        await s.venue.start()

        (expired,) = s.rec.of(OrderExpired)
        assert expired.client_order_id == "gone-1" and expired.order_id == 990_000_001
        assert "73 h ago, no fill" in expired.reason and "3 days" in expired.reason
        gone = s.venue.order("gone-1")
        kept = s.venue.order("gone-2")
        assert gone is not None and gone.status is OrderStatus.EXPIRED
        assert kept is not None and kept.status is OrderStatus.NEW
        assert not s.rec.of(OrderCanceled) and len(s.rec.of(OrderExpired)) == 1


async def test_a_user_stream_whose_endpoint_refuses_fails_the_start_at_once_naming_it(ex) -> None:
    """REST answers but the websocket URL is dead (a typo'd `[endpoints] ws_url`): the start
    fails naming that URL, after three refused attempts (about a second with the daemon's
    backoff), not after `start_timeout_s` (30 s); and it reports no FAILED stream, which the
    daemon would journal as a reason to flatten and halt, holding the next start in REDUCING."""
    creds = ex.create_account()
    clock = LiveClock()
    rest = await create_rest_connection(
        rest_url=ex.rest_url, api_key=creds.api_key, api_secret=creds.api_secret, clock=clock
    )
    events: list[Any] = []
    venue = LiveVenue(
        rest=rest,
        ws_url="ws://127.0.0.1:9",
        symbols=[SYMBOL],
        instruments=ex.instruments,
        clock=clock,
        journal=MemoryJournal(),
        listener=events.append,
        config=FAST,  # start_timeout_s 10 s
    )
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(EndpointRefused) as failed:
            await venue.start()
    finally:
        await venue.stop(cancel_orders=False)
        await rest.close()

    assert asyncio.get_running_loop().time() - started < 3.0
    assert str(failed.value) == (
        "the user data stream at ws://127.0.0.1:9 cannot connect: connection refused (nothing "
        "listens at that host and port) (3 attempts)"
    )
    assert not [e for e in events if isinstance(e, StreamStateChanged) and e.state == "failed"]


async def test_reconcile_soon_brings_the_fill_a_silent_user_stream_kept(ex) -> None:
    """The user stream delivers nothing (silenced at the exchange): a market order's fill does
    not come. `reconcile_soon` (the ExecManager's ask when a crossed stop stays unanswered)
    reads it over REST at once instead of at the next periodic pass; a second ask while that
    pass runs starts no second pass."""
    async with session(ex) as s:
        ex.faults.silence()  # every stream, the user stream included, says nothing
        entry = s.market(Side.BUY, qty="0.002")
        s.venue.submit(entry)
        await s.rec.until(lambda: s.exchange_position() == Decimal("0.002"))
        await asyncio.sleep(0.3)
        assert s.rec.of(OrderFilled, entry.client_order_id) == []

        s.venue.reconcile_soon("overdue answer: test")
        s.venue.reconcile_soon("overdue answer: test")
        await s.rec.wait_for(OrderFilled, entry.client_order_id)
        await s.rec.until(lambda: "overdue answer: test" in _reasons(s))
        await asyncio.sleep(0.2)
        assert _reasons(s).count("overdue answer: test") == 1
        assert s.venue.stats.early_reconciles == 2


async def test_the_pass_asked_for_after_a_pause_runs_even_while_another_one_does(ex) -> None:
    """A pass that began before the daemon was stopped read the exchange too early to say what
    happened during the stop: the daemon's ask after a pause is not folded into it."""
    async with session(ex) as s:
        s.venue.reconcile_soon("overdue answer: test")
        s.venue.reconcile_soon("resumed after a pause", job="reconcile-after-pause")
        await s.rec.until(lambda: "resumed after a pause" in _reasons(s))
        assert "overdue answer: test" in _reasons(s)
        assert s.venue.stats.early_reconciles == 2


async def test_a_fresh_start_on_an_account_quiet_for_7_days_reads_fills_by_time_not_from_id_1(
    ex,
) -> None:
    """A fresh start (no journal) on an account whose last fill is older than userTrades'
    default 7 days: the baseline query finds no trade id. The catch-up paged from fromId=1,
    i.e. through the account's whole history (6 months of pages, and a lookup of each of its
    orders). It now reads by time from the start on: the old fill is not read, nothing is
    looked up, and the first new fill gives the trade id the next reads page from."""
    creds = ex.create_account()
    eight_days = 8 * 86_400_000
    async with session(ex, creds=creds) as a:
        old = a.market(Side.BUY, qty="0.002")
        a.venue.submit(old)
        await a.rec.wait_for(OrderFilled, old.client_order_id)
    for t in ex.engine.engine.ledger.account(creds.account_id).trades[SYMBOL]:
        t.time -= eight_days  # that fill is older than the last 7 days now

    async with session(ex, creds=creds, start=False) as b:
        calls: list[tuple[str, dict[str, Any]]] = []
        real = b.venue.rest.call

        async def call(name: str, /, **kw: Any) -> Any:
            calls.append((name, kw))
            return await real(name, **kw)

        b.venue.rest.call = call  # type: ignore[method-assign]
        await b.venue.start()
        await b.venue.reconcile("check")
        trades = [kw for name, kw in calls if name == "futures_account_trades"]
        assert [set(kw) - {"weight", "symbol"} for kw in trades] == [
            {"limit"},  # the baseline, before the start's other reads
            {"limit"},  # again after them: no fill came in between
            {"startTime", "endTime", "limit"},  # a window of at most 7 days, up to now
        ]
        assert not any(name == "futures_get_order" for name, _ in calls)
        assert b.rec.of(OrderFilled) == []

        new = b.market(Side.SELL, qty="0.002")
        b.venue.submit(new)
        filled = await b.rec.wait_for(OrderFilled, new.client_order_id)
        calls.clear()
        await b.venue.reconcile("check")  # by time: the new fill (already booked) gives its id
        await b.venue.reconcile("check")  # by id from there
        trades = [kw for name, kw in calls if name == "futures_account_trades"]
        assert "startTime" in trades[0]
        assert trades[1]["fromId"] == filled.fill.trade_id + 1
        # the next pass: from the last fill known, which the account must still hold (a reset
        # account's trades do not)
        assert trades[2]["fromId"] == filled.fill.trade_id
        assert len(b.rec.of(OrderFilled, new.client_order_id)) == 1


async def test_a_fresh_starts_first_fill_on_a_clock_measured_ahead_is_read_back_by_time(
    ex,
) -> None:
    """A fresh start with no fill in userTrades' window reads on by time from when its reads
    began. That time is on our clock, which may be ahead of the exchange's by up to half the
    round trip the offset was measured on (here ~500 ms: every answer was delayed 1 s before
    the exchange read its clock; under the 1 s ahead at which a signed request is refused). A
    fill made a moment after the start then bears an earlier time; the window began at our
    reading and never held it, so no pass read it back (under load, 1 run in ~10 of the
    account-reset test, whose check then stayed unarmed). The window now begins that error
    earlier."""
    ex.faults.latency(rest_s=1.0)
    async with session(ex, start=False) as b:
        ex.faults.latency()
        assert 250 < b.venue.rest.clock.now_ms() - ex.now_ms() < 1000  # ours ahead, as measured
        await b.venue.start()
        order = b.market(Side.BUY, qty="0.002")
        b.venue.submit(order)
        filled = await b.rec.wait_for(OrderFilled, order.client_order_id)
        await b.venue.reconcile("check")

        assert b.venue.sync.last_trade_ids[SYMBOL] == filled.fill.trade_id
        assert b.venue.sync.last_trades[SYMBOL].trade_id == filled.fill.trade_id
        assert len(b.rec.of(OrderFilled, order.client_order_id)) == 1


async def test_a_fresh_starts_first_fill_is_read_back_by_time_after_a_resync_during_its_reads(
    ex,
) -> None:
    """The offset measured before the start is ~1.6 s ahead (every answer was delayed 3.2 s
    before the exchange read its clock): the start's first signed read is refused (-1021:
    more than 1 s ahead) and the offset measured again, with a round trip of a few ms. The
    by-time window began at our reading before that, ahead of the exchange's clock by more
    than the new measure's error: the first fill, made a moment later, bore an earlier time
    and no pass ever read it back. It begins at that reading as the offset is measured now."""
    ex.faults.latency(rest_s=3.2)
    async with session(ex, start=False) as b:
        ex.faults.latency()
        assert b.venue.rest.clock.now_ms() - ex.now_ms() > 1250  # ours ahead, as measured
        await b.venue.start()
        assert b.venue.rest.stats.resyncs == 1  # the start's reads were taken on the old offset
        order = b.market(Side.BUY, qty="0.002")
        b.venue.submit(order)
        filled = await b.rec.wait_for(OrderFilled, order.client_order_id)
        await b.venue.reconcile("check")

        assert b.venue.sync.last_trade_ids[SYMBOL] == filled.fill.trade_id
        assert len(b.rec.of(OrderFilled, order.client_order_id)) == 1


async def test_a_settlement_behind_a_last_record_on_a_clock_ahead_is_read_at_restart() -> None:
    """The journal's last record is on our clock, here 1.5 s ahead of the exchange's: the
    settlement the exchange made after the daemon stopped, 1.5 s before that record's time, is
    read at the restart (from FUNDING_OVERLAP_MS before the record), with the exchange's
    amount (it was read from the record on, and missed)."""
    engine = EngineConfig(funding_interval_ms=2000, fixed_funding_rate=Decimal("0.001"))
    exchange = await LocalExchange(
        data=DATASET, symbols=[SYMBOL], speed=1.0, rate_limits=GENEROUS, engine_config=engine
    ).start()
    try:
        creds = exchange.create_account()
        account = str(creds.account_id)
        async with session(exchange, creds=creds) as s:
            entry = s.market(Side.BUY, qty="0.002")
            s.venue.submit(entry)
            await s.rec.wait_for(OrderFilled, entry.client_order_id)
            await s.rec.wait_for(FundingPaid, within_s=10)
        stopped_ms = exchange.now_ms()  # the position stays open: it goes on paying

        def settled() -> dict[int, Decimal]:
            rows = exchange.engine.income(account, {"incomeType": "FUNDING_FEE"})
            return {int(i["time"]): Decimal(i["income"]) for i in rows}

        for _ in range(100):
            if max(settled()) > stopped_ms:
                break
            await asyncio.sleep(0.1)
        missed = max(settled())
        assert missed > stopped_ms, "a settlement while the daemon was down"

        async with session(exchange, creds=creds, start=False) as s:
            s.venue.restore([], funding_since_ms=missed + 1_500)
            await s.venue.start()

            emitted = {(e.event_time_ms, e.amount) for e in s.rec.of(FundingPaid)}
            assert (missed, settled()[missed]) in emitted
            assert settled()[missed] < 0  # a long pays a positive rate
    finally:
        await exchange.stop()
