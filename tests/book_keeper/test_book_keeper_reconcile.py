"""Orders, bad input, and differences with the exchange: each logged, counted, then adopted."""

import dataclasses
import logging

from core.account import Balance, Position
from core.clock import SimClock
from core.enums import OrderIntent, OrderStatus
from core.events import (
    BalanceChanged,
    OrderAccepted,
    OrderReconciled,
    OrderStatusUnknown,
    PositionChanged,
    VenueSnapshot,
)
from core.market import BookTicker, MarkPrice, Trade
from core.orders import Order
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    T0,
    D,
    accepted,
    book,
    canceled,
    fill,
    filled,
    request,
    submitted,
    trade_fill,
)


def _snapshot(*, balances=(), positions=(), open_orders=(), t=T0 + 10_000) -> VenueSnapshot:
    return VenueSnapshot(
        event_time_ms=t,
        recv_time_ms=t,
        balances=tuple(balances),
        positions=tuple(positions),
        open_orders=tuple(open_orders),
        reason="reconnect",
        symbols=(SYMBOL,),
    )


def _usdt(wallet: str) -> Balance:
    return Balance(asset="USDT", wallet_balance=D(wallet), available_balance=D(wallet))


def _open_order(cid: str, side, qty: str, price: str, status=OrderStatus.NEW, filled="0"):
    return Order.from_request(request(cid, side, qty, price), T0).transition(
        status, ts_ms=T0, order_id=99, filled_qty=D(filled)
    )


def test_order_book_follows_the_lifecycle_and_counts_orders_that_may_be_live():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.010", "60000.0"))
    bk.apply(submitted("t-2", BUY, "0.010", "59000.0"))
    bk.apply(accepted("t-1", 11))
    assert bk.open_order_count() == 2 and bk.open_order_count(SYMBOL) == 2
    assert bk.orders["t-1"].status is OrderStatus.NEW

    bk.apply(canceled("t-1", 11))
    bk.apply(
        OrderStatusUnknown(
            event_time_ms=T0,
            recv_time_ms=T0,
            symbol=SYMBOL,
            client_order_id="t-2",
            reason="timeout",
        )
    )

    assert list(bk.orders) == ["t-2"] and bk.orders["t-2"].status is OrderStatus.UNKNOWN
    assert bk.summary().orders_by_status == {"CANCELED": 1}


def test_an_illegal_transition_is_counted_and_not_applied():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.010", "60000.0"))
    bk.apply(
        OrderReconciled(
            event_time_ms=T0,
            recv_time_ms=T0,
            symbol=SYMBOL,
            client_order_id="t-1",
            status=OrderStatus.PARTIALLY_FILLED,
        )
    )

    bk.apply(
        OrderReconciled(
            event_time_ms=T0,
            recv_time_ms=T0,
            symbol=SYMBOL,
            client_order_id="t-1",
            status=OrderStatus.PENDING_SUBMIT,
        )
    )

    assert bk.illegal_transitions == 1
    assert bk.orders["t-1"].status is OrderStatus.PARTIALLY_FILLED


def test_a_late_rest_acceptance_after_the_fill_does_not_reopen_the_order():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.010", None))
    bk.apply(filled(fill("t-1", 1, BUY, "0.010", "60000.0", fee="0.3", order_id=11)))

    bk.apply(
        OrderAccepted(
            event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, client_order_id="t-1", order_id=11
        )
    )

    assert bk.open_order_count() == 0 and bk.illegal_transitions == 0


def test_bad_input_is_counted_and_changes_nothing(caplog):
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
    before = (bk.position(SYMBOL), bk.wallet(), bk.summary().fills)

    with caplog.at_level(logging.WARNING, logger="book_keeper"):
        bk.apply(filled(fill("t-9", 2, BUY, "0.010", "60000.0", fee="0.3")))  # not our order
        bk.apply(filled(fill("t-1", 3, BUY, "1", "3000", fee="1", symbol="DOGEUSDT")))
        bk.apply(canceled("nobody-1", 5))
        bk.apply(submitted("x-1", BUY, "1", "1", symbol="DOGEUSDT"))

    assert (bk.position(SYMBOL), bk.wallet(), bk.summary().fills) == before
    assert bk.rejected_events == 4
    assert len(caplog.records) == 4


def test_a_liquidation_fill_of_the_exchange_is_booked():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    # rp 0.010 * (50000 - 60000) = -100
    bk.apply(
        filled(fill("autoclose-1723161256322", 2, SELL, "0.010", "50000.0", fee="6", rp="-100"))
    )

    assert bk.position(SYMBOL).qty == 0
    assert bk.wallet() == D("9893.7")  # 10000 - 0.3 - 100 - 6


