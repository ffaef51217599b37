"""ExecManager over the real BookKeeper and RiskManager, a MemoryJournal and the FakeVenue.

Numbers by hand: BTCUSDT marks at 60000; a MARKET fill pays 0.05 % taker fee
(0.100 BTC x 60000 = 6000 USDT notional -> 3 USDT).
"""

import logging
from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.account import Balance, Position
from core.enums import OrderStatus, OrderType, TimeInForce, TradingState
from core.events import (
    BalanceChanged,
    DecisionMade,
    GapCause,
    GapDetected,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    StreamState,
    StreamStateChanged,
    TradingStateChanged,
    VenueSnapshot,
)
from core.journal import MemoryJournal
from core.orders import Fill, Order, OrderProposal, OrderRequest, TargetPosition
from tests.trading_engine.support import BUY, MINUTE, SELL, T0, make_bar, make_rig
from trading_engine.exec_manager import EXEC_STRATEGY, BarSource, ExecConfig

MARKET, LIMIT = OrderType.MARKET, OrderType.LIMIT
SLOW_STALE = ExecConfig(symbols=("BTCUSDT",), stale_order_ms=3_600_000)


def target(qty: str, price: str | None = None, symbol: str = "BTCUSDT") -> TargetPosition:
    return TargetPosition(
        symbol=symbol, qty=D(qty), price=None if price is None else D(price), reason="test"
    )


def limit(side, qty: str, price: str) -> OrderProposal:
    return OrderProposal(
        symbol="BTCUSDT",
        side=side,
        type=LIMIT,
        quantity=D(qty),
        price=D(price),
        time_in_force=TimeInForce.GTC,
        reason="test",
    )


def go_long(rig, qty: str = "0.100", price: str = "60000") -> str:
    """Take a long position through the pipeline: target, MARKET order, accept, fill."""
    rig.say(target(qty))
    cid = rig.last_cid()
    rig.venue.accept(cid)
    rig.venue.fill(cid, price)
    assert rig.book.position("BTCUSDT").qty == D(qty)
    return cid


def add_to_long_with_a_stop(rig) -> tuple[OrderRequest, OrderRequest]:
    """Long 0.100 from 60000 with its stop (58800.0) accepted, then added to at 62000: the
    entry moves to 61000, so the stop is to move to 59780.0 on the same side. (The old stop,
    the add order)."""
    go_long(rig, "0.100", "60000")
    old = rig.venue.submitted[-1]
    rig.venue.accept(old.client_order_id)
    rig.say(target("0.200"))
    add = rig.venue.submitted[-1]
    rig.venue.accept(add.client_order_id)
    rig.venue.fill(add.client_order_id, "62000")
    return old, add


# --- journal before venue ------------------------------------------------------------------------


def test_decision_then_order_submitted_are_journaled_before_the_venue_sees_the_order():
    rig = make_rig()
    rig.say(target("0.010"))
    [request] = rig.venue.submitted
    seen = rig.venue.journal_at_submit[0]
    assert [type(e).__name__ for e in seen] == ["DecisionMade", "OrderSubmitted"]
    assert seen[0].action == "target 0.010 (market)" and seen[0].strategy == "scripted"
    assert seen[1].request == request
    assert (request.side, request.type, request.quantity, request.reduce_only) == (
        BUY,
        MARKET,
        D("0.010"),
        False,
    )
    assert rig.book.orders[request.client_order_id].status is OrderStatus.PENDING_SUBMIT


