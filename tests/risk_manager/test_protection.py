"""Exchange-side stop-loss / take-profit: placed for a position, replaced when the entry
moves, cancelled when flat. Limits: stop-loss 2 %, take-profit 4 %; BTCUSDT tick 0.10 (grid
from minPrice 402). Expected trigger prices worked out by hand. The stop closes the position
(closePosition); the take-profit is reduce-only for the position's quantity (Binance takes one
closePosition order per side: -4130).
"""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.account import Position
from core.enums import OrderStatus, OrderType, Side
from core.instrument import LotSize
from core.orders import Order, OrderProposal, OrderRequest
from risk_manager.protection import already_crossed, fired_at, take_profit_order_cap

SL, TP = OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET


def pos(qty: str, entry: str, symbol: str = "BTCUSDT") -> Position:
    return Position(symbol=symbol, qty=D(qty), entry_price=D(entry))


def resting(
    cid: str,
    order_type: OrderType,
    side: Side,
    stop_price: str | None,
    *,
    symbol: str = "BTCUSDT",
    status: OrderStatus = OrderStatus.NEW,
    close_position: bool | None = None,
    qty: str = "0.010",
) -> Order:
    """A resting order; by default a stop closes the position and a take-profit is
    reduce-only for `qty` (as planned)."""
    if close_position is None:
        close_position = order_type is SL
    protects = order_type in (SL, TP)
    return Order(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=D(0) if close_position else D(qty),
        price=None if stop_price else D("59000.0"),
        time_in_force=None,
        status=status,
        created_ms=0,
        updated_ms=0,
        stop_price=None if stop_price is None else D(stop_price),
        reduce_only=protects,
        close_position=close_position,
    )


def protective(order_type: OrderType, side: Side, trigger: str, qty: str = "0.010") -> tuple:
    """A planned stop (closePosition) or take-profit (reduce-only, the position's qty)."""
    if order_type is SL:
        return (order_type, side, D(trigger), None, True, True)
    return (order_type, side, D(trigger), D(qty), False, True)


def shape(p: OrderProposal) -> tuple:
    return (p.type, p.side, p.stop_price, p.quantity, p.close_position, p.reduce_only)


def test_long_gets_a_sell_stop_below_and_a_sell_take_profit_above(risk):
    # 60000 * 0.98 = 58800.0, 60000 * 1.04 = 62400.0
    proposals, cancels = risk.protective_orders(pos("0.010", "60000"), None, [])
    assert [shape(p) for p in proposals] == [
        protective(SL, Side.SELL, "58800.0"),
        protective(TP, Side.SELL, "62400.0"),
    ]
    assert cancels == []


def test_short_gets_a_buy_stop_above_and_a_buy_take_profit_below(risk):
    # 60000 * 1.02 = 61200.0, 60000 * 0.96 = 57600.0
    proposals, _ = risk.protective_orders(pos("-0.010", "60000"), None, [])
    assert [shape(p) for p in proposals] == [
        protective(SL, Side.BUY, "61200.0"),
        protective(TP, Side.BUY, "57600.0"),
    ]


def test_long_triggers_round_toward_the_market_to_fire_no_later(risk):
    # stop 60123.45 * 0.98 = 58920.981 -> up to 58921.0; TP * 1.04 = 62528.388 -> down 62528.3
    proposals, _ = risk.protective_orders(pos("0.010", "60123.45"), None, [])
    assert [p.stop_price for p in proposals] == [D("58921.0"), D("62528.3")]


def test_short_triggers_round_toward_the_market_to_fire_no_later(risk):
    # stop 60123.45 * 1.02 = 61325.919 -> down 61325.9; TP * 0.96 = 57718.512 -> up 57718.6
    proposals, _ = risk.protective_orders(pos("-0.010", "60123.45"), None, [])
    assert [p.stop_price for p in proposals] == [D("61325.9"), D("57718.6")]


def test_the_reasons_say_an_average_entry_to_the_tick_and_the_levels_use_all_of_it(risk):
    """Three fills of 0.010 at 60000.0, 60000.0 and 60000.1 average 60000.0333...: the reasons
    said "from entry 60000.03333333333333333333333". The stop 2 % under the whole entry is
    58800.0327 -> up to 58800.1 (from 60000.0 it would be 58800.0); the take-profit
    62400.0347 -> down to 62400.0."""
    entry = (D("60000.0") + D("60000.0") + D("60000.1")) / 3
    position = Position(symbol="BTCUSDT", qty=D("0.030"), entry_price=entry)

    proposals, _ = risk.protective_orders(position, None, [])

    assert [(p.stop_price, p.reason) for p in proposals] == [
        (D("58800.1"), "stop-loss 2% from entry 60000.0"),
        (D("62400.0"), "take-profit 4% from entry 60000.0"),
    ]