def test_position_and_balance_differences_are_logged_counted_and_adopted(caplog):
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    with caplog.at_level(logging.WARNING, logger="book_keeper"):
        bk.apply(
            PositionChanged(
                event_time_ms=T0,
                recv_time_ms=T0,
                reason="ORDER",
                position=Position(symbol=SYMBOL, qty=D("0.015"), entry_price=D("60100.0")),
            )
        )
        bk.apply(
            BalanceChanged(
                event_time_ms=T0, recv_time_ms=T0, balance=_usdt("9999.1"), reason="ORDER"
            )
        )
        # held first: an ACCOUNT_UPDATE can come before the fills it reports
        held = (bk.position(SYMBOL).qty, bk.wallet(), bk.differences)
        assert held == (D("0.010"), D("9999.7"), 0)
        bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_000, T0 + 2_000))

    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.015"), D("60100"))
    assert bk.wallet() == D("9999.1")
    assert bk.adjustments == D("-0.6")  # 9999.1 - 9999.7
    assert bk.differences == 2
    assert [r.getMessage() for r in caplog.records] == [
        "books: BTCUSDT position: ours 0.010 @ 60000.0, exchange 0.015 @ 60100.0 (ORDER); "
        "adopted the exchange's",
        "books: USDT wallet balance: ours 9999.7, exchange 9999.1 (difference -0.6, ORDER); "
        "adopted the exchange's",
    ]


def test_a_deposit_is_a_transfer_not_a_difference():
    bk = book()

    bk.apply(
        BalanceChanged(event_time_ms=T0, recv_time_ms=T0, balance=_usdt("10500"), reason="DEPOSIT")
    )

    assert (bk.wallet(), bk.transfers, bk.differences) == (D("10500"), D("500"), 0)


def test_without_a_starting_balance_the_first_balance_is_the_start():
    bk = book(start=None)

    bk.apply(_snapshot(balances=[_usdt("2500")]))

    assert (bk.wallet(), bk.differences, bk.starting_balances) == (
        D("2500"),
        0,
        {"USDT": D("2500")},
    )


def test_reconcile_reports_positions_balances_and_open_orders_in_sentences():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # wallet 9999.7
    bk.apply(submitted("t-2", BUY, "0.010", "59000.0"))
    bk.apply(accepted("t-2", 12))
    bk.apply(submitted("t-3", SELL, "0.010", "61000.0"))
    bk.apply(accepted("t-3", 13))
    bk.apply(submitted("t-4", SELL, "0.010", "62000.0"))  # in flight: not a difference
    exchange_orders = [
        _open_order("t-3", SELL, "0.010", "61000.0", OrderStatus.PARTIALLY_FILLED, "0.004"),
        _open_order("manual-1", SELL, "0.020", "65000.0"),
    ]

    differences = bk.reconcile(
        _snapshot(
            balances=[_usdt("9999.5")],
            positions=[Position(symbol=SYMBOL, qty=D("0.006"), entry_price=D("60000.0"))],
            open_orders=exchange_orders,
        )
    )

    assert differences == [
        "BTCUSDT position: ours 0.010 @ 60000.0, exchange 0.006 @ 60000.0 (snapshot reconnect); "
        "adopted the exchange's",
        "USDT wallet balance: ours 9999.7, exchange 9999.5 (difference -0.2, snapshot "
        "reconnect); adopted the exchange's",
        "order t-3: ours NEW filled 0, exchange PARTIALLY_FILLED filled 0.004; adopted the "
        "exchange's",
        "order manual-1 (BTCUSDT SELL LIMIT 0.020) is open at the exchange but not in our "
        "books; added",
        "order t-2 (BTCUSDT NEW) is open in our books but not at the exchange; removed from the "
        "open orders",
    ]
    assert bk.differences == 5
    assert sorted(bk.orders) == ["manual-1", "t-3", "t-4"]
    assert bk.orders["t-3"].filled_qty == D("0.004")


def test_the_books_hold_an_orders_intent_also_after_adopting_its_state_from_the_exchange():
    # t-1, a reduce-only SELL the daemon sent as risk-reducing, is found partly filled at the
    # exchange (whose orders know no intent): the exchange's state, our intent.
    bk = book()
    trade_fill(bk, "t-0", 1, BUY, "0.010", "60000.0", fee="0.3")
    bk.apply(
        dataclasses.replace(
            submitted("t-1", SELL, "0.010", "61000.0", reduce_only=True),
            intent=OrderIntent.REDUCING,
        )
    )
    bk.apply(accepted("t-1", 11))
    assert bk.orders["t-1"].intent is OrderIntent.REDUCING
    at_exchange = _open_order(
        "t-1", SELL, "0.010", "61000.0", OrderStatus.PARTIALLY_FILLED, "0.004"
    )
    assert at_exchange.intent is OrderIntent.ORDINARY

    bk.reconcile(_snapshot(open_orders=[at_exchange]))

    held = bk.orders["t-1"]
    assert (held.status, held.filled_qty, held.intent) == (
        OrderStatus.PARTIALLY_FILLED, D("0.004"), OrderIntent.REDUCING
    )  # fmt: skip