def test_venue_events_are_journaled_then_booked_even_when_the_venue_answers_inside_submit():
    rig = make_rig()
    rig.venue.fill_market_at = D("60000")  # a synchronous venue: accepts and fills in submit
    rig.say(target("0.010"))
    assert rig.kinds() == ["DecisionMade", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert rig.book.position("BTCUSDT").qty == D("0.010")
    assert not rig.book.orders and len(rig.venue.submitted) == 1


# --- targets -> orders ---------------------------------------------------------------------------


def test_no_second_order_while_the_first_is_unanswered():
    rig = make_rig()
    rig.say(target("0.010"))
    rig.say(target("0.010"))
    rig.say(target("0.020"))  # even a bigger target waits for the answer
    assert len(rig.venue.submitted) == 1
    assert [e.action for e in rig.journaled(DecisionMade)] == [
        "target 0.010 (market)",
        "target 0.020 (market)",
    ]


def test_a_target_already_held_places_nothing_and_journals_nothing_new():
    rig = make_rig()
    go_long(rig, "0.010")
    before = len(rig.journal.events)
    rig.say(target("0.010"))
    assert len(rig.venue.submitted) == 1 and len(rig.journal.events) == before


def test_a_target_is_netted_against_the_order_already_working_toward_it():
    rig = make_rig(config=SLOW_STALE)
    rig.say(target("0.010", price="59900"))
    first = rig.last_cid()
    rig.venue.accept(first)
    rig.venue.fill(first, "59900", "0.004", maker=True)  # position 0.004, 0.006 still working
    rig.say(target("0.015", price="59900"))
    assert len(rig.venue.submitted) == 2
    extra = rig.venue.submitted[-1]
    # 0.015 wanted - 0.004 held - 0.006 working = 0.005 more, at the same limit price
    want = (BUY, LIMIT, D("0.005"), D("59900.0"))
    assert (extra.side, extra.type, extra.quantity, extra.price) == want
    assert extra.time_in_force is TimeInForce.GTC


def test_a_working_order_that_overshoots_is_cancelled_then_replaced_once_cancelled():
    rig = make_rig(config=SLOW_STALE)
    rig.say(target("0.010", price="59900"))
    first = rig.last_cid()
    rig.venue.accept(first)
    rig.say(target("0.004", price="59900"))
    assert rig.venue.cancels == [("BTCUSDT", first)] and len(rig.venue.submitted) == 1
    rig.say(target("0.004", price="59900"))  # the cancel is on its way: nothing new
    assert len(rig.venue.cancels) == 1 and len(rig.venue.submitted) == 1
    rig.venue.confirm_cancel(first)
    replacement = rig.venue.submitted[-1]
    want = (BUY, D("0.004"), D("59900.0"))
    assert (replacement.side, replacement.quantity, replacement.price) == want


def test_a_working_order_at_another_price_is_cancelled_first():
    rig = make_rig(config=SLOW_STALE)
    rig.say(target("0.010", price="59900"))
    first = rig.last_cid()
    rig.venue.accept(first)
    rig.say(target("0.010", price="59950"))
    assert rig.venue.cancels == [("BTCUSDT", first)]
    rig.venue.confirm_cancel(first)
    assert rig.venue.submitted[-1].price == D("59950.0")


def test_flipping_from_long_to_short_is_one_order_and_going_flat_is_reduce_only():
    rig = make_rig()
    go_long(rig, "0.010")
    rig.say(target("-0.010"))
    flip = rig.venue.submitted[-1]
    want = (SELL, MARKET, D("0.020"), False)
    assert (flip.side, flip.type, flip.quantity, flip.reduce_only) == want
    rig.venue.accept(flip.client_order_id)
    rig.venue.fill(flip.client_order_id, "60000")
    rig.say(target("0"))
    flat = rig.venue.submitted[-1]
    assert (flat.side, flat.quantity, flat.reduce_only) == (BUY, D("0.010"), True)


def test_less_than_one_lot_from_the_target_places_nothing():
    rig = make_rig()
    go_long(rig, "0.010")
    rig.say(target("0.0105"))  # 0.0005 BTC away; a step is 0.001
    assert len(rig.venue.submitted) == 1


def test_a_fill_short_of_the_target_is_completed_without_waiting_for_the_next_bar():
    rig = make_rig(config=SLOW_STALE)
    rig.say(target("0.010", price="59900"))
    cid = rig.last_cid()
    rig.venue.accept(cid)
    rig.venue.fill(cid, "59900", "0.003", maker=True)
    rig.venue.emit(  # the rest expires (e.g. an IOC remainder)
        OrderCanceled(
            event_time_ms=T0, recv_time_ms=T0, symbol="BTCUSDT", client_order_id=cid, order_id=1
        )
    )
    rest = rig.venue.submitted[-1]
    assert (rest.side, rest.quantity, rest.price) == (BUY, D("0.007"), D("59900.0"))


# --- risk ----------------------------------------------------------------------------------------


def test_a_denied_order_is_journaled_with_its_reason_and_never_reaches_the_venue():
    rig = make_rig()
    rig.gaps.add("BTCUSDT")
    rig.say(target("0.010"))
    assert rig.venue.submitted == []
    [denied] = rig.journaled(RiskDenied)
    assert "market-data gap open" in denied.reason
    assert rig.kinds() == ["DecisionMade", "RiskDenied"]
    assert not rig.book.orders


def test_denied_entries_are_logged_once_per_reason_and_their_end_once(caplog):
    """An operator whose daemon says ACTIVE but stopped trading (its market data seconds behind,
    a gap being backfilled) reads why in the log: one INFO line for the reason, one WARNING once
    such denials have lasted DENIAL_WARN_MS (not one per target), and one line when an entry
    passes again."""
    rig = make_rig()
    rig.gaps.add("BTCUSDT")
    with caplog.at_level(logging.INFO, logger="trading_engine.exec_manager"):
        rig.say(target("0.010"))
        rig.clock.advance_ms(59_000)
        rig.say(target("0.020"))  # 60 s later: denied for the same reason
        rig.say(target("0.010"))  # later still: said once already
        rig.gaps.clear()
        rig.say(target("0.020"))

    assert len(rig.journaled(RiskDenied)) == 3
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    gap = "market-data gap open: no new entries until it is healed"
    again = "denied again for this reason: journaled, not logged, until an entry passes"
    assert said == [
        ("INFO", f"BTCUSDT: BUY 0.010 MARKET denied: {gap}; {again}"),
        ("WARNING", f"BTCUSDT: BUY 0.020 MARKET denied for 60 s: {gap}; {again}"),
        ("INFO", "BTCUSDT: entries pass the risk checks again"),
    ]
    assert [r.quantity for r in rig.venue.submitted] == [D("0.020")]


def test_a_denied_part_of_a_target_beyond_max_qty_is_logged_with_what_was_asked(caplog):
    """A target beyond the symbol's maxQty (1000 BTC an order here) goes in parts; a denied
    part's line named only the part ("BUY 1000.000 MARKET denied"), not the 1,500 BTC asked."""
    rig = make_rig()
    rig.gaps.add("BTCUSDT")
    with caplog.at_level(logging.INFO, logger="trading_engine.exec_manager"):
        rig.say(target("1500"))

    [denied] = rig.journaled(RiskDenied)
    assert denied.request.quantity == D("1000.000")
    assert caplog.records[-1].getMessage() == (
        "BTCUSDT: BUY 1000.000 MARKET (a part of the 1500.000 asked: at most 1000.000 an order, "
        "the symbol's maxQty) denied: market-data gap open: no new entries until it is healed; "
        "denied again for this reason: journaled, not logged, until an entry passes"
    )


def test_what_a_target_asked_is_worked_out_only_for_a_denied_order(monkeypatch):
    """The part's "asked" is for a denial's log line: worked out for every target order, it
    was calls on the per-order path (690 -> 691 per order in bench_backtest.py --profile)."""
    import trading_engine.exec_manager as exec_manager

    calls: list[object] = []
    real = exec_manager._asked
    monkeypatch.setattr(exec_manager, "_asked", lambda *a: calls.append(a) or real(*a))
    rig = make_rig()

    rig.say(target("0.010"))

    assert [r.quantity for r in rig.venue.submitted] == [D("0.010")]
    assert calls == []


def test_a_short_wait_is_not_a_warning_and_denials_differing_in_their_figures_are_one_kind(
    caplog,
):
    """Every start denies its first entries while the backfill's gap heals: INFO, not a
    WARNING. Denials whose reasons differ only in their numbers (an order's notional) are one
    kind: the WARNING comes when that kind has lasted DENIAL_WARN_MS, not a line per figure."""
    rig = make_rig(max_order_notional_usdt=D(500), max_position_notional_usdt=D(500))
    with caplog.at_level(logging.INFO, logger="trading_engine.exec_manager"):
        rig.gaps.add("BTCUSDT")
        rig.say(target("0.001"))
        rig.gaps.clear()
        rig.say(target("0.001"))  # passes: the wait is over, never a WARNING
        rig.venue.accept(cid := rig.last_cid())
        rig.venue.fill(cid, "60000")
        rig.say(target("0.010"))  # 600 USDT: over the cap
        rig.say(target("0.015"))  # 900 USDT, 1 s later: one kind, said once
        rig.clock.advance_ms(58_000)
        rig.say(target("0.020"))  # 1,200 USDT, 60 s after the first
    said = [(r.levelname, r.getMessage().split(":")[1].strip()) for r in caplog.records]
    assert said == [
        ("INFO", "BUY 0.001 MARKET denied"),
        ("INFO", "entries pass the risk checks again"),
        ("INFO", "BUY 0.009 MARKET denied"),
        ("WARNING", "BUY 0.019 MARKET denied for 60 s"),
    ]
    assert "exceeds max 500 USDT" in caplog.records[-1].getMessage()
    assert len(rig.journaled(RiskDenied)) == 4  # each denial journaled, whatever is logged


def test_a_gap_in_one_symbols_trades_holds_that_symbols_entries_only():
    """Trading BTCUSDT and ETHUSDT: ETHUSDT's trades being backfilled says nothing of
    BTCUSDT's prices, so BTCUSDT's entry goes out and ETHUSDT's waits."""
    rig = make_rig(symbols=("BTCUSDT", "ETHUSDT"))
    rig.gaps.add("ETHUSDT")

    rig.say(target("0.100", symbol="ETHUSDT"), target("0.002"))

    assert [(r.symbol, r.quantity) for r in rig.venue.submitted] == [("BTCUSDT", D("0.002"))]
    [denied] = rig.journaled(RiskDenied)
    assert denied.request.symbol == "ETHUSDT"
    assert "market-data gap open" in denied.reason


def test_a_target_denied_again_for_the_same_reason_is_counted_not_journaled_again():
    """Backfilling a gap after downtime: the strategy repeats its target at every bar; the
    journal gets the decision and its denial once, then the order once the gap is healed."""
    rig = make_rig()
    rig.gaps.add("BTCUSDT")
    for _ in range(3):
        rig.say(target("0.010"))
    assert rig.kinds() == ["DecisionMade", "RiskDenied"]
    assert (rig.em.counters.denied, rig.em.counters.denied_repeats) == (1, 2)
    assert rig.em.counters.decisions == 1
    rig.gaps.clear()
    rig.say(target("0.010"))
    assert rig.kinds(2) == ["DecisionMade", "OrderSubmitted"]
    assert rig.venue.submitted[-1].quantity == D("0.010")


def test_a_repeated_target_denied_for_a_new_reason_or_after_a_new_target_is_journaled():
    rig = make_rig()
    rig.gaps.add("BTCUSDT")
    rig.say(target("0.010"))
    rig.say(target("0.020"))  # a new decision: its denial is news
    rig.say(target("0.010"))  # back to the first target: news again
    rig.say(target("0.010"))  # the same again: counted
    assert rig.kinds() == ["DecisionMade", "RiskDenied"] * 3
    assert rig.em.counters.denied_repeats == 1
    rig.gaps.clear()
    rig.offset_ms[0] = 10**9  # a different reason for the same order
    rig.say(target("0.010"))
    assert rig.kinds(6) == ["DecisionMade", "RiskDenied"]
    assert "clock offset" in rig.journaled(RiskDenied)[-1].reason


def test_a_reversal_the_order_cap_would_deny_is_closed_first_then_opened():
    """Long 0.005 BTC (300 USDT) to short 0.005 is one order of 0.010 (600 USDT): above a cap
    of 500 it would be denied at every bar and the position would stay long. It is closed
    (reduce-only, which no size limit refuses), then opened once flat."""
    rig = make_rig(max_order_notional_usdt=D(500))
    rig.say(target("0.005"))
    rig.venue.accept(cid := rig.last_cid())
    rig.venue.fill(cid, "60000")
    rig.say(target("-0.005"))
    close = rig.venue.submitted[-1]
    assert (close.side, close.quantity, close.reduce_only) == (SELL, D("0.005"), True)
    rig.venue.accept(close.client_order_id)
    rig.venue.fill(close.client_order_id, "60000")
    assert rig.book.position("BTCUSDT").is_flat
    opening = rig.venue.submitted[-1]
    assert opening is not close
    assert (opening.side, opening.quantity, opening.reduce_only) == (SELL, D("0.005"), False)
    assert not rig.journaled(RiskDenied)


def test_a_reversal_refused_for_margin_closes_the_old_side_first():
    """Long 0.050 from 60000 (3000 USDT; the books hold 150 USDT of margin for it at their
    default leverage 20x, fee 1.50) on a 700 USDT wallet: 548.50 available. The flip to
    short 0.050 opens 0.050 more, 600 USDT of margin at the risk limit's 5x: refused. Before,
    the long stayed open while the strategy said short, bar after bar."""
    rig = make_rig(balance="700")
    go_long(rig, "0.050")

    rig.say(target("-0.050"))
    [denied] = rig.journaled(RiskDenied)
    close = rig.venue.submitted[-1]
    rig.venue.accept(close.client_order_id)
    rig.venue.fill(close.client_order_id, "60000")

    assert (denied.request.side, denied.request.quantity, denied.request.reduce_only) == (
        SELL,
        D("0.100"),
        False,
    )
    assert denied.reason == (
        "insufficient margin: order needs 600.00 USDT at 5x, available 548.50 USDT (reserve 0 USDT)"
    )
    assert (close.side, close.type, close.quantity, close.reduce_only) == (
        SELL,
        MARKET,
        D("0.050"),
        True,
    )
    decision = rig.journaled(DecisionMade)[-2]  # the one before the opening order's
    assert (decision.action, decision.reason) == (
        "close SELL 0.050 reduce-only first",
        f"the reversal was refused: {denied.reason}",
    )
    assert rig.book.position("BTCUSDT").is_flat
    opening = rig.venue.submitted[-1]  # flat now: the short needs 600 of 697.00 (2 fees)
    assert (opening.side, opening.quantity, opening.reduce_only) == (SELL, D("0.050"), False)


def test_a_reversal_refused_by_the_order_rate_closes_the_old_side_at_once():
    rig = make_rig(max_orders_per_minute=2)
    go_long(rig, "0.010")
    go_long(rig, "0.020")  # the second order of the minute

    rig.say(target("-0.020"))

    [denied] = rig.journaled(RiskDenied)
    close = rig.venue.submitted[-1]
    assert (denied.request.quantity, denied.reason) == (
        D("0.040"),
        "max orders per minute: 2 sent in the last 60 s (max 2)",
    )
    assert (close.side, close.quantity, close.reduce_only) == (SELL, D("0.020"), True)


def test_a_reversal_within_the_order_cap_is_one_order():
    rig = make_rig()  # cap 10,000 USDT
    rig.say(target("0.005"))
    rig.venue.accept(cid := rig.last_cid())
    rig.venue.fill(cid, "60000")
    rig.say(target("-0.005"))
    flip = rig.venue.submitted[-1]
    assert (flip.side, flip.quantity, flip.reduce_only) == (SELL, D("0.010"), False)


def test_a_reversal_exactly_at_the_order_cap_is_one_order_a_cent_over_closes_first():
    """Long 0.005 to short 0.005 is one SELL of 0.010 = 600 USDT at the mark: the plan uses
    the RiskManager's own order-notional comparison, so at a cap of 600 it is one order (which
    the check approves), and at 599.99 the long is closed first (reduce-only)."""
    sent = {}
    for cap in ("600", "599.99"):
        rig = make_rig(max_order_notional_usdt=D(cap))
        rig.say(target("0.005"))
        rig.venue.accept(cid := rig.last_cid())
        rig.venue.fill(cid, "60000")
        rig.say(target("-0.005"))
        assert not rig.journaled(RiskDenied)
        last = rig.venue.submitted[-1]
        sent[cap] = (last.side, last.quantity, last.reduce_only)

    assert sent["600"] == (SELL, D("0.010"), False)
    assert sent["599.99"] == (SELL, D("0.005"), True)


@pytest.mark.parametrize(("price", "ordered"), [("10000.0", True), ("9999.9", False)])
def test_a_target_order_of_exactly_the_min_notional_is_sent_one_tick_under_is_not(price, ordered):
    """At mark 10000, a target of 0.001 BTC at 10000.0 is 10 USDT, the exchange's minimum
    (MIN_NOTIONAL, as `Instrument.check_min_notional` compares it): sent; at 9999.9 it is
    9.9999 USDT, which the exchange would refuse: no order."""
    rig = make_rig(mark="10000")
    rig.say(target("0.001", price=price))
    assert bool(rig.venue.submitted) is ordered
    assert not rig.journaled(RiskDenied)


def test_rejections_feed_the_circuit_breaker():
    rig = make_rig(circuit_breaker_errors=2)
    for _ in range(2):
        rig.say(limit(BUY, "0.010", "59000"))
        rig.venue.reject(rig.last_cid())
    reducing, halted = rig.journaled(TradingStateChanged)  # flat, nothing open: halts at once
    assert reducing.current is TradingState.REDUCING and "circuit breaker" in reducing.reason
    assert halted.current is TradingState.HALTED is rig.em.trading_state


def test_post_only_and_fok_refusals_do_not_feed_the_circuit_breaker():
    """-5022 (a post-only order that would have taken) and -5021 (a FOK that could not fill)
    are the time in force at work: counted as rejections, never a reason to halt."""
    rig = make_rig(circuit_breaker_errors=2)
    for code in (-5022, -5022, -5021, -5022):
        rig.say(limit(BUY, "0.010", "59000"))
        rig.venue.reject(rig.last_cid(), code=code, reason="time in force")

    assert rig.journaled(TradingStateChanged) == []
    assert rig.em.trading_state is TradingState.ACTIVE
    assert rig.em.counters.rejected_orders == 4


# --- stale orders --------------------------------------------------------------------------------


def test_an_order_older_than_stale_order_ms_is_cancelled_once():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    rig.say(limit(BUY, "0.010", "59000"))
    cid = rig.last_cid()
    created = rig.clock.now_ms()
    rig.venue.accept(cid)
    rig.at(created + 29_999).trade("60000")
    assert rig.venue.cancels == []
    rig.at(created + 30_000).trade("60000")
    assert rig.venue.cancels == [("BTCUSDT", cid)]
    rig.at(created + 30_001).trade("60000")
    assert len(rig.venue.cancels) == 1
    decision = rig.journaled(DecisionMade)[-1]
    assert (decision.strategy, decision.action) == (EXEC_STRATEGY, f"cancel {cid}")
    assert decision.reason == "stale: open 30000 ms (max 30000 ms)"
    rig.venue.confirm_cancel(cid)
    assert not rig.book.orders


def test_an_unanswered_order_is_not_cancelled_before_the_venue_answers():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    rig.say(limit(BUY, "0.010", "59000"))
    cid = rig.last_cid()
    created = rig.clock.now_ms()
    rig.at(created + 30_000).trade("60000")
    assert rig.venue.cancels == []
    rig.venue.accept(cid)
    rig.at(created + 31_000).trade("60000")  # looked at again a second later
    assert rig.venue.cancels == [("BTCUSDT", cid)]


def test_a_lost_cancel_is_sent_again_after_another_stale_period():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    rig.say(limit(BUY, "0.010", "59000"))
    cid = rig.last_cid()
    created = rig.clock.now_ms()
    rig.venue.accept(cid)
    rig.at(created + 30_000).trade("60000")
    rig.at(created + 60_000).trade("60000")
    assert rig.venue.cancels == [("BTCUSDT", cid)] * 2


# --- portfolio limits: REDUCING -> HALTED --------------------------------------------------------


@pytest.mark.parametrize("reason", ["WITHDRAW", "DEPOSIT"])
def test_money_moved_in_or_out_is_neither_a_loss_nor_a_gain_for_the_portfolio_limits(reason):
    """A withdrawal of 20 % is no 20 % drawdown (it halted and flattened the account); a
    deposit is no new peak to draw down from."""
    rig = make_rig(max_drawdown_pct=D(1), max_daily_loss_usdt=D(100))
    go_long(rig, "0.100")  # fee 3 USDT: equity 9997, peak 10000
    moved = D(-2000) if reason == "WITHDRAW" else D(2000)
    wallet = rig.book.wallet() + moved
    now = rig.clock.now_ms()
    rig.venue.emit(
        BalanceChanged(
            event_time_ms=now,
            recv_time_ms=now,
            balance=Balance(asset="USDT", wallet_balance=wallet, available_balance=wallet),
            reason=reason,
        )
    )
    rig.at(now + 2_000).mark("60000")
    assert rig.book.transfers == moved
    assert rig.em.trading_state is TradingState.ACTIVE

    rig.mark("59300")  # unrealized -70: trading equity 9927, 0.73 % below its peak 10000
    assert rig.em.trading_state is TradingState.ACTIVE
    rig.mark("59000")  # -100: 1.03 % below it, and 103 USDT lost today
    assert rig.em.trading_state is TradingState.REDUCING
    [reducing] = rig.journaled(TradingStateChanged)
    assert "max daily loss: lost 103.00 USDT" in reducing.reason


def test_drawdown_breach_cancels_flattens_halts_and_denies_later_signals():
    rig = make_rig(max_drawdown_pct=D(1))
    go_long(rig, "0.100")  # fee 3 USDT: equity 9997, peak 10000
    rig.say(limit(SELL, "0.050", "61000"))
    resting = rig.last_cid()
    rig.venue.accept(resting)

    rig.mark("59000")  # unrealized -100: equity 9897 is 1.03 % below the peak 10000

    assert rig.em.trading_state is TradingState.REDUCING
    [reducing] = rig.journaled(TradingStateChanged)
    assert reducing.current is TradingState.REDUCING and "max drawdown" in reducing.reason
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"] and rig.venue.cancel_alls == []
    flatten = rig.venue.submitted[-1]
    assert (flatten.side, flatten.type, flatten.quantity, flatten.reduce_only) == (
        SELL,
        MARKET,
        D("0.100"),
        True,
    )
    rig.venue.confirm_cancel(resting)
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "59000")

    assert rig.em.trading_state is TradingState.HALTED
    assert rig.book.position("BTCUSDT").is_flat and not rig.book.orders
    assert [e.current for e in rig.journaled(TradingStateChanged)] == [
        TradingState.REDUCING,
        TradingState.HALTED,
    ]
    sent = len(rig.venue.submitted)
    rig.say(target("0.100"))
    assert len(rig.venue.submitted) == sent
    denied = rig.journaled(RiskDenied)[-1]
    assert denied.reason.startswith("trading state HALTED (") and "max drawdown" in denied.reason
    assert rig.kinds()[-2:] == ["DecisionMade", "RiskDenied"]
    # A priced target is journaled as the order it would have been: LIMIT, resting GTC.
    rig.say(target("0.100", price="58000"))
    priced = rig.journaled(RiskDenied)[-1].request
    assert (priced.side, priced.type, priced.quantity, priced.price) == (
        BUY,
        LIMIT,
        D("0.100"),
        D("58000"),
    )
    assert priced.time_in_force is TimeInForce.GTC
    assert denied.request.time_in_force is None  # the market one has none


