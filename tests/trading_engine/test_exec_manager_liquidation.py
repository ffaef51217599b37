"""The exchange closing a position itself (a liquidation, an auto-deleveraging): the fill is
booked like any fill, said in one WARNING line, and the trading stops (REDUCING: cancel-all,
flatten what is left; then HALTED until an operator resets). Its warning before, MARGIN_CALL:
journaled, said with the positions at risk, shown in the status; nothing sent.

Numbers by hand: long 0.100 BTCUSDT from 60000 by a MARKET order, taker fee 0.05 % of 6000 =
3 USDT: wallet 10000 - 3 = 9997 USDT.
"""

import logging
from decimal import Decimal as D

from core.account import PositionAtRisk
from core.enums import MarginType, OrderType, PositionSide, TradingState
from core.events import MarginCalled, OrderFilled, RiskDenied, TradingStateChanged
from core.orders import Fill
from tests.trading_engine.support import BUY, SELL, make_rig
from tests.trading_engine.test_exec_manager import go_long, target
from trading_engine.heartbeat_line import margin_call_note as _margin_call_note

LIQUIDATION = "autoclose-17231612563220001"


def forced_fill(
    rig, cid: str, side, qty: str, price: str, *, rp: str, fee: str, trade_id: int | None = None
) -> OrderFilled:
    """The exchange's own order filled, as the venue hands it over (reference 10.3); its
    trade id the next of the symbol's (the FakeVenue's sequence: ids grow per symbol)."""
    now = rig.clock.now_ms()
    if trade_id is None:
        trade_id = next(rig.venue._trade_ids)
    fill = Fill(
        symbol="BTCUSDT",
        order_id=8886999,
        client_order_id=cid,
        trade_id=trade_id,
        side=side,
        price=D(price),
        qty=D(qty),
        commission=D(fee),
        commission_asset="USDT",
        realized_pnl=D(rp),
        is_maker=False,
        trade_time_ms=now,
        recv_time_ms=now,
    )
    event = OrderFilled(
        event_time_ms=now, recv_time_ms=now, fill=fill, cumulative_qty=D(qty), avg_price=D(price)
    )
    rig.venue.emit(event)
    return event


def test_a_liquidation_is_booked_said_and_halts_the_trading(caplog):
    rig = make_rig()
    go_long(rig, "0.100", "60000")
    submitted = len(rig.venue.submitted)

    # rp 0.100 * (55000 - 60000) = -500; clearance fee 0.100 * 55000 * 1.25 % = 68.75
    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        event = forced_fill(rig, LIQUIDATION, SELL, "0.100", "55000.0", rp="-500", fee="68.75")

    assert rig.book.position("BTCUSDT").is_flat
    assert rig.book.wallet() == D("9428.25")  # 9997 - 500 - 68.75
    assert rig.book.rejected_events == 0 and rig.book.differences == 0
    assert rig.em.counters.ignored_events == 0
    assert rig.em.counters.forced_fills == 1
    assert event in rig.journal.events
    detail = (
        "BTCUSDT liquidated by the exchange: SELL 0.100 @ 55000.0 "
        f"(order {LIQUIDATION}, trade 900001)"
    )
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("BTCUSDT")]
    assert line == f"{detail}; realized -500, fee 68.75 USDT; position now 0.000"
    reducing, halted = rig.journaled(TradingStateChanged)
    assert (reducing.current, reducing.reason) == (TradingState.REDUCING, f"liquidation: {detail}")
    assert halted.current is TradingState.HALTED  # flat and nothing open: halted at once
    assert rig.venue.cancel_alls_keeping_protection == ["BTCUSDT"]  # ones the books miss
    assert len(rig.venue.submitted) == submitted  # nothing left to flatten


def test_after_a_liquidation_entries_are_denied_until_an_operator_reset():
    rig = make_rig()
    go_long(rig, "0.100", "60000")
    forced_fill(rig, LIQUIDATION, SELL, "0.100", "55000.0", rp="-500", fee="68.75")
    submitted = len(rig.venue.submitted)

    rig.say(target("0.100"), close="55000")
    denied = rig.journaled(RiskDenied)[-1]
    rig.em.reset("operator looked at the liquidation")
    rig.say(target("0.100"), close="55000")

    assert denied.reason.startswith("trading state HALTED (liquidation: BTCUSDT liquidated")
    assert rig.em.trading_state is TradingState.ACTIVE
    entry = rig.venue.submitted[-1]
    assert len(rig.venue.submitted) == submitted + 1
    assert (entry.side, entry.type, entry.quantity) == (BUY, OrderType.MARKET, D("0.100"))