def test_an_order_removed_as_not_at_the_exchange_and_found_again_keeps_its_intent():
    # t-1, a target's resting reduce-only close (intent REDUCING: outside the entries' budget
    # of max_open_orders), is missing from one snapshot (the exchange's list read before it
    # rested, say): removed. The next snapshot has it: added back with its intent, not as the
    # exchange's ORDINARY (which would count it against the budget).
    bk = book()
    trade_fill(bk, "t-0", 1, BUY, "0.010", "60000.0", fee="0.3")
    bk.apply(
        dataclasses.replace(
            submitted("t-1", SELL, "0.010", "61000.0", reduce_only=True),
            intent=OrderIntent.REDUCING,
        )
    )
    bk.apply(accepted("t-1", 11))
    bk.reconcile(_snapshot(open_orders=[]))
    assert "t-1" not in bk.orders

    bk.reconcile(
        _snapshot(open_orders=[_open_order("t-1", SELL, "0.010", "61000.0")], t=T0 + 20_000)
    )

    assert bk.orders["t-1"].intent is OrderIntent.REDUCING


def test_a_liquidation_order_working_at_the_exchange_is_not_added_to_the_books():
    # Only its fills are booked; held open in the books it would keep a flatten from ending.
    bk = book()

    differences = bk.reconcile(
        _snapshot(open_orders=[_open_order("autoclose-1723161256322", SELL, "0.010", "50000.0")])
    )

    assert differences == [] and not bk.orders and bk.differences == 0


def test_reconcile_skips_what_changed_after_the_snapshot_was_read():
    bk = book()
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3", t=T0 + 20_000)

    differences = bk.reconcile(_snapshot(balances=[_usdt("10000")], t=T0 + 10_000))

    assert differences == []
    assert bk.position(SYMBOL).qty == D("0.010")


def test_available_balance_subtracts_position_and_open_order_margin():
    bk = book()  # leverage 20
    trade_fill(bk, "t-1", 1, BUY, "0.100", "60000.0", fee="0")
    bk.mark(MarkPrice(SYMBOL, D("60000.0"), D("60000.0"), D(0), 0, T0, T0))
    bk.apply(submitted("t-2", BUY, "0.050", "59000.0"))  # adds exposure: 2950 notional
    bk.apply(submitted("t-3", SELL, "0.050", "61000.0"))  # closes part of the long: no margin

    # 10000 - 0.1*60000/20 - 0.05*59000/20 = 10000 - 300 - 147.5
    assert bk.available_balance() == D("9552.5")


def test_equity_and_available_are_the_two_reads_in_one_call_before_and_after_a_change():
    bk = book()  # leverage 20
    trade_fill(bk, "m-1", 1, BUY, "0.100", "60000.0", fee="0")
    bk.mark(MarkPrice(SYMBOL, D("60000.0"), D("60000.0"), D(0), 0, T0, T0))
    # equity 10000; available 10000 - 0.1*60000/20 = 9700
    assert bk.equity_and_available() == (D("10000.0"), D("9700.0"))
    assert bk.equity_and_available() == (bk.equity(), bk.available_balance())
    bk.mark(MarkPrice(SYMBOL, D("61000.0"), D("61000.0"), D(0), 0, T0, T0))
    # +100 unrealized: equity 10100; available 10100 - 0.1*61000/20 = 9795
    assert bk.equity_and_available() == (D("10100.0"), D("9795.0"))
    assert bk.equity_and_available() == (bk.equity(), bk.available_balance())


def test_open_order_qty_counts_only_orders_that_can_grow_the_position():
    bk = book()
    bk.apply(submitted("q-1", BUY, "0.010", "59000.0"))
    bk.apply(submitted("q-2", BUY, "0.005"))  # a MARKET order still pending counts too
    bk.apply(submitted("q-3", BUY, "0.020", "58000.0", reduce_only=True))  # cannot grow it
    bk.apply(submitted("q-4", SELL, "0.003", "61000.0"))

    assert bk.open_order_qty(SYMBOL, BUY) == D("0.015")
    assert bk.open_order_qty(SYMBOL, SELL) == D("0.003")