def test_kill_switch_file_does_the_same_within_a_second(tmp_path):
    kill_file = tmp_path / "KILL"
    rig = make_rig(kill_switch_file=str(kill_file))
    go_long(rig, "0.010")
    kill_file.touch()
    rig.at(rig.clock.now_ms() + 1_000).trade("60000")
    assert rig.em.trading_state is TradingState.REDUCING
    assert "kill switch" in rig.journaled(TradingStateChanged)[0].reason
    flatten = rig.venue.submitted[-1]
    assert (flatten.side, flatten.quantity, flatten.reduce_only) == (SELL, D("0.010"), True)
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")
    assert rig.em.trading_state is TradingState.HALTED


def test_kill_call_flattens_and_a_failed_flatten_is_sent_again():
    rig = make_rig()
    go_long(rig, "0.010")
    rig.em.kill("SIGUSR1")
    first = rig.venue.submitted[-1]
    assert first.reduce_only and rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]
    rig.venue.reject(first.client_order_id, -2022, "ReduceOnly Order is rejected.")
    rig.at(rig.clock.now_ms() + 1_999).trade("60000")
    assert rig.venue.submitted[-1] is first
    rig.at(rig.clock.now_ms() + 1).trade("60000")  # flatten_retry_ms = 2000 later
    again = rig.venue.submitted[-1]
    assert again is not first and (again.side, again.quantity, again.reduce_only) == (
        SELL,
        D("0.010"),
        True,
    )


