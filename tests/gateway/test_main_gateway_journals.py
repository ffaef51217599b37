"""A journal moved away (or deleted) while the account still holds the daemon's orders: the
next journal's client ids carry its own tag, so they neither collide with the earlier
journal's (-4116) nor are mistaken for them; and the earlier journal's open orders (a stop-loss
left guarding a position, a resting limit) are tracked as the daemon's own again, so they can
be cancelled and their fills and ends are reported. Against the real local exchange."""

import logging
import sqlite3
from dataclasses import replace
from decimal import Decimal

import pytest
import pytest_asyncio

from book_keeper.journal import SqliteJournal
from core.enums import OrderStatus, OrderType, Side
from core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, VenueSnapshot
from core.orders import ClientOrderIds, OrderRequest
from exchange_sim.server import LocalExchange
from tests.gateway.venue_harness import FAST, GENEROUS, SYMBOL, TICK, session, start_exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex():
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def _earlier_journal_leaves_orders(ex, creds) -> dict[str, str]:
    """A daemon of an earlier version (ids `bfd-<n>`, no tag) leaves a long 0.002 guarded by
    its closePosition stop-loss and a resting limit buy; someone also placed an order by hand."""
    async with session(ex, creds=creds, prefix="bfd", stop_cancels=False) as s:
        resting = s.limit(Side.BUY)
        entry = s.market(Side.BUY, qty="0.002")
        for request in (resting, entry):
            s.venue.submit(request)
        await s.rec.wait_for(OrderFilled, entry.client_order_id)
        last = ex.engine.last_price(SYMBOL)
        stop = OrderRequest(
            symbol=SYMBOL,
            side=Side.SELL,
            type=OrderType.STOP_MARKET,
            quantity=None,
            stop_price=last - 2000 * TICK,  # 200 USDT below: it does not fire during the test
            close_position=True,
            client_order_id=s.ids.next(),
        )
        s.venue.submit(stop)
        await s.rec.wait_for(OrderAccepted, stop.client_order_id)
        await s.rec.wait_for(OrderAccepted, resting.client_order_id)
        by_hand = {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.002",
            "price": str(resting.price),
            "newClientOrderId": "web_Zx81",
        }
        ex.engine.new_order(s.account, by_hand)
    return {"resting": resting.client_order_id, "stop": stop.client_order_id}


async def test_a_new_journal_tracks_the_earlier_journals_open_orders_and_issues_its_own_ids(ex):
    creds = ex.create_account()
    earlier = await _earlier_journal_leaves_orders(ex, creds)
    assert earlier == {"resting": "bfd-1", "stop": "bfd-3"}

    config = replace(FAST, client_id_prefix="bfd")
    async with session(ex, creds=creds, config=config) as s:  # a fresh, empty journal
        s.ids = ClientOrderIds("bfd", tag="k3x9q2")  # the new journal's tag
        (snapshot,) = s.rec.of(VenueSnapshot)
        tracked = {cid: s.venue.order(cid) for cid in (*earlier.values(), "web_Zx81")}

        own = s.limit(Side.BUY)  # before tags, a new journal's first id was bfd-1 again
        s.venue.submit(own)
        accepted = await s.rec.wait_for(OrderAccepted | OrderRejected, own.client_order_id)
        for cid in earlier.values():
            s.venue.cancel(SYMBOL, cid)
        canceled = [await s.rec.wait_for(OrderCanceled, cid) for cid in earlier.values()]
        s.venue.cancel(SYMBOL, own.client_order_id)
        await s.rec.wait_for(OrderCanceled, own.client_order_id)
        hand_left = s.exchange_order("web_Zx81")["status"]
        algo_left = ex.engine.open_algo_orders(s.account, {"symbol": SYMBOL})

    resting, stop = tracked[earlier["resting"]], tracked[earlier["stop"]]
    assert resting is not None and (resting.status, resting.type) == (
        OrderStatus.NEW,
        OrderType.LIMIT,
    )
    assert resting.quantity == Decimal("0.002")
    assert stop is not None and (stop.status, stop.type, stop.close_position) == (
        OrderStatus.NEW,
        OrderType.STOP_MARKET,
        True,
    )
    assert tracked["web_Zx81"] is None  # placed by hand: not ours, left alone
    assert {o.client_order_id for o in snapshot.open_orders} == {"bfd-1", "bfd-3", "web_Zx81"}
    assert snapshot.adopted == ("bfd-1", "bfd-3")  # the journal records these two as ours
    # The new journal's order is its own, not the earlier bfd-1 (-4116, then a query by that
    # id would have answered with the earlier order).
    assert isinstance(accepted, OrderAccepted) and own.client_order_id == "bfd-k3x9q2-1"
    assert accepted.order_id != resting.order_id
    assert [c.client_order_id for c in canceled] == ["bfd-1", "bfd-3"]
    assert algo_left == []  # the earlier stop-loss was cancelled through the venue
    assert hand_left == "NEW"