def test_order_exposure_gives_in_one_call_what_the_four_reads_give():
    """The risk check's one read of the books (`order_exposure`) against the four it
    replaced: position, mark, open order count and open quantity on the order's side."""
    bk = book()
    trade_fill(bk, "e-1", 1, BUY, "0.100", "60000.0", fee="0")
    bk.mark(MarkPrice(SYMBOL, D("60100.0"), D("60100.0"), D(0), 0, T0, T0))
    bk.apply(submitted("e-2", BUY, "0.010", "59000.0"))
    bk.apply(submitted("e-3", BUY, "0.020", "58000.0", reduce_only=True))  # counted, cannot grow
    bk.apply(submitted("e-4", SELL, "0.003", "61000.0"))
    bk.apply(submitted("e-5", BUY, "1.000", "3000.00", symbol="ETHUSDT"))  # another symbol

    # long 0.100, mark 60100.0, 3 open orders of BTCUSDT, 0.010 buy / 0.003 sell to grow
    assert bk.order_exposure(SYMBOL, BUY) == (D("0.100"), D("60100.0"), 3, D("0.010"))
    assert bk.order_exposure(SYMBOL, SELL) == (D("0.100"), D("60100.0"), 3, D("0.003"))
    for side in (BUY, SELL):
        assert bk.order_exposure(SYMBOL, side) == (
            bk.position(SYMBOL).qty,
            bk.mark_price(SYMBOL),
            bk.open_order_count(SYMBOL),
            bk.open_order_qty(SYMBOL, side),
        )


def test_order_exposure_of_a_symbol_without_a_price_has_no_mark():
    assert book().order_exposure(SYMBOL, BUY) == (D(0), None, 0, D(0))


def test_position_prices_falls_back_as_mark_price_and_last_price_do():
    """The ExecManager's one read per target order (`position_prices`) against the three it
    replaced, as the prices arrive: none, a book top (mid 60000.05 for both), a trade (the
    last; the mark falls back to it), a mark price (each its own)."""
    bk = book()
    trade_fill(bk, "p-1", 1, SELL, "0.010", "60000.0", fee="0")

    def three():
        return (bk.position(SYMBOL).qty, bk.mark_price(SYMBOL), bk.last_price(SYMBOL))

    assert bk.position_prices(SYMBOL) == three() == (D("-0.010"), None, None)
    bk.mark(BookTicker(SYMBOL, 1, D("60000.0"), D(1), D("60000.1"), D(1), T0, T0, T0))
    assert bk.position_prices(SYMBOL) == three() == (D("-0.010"), D("60000.05"), D("60000.05"))
    bk.mark(Trade(SYMBOL, 1, D("60010.0"), D("0.001"), 1, 1, False, T0, T0, T0))
    assert bk.position_prices(SYMBOL) == three() == (D("-0.010"), D("60010.0"), D("60010.0"))
    bk.mark(MarkPrice(SYMBOL, D("60005.0"), D("60005.0"), D(0), 0, T0, T0))
    assert bk.position_prices(SYMBOL) == three() == (D("-0.010"), D("60005.0"), D("60010.0"))
    assert bk.position_prices("NOSUCH") == (D(0), None, None)


def test_an_order_that_ended_after_the_snapshot_was_read_is_not_re_added():
    clock = SimClock(T0)
    bk = book(clock=clock)
    bk.apply(submitted("t-5", SELL, "0.010", "61000.0"))
    bk.apply(accepted("t-5", 15))
    clock.set_ms(T0 + 20_000)
    bk.apply(canceled("t-5", 15, t=T0 + 20_000))  # our cancel, after the snapshot's reads

    snapshot = _snapshot(open_orders=[_open_order("t-5", SELL, "0.010", "61000.0")])

    assert bk.reconcile(snapshot) == []
    assert "t-5" not in bk.orders


# --- an ACCOUNT_UPDATE ahead of its fills ------------------------------------------------------
# Binance may send the ACCOUNT_UPDATE of a fill before the fill's ORDER_TRADE_UPDATE (the
# local exchange's `reorder_user_events` fault does so): adopted at once, the fill would then
# be booked a second time on top of it.


def _ahead(qty: str, entry: str, wallet: str, t: int = T0) -> list[object]:
    return [
        PositionChanged(
            event_time_ms=t,
            recv_time_ms=t,
            reason="ORDER",
            position=Position(symbol=SYMBOL, qty=D(qty), entry_price=D(entry)),
        ),
        BalanceChanged(event_time_ms=t, recv_time_ms=t, balance=_usdt(wallet), reason="ORDER"),
    ]


def test_an_account_update_ahead_of_its_fill_is_not_booked_twice():
    bk = book()  # 10000 USDT
    bk.apply(submitted("t-1", BUY, "0.010"))
    # BUY 0.010 @ 60000, fee 0.3: the exchange holds 0.010 @ 60000, wallet 9999.7
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    bk.apply(filled(fill("t-1", 1, BUY, "0.010", "60000.0", fee="0.3")))

    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.010"), D("60000"))
    assert bk.wallet() == D("9999.7")
    assert (bk.differences, bk.adjustments) == (0, 0)