def test_a_position_that_appears_while_reducing_is_flattened_at_once_and_once():
    rig = make_rig()
    rig.say(limit(BUY, "0.010", "59000"))
    resting = rig.last_cid()
    rig.venue.accept(resting)
    rig.em.kill("SIGUSR1")  # flat: a cancel-all, nothing to flatten
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]
    sent = len(rig.venue.submitted)

    rig.at(rig.clock.now_ms() + 100).venue.fill(resting, "59000", "0.004")  # before the cancel

    [flatten] = rig.venue.submitted[sent:]  # 100 ms in, not flatten_retry_ms (2000) later
    assert (flatten.side, flatten.type, flatten.quantity, flatten.reduce_only) == (
        SELL,
        MARKET,
        D("0.004"),
        True,
    )
    rig.venue.confirm_cancel(resting)
    rig.venue.accept(flatten.client_order_id)
    rig.trade("59000")
    assert rig.venue.submitted[sent:] == [flatten]  # not a second one while it is in flight
    rig.venue.fill(flatten.client_order_id, "59000")
    assert rig.em.trading_state is TradingState.HALTED
    assert rig.venue.submitted[sent:] == [flatten]


def test_a_flatten_refused_while_reducing_waits_for_flatten_retry_ms_before_the_next():
    rig = make_rig()
    rig.say(limit(BUY, "0.010", "59000"))
    resting = rig.last_cid()
    rig.venue.accept(resting)
    rig.em.kill("SIGUSR1")
    rig.at(rig.clock.now_ms() + 100).venue.fill(resting, "59000", "0.004")
    first = rig.venue.submitted[-1]

    rig.venue.reject(first.client_order_id, -2022, "ReduceOnly Order is rejected.")
    rig.venue.confirm_cancel(resting)
    rig.trade("59000")

    assert rig.venue.submitted[-1] is first  # the same position: not flattened twice at once
    refused_ms = rig.clock.now_ms()
    rig.at(refused_ms + 1_900).trade("59000")  # the kill's retry tick: too early after it
    assert rig.venue.submitted[-1] is first
    rig.at(refused_ms + 2_000).trade("59000")  # flatten_retry_ms (2000) after the refusal
    again = rig.venue.submitted[-1]
    assert again is not first and (again.side, again.quantity) == (SELL, D("0.004"))


def _halted_after_a_kill(rig) -> None:
    go_long(rig, "0.010")
    rig.em.kill("SIGUSR1")
    flatten = rig.venue.submitted[-1]
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")
    assert rig.em.trading_state is TradingState.HALTED


def _snapshot_long(qty: str, at_ms: int) -> VenueSnapshot:
    """A reconciliation that finds a long the books do not hold (they missed its fill)."""
    return VenueSnapshot(
        event_time_ms=at_ms,
        recv_time_ms=at_ms,
        balances=(),
        positions=(Position(symbol="BTCUSDT", qty=D(qty), entry_price=D("60000")),),
        open_orders=(),
        reason="periodic",
        symbols=("BTCUSDT",),
    )


def test_a_position_found_while_halted_is_flattened_then_the_state_is_halted_again():
    """HALTED promises flat. A position the books learn of afterwards (here the periodic
    reconciliation's, a fill they had missed) used to stay open, without a stop-loss
    (protection is placed only while ACTIVE), until an operator looked."""
    rig = make_rig()
    _halted_after_a_kill(rig)
    sent = len(rig.venue.submitted)

    rig.venue.emit(_snapshot_long("0.050", rig.clock.now_ms()))
    [flatten] = rig.venue.submitted[sent:]
    rig.venue.accept(flatten.client_order_id)
    rig.venue.fill(flatten.client_order_id, "60000")

    assert (flatten.side, flatten.type, flatten.quantity, flatten.reduce_only) == (
        SELL,
        MARKET,
        D("0.050"),
        True,
    )
    states = [(e.previous, e.current) for e in rig.journaled(TradingStateChanged)]
    assert states[-2:] == [
        (TradingState.HALTED, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.HALTED),
    ]
    assert rig.journaled(TradingStateChanged)[-2].reason == (
        "BTCUSDT position 0.050 found while HALTED (kill switch: SIGUSR1)"
    )
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT", "BTCUSDT"]  # each entry
    assert rig.book.position("BTCUSDT").is_flat


def test_a_restart_halted_on_an_account_holding_a_position_flattens_it_after_the_reconciliation():
    rig = make_rig()
    _halted_after_a_kill(rig)
    sent = len(rig.venue.submitted)

    with rig.em.reconciling():  # the start-up reconciliation: judged once it is over
        rig.venue.emit(_snapshot_long("0.050", rig.clock.now_ms()))
        assert rig.venue.submitted[sent:] == []

    [flatten] = rig.venue.submitted[sent:]
    assert (flatten.side, flatten.quantity, flatten.reduce_only) == (SELL, D("0.050"), True)
    assert rig.em.trading_state is TradingState.REDUCING


def test_a_refused_flatten_is_sent_again_on_the_timer_when_no_market_data_arrives():
    """REDUCING because the market stream failed for good (or in a quiet market): no item
    comes to drive the retries; the daemon's one-second timer does (flatten_retry_ms = 2000
    after the last attempt), not the next reconciliation a minute later."""
    rig = make_rig()
    go_long(rig, "0.010")
    rig.em.kill("SIGUSR1")
    first = rig.venue.submitted[-1]
    rig.venue.reject(first.client_order_id, -4131, "The counterparty's best price does not meet")

    rig.at(rig.clock.now_ms() + 1_999).em.on_timer()
    assert rig.venue.submitted[-1] is first
    rig.at(rig.clock.now_ms() + 1).em.on_timer()

    again = rig.venue.submitted[-1]
    assert again is not first and (again.side, again.quantity, again.reduce_only) == (
        SELL,
        D("0.010"),
        True,
    )
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]  # no order left: no second


def test_the_timer_sends_nothing_while_active():
    rig = make_rig()
    go_long(rig, "0.010")
    sent = len(rig.venue.submitted)

    rig.at(rig.clock.now_ms() + 60_000).em.on_timer()

    assert len(rig.venue.submitted) == sent and rig.em.trading_state is TradingState.ACTIVE


def test_a_trade_of_the_daily_limit_is_an_order_that_filled_not_each_partial_fill():
    """max_trades_per_day counts our orders that filled, in whole or in part: one order filled
    in two parts is one trade; the limit (2) is reached by the second order, which halts."""
    rig = make_rig(max_trades_per_day=2)
    rig.say(limit(BUY, "0.010", "59000"))
    first = rig.last_cid()
    rig.venue.accept(first)
    rig.venue.fill(first, "59000", "0.004")
    rig.venue.fill(first, "59000")  # the other 0.006: the order is filled
    assert rig.risk.trades_today == 1 and rig.em.trading_state is TradingState.ACTIVE

    go_long(rig, "0.020")  # a second order: 0.010 more, filled

    assert rig.risk.trades_today == 2
    assert rig.em.trading_state is not TradingState.ACTIVE
    assert rig.journaled(TradingStateChanged)[0].reason == (
        "max trades per day: 2 trades today (max 2)"
    )


