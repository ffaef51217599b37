"""REDUCING keeps the position's stop-loss / take-profit on the exchange until it is flat.

The ExecManager over the real BookKeeper and RiskManager and the FakeVenue (which answers only
what the test tells it). Numbers by hand: a long 0.100 BTCUSDT bought at 60000 (taker fee
0.05 %: 3 USDT), stop-loss 2 % (58800.0, closePosition) and take-profit 2 % (61200.0,
reduce-only 0.100); the flatten is a reduce-only SELL 0.100 at the market.
"""

from decimal import Decimal as D

from core.account import Position
from core.enums import OrderType, TradingState
from core.events import CANCEL_ALL, CANCEL_ALL_BUT_PROTECTION, DecisionMade, TradingStateChanged
from core.orders import OrderProposal, OrderRequest, TargetPosition
from tests.trading_engine.support import BUY, SELL, make_rig

REDUCING, HALTED = TradingState.REDUCING, TradingState.HALTED
STOP, TAKE_PROFIT = OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET


def protected_long(**limits):
    """The rig holding the long 0.100 from 60000, its stop-loss and take-profit accepted."""
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(2), **limits)
    rig.say(TargetPosition(symbol="BTCUSDT", qty=D("0.100"), reason="test"))
    entry = rig.last_cid()
    rig.venue.accept(entry)
    rig.venue.fill(entry, "60000")
    stop, take_profit = rig.venue.submitted[-2:]
    assert (stop.type, stop.stop_price, stop.close_position) == (STOP, D("58800.0"), True)
    assert (take_profit.type, take_profit.stop_price, take_profit.quantity) == (
        TAKE_PROFIT,
        D("61200.0"),
        D("0.100"),
    )
    rig.venue.accept(stop.client_order_id)
    rig.venue.accept(take_profit.client_order_id)
    return rig, stop, take_profit


def killed_long():
    """`protected_long` after the kill switch (SIGUSR1): REDUCING, the flatten of the long
    sent and not yet answered."""
    rig, stop, take_profit = protected_long()
    rig.em.kill("SIGUSR1")
    return rig, stop, take_profit, flatten_of(rig)


def shape(order: OrderRequest) -> tuple:
    """What tells a flatten: (side, type, quantity, reduceOnly)."""
    return (order.side, order.type, order.quantity, order.reduce_only)


def flatten_of(rig) -> OrderRequest:
    flatten = rig.venue.submitted[-1]
    assert shape(flatten) == (SELL, OrderType.MARKET, D("0.100"), True)
    return flatten


def refuse(rig, flatten: OrderRequest) -> None:
    """The exchange refuses the flatten (a MARKET order): -4131, the best bid violates the
    symbol's PERCENT_PRICE bound around the mark (a book emptied in a fast market)."""
    rig.venue.reject(flatten.client_order_id, -4131, "The counterparty's best price ...")


def cancel_actions(rig) -> list[str]:
    return [e.action for e in rig.journaled(DecisionMade) if e.action.startswith("cancel")]


def test_a_refused_flatten_leaves_the_stop_on_the_exchange_and_the_retry_then_removes_it():
    rig, stop, take_profit, first = killed_long()

    refuse(rig, first)

    # Refused: the position keeps its stop-loss and take-profit, at the exchange and in the books.
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]
    assert rig.venue.cancel_alls == [] and rig.venue.cancels == []
    assert {stop.client_order_id, take_profit.client_order_id} <= set(rig.book.orders)
    assert rig.em.trading_state is REDUCING

    rig.at(rig.clock.now_ms() + 2_000).em.on_timer()  # flatten_retry_ms later
    again = flatten_of(rig)
    assert again is not first and rig.venue.cancel_alls == []
    rig.venue.accept(again.client_order_id)
    rig.venue.fill(again.client_order_id, "59000")

    # Flat: now the protection goes (one cancel-all), and HALTED once it is confirmed gone.
    assert rig.venue.cancel_alls == ["BTCUSDT"] and rig.em.trading_state is REDUCING
    rig.venue.confirm_cancel(stop.client_order_id)
    rig.venue.confirm_cancel(take_profit.client_order_id)
    assert rig.em.trading_state is HALTED
    assert rig.book.position("BTCUSDT").is_flat and not rig.book.orders
    # 10000 - 3 (entry fee) - 100 (0.100 x (59000 - 60000)) - 2.95 (59000 x 0.100 x 0.05 %)
    assert rig.book.wallet() == D("9894.05")
    assert cancel_actions(rig) == [CANCEL_ALL_BUT_PROTECTION, CANCEL_ALL]