def test_explicit_entry_price_overrides_the_average_entry(risk, books):
    # 50000 * 0.98 = 49000.0
    books.marks["BTCUSDT"] = D(50000)
    proposals, _ = risk.protective_orders(pos("0.010", "60000"), D(50000), [])
    assert proposals[0].stop_price == D("49000.0")


def test_no_take_profit_when_its_percentage_is_zero(make_risk):
    risk = make_risk(take_profit_pct=D(0))
    proposals, _ = risk.protective_orders(pos("0.010", "60000"), None, [])
    assert [p.type for p in proposals] == [SL]


def test_orders_already_at_the_right_levels_are_kept(risk):
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    assert risk.protective_orders(pos("0.010", "60000"), None, existing) == ([], [])


def test_a_smaller_position_keeps_its_stop_and_resizes_its_take_profit(risk):
    # the closePosition stop closes whatever is left; the take-profit follows the quantity
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    proposals, cancels = risk.protective_orders(pos("0.004", "60000"), None, existing)
    assert [shape(p) for p in proposals] == [protective(TP, Side.SELL, "62400.0", "0.004")]
    assert cancels == ["tp-1"]


def test_a_take_profit_with_close_position_is_replaced_by_a_reduce_only_one(risk):
    # left by an older version: it would keep a stop of the same side from being placed
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0", close_position=True),
    ]
    proposals, cancels = risk.protective_orders(pos("0.010", "60000"), None, existing)
    assert [shape(p) for p in proposals] == [protective(TP, Side.SELL, "62400.0")]
    assert cancels == ["tp-1"]


def test_orders_are_replaced_when_the_entry_moves(risk):
    # added at a higher price: entry 61000 -> stop 59780.0, take-profit 63440.0
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    proposals, cancels = risk.protective_orders(pos("0.020", "61000"), None, existing)
    assert [shape(p) for p in proposals] == [
        protective(SL, Side.SELL, "59780.0"),
        protective(TP, Side.SELL, "63440.0", "0.020"),
    ]
    assert cancels == ["sl-1", "tp-1"]


def test_orders_are_replaced_when_the_position_flips(risk, books):
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    proposals, cancels = risk.protective_orders(pos("-0.010", "60000"), None, existing)
    assert [(p.type, p.side) for p in proposals] == [(SL, Side.BUY), (TP, Side.BUY)]
    assert cancels == ["sl-1", "tp-1"]


def test_flat_position_cancels_its_protective_orders(risk):
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    assert risk.protective_orders(pos("0", "0"), None, existing) == ([], ["sl-1", "tp-1"])


def test_a_duplicate_stop_is_cancelled(risk):
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("sl-2", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0"),
    ]
    assert risk.protective_orders(pos("0.010", "60000"), None, existing) == ([], ["sl-2"])


def test_entry_orders_other_symbols_and_finished_orders_are_left_alone(risk):
    existing = [
        resting("entry-1", OrderType.LIMIT, Side.BUY, None, close_position=False),
        resting("eth-sl", SL, Side.SELL, "3920.00", symbol="ETHUSDT"),
        resting("old-sl", SL, Side.SELL, "50000.0", status=OrderStatus.CANCELED),
    ]
    assert risk.protective_orders(pos("0", "0"), None, existing) == ([], [])


def test_stop_level_already_crossed_closes_at_market(risk, books):
    # long from 60000, stop 58800.0, the mark is already 58700
    books.marks["BTCUSDT"] = D(58700)
    existing = [resting("sl-1", SL, Side.SELL, "50000.0")]
    proposals, cancels = risk.protective_orders(pos("0.010", "60000"), None, existing)
    assert [(p.type, p.side, p.quantity, p.reduce_only) for p in proposals] == [
        (OrderType.MARKET, Side.SELL, D("0.010"), True)
    ]
    assert proposals[0].reason == (
        "stop-loss 2% level 58800.0 from entry 60000.0 already crossed (last price 58700): close "
        "at market"
    )
    assert cancels == ["sl-1"]


