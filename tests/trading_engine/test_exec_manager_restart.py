"""The ExecManager after a restart: the books restored from a SQLite journal that a killed
daemon left (`kill -9` with an order in flight), a new ExecManager over them, and the start-up
reconciliation's events coming in. Nothing already sent may be sent again while its outcome
is being resolved.

Numbers by hand: BTCUSDT marks at 60000; long 0.010 from 60000 (entry fee 0.30 USDT).
"""

from dataclasses import replace
from decimal import Decimal as D
from itertools import count
from pathlib import Path

import pytest

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderIntent, OrderStatus, OrderType, Side, TimeInForce, TradingState
from core.events import OrderCanceled, OrderExpired, OrderPartiallyFilled, VenueSnapshot
from core.market import MarkPrice, Trade
from core.orders import ClientOrderIds, Fill, Order, OrderRequest, TargetPosition
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.fake_venue import FakeVenue
from tests.trading_engine.support import INSTRUMENTS, LIMITS, PREFIX, SELL, T0, Rig, make_rig
from trading_engine.exec_manager import ExecConfig, ExecManager

SYMBOL = "BTCUSDT"


def _long_then_killed_while_flattening(tmp_path) -> str:
    """First session: long 0.010 at 60000, SIGUSR1 (REDUCING), the flatten order journaled and
    sent; the process dies before any answer. Returns the flatten's client id."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    first = make_rig(journal=journal)  # type: ignore[arg-type]
    first.venue.journal = None  # (it copies a MemoryJournal's events at each submit)
    first.say(TargetPosition(symbol=SYMBOL, qty=D("0.010"), price=None, reason="test"))
    entry = first.last_cid()
    first.venue.accept(entry)
    first.venue.fill(entry, "60000")
    first.em.kill("SIGUSR1")
    flatten = first.venue.submitted[-1]
    assert (flatten.side, flatten.quantity, flatten.reduce_only) == (SELL, D("0.010"), True)
    journal.close()  # what the dead process left: the flatten journaled PENDING_SUBMIT
    return flatten.client_order_id


def _restarted(
    tmp_path, *, reducing: bool = True
) -> tuple[ExecManager, FakeVenue, BookKeeper, SqliteJournal, SimClock]:
    """Second session as the daemon builds it: books restored from the journal, the journaled
    trading state (REDUCING, if `reducing`) restored, a new ExecManager and venue."""
    clock = SimClock(T0 + 60_000)
    journal = SqliteJournal(tmp_path, writer_thread=False)
    instruments = {SYMBOL: INSTRUMENTS[SYMBOL]}
    book = BookKeeper(starting_balances=None, instruments=instruments, clock=clock)
    book.restore(journal)
    risk = RiskManager(config=LIMITS, instruments=instruments, clock=clock, view=book)
    if reducing:
        risk.restore_state(TradingState.REDUCING, "SIGUSR1")
    ids = ClientOrderIds(PREFIX, journal.max_client_seq(PREFIX) + 1)
    venue = FakeVenue(clock=clock)
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=make_rig().strategy,
        journal=journal,
        clock=clock,
        instruments=INSTRUMENTS,
        ids=ids,
        config=ExecConfig(symbols=(SYMBOL,)),
        gap_open=lambda _symbol: False,
        clock_offset_ms=lambda: 0,
    )
    venue.listener = em.on_event
    return em, venue, book, journal, clock


def _snapshot(clock: SimClock, qty: str, open_orders: tuple[Order, ...] = ()) -> VenueSnapshot:
    now = clock.now_ms()
    balance = Balance(asset="USDT", wallet_balance=D("9999.70"), available_balance=D("9999.70"))
    position = Position(symbol=SYMBOL, qty=D(qty), entry_price=D("60000"), leverage=5)
    return VenueSnapshot(
        event_time_ms=now,
        recv_time_ms=now,
        balances=(balance,),
        positions=(position,),
        open_orders=open_orders,
        reason="start",
        symbols=(SYMBOL,),
    )


def test_a_flatten_in_doubt_at_a_restart_is_not_sent_again_while_it_is_resolved(tmp_path):
    flatten = _long_then_killed_while_flattening(tmp_path)
    em, venue, book, journal, clock = _restarted(tmp_path)
    assert book.orders[flatten].status is OrderStatus.PENDING_SUBMIT
    assert book.position(SYMBOL).qty == D("0.010")

    # The start-up reconciliation: the venue marks the flatten in doubt (it resolves it by
    # query), then its snapshot, read before the flatten's fate is known.
    venue.requests[flatten] = _request_of(book, flatten)
    venue.unknown(flatten)
    venue.emit(_snapshot(clock, "0.010"))
    clock.advance_ms(5_000)
    venue.emit(_snapshot(clock, "0.010"))  # a later pass; the query still has no answer

    assert venue.submitted == []  # the flatten of the last session is still in doubt
    assert em.trading_state is TradingState.REDUCING
    journal.close()


def test_a_flatten_in_doubt_at_a_restart_is_not_cancelled_as_a_working_order(tmp_path):
    """The last session's flatten, restored in doubt, is known as a flatten (its journaled
    intent FLATTEN), as in the session that sent it: REDUCING's retries (every 2 s) send no
    cancel-all for it. Before, the restored books' order was a working order to the new
    session: a cancel-all at the snapshot and at each of the 3 retries, 4 in 6 s."""
    flatten = _long_then_killed_while_flattening(tmp_path)
    em, venue, book, journal, clock = _restarted(tmp_path)
    assert book.orders[flatten].intent is OrderIntent.FLATTEN
    venue.requests[flatten] = _request_of(book, flatten)
    venue.unknown(flatten)
    venue.emit(_snapshot(clock, "0.010"))

    for _ in range(3):
        clock.advance_ms(2_000)  # flatten_retry_ms
        now = clock.now_ms()
        em.on_item(Trade(SYMBOL, 1, D("60000"), D("0.010"), 1, 1, False, now, now, now))

    assert venue.cancel_alls_keeping_protection == []
    assert venue.submitted == []  # nor a second flatten while it is in doubt
    journal.close()


def test_a_flatten_in_doubt_at_a_restart_that_was_never_placed_is_sent_again(tmp_path):
    flatten = _long_then_killed_while_flattening(tmp_path)
    em, venue, book, journal, clock = _restarted(tmp_path)
    venue.requests[flatten] = _request_of(book, flatten)
    venue.unknown(flatten)
    venue.emit(_snapshot(clock, "0.010"))

    venue.reject(flatten, 0, "never placed")  # resolved: the exchange never had it
    clock.advance_ms(2_000)  # flatten_retry_ms after the last attempt
    now = clock.now_ms()
    em.on_item(Trade(SYMBOL, 1, D("60000"), D("0.010"), 1, 1, False, now, now, now))

    again = venue.submitted[-1]
    assert again.client_order_id != flatten
    assert (again.side, again.quantity, again.reduce_only) == (SELL, D("0.010"), True)
    assert again.type is OrderType.MARKET
    assert em.trading_state is TradingState.REDUCING  # halted only once flat
    journal.close()


def _request_of(book: BookKeeper, cid: str) -> OrderRequest:
    """The FakeVenue answers for orders it was sent; the restored one was sent by the dead
    process: teach it the request."""
    o = book.orders[cid]
    return OrderRequest(
        symbol=o.symbol,
        side=o.side,
        type=o.type,
        quantity=o.quantity,
        client_order_id=cid,
        reduce_only=o.reduce_only,
    )


# --- a take-profit that fired while no daemon ran ---------------------------------------------


def _long_with_stop_and_take_profit():
    """Long 0.100 from 60000 with its stop-loss (2 %: 58800.0) and take-profit (4 %: 62400.0)
    resting at the exchange, both closePosition."""
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(4))
    rig.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = rig.last_cid()
    rig.venue.accept(entry)
    rig.venue.fill(entry, "60000")
    stop, take = rig.venue.submitted[-2:]
    assert (stop.type, stop.stop_price) == (OrderType.STOP_MARKET, D("58800.0"))
    assert (take.type, take.stop_price) == (OrderType.TAKE_PROFIT_MARKET, D("62400.0"))
    rig.venue.accept(stop.client_order_id)
    rig.venue.accept(take.client_order_id)
    return rig, stop, take


def _what_the_reconciliation_reports(rig, stop, take) -> None:
    """The take-profit fired while the daemon was down; the exchange expired the stop. The
    venue reports the stop's expiry first (a fired order's fills are held until every open
    order is checked), then the take-profit's fill, then its snapshot: flat."""
    now = rig.clock.now_ms()
    times = {"event_time_ms": now, "recv_time_ms": now}
    rig.venue.emit(
        OrderExpired(
            symbol=SYMBOL, client_order_id=stop.client_order_id, order_id=None,
            reason="closePosition: the position closed", **times,
        )
    )  # fmt: skip
    # fee 62400 x 0.100 x 0.05 % = 3.12; realized (62400 - 60000) x 0.100 = 240
    rig.venue.fill(take.client_order_id, "62400.0", "0.100")
    flat = Position(symbol=SYMBOL, qty=D(0), entry_price=D(0))
    balance = Balance(  # 10000 - 3.00 entry fee + 240 - 3.12
        asset="USDT", wallet_balance=D("10233.88"), available_balance=D("10233.88")
    )
    rig.venue.emit(
        VenueSnapshot(
            balances=(balance,), positions=(flat,), open_orders=(), reason="start",
            symbols=(SYMBOL,), **times,
        )
    )  # fmt: skip