async def test_the_earlier_journals_orders_taken_over_are_not_counted_as_untracked_reports(ex):
    """The start-up's take-over of the earlier journal's two orders used to count each as a
    report of an untracked order with an id of ours: `--status` and the closing summary said
    "reports of orders not tracked, this run: 2 with an id of ours (not applied: worth a
    look)" of orders the log had just said were "tracked as ours again"."""
    creds = ex.create_account()
    await _earlier_journal_leaves_orders(ex, creds)

    config = replace(FAST, client_id_prefix="bfd")
    async with session(ex, creds=creds, config=config) as s:  # a fresh, empty journal
        untracked = s.venue.tracker.stats
        at_start = (untracked.unknown_client_ids, untracked.hand_order_reports)

    # the hand order web_Zx81, listed open by the start-up's reconciliation: left alone
    assert at_start == (0, 1)


async def test_the_new_journal_knows_the_adopted_orders_and_says_nothing_of_their_events(
    ex, tmp_path, caplog
):
    """The new journal records each event of the earlier journal's orders it took over: their
    cancels used to be logged and counted as events "for unknown order" once each."""
    creds = ex.create_account()
    earlier = await _earlier_journal_leaves_orders(ex, creds)
    journal = SqliteJournal(tmp_path / "journal")
    config = replace(FAST, client_id_prefix="bfd", journal_events=True)
    try:
        with caplog.at_level(logging.WARNING, logger="book_keeper.journal"):
            async with session(ex, creds=creds, config=config, journal=journal) as s:
                for cid in earlier.values():
                    s.venue.cancel(SYMBOL, cid)
                for cid in earlier.values():
                    await s.rec.wait_for(OrderCanceled, cid)
                await s.venue.reconcile("test")  # a second snapshot names them no more
            journal.flush()
            with sqlite3.connect(journal.path) as db:
                rows = db.execute("SELECT client_order_id, status FROM orders").fetchall()
        unknown = [r.getMessage() for r in caplog.records if "unknown order" in r.getMessage()]
        assert unknown == [] and journal.unknown_order_events == 0
        assert sorted(rows) == [("bfd-1", "CANCELED"), ("bfd-3", "CANCELED")]
    finally:
        journal.close()


STEP_MS = 10 * 60_000


async def test_a_fill_of_the_earlier_journals_stop_loss_is_reported_as_ours():
    """Stepped replay of `klines-week` (BTCUSDT falls ~0.5 % in the first two hours of
    2025-05-06): the earlier journal's long 0.002 and its stop-loss 0.2 % below the entry; a
    new journal takes the stop over; when the market reaches it, its fill comes through the
    new journal's venue (before, it was "not ours": the position went flat unexplained)."""
    ex = await LocalExchange(
        data="klines-week", symbols=[SYMBOL], speed="step", rate_limits=GENEROUS
    ).start()
    try:
        await ex.step(60_000)
        creds = ex.create_account()
        no_deadman = replace(FAST, deadman_countdown_ms=0)  # 10-minute steps would fire it
        leave = {"prefix": "bfd", "config": no_deadman, "stop_cancels": False}
        async with session(ex, creds=creds, **leave) as s:  # as a stop with --keep-orders
            entry = s.market(Side.BUY, qty="0.002")
            s.venue.submit(entry)
            bought = await s.rec.wait_for(OrderFilled, entry.client_order_id)
            trigger = ex.instruments[SYMBOL].round_price(
                bought.fill.price * Decimal("0.998"), Side.SELL
            )
            stop = OrderRequest(
                symbol=SYMBOL,
                side=Side.SELL,
                type=OrderType.STOP_MARKET,
                quantity=None,
                stop_price=trigger,
                close_position=True,
                client_order_id=s.ids.next(),
            )
            s.venue.submit(stop)
            await s.rec.wait_for(OrderAccepted, stop.client_order_id)

        config = replace(no_deadman, client_id_prefix="bfd")
        async with session(ex, creds=creds, config=config) as s:
            adopted = s.venue.order(stop.client_order_id)
            for _ in range(18):  # up to 3 h of replay
                await ex.step(STEP_MS)
                await s.venue.rest.sync_time()
                key = await s.venue.rest.call("futures_stream_get_listen_key")
                await s.venue.rest.call("futures_stream_keepalive", listenKey=key)
                if s.exchange_position() == 0:
                    break
            closed = await s.rec.wait_for(OrderFilled, stop.client_order_id)
            [trade] = [
                t
                for t in ex.engine.user_trades(s.account, {"symbol": SYMBOL})
                if t["side"] == "SELL"
            ]
    finally:
        await ex.stop()

    assert adopted is not None and adopted.status is OrderStatus.NEW
    assert (closed.fill.side, closed.fill.qty) == (Side.SELL, Decimal("0.002"))
    assert closed.fill.trade_id == trade["id"] and closed.fill.price == Decimal(trade["price"])
    assert closed.cumulative_qty == Decimal("0.002")