def test_an_account_update_ahead_of_two_fills_waits_for_both():
    bk = book()
    bk.apply(submitted("t-1", BUY, "0.030"))
    # two trades of one match: 0.010 @ 60000 (fee 0.3) + 0.020 @ 60001.5 (fee 0.600015)
    # entry (600 + 1200.03) / 0.030 = 60001.0; wallet 10000 - 0.900015 = 9999.099985
    for event in _ahead("0.030", "60001.0", "9999.099985"):
        bk.apply(event)
    bk.apply(filled(fill("t-1", 1, BUY, "0.010", "60000.0", fee="0.3"), final=False))
    assert bk.position(SYMBOL).qty == D("0.010")  # still waiting for the second
    bk.apply(filled(fill("t-1", 2, BUY, "0.020", "60001.5", fee="0.600015")))

    assert (bk.position(SYMBOL).qty, bk.position(SYMBOL).entry_price) == (D("0.030"), D("60001"))
    assert bk.wallet() == D("9999.099985")
    assert bk.differences == 0


def test_an_account_update_whose_fill_never_comes_is_adopted_two_seconds_later():
    bk = book()
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 1_999, T0 + 1_999))
    assert (bk.position(SYMBOL).qty, bk.differences) == (0, 0)

    bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_000, T0 + 2_000))

    assert (bk.position(SYMBOL).qty, bk.wallet(), bk.differences) == (D("0.010"), D("9999.7"), 2)


def test_a_snapshot_settles_what_was_held():
    bk = book()
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    bk.reconcile(
        VenueSnapshot(
            event_time_ms=T0 + 500,
            recv_time_ms=T0 + 500,
            balances=(_usdt("10000"),),
            positions=(),
            open_orders=(),
            reason="periodic",
            symbols=(SYMBOL,),
        )
    )
    # the snapshot (fills caught up before it) says flat and 10000: nothing left held
    bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 5_000, T0 + 5_000))
    assert (bk.position(SYMBOL).qty, bk.wallet(), bk.differences) == (0, D("10000"), 0)


def test_a_snapshot_that_cannot_compare_adopts_a_held_update_carried_on_by_later_fills():
    """The update (0.010 long, 9999.7) is ahead of a fill no event brings (an order nobody
    tracked: its fill left to that update); a later fill (BUY 0.005 @ 60010, fee 0.15,
    T0 + 300) is booked, its reports lost, during a pass whose reads began at T0 + 100. The
    update is carried forward by it (0.015 long, 9999.55) and the snapshot, which cannot
    compare a symbol and wallet that moved after its reads began, adopts it. Before, the
    later fill dropped the update as stale: 0.005 long and 9999.85 until the next pass."""
    bk = book()  # 10000 USDT
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    trade_fill(bk, "t-2", 2, BUY, "0.005", "60010.0", fee="0.15", t=T0 + 300)
    assert (bk.position(SYMBOL).qty, bk.wallet()) == (D("0.005"), D("9999.85"))

    read = Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D("60000"))
    sentences = bk.reconcile(_snapshot(balances=[_usdt("9999.7")], positions=[read], t=T0 + 100))

    position = bk.position(SYMBOL)
    # (0.010 * 60000 + 0.005 * 60010) / 0.015 = 60003.33...
    assert (position.qty, round(position.entry_price, 2)) == (D("0.015"), D("60003.33"))
    assert bk.wallet() == D("9999.55")
    assert len(sentences) == 2 and bk.differences == 2