def test_the_start_up_reconciliation_sends_no_stop_for_a_position_it_then_finds_closed():
    rig, stop, take = _long_with_stop_and_take_profit()
    sent = len(rig.venue.submitted)

    with rig.em.reconciling():
        _what_the_reconciliation_reports(rig, stop, take)

    assert rig.book.position(SYMBOL).qty == 0
    assert rig.book.wallet() == D("10233.88")
    assert len(rig.venue.submitted) == sent  # no stop for the long the take-profit closed
    assert rig.book.differences == 0


def test_acted_on_event_by_event_the_same_reports_sent_a_stop_for_a_closed_position():
    """What `reconciling()` prevents: the stop's expiry alone looks like a stop the exchange
    removed from a long still open, so a new one goes out."""
    rig, stop, take = _long_with_stop_and_take_profit()
    sent = len(rig.venue.submitted)

    _what_the_reconciliation_reports(rig, stop, take)

    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.stop_price) for r in again] == [
        (OrderType.STOP_MARKET, SELL, D("58800.0"))
    ]


def test_what_the_reconciliation_leaves_to_do_is_done_once_it_is_over():
    """The snapshot says the long is still open and its stop gone: the stop is placed again,
    once, after the reconciliation."""
    rig, stop, _take = _long_with_stop_and_take_profit()
    sent = len(rig.venue.submitted)
    now = rig.clock.now_ms()

    with rig.em.reconciling():
        rig.venue.emit(
            OrderCanceled(
                symbol=SYMBOL, client_order_id=stop.client_order_id, order_id=None,
                event_time_ms=now, recv_time_ms=now,
            )
        )  # fmt: skip
        assert len(rig.venue.submitted) == sent

    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.stop_price) for r in again] == [
        (OrderType.STOP_MARKET, SELL, D("58800.0"))
    ]