def test_crossed_is_judged_on_the_last_price_the_stop_triggers_on_not_the_mark(risk, books):
    # long from 60000, stop 58800.0: the last trade is 58790 (the exchange would fire the
    # CONTRACT_PRICE stop at once, -2021) while the mark still says 58810: close at market.
    books.marks["BTCUSDT"] = D(58810)
    books.lasts["BTCUSDT"] = D(58790)
    crossed, _ = risk.protective_orders(pos("0.010", "60000"), None, [])
    # The other way round (mark past, last not): the stop is placed.
    books.marks["BTCUSDT"] = D(58790)
    books.lasts["BTCUSDT"] = D(58810)
    placed, _ = risk.protective_orders(pos("0.010", "60000"), None, [])

    assert [(p.type, p.reduce_only) for p in crossed] == [(OrderType.MARKET, True)]
    assert [(p.type, p.stop_price) for p in placed] == [(SL, D("58800.0")), (TP, D("62400.0"))]


def test_take_profit_level_already_crossed_closes_a_short_at_market(risk, books):
    # short from 60000, take-profit 57600.0, the mark is already 57500
    books.marks["BTCUSDT"] = D(57500)
    proposals, _ = risk.protective_orders(pos("-0.010", "60000"), None, [])
    assert [(p.type, p.side, p.quantity) for p in proposals] == [
        (OrderType.MARKET, Side.BUY, D("0.010"))
    ]


def test_proposed_protective_orders_pass_the_risk_check(risk, books):
    books.set_position("BTCUSDT", "0.010", "60000")
    proposals, _ = risk.protective_orders(books.position("BTCUSDT"), None, [])
    for p in proposals:
        request = _request(p)
        assert risk.check(request, gap_open=True, clock_offset_ms=0) == request


def _request(p: OrderProposal) -> OrderRequest:
    return OrderRequest(
        symbol=p.symbol,
        side=p.side,
        type=p.type,
        quantity=p.quantity,
        stop_price=p.stop_price,
        reduce_only=p.reduce_only,
        close_position=p.close_position,
        client_order_id="p-1",
    )


def _small_market_lot(make_risk, instruments):
    """A RiskManager whose BTCUSDT has MARKET_LOT_SIZE maxQty 0.050 (step 0.001)."""
    btc = instruments["BTCUSDT"]
    instruments["BTCUSDT"] = replace(btc, market_lot=LotSize(D("0.001"), D("0.050"), D("0.001")))
    return make_risk()


def test_a_take_profit_beyond_max_qty_is_as_many_orders_at_the_same_level(make_risk, instruments):
    # long 0.125 from 60000: take-profit 4 % = 62400.0 for 0.050 + 0.050 + 0.025
    risk = _small_market_lot(make_risk, instruments)
    proposals, cancels = risk.protective_orders(pos("0.125", "60000"), None, [])
    assert [shape(p) for p in proposals] == [
        protective(SL, Side.SELL, "58800.0"),
        protective(TP, Side.SELL, "62400.0", "0.050"),
        protective(TP, Side.SELL, "62400.0", "0.050"),
        protective(TP, Side.SELL, "62400.0", "0.025"),
    ]
    assert cancels == []


def test_take_profits_beyond_max_qty_already_placed_are_kept_and_resized_together(
    make_risk, instruments
):
    risk = _small_market_lot(make_risk, instruments)
    existing = [
        resting("sl-1", SL, Side.SELL, "58800.0"),
        resting("tp-1", TP, Side.SELL, "62400.0", qty="0.050"),
        resting("tp-2", TP, Side.SELL, "62400.0", qty="0.050"),
        resting("tp-3", TP, Side.SELL, "62400.0", qty="0.025"),
    ]
    kept = risk.protective_orders(pos("0.125", "60000"), None, existing)
    # 0.025 of it closed elsewhere: 0.100 is 0.050 + 0.050, placed anew
    resized = risk.protective_orders(pos("0.100", "60000"), None, existing)

    assert kept == ([], [])
    assert [shape(p) for p in resized[0]] == [
        protective(TP, Side.SELL, "62400.0", "0.050"),
        protective(TP, Side.SELL, "62400.0", "0.050"),
    ]
    assert resized[1] == ["tp-1", "tp-2", "tp-3"]