def test_an_account_update_that_comes_after_a_later_fill_is_not_adopted():
    """The stream delivers a fill's account update after the report of a fill made later
    (reordered: the chaos run's seed-13 kill-9 schedule did this). BUY 0.010 @ 60000 (fee
    0.3): long, wallet 9999.7. SELL 0.020 @ 60100 at T0+100 (fee 0.601, rp 0.010 * 100 =
    1.0): short 0.010 @ 60100, wallet 10000.099. BUY 0.020 @ 60050 at T0+200 (fee 0.6005,
    rp 0.010 * 50 = 0.5): long 0.010 @ 60050, wallet 9999.9985. Then the SELL's update (short
    0.010, 10000.099) comes: it is how things stood before the BUY. Held and adopted 2 s on,
    the books went short while the exchange was long."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
    trade_fill(bk, "t-2", 2, SELL, "0.020", "60100.0", fee="0.601", rp="1.0", t=T0 + 100)
    trade_fill(bk, "t-3", 3, BUY, "0.020", "60050.0", fee="0.6005", rp="0.5", t=T0 + 200)

    for event in _ahead("-0.010", "60100", "10000.099", t=T0 + 100):
        bk.apply(event)
    bk.mark(MarkPrice(SYMBOL, D("60050"), D("60050"), D(0), 0, T0 + 2_200, T0 + 2_200))

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.010"), D("60050"))
    assert bk.wallet() == D("9999.9985")
    assert (bk.differences, bk.adjustments) == (0, 0)


def test_an_update_of_the_ms_of_the_last_fill_booked_is_held_not_dropped():
    """Only an update older than a fill booked is dropped: one of its very ms may be of a
    fill made after it in that ms (a sweep's on Binance; any fill on the local exchange while
    its clock is skewed back, its engine's time waiting at the last ms it reached). BUY 0.010
    @ 60000 at T0 (fee 0.3) booked; the update of a second BUY 0.010 @ 60100 of that ms
    (0.020 @ 60050, wallet 9999.3995) comes before its report, which is lost: held, and
    adopted 2 s on. Dropped as stale, the books stayed at 0.010 until the next pass."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    for event in _ahead("0.020", "60050", "9999.3995"):
        bk.apply(event)
    assert SYMBOL in bk._held_positions and bk._held_balance is not None
    bk.mark(MarkPrice(SYMBOL, D("60050"), D("60050"), D(0), 0, T0 + 2_000, T0 + 2_000))

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.020"), D("60050"))
    assert bk.wallet() == D("9999.3995")


def _adopted_ahead_of_a_lost_fill():
    """Books that adopted, 2 s on, an update ahead of a fill whose report was lost (the
    chaos run's seed-11 kill-9 schedule did this), and that lost fill (trade 2) to book.

    SELL 0.010 @ 60000 (fee 0.3): short, wallet 9999.7. Trade 2, BUY 0.010 @ 59900 at T0+100
    (fee 0.2995, rp 0.010 * 100 = 1.0), closes it; its reports are lost. Trade 3, BUY 0.010
    @ 59950 at T0+200 (fee 0.29975), opens a long at the exchange; the books, without trade
    2, close their short with it (flat, wallet 9999.40025). The exchange's update of T0+200
    (0.010 @ 59950, wallet 10000 - 0.3 + 1.0 - 0.2995 - 0.29975 = 10000.10075) is adopted
    at T0+2200: a correction of 0.7005, which is trade 2's 1.0 - 0.2995."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, SELL, "0.010", "60000.0", fee="0.3")
    bk.apply(submitted("t-2", BUY, "0.010", t=T0 + 100))
    trade_fill(bk, "t-3", 3, BUY, "0.010", "59950.0", fee="0.29975", t=T0 + 200)
    for event in _ahead("0.010", "59950", "10000.10075", t=T0 + 200):
        bk.apply(event)
    bk.mark(MarkPrice(SYMBOL, D("59950"), D("59950"), D(0), 0, T0 + 2_200, T0 + 2_200))
    assert (bk.position(SYMBOL).qty, bk.wallet(), bk.adjustments) == (
        D("0.010"),
        D("10000.10075"),
        D("0.7005"),
    )
    late = fill("t-2", 2, BUY, "0.010", "59900.0", fee="0.2995", rp="1.0", t=T0 + 100)
    return bk, filled(dataclasses.replace(late, recv_time_ms=T0 + 2_500))


def test_a_fill_whose_report_comes_after_the_update_holding_it_was_adopted_is_booked_once():
    bk, late = _adopted_ahead_of_a_lost_fill()

    bk.apply(late)

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.010"), D("59950"))  # as adopted
    assert bk.wallet() == D("10000.10075")
    assert bk.realized_pnl == D("1.0")  # trade 2's rp; trades 1 and 3 opened
    assert bk.fees["USDT"] == D("0.89925")  # 0.3 + 0.2995 + 0.29975
    assert bk.adjustments == 0  # the correction was trade 2's: taken back
    assert bk.fill_count == 3


def test_a_checkpoint_keeps_how_far_the_adopted_position_and_wallet_hold_fills():
    bk, late = _adopted_ahead_of_a_lost_fill()
    loaded = book()
    loaded._load_replay_state(bk._replay_state())  # the books' part of a checkpoint
    loaded.apply(submitted("t-2", BUY, "0.010", t=T0 + 100))  # orders come from their rows

    loaded.apply(late)

    assert (loaded.position(SYMBOL).qty, loaded.wallet()) == (D("0.010"), D("10000.10075"))
    assert loaded.adjustments == 0


def test_a_fill_made_after_the_adopted_update_moves_the_books_as_any_fill():
    bk, _late = _adopted_ahead_of_a_lost_fill()

    # SELL 0.010 @ 60050 at T0+3000 (fee 0.30025): closes the long, rp 0.010 * 100 = 1.0
    trade_fill(bk, "t-4", 4, SELL, "0.010", "60050.0", fee="0.30025", rp="1.0", t=T0 + 3_000)

    assert bk.position(SYMBOL).qty == 0
    assert bk.wallet() == D("10000.80050")  # 10000.10075 + 1.0 - 0.30025


def test_a_lost_fill_read_back_after_its_own_update_was_adopted_is_booked_once():
    """The update is its own fill's (Binance's ACCOUNT_UPDATE `T` is the fill's trade time,
    the gateway's event time): BUY 0.010 @ 60000 (fee 0.3) at T0, its reports lost, its
    update (0.010 @ 60000, wallet 10000 - 0.3 = 9999.7) adopted at T0+2000 as a correction
    of -0.3. The fill, read back over REST, is made at the update's time: the update holds
    it. Taken as after it (a fill of that ms only before it was taken as held), it was
    stepped onto the adopted position: 0.020 long and a wallet of 9999.4."""
    bk = book()  # 10000 USDT
    bk.apply(submitted("t-1", BUY, "0.010"))
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_000, T0 + 2_000))
    assert (bk.position(SYMBOL).qty, bk.wallet(), bk.adjustments) == (
        D("0.010"),
        D("9999.7"),
        D("-0.3"),
    )
    late = fill("t-1", 1, BUY, "0.010", "60000.0", fee="0.3")

    bk.apply(filled(dataclasses.replace(late, recv_time_ms=T0 + 2_500)))

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.010"), D("60000"))  # as adopted
    assert bk.wallet() == D("9999.7")
    assert (bk.fees["USDT"], bk.adjustments, bk.fill_count) == (D("0.3"), 0, 1)


def _adopted_then_another_fill_of_its_ms() -> tuple[object, list[object]]:
    """BUY 0.010 @ 60000 (fee 0.3) at T0, its reports lost, its update adopted at T0+2000
    (0.010 @ 60000, wallet 9999.7); then another BUY 0.010 @ 60100 (fee 0.3005) made in
    that same ms T0, reported as usual: its fill and its update (0.020 @ 60050, wallet
    9999.3995). Binance makes fills of one ms (a sweep of several levels); the local
    exchange makes every fill in that ms for as long as its clock is skewed back (its
    engine's time never goes back: it waits there)."""
    bk = book()  # 10000 USDT
    bk.apply(submitted("t-1", BUY, "0.010"))
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    bk.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_000, T0 + 2_000))
    bk.apply(submitted("t-2", BUY, "0.010"))
    second = filled(fill("t-2", 2, BUY, "0.010", "60100.0", fee="0.3005", order_id=2))
    return bk, [second, *_ahead("0.020", "60050", "9999.3995")]