def test_a_failed_market_stream_stops_entries_and_flattens():
    rig = make_rig()
    go_long(rig, "0.010")
    now, before = rig.clock.now_ms(), len(rig.journal.events)
    rig.em.on_item(
        StreamStateChanged(
            event_time_ms=now,
            recv_time_ms=now,
            stream="market",
            state=StreamState.FAILED,
            detail="418 IP banned",
        )
    )
    assert rig.em.trading_state is TradingState.REDUCING
    assert rig.journaled(TradingStateChanged)[0].reason == "market stream failed: 418 IP banned"
    assert rig.venue.submitted[-1].reduce_only
    assert rig.kinds(before) == [
        "StreamStateChanged",
        "TradingStateChanged",
        "DecisionMade",  # cancel all
        "DecisionMade",  # flatten
        "OrderSubmitted",
    ]


def test_a_user_stream_refused_for_good_is_the_reason_said_not_a_kill_switch():
    """The key revoked under a running daemon (-2015 on the listenKey): REDUCING with the
    stream as the reason. `--status` said "trading state REDUCING (kill switch: stream user
    failed: ...)", and the operator looked for a KILL file nobody had made."""
    rig = make_rig()
    go_long(rig, "0.010")
    now = rig.clock.now_ms()
    detail = "futures_stream_get_listen_key: HTTP 401 -2015 Invalid API-key"
    failed = StreamStateChanged(
        event_time_ms=now, recv_time_ms=now, stream="user", state=StreamState.FAILED, detail=detail
    )

    rig.em.on_event(failed)

    assert rig.em.trading_state is TradingState.REDUCING
    (changed,) = rig.journaled(TradingStateChanged)
    assert changed.reason == f"user stream failed: {detail}"


def test_while_reducing_the_strategy_is_denied_even_for_a_reducing_order():
    rig = make_rig()
    go_long(rig, "0.010")
    rig.em.kill("test")
    sent = len(rig.venue.submitted)
    rig.say(target("0"))  # would be reduce-only: still only the ExecManager flattens
    assert len(rig.venue.submitted) == sent
    assert rig.journaled(RiskDenied)[-1].reason.startswith("trading state REDUCING (kill switch")


def test_a_target_repeated_every_bar_while_halted_is_denied_once_until_it_or_the_state_changes():
    rig = make_rig()
    rig.em.kill("test")  # flat and no orders: halts at once
    assert rig.em.trading_state is TradingState.HALTED
    for _ in range(5):  # a strategy holding its target says it again at every bar
        rig.say(target("0.010"))
    assert len(rig.journaled(RiskDenied)) == 1
    assert rig.kinds()[-2:] == ["DecisionMade", "RiskDenied"]
    rig.say(target("-0.010"))  # a new target: news, denied again
    rig.say(target("-0.010"))
    assert [d.request.side for d in rig.journaled(RiskDenied)] == [BUY, SELL]
    rig.em.reset("checked")
    rig.em.kill("again")  # HALTED anew: the same target is denied (and journaled) again
    rig.say(target("-0.010"))
    assert len(rig.journaled(RiskDenied)) == 3
    assert rig.journaled(RiskDenied)[-1].reason.startswith("trading state HALTED (kill switch")
    assert rig.venue.submitted == []


def test_a_position_update_ahead_of_its_fill_sends_nothing_more():
    """The ACCOUNT_UPDATE of a fill before its ORDER_TRADE_UPDATE: the books hold it, so the
    target logic does not see the position twice (it used to sell the position back)."""
    rig = make_rig()
    rig.say(target("0.100"))
    cid = rig.last_cid()
    rig.venue.accept(cid)
    now = rig.clock.now_ms()
    rig.venue.emit(
        PositionChanged(
            event_time_ms=now,
            recv_time_ms=now,
            reason="ORDER",
            position=Position(symbol="BTCUSDT", qty=D("0.100"), entry_price=D("60000")),
        )
    )
    rig.venue.fill(cid, "60000")

    assert rig.book.position("BTCUSDT").qty == D("0.100")
    assert [r.client_order_id for r in rig.venue.submitted] == [cid]
    assert rig.book.differences == 0


def test_an_operator_reset_returns_to_active():
    rig = make_rig()
    rig.em.kill("test")  # flat and no orders: halts at once
    assert rig.em.trading_state is TradingState.HALTED
    rig.em.reset("checked")
    assert rig.em.trading_state is TradingState.ACTIVE
    rig.say(target("0.010"))
    assert len(rig.venue.submitted) == 1


# --- protection ----------------------------------------------------------------------------------


def test_an_entry_fill_places_a_stop_loss_and_going_flat_cancels_it():
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100")
    stop = rig.venue.submitted[-1]
    assert (stop.type, stop.side, stop.stop_price, stop.close_position) == (
        OrderType.STOP_MARKET,
        SELL,
        D("58800.0"),  # 60000 x (1 - 2 %)
        True,
    )
    assert rig.journaled(DecisionMade)[-1].strategy == EXEC_STRATEGY
    rig.venue.accept(stop.client_order_id)
    rig.say(target("0"))
    close = rig.venue.submitted[-1]
    rig.venue.accept(close.client_order_id)
    rig.venue.fill(close.client_order_id, "60000")
    assert rig.venue.cancels == [("BTCUSDT", stop.client_order_id)]


def _long_with_its_stop(rig, qty: str = "0.100") -> tuple[OrderRequest, int]:
    """Long `qty` from 60000 with its stop-loss (58800.0) accepted; (the stop, how many
    requests the venue had by then). A flip of 0.050 (0.100) is one order under the
    notional cap; of 0.100, two."""
    go_long(rig, qty)
    stop = rig.venue.submitted[-1]
    rig.venue.accept(stop.client_order_id)
    return stop, len(rig.venue.submitted)


def test_a_position_its_stop_loss_closed_is_not_reopened_toward_the_same_target():
    """Long 0.100, stop at 58800.0 fires. The strategy still says long 0.100: re-worked at
    once, the target bought the long back at the market (the stop undone at the next event,
    and on a falling price a new entry and loss at every stop). Flat until the strategy's
    target turns: then the next long is worked again."""
    rig = make_rig(stop_loss_pct=D(2))
    stop, sent = _long_with_its_stop(rig)

    rig.venue.fill(stop.client_order_id, "58800.0", "0.100")  # the stop fires
    rig.mark("58700")
    rig.say(target("0.100"))  # the next bar: the same target
    rig.say(target("0.102"))  # and one a little larger (a fixed notional at a lower price)

    assert rig.book.position("BTCUSDT").qty == 0
    assert rig.venue.submitted[sent:] == []
    rig.say(target("0"))  # the strategy turned flat ...
    rig.say(target("0.100"))  # ... then long again: a new entry
    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.quantity) for r in again] == [(MARKET, BUY, D("0.100"))]


def test_without_the_reentry_hold_the_same_target_re_enters_after_a_stop_loss():
    """risk.reentry_hold = false: the strategy still saying long 0.100 after the stop fired
    buys the long back at the next bar."""
    rig = make_rig(stop_loss_pct=D(2), config=ExecConfig(symbols=("BTCUSDT",), reentry_hold=False))
    stop, sent = _long_with_its_stop(rig)

    rig.venue.fill(stop.client_order_id, "58800.0", "0.100")  # the stop fires
    rig.mark("58700")
    rig.say(target("0.100"))

    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.quantity) for r in again] == [(MARKET, BUY, D("0.100"))]
    assert rig.em.held_exits() == {}


def test_after_a_stop_loss_a_target_on_the_other_side_is_worked_at_once():
    rig = make_rig(stop_loss_pct=D(2))
    stop, sent = _long_with_its_stop(rig)

    rig.venue.fill(stop.client_order_id, "58800.0", "0.100")  # the stop fires
    rig.say(target("-0.100"))

    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.quantity) for r in again] == [(MARKET, SELL, D("0.100"))]


def test_a_stop_loss_is_not_placed_twice_while_it_is_unanswered():
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100")
    stops = [r for r in rig.venue.submitted if r.type is OrderType.STOP_MARKET]
    rig.venue.emit(rig.journaled(OrderFilled)[-1])  # a duplicate fill event: booked once
    rig.mark("60010")
    assert len(stops) == 1
    assert [r for r in rig.venue.submitted if r.type is OrderType.STOP_MARKET] == stops