def test_a_flatten_whose_outcome_is_unknown_keeps_the_stop_until_it_is_known_to_have_filled():
    rig, stop, take_profit, flatten = killed_long()

    rig.venue.unknown(flatten.client_order_id)  # a timeout: it may or may not have filled
    for _ in range(3):  # retries come, and change nothing while it is in doubt
        rig.at(rig.clock.now_ms() + 2_000).em.on_timer()

    assert rig.venue.submitted[-1] is flatten  # not a second flatten while one is in doubt
    assert rig.venue.cancel_alls == [] and rig.venue.cancels == []
    assert stop.client_order_id in rig.book.orders and rig.em.trading_state is REDUCING

    rig.venue.fill(flatten.client_order_id, "59500")  # the answer: it had filled
    assert rig.venue.cancel_alls == ["BTCUSDT"]
    rig.venue.confirm_cancel(stop.client_order_id)
    rig.venue.confirm_cancel(take_profit.client_order_id)
    assert rig.em.trading_state is HALTED and rig.book.position("BTCUSDT").is_flat


def test_a_stop_that_fires_while_the_flatten_is_in_flight_closes_it_without_a_flip():
    rig, stop, take_profit, flatten = killed_long()  # on its way, unanswered

    # The stop fires first and closes the whole position (closePosition) at 58800.
    rig.venue.fill(stop.client_order_id, "58800", "0.100")
    assert rig.book.position("BTCUSDT").qty == 0
    assert rig.em.trading_state is REDUCING  # the flatten's outcome is still to come
    assert rig.venue.cancel_alls == []  # not while an order of ours could still move it
    # ... then the flatten, reduce-only, finds nothing to close: the exchange refuses it.
    rig.venue.reject(flatten.client_order_id, -2022, "ReduceOnly Order is rejected.")

    assert rig.book.position("BTCUSDT").qty == rig.venue.positions["BTCUSDT"].qty == 0
    assert rig.venue.cancel_alls == ["BTCUSDT"]  # the take-profit left
    rig.venue.confirm_cancel(take_profit.client_order_id)
    assert rig.em.trading_state is HALTED
    # 10000 - 3 - 120 (0.100 x (58800 - 60000)) - 2.94 (58800 x 0.100 x 0.05 %)
    assert rig.book.wallet() == D("9874.06")


def test_the_kill_switch_on_a_flat_account_with_only_entries_halts_as_before():
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(2))
    rig.say(
        OrderProposal(
            symbol="BTCUSDT",
            side=BUY,
            type=OrderType.LIMIT,
            quantity=D("0.010"),
            price=D("59000"),
            reason="test",
        )
    )
    entry = rig.last_cid()
    rig.venue.accept(entry)

    rig.em.kill("SIGUSR1")
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]
    rig.venue.confirm_cancel(entry)

    assert rig.em.trading_state is HALTED
    assert rig.venue.cancel_alls == [] and len(rig.venue.submitted) == 1  # nothing else sent


def test_a_protective_order_the_exchange_already_ended_does_not_hold_the_halt_for_ever():
    """Flat, the take-profit's cancel finds nothing: the exchange had expired it and its
    report was lost. The cancel-all is sent again every flatten_retry_ms while the books hold
    it, and the next reconciliation, which no longer lists it, ends it: HALTED."""
    rig, stop, take_profit, flatten = killed_long()
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")
    rig.venue.confirm_cancel(stop.client_order_id)  # the take-profit's answer never comes

    rig.at(rig.clock.now_ms() + 2_000).em.on_timer()
    assert rig.venue.cancel_alls == ["BTCUSDT", "BTCUSDT"] and rig.em.trading_state is REDUCING

    rig.venue.reconciled(Position(symbol="BTCUSDT", qty=D(0), entry_price=D(0)))
    assert take_profit.client_order_id not in rig.book.orders
    assert rig.em.trading_state is HALTED


def test_a_protective_order_the_exchange_expires_ends_in_the_books_and_halts():
    rig, stop, take_profit, flatten = killed_long()
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")
    rig.venue.confirm_cancel(stop.client_order_id)

    rig.venue.expire(take_profit.client_order_id, "position closed")
    assert rig.em.trading_state is HALTED and not rig.book.orders


def test_a_position_found_while_halted_gets_a_stop_loss_until_it_is_flattened():
    """HALTED, a reconciliation finds a long 0.050 from 60000 the books had missed: back to
    REDUCING, the flatten, and a closePosition stop 2 % below its entry (58800.0) meanwhile."""
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(2))
    rig.em.kill("SIGUSR1")
    assert rig.em.trading_state is HALTED

    rig.venue.reconciled(Position(symbol="BTCUSDT", qty=D("0.050"), entry_price=D("60000")))

    flatten, stop = rig.venue.submitted
    assert shape(flatten) == (SELL, OrderType.MARKET, D("0.050"), True)
    assert (stop.side, stop.type, stop.stop_price, stop.close_position) == (
        SELL,
        STOP,
        D("58800.0"),
        True,
    )
    assert [e.current for e in rig.journaled(TradingStateChanged)][-1] is REDUCING
    rig.venue.accept(stop.client_order_id)
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")
    rig.venue.confirm_cancel(stop.client_order_id)
    assert rig.em.trading_state is HALTED and not rig.book.orders