def test_a_partial_auto_deleveraging_flattens_the_rest_then_halts(caplog):
    rig = make_rig()
    go_long(rig, "0.100", "60000")

    # ADL of 0.040 at 63000: rp 0.040 * 3000 = +120, fee 0.040 * 63000 * 0.05 % = 1.26
    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        forced_fill(rig, "adl_autoclose", SELL, "0.040", "63000.0", rp="120", fee="1.26")
    flatten = rig.venue.submitted[-1]
    rig.venue.accept(flatten.client_order_id)
    # the rest, 0.060 at 63000: rp 0.060 * 3000 = +180, fee 0.060 * 63000 * 0.05 % = 1.89
    rig.venue.fill(flatten.client_order_id, "63000")

    assert any(
        "BTCUSDT auto-deleveraged by the exchange: SELL 0.040 @ 63000.0" in r.getMessage()
        for r in caplog.records
    )
    assert (flatten.side, flatten.type, flatten.quantity, flatten.reduce_only) == (
        SELL,
        OrderType.MARKET,
        D("0.060"),
        True,
    )
    assert [e.current for e in rig.journaled(TradingStateChanged)] == [
        TradingState.REDUCING,
        TradingState.HALTED,
    ]
    assert rig.journaled(TradingStateChanged)[0].reason.startswith("auto-deleverage: BTCUSDT")
    assert rig.book.wallet() == D("10293.85")  # 9997 + 120 - 1.26 + 180 - 1.89
    assert rig.book.differences == 0  # each fill's rp is the books' own


def test_a_liquidation_fill_seen_twice_is_booked_and_acted_on_once():
    rig = make_rig()
    go_long(rig, "0.100", "60000")
    first = forced_fill(rig, LIQUIDATION, SELL, "0.100", "55000.0", rp="-500", fee="68.75")
    trade_id = first.fill.trade_id

    forced_fill(
        rig, LIQUIDATION, SELL, "0.100", "55000.0", rp="-500", fee="68.75", trade_id=trade_id
    )

    assert rig.book.wallet() == D("9428.25")
    assert rig.em.counters.forced_fills == 1 and rig.em.counters.duplicate_fills == 1
    assert len(rig.journaled(TradingStateChanged)) == 2  # REDUCING, HALTED; nothing more


# --- MARGIN_CALL -------------------------------------------------------------------------------


def margin_call(rig) -> MarginCalled:
    """The long 0.100 from 60000 at a mark of 50100: unrealized 0.100 * -9900 = -990 USDT,
    maintenance margin 0.100 * 50100 * 0.4 % = 20.04 USDT, cross wallet 9997."""
    now = rig.clock.now_ms()
    event = MarginCalled(
        event_time_ms=now,
        recv_time_ms=now,
        cross_wallet_balance=D("9997"),
        positions=(
            PositionAtRisk(
                symbol="BTCUSDT",
                position_side=PositionSide.BOTH,
                qty=D("0.100"),
                margin_type=MarginType.CROSSED,
                mark_price=D("50100.0"),
                unrealized_pnl=D("-990"),
                maintenance_margin=D("20.04"),
            ),
        ),
    )
    rig.venue.emit(event)
    return event


def test_a_margin_call_is_journaled_and_said_with_the_positions_at_risk(caplog):
    rig = make_rig()
    go_long(rig, "0.100", "60000")
    submitted = len(rig.venue.submitted)

    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        event = margin_call(rig)

    assert rig.journal.events[-1] is event
    assert [r.getMessage() for r in caplog.records] == [
        "MARGIN CALL from the exchange (liquidation may follow): cross wallet 9997 USDT; at "
        "risk: BTCUSDT 0.100 (crossed): mark 50100.0, unrealized -990 USDT, maintenance margin "
        "20.04 USDT"
    ]
    assert rig.em.trading_state is TradingState.ACTIVE  # informational: nothing is sent
    assert len(rig.venue.submitted) == submitted
    assert rig.venue.cancel_alls == rig.venue.cancel_alls_keeping_protection == []


def test_margin_calls_repeated_within_a_minute_are_journaled_but_warned_once(caplog):
    """The local exchange said it 15 times in one end-to-end run as the ratio hovered at its
    threshold: 15 WARNING lines. Within a minute of the last warning a call is journaled and
    counted only; the next warning says how many it skipped."""
    rig = make_rig()
    go_long(rig, "0.100", "60000")

    with caplog.at_level(logging.WARNING, logger="trading_engine.exec_manager"):
        margin_call(rig)
        rig.clock.advance_ms(20_000)
        margin_call(rig)
        rig.clock.advance_ms(39_999)  # 59.999 s after the first warning
        margin_call(rig)
        rig.clock.advance_ms(1)  # a minute after it
        margin_call(rig)

    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2
    assert said[1].endswith("20.04 USDT (2 more since the last warning, journaled)")
    assert len(rig.journaled(MarginCalled)) == 4 and rig.em.counters.margin_calls == 4


def test_the_status_counts_margin_calls_and_the_heartbeat_shows_the_last():
    rig = make_rig()
    go_long(rig, "0.100", "60000")
    assert _margin_call_note(rig.em.status()) == ""

    margin_call(rig)
    rig.clock.advance_ms(61_000)
    last = margin_call(rig)
    status = rig.em.status()

    assert (status.counters.margin_calls, status.last_margin_call_ms) == (2, last.event_time_ms)
    # T0 = 2024-08-08T12:00:00Z; go_long's bar moved the clock 1 s: 12:00:01 + 61 s
    assert _margin_call_note(status) == " | MARGIN CALL x2 (last 12:01:02 UTC)"