def test_a_stop_moved_on_the_same_side_is_placed_only_after_the_old_one_is_cancelled():
    # Binance takes one closePosition stop per side (-4130): adding to the long at 62000
    # moves the entry to (0.100 x 60000 + 0.100 x 62000) / 0.200 = 61000, the stop to
    # 61000 x 0.98 = 59780.0. The old stop is cancelled first; the new one goes out once
    # the cancel is confirmed, and only then.
    rig = make_rig(stop_loss_pct=D(2))
    old, add = add_to_long_with_a_stop(rig)
    assert rig.venue.cancels == [("BTCUSDT", old.client_order_id)]
    assert rig.venue.submitted[-1] is add  # no second stop while the first may still rest
    rig.mark("62010")
    assert rig.venue.submitted[-1] is add

    rig.venue.confirm_cancel(old.client_order_id)

    new = rig.venue.submitted[-1]
    assert (new.type, new.side, new.stop_price, new.close_position) == (
        OrderType.STOP_MARKET,
        SELL,
        D("59780.0"),
        True,
    )
    assert len([r for r in rig.venue.submitted if r.type is OrderType.STOP_MARKET]) == 2


def test_a_stop_moved_while_a_market_order_is_in_flight_goes_out_once_the_old_one_is_cancelled():
    """Long 0.200 at 61000 (see above): its stop is to move from 58800.0 to 59780.0. The
    strategy adds again (BUY 0.100 at the market) before the old stop's cancel is confirmed.
    Once it is, the long has no stop: the new one (for the long as it is) goes out at once,
    not after the market order's round trip."""
    rig = make_rig(stop_loss_pct=D(2))
    old, _add = add_to_long_with_a_stop(rig)
    rig.say(target("0.300"))
    more = rig.venue.submitted[-1]
    assert (more.type, more.side, more.quantity) == (MARKET, BUY, D("0.100"))

    rig.venue.confirm_cancel(old.client_order_id)

    new = rig.venue.submitted[-1]
    assert (new.type, new.side, new.stop_price, new.close_position) == (
        OrderType.STOP_MARKET,
        SELL,
        D("59780.0"),
        True,
    )


def test_the_stop_placed_meanwhile_moves_to_the_entry_the_market_order_left():
    """Then the market order fills at 63000: entry (0.200 x 61000 + 0.100 x 63000) / 0.300 =
    61666.66..., stop 61666.66... x 0.98 = 60433.33... rounded up to the tick for a SELL
    stop (it fires no later than asked): 60433.4. The stop placed meanwhile is cancelled, then
    replaced."""
    rig = make_rig(stop_loss_pct=D(2))
    old, _add = add_to_long_with_a_stop(rig)
    rig.say(target("0.300"))
    more = rig.venue.submitted[-1]
    rig.venue.confirm_cancel(old.client_order_id)
    meanwhile = rig.venue.submitted[-1]
    rig.venue.accept(meanwhile.client_order_id)

    rig.venue.accept(more.client_order_id)
    rig.trade("63000")
    rig.venue.fill(more.client_order_id, "63000")
    assert rig.venue.cancels[-1] == ("BTCUSDT", meanwhile.client_order_id)
    assert rig.venue.submitted[-1] is meanwhile  # -4130: the new one after the cancel
    rig.venue.confirm_cancel(meanwhile.client_order_id)

    new = rig.venue.submitted[-1]
    assert (new.type, new.side, new.stop_price) == (OrderType.STOP_MARKET, SELL, D("60433.4"))


def test_a_flip_replaces_the_stop_at_once_since_the_new_one_is_on_the_other_side():
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.050", "60000")
    old = rig.venue.submitted[-1]
    rig.venue.accept(old.client_order_id)
    rig.say(target("-0.050"))  # a BUY stop replaces a SELL one: no -4130, no wait
    flip = rig.venue.submitted[-1]
    rig.venue.accept(flip.client_order_id)
    rig.venue.fill(flip.client_order_id, "60000")
    new = rig.venue.submitted[-1]
    assert rig.venue.cancels == [("BTCUSDT", old.client_order_id)]
    assert (new.type, new.side, new.stop_price) == (OrderType.STOP_MARKET, BUY, D("61200.0"))


def test_a_position_is_protected_before_the_next_target_order_goes_out():
    """The strategy turns back while its flip is in flight (slow answers, fast signals). When
    the flip fills, the new short gets its stop before the order back to long is sent. Before,
    that order was sent first and protection waited for it: with a market order always in
    flight (3 s REST latency, 1 s flips in the chaos soak) the long's SELL stop stayed in
    place for ~46 s through shorts and longs at other entries."""
    rig = make_rig(stop_loss_pct=D(2))
    old, _ = _long_with_its_stop(rig, "0.050")
    rig.say(target("-0.050"))
    flip = rig.venue.submitted[-1]
    rig.venue.accept(flip.client_order_id)
    rig.say(target("0.050"))  # the strategy turned back: the flip is cancelled, too late
    assert rig.venue.submitted[-1] is flip
    assert rig.venue.cancels == [("BTCUSDT", flip.client_order_id)]

    rig.venue.fill(flip.client_order_id, "60000")  # short 0.050 now

    after = rig.venue.submitted[rig.venue.submitted.index(flip) + 1 :]
    assert [(r.type, r.side) for r in after] == [(OrderType.STOP_MARKET, BUY), (MARKET, BUY)]
    assert (after[0].stop_price, after[0].close_position) == (D("61200.0"), True)
    assert after[1].quantity == D("0.100")
    assert rig.venue.cancels[1:] == [("BTCUSDT", old.client_order_id)]


def test_a_target_is_not_worked_while_the_price_has_crossed_an_unresolved_stop():
    """Long 0.050, stop at 58800.0. The price falls through the stop and the strategy turns
    short on the same move. The stop has fired at the exchange, its fill not yet here: the
    flip sent from the long (SELL 0.100) would leave a short of 0.100, twice the target, once
    the stop's fill came. The target waits for the stop's outcome, then sells 0.050 from
    flat."""
    rig = make_rig(stop_loss_pct=D(2))
    stop, sent = _long_with_its_stop(rig, "0.050")
    rig.trade("58790")  # through 58800.0: the exchange fires the stop on this trade

    rig.say(target("-0.050"))
    assert rig.venue.submitted[sent:] == []

    rig.venue.fill(stop.client_order_id, "58790.0", "0.050")
    assert rig.book.position("BTCUSDT").qty == 0
    again = rig.venue.submitted[sent:]
    assert [(r.type, r.side, r.quantity) for r in again] == [(MARKET, SELL, D("0.050"))]


def test_a_crossed_stop_with_no_answer_for_5_s_asks_the_venue_to_reconcile_once(caplog):
    """The price crossed the stop (58790 through 58800.0) and the target waits for its fill.
    When the user stream is silent, the fill never comes: the wait lasted until the venue's
    periodic reconciliation (60 s). 5 s after the wait began (FIRED_ANSWER_WAIT_MS) the venue
    is asked to reconcile now, once, with a WARNING naming the stop; the fill the
    reconciliation brings works the target as usual."""
    rig = make_rig(stop_loss_pct=D(2))
    stop, sent = _long_with_its_stop(rig, "0.050")
    rig.trade("58790")
    rig.say(target("-0.050"))  # the wait begins now
    began = rig.clock.now_ms()
    assert rig.venue.submitted[sent:] == []

    rig.at(began + 4_999).trade("58785")
    assert rig.venue.reconciles_asked == []

    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        rig.at(began + 5_000).trade("58780")
    assert len(rig.venue.reconciles_asked) == 1
    assert stop.client_order_id in rig.venue.reconciles_asked[0]
    assert rig.em.counters.overdue_fires == 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert f"stop-loss {stop.client_order_id} (SELL BTCUSDT, stop 58800.0" in warned[0]
    assert "user stream may be silent" in warned[0]

    rig.at(began + 20_000).trade("58770")
    rig.say(target("-0.050"))
    assert len(rig.venue.reconciles_asked) == 1  # asked once; the periodic passes go on
    assert rig.venue.submitted[sent:] == []

    rig.venue.fill(stop.client_order_id, "58790.0", "0.050")  # what the reconciliation read
    assert [(r.type, r.side, r.quantity) for r in rig.venue.submitted[sent:]] == [
        (MARKET, SELL, D("0.050"))
    ]


def test_a_crossed_stop_answered_in_time_asks_for_nothing():
    rig = make_rig(stop_loss_pct=D(2))
    stop, _sent = _long_with_its_stop(rig, "0.050")
    rig.trade("58790")
    rig.say(target("-0.050"))
    began = rig.clock.now_ms()
    rig.at(began + 1_000)
    rig.venue.fill(stop.client_order_id, "58790.0", "0.050")
    rig.at(began + 6_000).trade("58780")
    rig.at(began + 60_000).trade("58770")
    assert rig.venue.reconciles_asked == []
    assert rig.em.counters.overdue_fires == 0


def test_a_target_waiting_on_a_crossed_stop_goes_out_once_the_price_is_back():
    """The stop did not fire after all (refused, or the print at the level was not enough):
    once the price is back on the position's side, the target the strategy says again at the
    next bar is worked as usual: a wait, not a stall."""
    rig = make_rig(stop_loss_pct=D(2))
    _stop, sent = _long_with_its_stop(rig, "0.050")
    rig.trade("58790")
    rig.say(target("-0.050"))
    assert rig.venue.submitted[sent:] == []

    rig.trade("58900")
    rig.say(target("-0.050"))
    assert [(r.type, r.side, r.quantity) for r in rig.venue.submitted[sent:]] == [
        (MARKET, SELL, D("0.100"))
    ]