def test_a_start_that_fails_inside_the_reconciliation_works_nothing():
    rig, stop, _take = _long_with_stop_and_take_profit()
    sent = len(rig.venue.submitted)
    now = rig.clock.now_ms()

    with pytest.raises(ConnectionError), rig.em.reconciling():
        rig.venue.emit(
            OrderCanceled(
                symbol=SYMBOL, client_order_id=stop.client_order_id, order_id=None,
                event_time_ms=now, recv_time_ms=now,
            )
        )  # fmt: skip
        raise ConnectionError("the exchange went away")

    assert len(rig.venue.submitted) == sent


def test_a_side_its_stop_closed_stays_held_across_a_restart(tmp_path):
    """First session: long 0.100, its stop fires, flat. The daemon restarts; the strategy (its
    indicators warmed) still says long. Without the journal's word the first target bought
    the long back at once; with it, only a turn of the strategy trades."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    first = make_rig(journal=journal, stop_loss_pct=D(2))  # type: ignore[arg-type]
    first.venue.journal = None
    first.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = first.last_cid()
    first.venue.accept(entry)
    first.venue.fill(entry, "60000")
    stop = first.venue.submitted[-1]
    first.venue.accept(stop.client_order_id)
    # the stop fires: fee 5880 x 0.05 % = 2.94, realized (58800 - 60000) x 0.100 = -120
    first.venue.fill(stop.client_order_id, "58800.0", "0.100")
    assert first.em.held_exits() == {SYMBOL: SELL}
    journal.close()

    journal = SqliteJournal(tmp_path, writer_thread=False)
    assert journal.last_fill_order(SYMBOL) == (SELL, OrderType.STOP_MARKET, OrderIntent.REDUCING)
    clock = SimClock(T0 + 60_000)
    book = BookKeeper(
        starting_balances=None, instruments={SYMBOL: INSTRUMENTS[SYMBOL]}, clock=clock
    )
    book.restore(journal)
    assert book.position(SYMBOL).qty == 0  # the stop's fill is in the journal
    second = make_rig(stop_loss_pct=D(2))
    second.em.restore_exit(SYMBOL, *journal.last_fill_order(SYMBOL))  # as the daemon does
    journal.close()

    second.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    assert second.venue.submitted == []
    second.say(TargetPosition(symbol=SYMBOL, qty=D("-0.100"), price=None, reason="test"))
    assert [(r.side, r.quantity) for r in second.venue.submitted] == [(SELL, D("0.100"))]


def test_restore_exit_holds_nothing_after_an_ordinary_fill_or_with_a_position_open():
    rig = make_rig(stop_loss_pct=D(2))
    rig.em.restore_exit(SYMBOL, SELL, OrderType.MARKET)  # the last fill: a strategy exit
    assert rig.em.held_exits() == {}
    rig.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = rig.last_cid()
    rig.venue.accept(entry)
    rig.venue.fill(entry, "60000")
    rig.em.restore_exit(SYMBOL, SELL, OrderType.STOP_MARKET)  # not flat: not its exit
    assert rig.em.held_exits() == {}


def _long_whose_stop_was_refused_as_past(tmp_path: Path) -> tuple[SqliteJournal, Rig, OrderRequest]:
    """A first session on a journal in `tmp_path`: long 0.100 filled at 60000, its stop-loss
    (2 %: 58800.0) refused as already triggered (-2021); returns the journal, the rig and the
    market close that refusal sent (not yet accepted)."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    first = make_rig(journal=journal, stop_loss_pct=D(2))  # type: ignore[arg-type]
    first.venue.journal = None
    first.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = first.last_cid()
    first.venue.accept(entry)
    first.venue.fill(entry, "60000")
    stop = first.venue.submitted[-1]
    first.venue.reject(stop.client_order_id, code=-2021, reason="Order would immediately trigger.")
    return journal, first, first.venue.submitted[-1]