def test_an_update_of_the_adopted_ones_ms_after_another_fill_of_it_is_adopted_at_once():
    """The second fill is made in the adopted update's ms, so the books take it as held by
    that position (they cannot tell it from the update's own fill) and do not step it: only
    the exchange's word on that ms moves the position, and its own update, of the same ms
    and later on the stream, says it. Adopted at once, the books hold 0.020 as the exchange
    does; held (an update ahead of its fills), they stayed at 0.010 for 2 s more of the
    exchange's time (for as long as a skew back lasts on the local exchange: its times wait
    in that ms), and the daemon traded on 0.010."""
    bk, reports = _adopted_then_another_fill_of_its_ms()

    for event in reports:
        bk.apply(event)

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.020"), D("60050"))
    assert bk.wallet() == D("9999.3995")
    assert bk.fees["USDT"] == D("0.3005") and bk.fill_count == 1  # the second's
    assert bk.adjustments == D("-0.3")  # the first fill's, its report still lost


def test_an_update_of_the_adopted_ones_ms_ahead_of_its_fill_is_adopted_at_once():
    """As above, the update sent before its fill's report (Binance does that): adopted at
    once, the fill then taken as held by it, booked once."""
    bk, (second, *updates) = _adopted_then_another_fill_of_its_ms()

    for event in [*updates, second]:
        bk.apply(event)

    position = bk.position(SYMBOL)
    assert (position.qty, position.entry_price) == (D("0.020"), D("60050"))
    assert bk.wallet() == D("9999.3995")
    assert bk.fees["USDT"] == D("0.3005") and bk.adjustments == D("-0.3")


def test_an_update_older_than_the_adopted_ones_ms_is_not_adopted_at_once():
    """One of an earlier ms, delivered late, is how things stood before the update adopted:
    not the exchange's newer word, not adopted over it at once."""
    bk, _ = _adopted_then_another_fill_of_its_ms()

    for event in _ahead("0.005", "60000", "9999.85", t=T0 - 1):
        bk.apply(event)

    assert bk.position(SYMBOL).qty == D("0.010") and bk.wallet() == D("9999.7")