def test_a_stop_refused_as_already_triggered_closes_the_position_at_once(caplog):
    # Long 0.100 from 60000, stop 58800.0. The exchange's last price fell through the level
    # while the stop was on its way (ours still says 60000): it refuses the stop (-2021). The
    # price is past the stop, so the position is closed now, as the stop would have: one
    # reduce-only market order, one WARNING, and no count toward the circuit breaker (1 error
    # would trip it here). It used to wait for a price of ours past the level, re-sending the
    # stop meanwhile.
    rig = make_rig(stop_loss_pct=D(2), circuit_breaker_errors=1)
    go_long(rig, "0.100", "60000")
    stop = rig.venue.submitted[-1]
    sent = len(rig.venue.submitted)

    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        rig.venue.reject(
            stop.client_order_id, code=-2021, reason="Order would immediately trigger."
        )

    assert [(r.type, r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted[sent:]] == [
        (MARKET, SELL, D("0.100"), True)
    ]
    assert rig.journaled(DecisionMade)[-1].reason == (
        f"stop-loss {stop.client_order_id} at 58800.0 refused as already triggered (-2021): "
        "the price is past it, close at market"
    )
    assert [r.getMessage() for r in caplog.records] == [
        "BTCUSDT: the exchange refused the stop-loss at 58800.0 as already triggered (-2021: "
        "the price is past it; our last price 60000): closing the long 0.100 at market "
        "(reduce-only)"
    ]
    assert rig.em.trading_state is TradingState.ACTIVE
    assert rig.em.counters.rejected_orders == 1


def test_while_a_past_stops_close_is_on_its_way_no_stop_nor_second_close_goes_out(caplog):
    # The close of the refused stop is unanswered; prices come (still above the level for us)
    # and the take-profit's refusal comes too: nothing more is sent, nothing more is said.
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(1))
    go_long(rig, "0.100", "60000")
    stop, take_profit = rig.venue.submitted[-2:]
    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        rig.venue.reject(
            stop.client_order_id, code=-2021, reason="Order would immediately trigger."
        )
        sent = len(rig.venue.submitted)
        rig.trade("59900")
        rig.trade("59950")
        rig.venue.accept(take_profit.client_order_id)

    assert len(rig.venue.submitted) == sent
    assert len(caplog.records) == 1


def test_a_stop_refused_as_past_during_the_start_up_reconciliation_waits_for_its_end():
    # Nothing is sent while the start-up reconciliation runs; once it is over the position is
    # planned again at the next price: the stop again (59900 is not past it for us), whose
    # second refusal closes the position.
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    stop = rig.venue.submitted[-1]
    sent = len(rig.venue.submitted)
    with rig.em.reconciling():
        rig.venue.reject(
            stop.client_order_id, code=-2021, reason="Order would immediately trigger."
        )
        assert len(rig.venue.submitted) == sent
    rig.trade("59900")

    again = rig.venue.submitted[-1]
    assert (again.type, again.stop_price) == (OrderType.STOP_MARKET, D("58800.0"))
    rig.venue.reject(again.client_order_id, code=-2021, reason="Order would immediately trigger.")
    close = rig.venue.submitted[-1]
    assert (close.type, close.side, close.quantity, close.reduce_only) == (
        MARKET,
        SELL,
        D("0.100"),
        True,
    )


def test_a_past_stops_close_that_fills_holds_the_side_it_closed():
    # As after the stop's own fill: the strategy still saying long does not buy it back.
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100", "60000")
    stop = rig.venue.submitted[-1]
    rig.venue.reject(stop.client_order_id, code=-2021, reason="Order would immediately trigger.")
    close = rig.venue.submitted[-1]
    rig.venue.accept(close.client_order_id)
    rig.venue.fill(close.client_order_id, "58700")
    assert rig.book.position("BTCUSDT").is_flat
    sent = len(rig.venue.submitted)

    rig.trade("58650")
    rig.say(target("0.100"))

    assert rig.venue.submitted[sent:] == []
    assert rig.em.held_exits() == {"BTCUSDT": SELL}


def test_a_crossed_levels_close_that_fills_holds_the_side_it_closed():
    """Long 0.100 from 60000 with its stop-loss at 58800.0 (60000 x 0.98). The price falls to
    58700 and the stop is cancelled at the exchange (not by us: by hand, say) before it
    fires: the plan finds the level crossed and closes at market, SELL 0.100 reduce-only,
    filled at 58690. As after the stop's own fill, the strategy still saying long does not
    buy it back: not at the close's fill, nor at the next bar."""
    rig = make_rig(stop_loss_pct=D(2))
    stop, _ = _long_with_its_stop(rig)
    rig.trade("58700")
    rig.venue.confirm_cancel(stop.client_order_id)
    close = rig.venue.submitted[-1]
    assert (close.type, close.side, close.quantity, close.reduce_only) == (
        MARKET, SELL, D("0.100"), True
    )  # fmt: skip
    sent = len(rig.venue.submitted)

    rig.venue.accept(close.client_order_id)
    rig.venue.fill(close.client_order_id, "58690")
    rig.trade("58650")
    rig.say(target("0.100"))

    assert rig.book.position("BTCUSDT").is_flat
    assert rig.venue.submitted[sent:] == []
    assert rig.em.held_exits() == {"BTCUSDT": SELL}


def test_a_refused_take_profit_of_a_position_gone_sends_nothing():
    # The long was closed (its stop filled) while its take-profit was on its way: the
    # take-profit's -2021 has nothing to close.
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(1))
    go_long(rig, "0.100", "60000")
    stop, take_profit = rig.venue.submitted[-2:]
    rig.venue.accept(stop.client_order_id)
    rig.venue.fill(stop.client_order_id, "58800.0", "0.100")
    sent = len(rig.venue.submitted)

    rig.venue.reject(
        take_profit.client_order_id, code=-2021, reason="Order would immediately trigger."
    )

    assert [r.type for r in rig.venue.submitted[sent:] if r.type is MARKET] == []


def test_after_stop_trading_a_cancelled_stop_loss_is_not_planned_again():
    # Shutdown cancels every order, the protective stop included: the position is no longer
    # re-protected, and no decision is journaled for an order that would never be sent.
    rig = make_rig(stop_loss_pct=D(2))
    go_long(rig, "0.100")
    stop = rig.venue.submitted[-1]
    rig.venue.accept(stop.client_order_id)
    decisions = len(rig.journaled(DecisionMade))
    rig.em.stop_trading()
    rig.venue.confirm_cancel(stop.client_order_id)  # the daemon's cancel-all at shutdown
    rig.mark("60010")
    assert stop.client_order_id not in rig.book.orders  # booked as ended
    assert len(rig.journaled(DecisionMade)) == decisions
    assert rig.venue.submitted[-1] is stop


# --- bad input -----------------------------------------------------------------------------------


def _fill(symbol: str, cid: str, trade_id: int = 1) -> OrderFilled:
    fill = Fill(
        symbol=symbol,
        order_id=1,
        client_order_id=cid,
        trade_id=trade_id,
        side=BUY,
        price=D("60000"),
        qty=D("1"),
        commission=D("30"),
        commission_asset="USDT",
        realized_pnl=D(0),
        is_maker=False,
        trade_time_ms=T0,
        recv_time_ms=T0,
    )
    return OrderFilled(
        event_time_ms=T0, recv_time_ms=T0, fill=fill, cumulative_qty=D(1), avg_price=D(60000)
    )


@pytest.mark.parametrize(
    "event",
    [
        _fill("ETHUSDT", "te-1"),  # a symbol not traded
        _fill("BTCUSDT", "web_Zx81"),  # an order that is not ours
        _fill("BTCUSDT", "te-99"),  # our prefix, never issued
        OrderCanceled(
            event_time_ms=T0, recv_time_ms=T0, symbol="BTCUSDT", client_order_id="x", order_id=3
        ),
    ],
    ids=["other-symbol", "foreign-order", "never-issued", "cancel-unknown"],
)
def test_events_that_are_not_ours_change_nothing_and_are_counted(event):
    rig = make_rig()
    go_long(rig, "0.010")
    books, journaled = rig.book.summary(), len(rig.journal.events)
    rig.venue.emit(event)
    assert rig.book.summary() == books and len(rig.journal.events) == journaled
    assert rig.em.counters.ignored_events == 1


# --- bars ----------------------------------------------------------------------------------------


def test_only_new_closed_bars_of_the_interval_reach_the_strategy():
    rig = make_rig()
    rig.em.warm(
        [make_bar("59000", open_ms=T0 - 2 * MINUTE), make_bar("59500", open_ms=T0 - MINUTE)]
    )
    assert len(rig.strategy.warmed) == 2
    rig.bar("59500", open_ms=T0 - MINUTE)  # the last warm bar again
    rig.bar("60000", open_ms=T0, closed=False)  # still open
    rig.bar("60000", open_ms=T0, interval="5m")  # another interval
    rig.bar("60000", open_ms=T0, symbol="ETHUSDT")  # not traded
    assert rig.strategy.bars == []
    rig.bar("60000", open_ms=T0)
    assert [b.open_time_ms for b in rig.strategy.bars] == [T0]