def test_a_crossed_level_closes_a_position_beyond_max_qty_in_several_market_orders(
    make_risk, instruments, books
):
    risk = _small_market_lot(make_risk, instruments)
    books.marks["BTCUSDT"] = D(58700)  # below the long's stop, 58800.0
    proposals, _ = risk.protective_orders(pos("0.125", "60000"), None, [])
    assert [(p.type, p.side, p.quantity, p.reduce_only) for p in proposals] == [
        (OrderType.MARKET, Side.SELL, D("0.050"), True),
        (OrderType.MARKET, Side.SELL, D("0.050"), True),
        (OrderType.MARKET, Side.SELL, D("0.025"), True),
    ]


def test_the_take_profit_order_cap_fits_two_plans_within_the_open_order_limits(btc):
    # MAX_NUM_ALGO_ORDERS 10 per symbol (this exchangeInfo of 2022): (10 - 2) // 2 = 4
    assert take_profit_order_cap(btc, 1) == take_profit_order_cap(btc, 3) == 4
    # Without that filter (exchangeInfo since 2025-12-29) 200 per account, shared: one symbol
    # (200 - 2) // 2 = 99; two get 100 each: 49; three get 66: 32
    no_filter = replace(btc, max_num_algo_orders=None)
    assert [take_profit_order_cap(no_filter, n) for n in (1, 2, 3)] == [99, 49, 32]
    # MAX_NUM_ORDERS 50 per symbol counts algo orders too: (50 - 2) // 2 = 24
    assert take_profit_order_cap(replace(no_filter, max_num_orders=50), 1) == 24
    assert take_profit_order_cap(replace(btc, max_num_algo_orders=2), 1) == 1  # at least one


def test_a_take_profit_needing_more_orders_than_the_cap_gets_the_cap_in_orders_of_max_qty(
    make_risk, instruments
):
    # long 0.480 with maxQty 0.050 would take 10 take-profits (9 x 0.050 + 0.030) and the
    # stop 11 conditional orders; BTCUSDT's MAX_NUM_ALGO_ORDERS 10 allows 4 take-profits:
    # 4 x 0.050 = 0.200 of the position at 62400.0. The closePosition stop guards all of it.
    risk = _small_market_lot(make_risk, instruments)
    proposals, cancels = risk.protective_orders(pos("0.480", "60000"), None, [])

    assert [shape(p) for p in proposals] == [
        protective(SL, Side.SELL, "58800.0"),
        *[protective(TP, Side.SELL, "62400.0", "0.050")] * 4,
    ]
    assert cancels == []
    assert proposals[-1].reason == (
        "take-profit 4% for 0.200 of 0.480 (at most 4 take-profit orders: open conditional "
        "orders are limited) from entry 60000.0"
    )
    placed = [resting("sl-1", SL, Side.SELL, "58800.0")] + [
        resting(f"tp-{n}", TP, Side.SELL, "62400.0", qty="0.050") for n in range(4)
    ]
    assert risk.protective_orders(pos("0.480", "60000"), None, placed) == ([], [])


@pytest.mark.parametrize(
    ("order_type", "side", "trigger", "price", "fires"),
    [
        # a long's stop (SELL STOP_MARKET) fires at or below its trigger
        (SL, Side.SELL, "59000.0", "58999.9", True),
        (SL, Side.SELL, "59000.0", "59000.0", True),
        (SL, Side.SELL, "59000.0", "59000.1", False),
        # a short's stop (BUY STOP_MARKET) at or above
        (SL, Side.BUY, "61000.0", "61000.0", True),
        (SL, Side.BUY, "61000.0", "60999.9", False),
        # a long's take-profit (SELL) at or above, a short's (BUY) at or below
        (TP, Side.SELL, "62000.0", "62000.0", True),
        (TP, Side.SELL, "62000.0", "61999.9", False),
        (TP, Side.BUY, "58000.0", "58000.0", True),
        (TP, Side.BUY, "58000.0", "58000.1", False),
    ],
)
def test_fired_at_says_whether_the_exchange_fires_the_protection_at_a_price(
    order_type, side, trigger, price, fires
):
    """The ExecManager's question before working a target (its comparison written out in
    `fired_at`, the same as `already_crossed` for the position the order protects)."""
    order = resting("p-1", order_type, side, trigger)
    assert fired_at(order, D(price)) is fires
    long = side is Side.SELL
    assert already_crossed(order_type, long=long, trigger=D(trigger), price=D(price)) is fires


def test_fired_at_of_an_order_without_a_trigger_is_false():
    assert fired_at(resting("p-2", OrderType.LIMIT, Side.SELL, None), D("1.0")) is False