def test_a_checkpoint_keeps_the_ms_of_the_account_update_adopted():
    bk, reports = _adopted_then_another_fill_of_its_ms()
    loaded = book()
    loaded._load_replay_state(bk._replay_state())  # the books' part of a checkpoint
    loaded.apply(submitted("t-2", BUY, "0.010"))  # orders come from their rows

    for event in reports:
        loaded.apply(event)

    assert (loaded.position(SYMBOL).qty, loaded.wallet()) == (D("0.020"), D("9999.3995"))


def test_an_update_of_the_ms_before_a_snapshots_adopted_position_is_not_adopted_at_once():
    """A snapshot's position holds the fills made before its `updateTime` (T0+5000; one of
    that ms may come after the read): an update of T0+4999 that disagrees, delivered after
    the snapshot, is older than the read, not the exchange's newer word."""
    bk = book()  # 10000 USDT
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")
    adopted = Position(
        symbol=SYMBOL, qty=D("0.020"), entry_price=D("60050"), update_time_ms=T0 + 5_000
    )
    bk.reconcile(_snapshot(positions=[adopted], balances=[_usdt("9999.3995")]))
    assert bk.position(SYMBOL).qty == D("0.020")

    for event in _ahead("0.015", "60000", "9999.55", t=T0 + 4_999):
        bk.apply(event)

    assert bk.position(SYMBOL).qty == D("0.020") and bk.wallet() == D("9999.3995")


def test_a_held_update_in_a_checkpoint_written_before_its_receive_time_was_kept_still_loads():
    """A checkpoint's held updates were [what, event time]; now [what, event time, receive
    time]. An older one loads, its event time standing for the receive time, and is adopted
    2 s on as before."""
    bk = book()
    for event in _ahead("0.010", "60000", "9999.7"):
        bk.apply(event)
    state = bk._replay_state()  # the books' part of a checkpoint
    assert state["held_balance"][1:] == [T0, T0]
    state["held_positions"] = {s: h[:2] for s, h in state["held_positions"].items()}
    state["held_balance"] = state["held_balance"][:2]
    loaded = book()

    loaded._load_replay_state(state)
    loaded.mark(MarkPrice(SYMBOL, D("60000"), D("60000"), D(0), 0, T0 + 2_000, T0 + 2_000))

    assert (loaded.position(SYMBOL).qty, loaded.wallet()) == (D("0.010"), D("9999.7"))


def test_booked_trade_ids_are_kept_in_bounded_memory_and_still_refused_twice():
    from book_keeper.symbol_book import BookedTradeIds as _BookedTradeIds

    ids = _BookedTradeIds(keep=3)
    for trade_id in (10, 11, 12, 13, 14):
        ids.add(trade_id)

    assert len(ids) == 3  # 12, 13, 14 held; 10 and 11 forgotten
    assert all(t in ids for t in (10, 11, 12, 13, 14))  # forgotten ones still count as booked
    assert 15 not in ids and 9 in ids


def test_money_moved_while_no_daemon_ran_is_a_transfer_at_the_start_up_reconciliation(caplog):
    """Stopped, the user withdrew 2,000 USDT of profits; no stream told the books. The start-up
    snapshot (fills and funding recovered before it) adopts the wallet: the 2,000 was counted
    as a correction, a loss for the limits, and the restart halted on "max daily loss"."""
    bk = book()  # 10000 USDT, as restored from the journal
    trade_fill(bk, "t-1", 1, BUY, "0.010", "60000.0", fee="0.3")  # wallet 9999.7
    held = Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D("60000.0"))
    snapshot = _snapshot(balances=[_usdt("7999.7")], positions=[held])
    snapshot = dataclasses.replace(snapshot, reason="start")

    with caplog.at_level(logging.WARNING, logger="book_keeper"):
        bk.reconcile(snapshot)

    assert bk.wallet() == D("7999.7")
    assert (bk.transfers, bk.adjustments) == (D(-2000), 0)
    assert bk.pnl_today(T0 + 10_000) == D("-0.3")  # the fee only
    assert bk.differences == 1
    assert [r.getMessage() for r in caplog.records] == [
        "books: USDT wallet balance: ours 9999.7, exchange 7999.7 (difference -2000.0, "
        "snapshot start); adopted the exchange's, as money moved in or out while the daemon "
        "was stopped (not a loss or gain for the risk limits)"
    ]


def test_a_wallet_difference_while_running_stays_a_correction():
    bk = book()
    bk.reconcile(_snapshot(balances=[_usdt("9990")]))  # reason "reconnect"

    assert (bk.transfers, bk.adjustments) == (0, D(-10))
    assert bk.pnl_today(T0 + 10_000) == D(-10)