def test_with_bars_from_trades_the_strategy_sees_bars_built_from_the_trades():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), bar_source=BarSource.TRADES))
    rig.at(T0 + 1_000).trade("60000")
    rig.at(T0 + 30_000).trade("60100")
    rig.bar("99999", open_ms=T0)  # the stream's klines are not used
    assert rig.strategy.bars == []
    rig.at(T0 + 61_000).trade("60050")
    [bar] = rig.strategy.bars
    assert (bar.open_time_ms, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        T0,
        D("60000"),
        D("60100"),
        D("60000"),
        D("60100"),
        D("0.020"),
    )


# --- status and shutdown -------------------------------------------------------------------------


def test_status_reports_equity_positions_orders_pnl_and_state():
    rig = make_rig()
    go_long(rig, "0.100")  # fee 3 USDT
    rig.mark("60100")  # unrealized +10
    st = rig.em.status()
    assert (st.wallet, st.unrealized_pnl, st.equity) == (D("9997"), D("10"), D("10007"))
    assert (st.realized_pnl, st.realized_pnl_today) == (D(0), D(-3))
    assert st.positions == {"BTCUSDT": D("0.100")} and st.open_orders == 0
    assert st.trading_state is TradingState.ACTIVE
    assert (st.counters.submitted, st.counters.fills, st.counters.decisions) == (1, 1, 1)


def test_orders_in_doubt_counts_an_order_until_the_exchange_has_answered_its_send_and_cancel():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    rig.say(limit(BUY, "0.010", "59000"))
    cid = rig.last_cid()
    created = rig.clock.now_ms()
    assert rig.em.status().orders_in_doubt == 1  # PENDING_SUBMIT: sent, no answer yet
    rig.venue.unknown(cid)
    assert rig.em.status().orders_in_doubt == 1  # UNKNOWN: the send timed out
    rig.venue.accept(cid)
    assert rig.em.status().orders_in_doubt == 0  # NEW: known
    rig.at(created + 30_000).trade("60000")  # stale: its cancel is sent
    assert rig.venue.cancels == [("BTCUSDT", cid)]
    assert rig.em.status().orders_in_doubt == 1  # open, a cancel on its way
    rig.venue.confirm_cancel(cid)
    assert rig.em.status().orders_in_doubt == 0 and rig.em.status().open_orders == 0


def test_after_stop_trading_nothing_more_is_sent():
    rig = make_rig()
    rig.say(limit(BUY, "0.010", "59000"))
    cid = rig.last_cid()
    rig.em.stop_trading()
    rig.say(target("0.100"))
    rig.at(rig.clock.now_ms() + 3_600_000).trade("60000")  # the order is long stale
    assert len(rig.venue.submitted) == 1 and rig.venue.cancels == []
    rig.venue.accept(cid)  # events are still booked
    assert rig.book.orders[cid].status is OrderStatus.NEW


def test_gap_events_are_journaled():
    rig = make_rig()
    gap = GapDetected(
        event_time_ms=T0,
        recv_time_ms=T0,
        symbol="BTCUSDT",
        first_missing_id=5,
        last_missing_id=9,
        cause=GapCause.RECONNECT,
    )
    rig.em.on_item(gap)
    assert rig.journal.events == [gap]


def test_order_submitted_is_the_event_the_book_applied():
    rig = make_rig()
    rig.say(target("0.010"))
    [submitted] = rig.journaled(OrderSubmitted)
    assert submitted.request == rig.venue.submitted[0]
    assert rig.book.orders_submitted == 1


def test_a_fill_event_seen_twice_is_booked_and_counted_as_a_trade_once():
    rig = make_rig()
    go_long(rig, "0.010")
    rig.venue.emit(rig.journaled(OrderFilled)[-1])  # replayed by a reconciliation
    assert rig.book.position("BTCUSDT").qty == D("0.010")
    assert rig.risk.trades_today == 1
    assert (rig.em.counters.fills, rig.em.counters.duplicate_fills) == (1, 1)


def test_an_order_found_open_by_a_reconciliation_is_cancelled_when_stale():
    rig = make_rig(config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    found = Order(
        client_order_id="te-0",
        symbol="BTCUSDT",
        side=BUY,
        type=LIMIT,
        quantity=D("0.010"),
        price=D("59000"),
        time_in_force=TimeInForce.GTC,
        status=OrderStatus.NEW,
        created_ms=T0 - 20_000,
        updated_ms=T0 - 20_000,
        order_id=42,
    )
    rig.venue.emit(
        VenueSnapshot(
            event_time_ms=T0,
            recv_time_ms=T0,
            balances=(),
            positions=(),
            open_orders=(found,),
            reason="start",
            symbols=("BTCUSDT",),
        )
    )
    assert "te-0" in rig.book.orders
    rig.at(T0 + 9_999).trade("60000")
    assert rig.venue.cancels == []
    rig.at(T0 + 10_000).trade("60000")
    assert rig.venue.cancels == [("BTCUSDT", "te-0")]


class BatchJournal(MemoryJournal):
    """A journal with `record_many` (one transaction for several records)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[str, ...]] = []

    def record_many(self, events) -> None:
        self.batches.append(tuple(type(e).__name__ for e in events))
        self.events.extend(events)


def test_a_decision_and_its_order_are_journaled_in_one_batch_when_the_journal_can():
    batch = BatchJournal()
    rig = make_rig(journal=batch)
    rig.gaps.add("BTCUSDT")
    rig.say(target("0.010"))  # denied: the decision and its denial together
    rig.gaps.clear()
    rig.say(target("0.020"))
    assert batch.batches == [("DecisionMade", "RiskDenied"), ("DecisionMade", "OrderSubmitted")]
    assert [type(e).__name__ for e in rig.venue.journal_at_submit[0]] == [
        "DecisionMade",
        "RiskDenied",
        "DecisionMade",
        "OrderSubmitted",
    ]


def test_an_event_the_books_cannot_apply_is_logged_and_counted_and_trading_goes_on():
    rig = make_rig()
    rig.say(target("0.010"))
    cid = rig.last_cid()
    rig.venue.accept(cid)
    broken = _fill("BTCUSDT", cid)
    broken = replace(broken, fill=replace(broken.fill, qty=D(0)))  # 0 / 0 in the entry price
    rig.venue.emit(broken)
    assert rig.em.counters.bad_events == 1
    assert rig.book.position("BTCUSDT").is_flat and rig.book.wallet() == D(10_000)
    rig.venue.fill(cid, "60000")
    assert rig.book.position("BTCUSDT").qty == D("0.010")


# --- start ---------------------------------------------------------------------------------------


def test_the_first_live_trade_after_warm_up_acts_on_the_warmed_state_without_waiting_for_a_bar():
    from trading_engine.strategies.sma_crossover import SmaCrossover

    strategy = SmaCrossover(fast=2, slow=3, order_notional_usdt="600")
    rig = make_rig(strategy=strategy)
    closes = ["59990", "59995", "60000"]  # sma2 59997.5 > sma3 59995: long, 600/60000 BTC
    rig.em.warm([make_bar(c, open_ms=T0 - (4 - i) * MINUTE) for i, c in enumerate(closes)])
    assert rig.venue.submitted == []

    rig.trade("60000")
    rig.trade("60001")  # only the first trade starts the symbol

    [request] = rig.venue.submitted
    assert (request.side, request.type, request.quantity) == (BUY, MARKET, D("0.010"))


def test_a_strategy_asking_for_a_traded_symbol_in_lower_case_is_told_the_case(caplog):
    # "strategy set a target for btcusdt, which is not traded", beside BTCUSDT traded.
    rig = make_rig()
    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        rig.say(target("0.100", symbol="btcusdt"))

    warned = [r.getMessage() for r in caplog.records if "not traded" in r.getMessage()]
    assert warned == [
        "strategy set a target for btcusdt, which is not traded (ignored; said once): symbols "
        "are upper case, BTCUSDT"
    ]


def test_a_strategy_asking_for_an_untraded_symbol_every_bar_is_warned_about_once(caplog):
    """A strategy that targets ETHUSDT (not traded) at each bar logged a warning at each bar:
    1,438 lines in one backtest. Said once per symbol; every one is still counted."""
    rig = make_rig()
    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        for _ in range(3):
            rig.say(target("0.100", symbol="ETHUSDT"))
            rig.say(replace(limit(BUY, "0.100", "3000"), symbol="ETHUSDT"))

    warned = [r.getMessage() for r in caplog.records if "not traded" in r.getMessage()]
    assert warned == ["strategy set a target for ETHUSDT, which is not traded (ignored; said once)"]
    assert rig.em.counters.ignored_items == 6
    assert rig.venue.submitted == []