def test_a_side_a_past_stops_close_closed_stays_held_across_a_restart(tmp_path):
    """First session: long 0.100, its stop-loss at 58800.0 refused as already triggered
    (-2021), so the position is closed at market (58700), flat, the long held. The daemon
    restarts; the strategy still says long: the journaled intent of that close keeps it held,
    as after the stop's own fill."""
    journal, first, close = _long_whose_stop_was_refused_as_past(tmp_path)
    assert (close.type, close.side, close.quantity, close.reduce_only) == (
        OrderType.MARKET, SELL, D("0.100"), True
    )  # fmt: skip
    first.venue.accept(close.client_order_id)
    first.venue.fill(close.client_order_id, "58700")
    assert first.em.held_exits() == {SYMBOL: SELL}
    journal.close()

    journal = SqliteJournal(tmp_path, writer_thread=False)
    last = journal.last_fill_order(SYMBOL)
    assert last == (SELL, OrderType.MARKET, OrderIntent.PAST_STOP_CLOSE)
    journal.close()
    second = make_rig(stop_loss_pct=D(2))
    second.em.restore_exit(SYMBOL, *last)  # as the daemon does

    assert second.em.held_exits() == {SYMBOL: SELL}
    second.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    assert second.venue.submitted == []


def test_a_past_stops_close_still_open_at_a_restart_holds_the_side_when_it_fills(tmp_path):
    """As above, but the daemon stops while the close (SELL 0.100 MARKET reduce-only) is
    open; it fills after the restart, at 58700: flat, the long held as in the last session."""
    journal, first, close = _long_whose_stop_was_refused_as_past(tmp_path)
    first.venue.accept(close.client_order_id)
    journal.close()

    em, venue, book, journal, _clock = _restarted(tmp_path, reducing=False)
    past = journal.open_orders_of(OrderIntent.PAST_STOP_CLOSE)
    assert past == {close.client_order_id: SYMBOL}  # the restored books' order keeps it
    # the exchange has it (its ids), and trade ids go on from the last session's
    venue.requests[close.client_order_id] = close
    venue._exchange_ids[close.client_order_id] = first.venue.order_id(close.client_order_id)
    venue._trade_ids = count(900_100)
    venue.fill(close.client_order_id, "58700")
    journal.close()

    assert book.position(SYMBOL).is_flat
    assert em.held_exits() == {SYMBOL: SELL}


