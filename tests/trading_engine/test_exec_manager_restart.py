"""The ExecManager after a restart: the books restored from a SQLite journal that a killed
daemon left (`kill -9` with an order in flight), a new ExecManager over them, and the start-up
reconciliation's events coming in. Nothing already sent may be sent again while its outcome
is being resolved.

Numbers by hand: BTCUSDT marks at 60000; long 0.010 from 60000 (entry fee 0.30 USDT).
"""

from decimal import Decimal as D

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderStatus, OrderType, TradingState
from core.events import VenueSnapshot
from core.market import Trade
from core.orders import ClientOrderIds, OrderRequest, TargetPosition
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.fake_venue import FakeVenue
from tests.trading_engine.support import INSTRUMENTS, LIMITS, PREFIX, SELL, T0, make_rig
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


def _restarted(tmp_path) -> tuple[ExecManager, FakeVenue, BookKeeper, SqliteJournal, SimClock]:
    """Second session as the daemon builds it: books restored from the journal, the journaled
    trading state (REDUCING) restored, a new ExecManager and venue."""
    clock = SimClock(T0 + 60_000)
    journal = SqliteJournal(tmp_path, writer_thread=False)
    instruments = {SYMBOL: INSTRUMENTS[SYMBOL]}
    book = BookKeeper(starting_balances=None, instruments=instruments, clock=clock)
    book.restore(journal)
    risk = RiskManager(config=LIMITS, instruments=instruments, clock=clock, view=book)
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


def _snapshot(clock: SimClock, qty: str) -> VenueSnapshot:
    now = clock.now_ms()
    balance = Balance(asset="USDT", wallet_balance=D("9999.70"), available_balance=D("9999.70"))
    position = Position(symbol=SYMBOL, qty=D(qty), entry_price=D("60000"), leverage=5)
    return VenueSnapshot(
        event_time_ms=now,
        recv_time_ms=now,
        balances=(balance,),
        positions=(position,),
        open_orders=(),
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