def test_a_stop_the_exchange_removed_while_reducing_is_placed_again_with_the_flatten_retry():
    rig, stop, _take_profit, flatten = killed_long()
    refuse(rig, flatten)
    now = rig.clock.now_ms()
    # the exchange removed the stop itself (e.g. a cancel-all of its own)
    rig.venue.expire(stop.client_order_id)
    assert rig.venue.submitted[-1] is flatten  # nothing before the retry

    rig.at(now + 2_000).em.on_timer()

    again, new_stop = rig.venue.submitted[-2:]
    assert again.reduce_only and again.quantity == D("0.100")
    assert (new_stop.type, new_stop.stop_price, new_stop.close_position) == (
        STOP,
        D("58800.0"),
        True,
    )


def test_a_guard_stop_refused_as_past_right_after_a_refused_flatten_waits_for_its_backoff():
    # The flatten was refused (-4131) and the stop was gone: at the retry 2 s later both go
    # out again; the retried flatten is refused too, and the exchange refuses the stop as
    # already triggered (-2021). The flatten refused a moment ago waits for its backoff (4 s
    # after its second refusal), not sent again at once; the guard refused as past for this
    # position is not sent again while the flatten is on its way.
    rig, stop, _take_profit, flatten = killed_long()
    refuse(rig, flatten)
    now = rig.clock.now_ms()
    rig.venue.expire(stop.client_order_id)
    rig.at(now + 2_000).em.on_timer()
    again, new_stop = rig.venue.submitted[-2:]
    refuse(rig, again)
    sent = len(rig.venue.submitted)

    rig.venue.reject(new_stop.client_order_id, -2021, "Order would immediately trigger.")
    for ms in (3_000, 4_000, 5_000):  # the timer's ticks before the backoff is over
        rig.at(now + ms).em.on_timer()
    assert len(rig.venue.submitted) == sent

    rig.at(now + 6_000).em.on_timer()  # 4 s after the second refusal

    [third] = rig.venue.submitted[sent:]
    assert shape(third) == (SELL, OrderType.MARKET, D("0.100"), True)
    assert rig.em.trading_state is REDUCING


def test_a_refused_flatten_waits_for_its_backoff_but_a_new_position_is_flattened_at_once():
    """Refused twice (-4131), the flatten of the long 0.100 waits 4 s; the take-profit fills
    0.040 of it 1 s later: the long 0.060 is another position, flattened at once (a real
    change goes now; the same position waits)."""
    rig, _stop, take_profit, first = killed_long()
    refuse(rig, first)
    now = rig.clock.now_ms()
    rig.at(now + 2_000).em.on_timer()  # 2 s after the refusal: the first retry
    second = flatten_of(rig)
    refuse(rig, second)
    rig.at(now + 3_000).em.on_timer()  # the next is due 4 s after that refusal: not yet
    assert rig.venue.submitted[-1] is second

    rig.venue.fill(take_profit.client_order_id, "61200", "0.040")

    third = rig.venue.submitted[-1]
    assert shape(third) == (SELL, OrderType.MARKET, D("0.060"), True)
    assert rig.book.position("BTCUSDT").qty == D("0.060")


def test_the_shutdowns_cancels_are_decided_per_symbol_holding_an_order_they_cancel():
    """`decide_stop_cancels`, before the venue's stop cancels: a long kept open keeps its
    stop-loss and take-profit (nothing else open: no decision); with a bid resting beside
    them, a cancel-all but the protection; with none kept, a cancel-all."""
    rig, _, _ = protected_long()
    before = len(cancel_actions(rig))

    rig.em.decide_stop_cancels("the daemon stops: SIGTERM", keep_protection=True)
    assert len(cancel_actions(rig)) == before

    rig.say(TargetPosition(symbol="BTCUSDT", qty=D("0.200"), price=D("59000.0"), reason="bid"))
    rig.em.decide_stop_cancels("the daemon stops: SIGTERM", keep_protection=True)
    rig.em.decide_stop_cancels("the daemon stops: duration reached", keep_protection=False)

    made = [e for e in rig.journaled(DecisionMade) if e.action.startswith("cancel")][before:]
    assert [(e.symbol, e.strategy, e.action, e.reason) for e in made] == [
        ("BTCUSDT", "exec_manager", CANCEL_ALL_BUT_PROTECTION, "the daemon stops: SIGTERM"),
        ("BTCUSDT", "exec_manager", CANCEL_ALL, "the daemon stops: duration reached"),
    ]
    assert made[0].event_time_ms == rig.clock.now_ms()
    assert rig.venue.cancel_alls == [] and rig.venue.cancels == []  # the venue's stop sends them