def test_a_crossed_levels_close_still_open_at_a_restart_holds_the_side_when_it_fills(tmp_path):
    """First session: long 0.100 from 60000, its stop-loss at 58800.0 cancelled at the
    exchange (not by us) after the price fell to 58700: the plan closes at market for the
    level already crossed (SELL 0.100 reduce-only), accepted; the daemon stops. The close
    fills after the restart, at 58690: flat, the long held, from the intent the journal kept
    on the order (CROSSED_CLOSE), which the next restart reads too."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    first = make_rig(journal=journal, stop_loss_pct=D(2))  # type: ignore[arg-type]
    first.venue.journal = None
    first.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = first.last_cid()
    first.venue.accept(entry)
    first.venue.fill(entry, "60000")
    stop = first.venue.submitted[-1]
    first.venue.accept(stop.client_order_id)
    first.trade("58700")
    first.venue.confirm_cancel(stop.client_order_id)
    close = first.venue.submitted[-1]
    assert (close.type, close.side, close.quantity, close.reduce_only) == (
        OrderType.MARKET, SELL, D("0.100"), True
    )  # fmt: skip
    first.venue.accept(close.client_order_id)
    journal.close()

    em, venue, book, journal, _clock = _restarted(tmp_path, reducing=False)
    assert book.orders[close.client_order_id].intent is OrderIntent.CROSSED_CLOSE
    # the exchange has it (its ids), and trade ids go on from the last session's
    venue.requests[close.client_order_id] = close
    venue._exchange_ids[close.client_order_id] = first.venue.order_id(close.client_order_id)
    venue._trade_ids = count(900_100)
    venue.fill(close.client_order_id, "58690")

    assert book.position(SYMBOL).is_flat
    assert em.held_exits() == {SYMBOL: SELL}
    assert journal.last_fill_order(SYMBOL) == (SELL, OrderType.MARKET, OrderIntent.CROSSED_CLOSE)
    journal.close()


def test_restore_exit_holds_the_side_after_a_crossed_levels_close():
    # The last fill: the market close the plan sent for a level already crossed, flat.
    rig = make_rig(stop_loss_pct=D(2))
    rig.em.restore_exit(SYMBOL, SELL, OrderType.MARKET, OrderIntent.CROSSED_CLOSE)
    assert rig.em.held_exits() == {SYMBOL: SELL}


def test_restore_exit_holds_nothing_after_a_targets_reduce_only_close():
    # A market close of ours, but the strategy's own exit (intent REDUCING): not a stop's.
    rig = make_rig(stop_loss_pct=D(2))
    rig.em.restore_exit(SYMBOL, SELL, OrderType.MARKET, OrderIntent.REDUCING)
    assert rig.em.held_exits() == {}


def test_a_targets_resting_reduce_only_close_stays_out_of_the_order_budget_after_a_restart(
    tmp_path,
):
    """First session: long 0.100 at 60000; the target turns flat at 61000: a reduce-only
    SELL 0.100 LIMIT @ 61000 rests. After a restart (max_open_orders = 1) that close is still
    the daemon's risk-reducing order: the restored books hold it with its intent (the
    journal's `orders.intent`), also once the start-up reconciliation found it open at the
    exchange (which knows no intent), so an entry is not denied for the open-orders cap, as
    it was not before the restart."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    first = make_rig(journal=journal)  # type: ignore[arg-type]
    first.venue.journal = None
    first.say(TargetPosition(symbol=SYMBOL, qty=D("0.100"), price=None, reason="test"))
    entry = first.last_cid()
    first.venue.accept(entry)
    first.venue.fill(entry, "60000")
    first.say(TargetPosition(symbol=SYMBOL, qty=D(0), price=D(61000), reason="test"))
    close = first.venue.submitted[-1]
    assert (close.type, close.side, close.price, close.reduce_only) == (
        OrderType.LIMIT, SELL, D("61000.0"), True
    )  # fmt: skip
    first.venue.accept(close.client_order_id)
    journal.close()

    em, venue, book, journal, clock = _restarted(tmp_path, reducing=False)
    now = clock.now_ms()
    em.on_item(MarkPrice(SYMBOL, D(60000), D(60000), D("0.0001"), now + 1, now, now))
    at_exchange = replace(book.orders[close.client_order_id], intent=OrderIntent.ORDINARY)
    with em.reconciling():  # the start-up reconciliation: the close is open at the exchange
        venue.emit(_snapshot(clock, "0.100", open_orders=(at_exchange,)))
    journal.close()
    assert book.open_order_count() == 1 and venue.submitted == []
    assert book.orders[close.client_order_id].intent is OrderIntent.REDUCING
    instruments = {SYMBOL: INSTRUMENTS[SYMBOL]}
    config = replace(LIMITS, max_open_orders=1)
    risk = RiskManager(config=config, instruments=instruments, clock=clock, view=book)
    buy = OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.001"),
        client_order_id=f"{PREFIX}-900",
        price=D("59000"),
        time_in_force=TimeInForce.GTC,
    )

    approved = risk.check(buy, gap_open=False, clock_offset_ms=0)

    assert approved == buy


def test_a_fill_of_an_order_placed_outside_found_at_the_start_is_booked_not_ignored():
    """The start-up reconciliation books a fill made while the daemon was down of an order it
    never knew under "outside:<its client id>" (`gateway.venue_sync`): the ExecManager books
    it (it ignored fills of orders not ours) and protects the position it opened. A BUY 0.010
    at 60000 by hand, taker fee 0.05 % = 0.30 USDT; stop-loss 2 % below: 58800.0."""
    rig = make_rig(stop_loss_pct=D(2))
    fill = Fill(
        symbol="BTCUSDT", order_id=77, client_order_id="outside:web_Ab12", trade_id=501,
        side=Side.BUY, price=D("60000"), qty=D("0.010"), commission=D("0.30"),
        commission_asset="USDT", realized_pnl=D(0), is_maker=False, trade_time_ms=T0,
        recv_time_ms=T0,
    )  # fmt: skip
    wallet = rig.book.wallet()

    with rig.em.reconciling():
        rig.venue.emit(
            OrderPartiallyFilled(
                event_time_ms=T0,
                recv_time_ms=T0,
                fill=fill,
                cumulative_qty=D("0.010"),
                avg_price=D("60000"),
            )
        )

    assert rig.em.counters.ignored_events == 0 and rig.em.counters.fills == 1
    assert rig.book.position("BTCUSDT").qty == D("0.010")
    assert rig.book.wallet() == wallet - D("0.30")
    [stop] = rig.venue.submitted
    assert (stop.side, stop.type, stop.stop_price, stop.close_position) == (
        SELL,
        OrderType.STOP_MARKET,
        D("58800.0"),
        True,
    )
