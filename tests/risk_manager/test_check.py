"""RiskManager.check: approval, rounding, and every denial reason (ACTIVE state).

Books by default: flat, BTCUSDT mark 60000, ETHUSDT mark 4000, equity and available balance
10000 USDT. Limits (helpers.TEST_LIMITS): 5x, order 1000, position 2000, total 3000 USDT,
price band 1 %, 3 open orders per symbol, 5 orders per minute, clock offset 1000 ms.
The base order, BUY 0.010 @ 60000.0, is worth 600 USDT and needs 600 / 5 = 120 USDT margin.
"""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.enums import OrderIntent, OrderType, Side
from core.events import RiskDenied
from core.orders import OrderRequest
from risk_manager import RiskConfig, RiskManager
from tests.risk_manager.helpers import limit, market, stop

OK = {"gap_open": False, "clock_offset_ms": 0}
REDUCING_OK = {**OK, "risk_reducing": True}


def denial(result) -> str:
    assert isinstance(result, RiskDenied), f"expected a denial, got {result}"
    return result.reason


# --- approval and rounding -----------------------------------------------------------------------


def test_order_on_the_grid_within_every_limit_is_approved_unchanged(risk):
    request = limit(Side.BUY, "0.010", "60000.0")
    assert risk.check(request, **OK) is request


def test_quantity_is_floored_to_the_step(risk):
    approved = risk.check(limit(Side.BUY, "0.0129", "60000.0"), **OK)
    assert isinstance(approved, OrderRequest)
    assert str(approved.quantity) == "0.012"


def test_quantity_with_trailing_zeros_keeps_the_request(risk):
    request = limit(Side.BUY, "0.0100", "60000.00")
    assert risk.check(request, **OK) is request


def test_a_rounded_request_carries_its_quantity_with_the_steps_digits(risk):
    """A quantity on the grid with a trailing zero, beside a price that moves: the copy's
    quantity has the step's digits (what `floor_qty` gives; `_rounded` skips its call)."""
    approved = risk.check(limit(Side.BUY, "0.0100", "60000.07"), **OK)
    assert isinstance(approved, OrderRequest)
    assert (str(approved.quantity), str(approved.price)) == ("0.010", "60000.0")


def test_a_market_quantity_off_the_grid_is_floored_on_the_market_lot(risk):
    approved = risk.check(market(Side.BUY, "0.0129"), **OK)
    assert isinstance(approved, OrderRequest)
    assert str(approved.quantity) == "0.012"


def test_buy_price_is_rounded_down_to_the_tick_digits(risk):
    approved = risk.check(limit(Side.BUY, "0.010", "60000.07"), **OK)
    assert isinstance(approved, OrderRequest)
    assert str(approved.price) == "60000.0"


def test_sell_price_is_rounded_up(risk):
    approved = risk.check(limit(Side.SELL, "0.010", "60000.01"), **OK)
    assert isinstance(approved, OrderRequest)
    assert approved.price == D("60000.1")


def test_sell_stop_is_rounded_up_to_fire_no_later(risk, books):
    books.set_position("BTCUSDT", "0.010", "60000")
    approved = risk.check(stop(OrderType.STOP_MARKET, Side.SELL, "58800.04"), **OK)
    assert isinstance(approved, OrderRequest)
    assert approved.stop_price == D("58800.1")


def test_sell_take_profit_is_rounded_down_to_fire_no_later(risk, books):
    books.set_position("BTCUSDT", "0.010", "60000")
    approved = risk.check(stop(OrderType.TAKE_PROFIT_MARKET, Side.SELL, "62400.06"), **OK)
    assert isinstance(approved, OrderRequest)
    assert approved.stop_price == D("62400.0")


def test_a_denial_carries_the_original_request(risk):
    request = limit(Side.BUY, "0.0205", "60000.07")
    result = risk.check(request, **OK)
    assert isinstance(result, RiskDenied) and result.request is request


def test_a_denial_is_stamped_with_the_clock(risk, clock):
    result = risk.check(limit(Side.BUY, "0.010", "60000.0"), gap_open=True, clock_offset_ms=0)
    assert isinstance(result, RiskDenied)
    assert result.event_time_ms == result.recv_time_ms == clock.now_ms()


# --- denials on entries ------------------------------------------------------------------------


def test_unknown_symbol_is_denied(risk):
    request = limit(Side.BUY, "1", "1.0", symbol="XRPUSDT")
    assert denial(risk.check(request, **OK)) == (
        "unknown symbol XRPUSDT: not one of the traded instruments"
    )


def test_entry_during_a_market_data_gap_is_denied(risk):
    result = risk.check(limit(Side.BUY, "0.010", "60000.0"), gap_open=True, clock_offset_ms=0)
    assert denial(result) == "market-data gap open: no new entries until it is healed"


@pytest.mark.parametrize("offset_ms", [1001, -1001])
def test_entry_with_clock_offset_over_the_limit_is_denied(risk, offset_ms):
    result = risk.check(
        limit(Side.BUY, "0.010", "60000.0"), gap_open=False, clock_offset_ms=offset_ms
    )
    assert denial(result) == f"clock offset {offset_ms} ms exceeds 1000 ms: no new entries"


def test_entry_with_clock_offset_at_the_limit_passes(risk):
    result = risk.check(limit(Side.BUY, "0.010", "60000.0"), gap_open=False, clock_offset_ms=1000)
    assert isinstance(result, OrderRequest)


LATE = (
    "the daemon's view is more than 5000 ms behind the exchange (market data being caught up, "
    "or a reconciliation after a pause awaited): no new entries until it is current"
)


def test_entry_on_market_data_read_more_than_max_data_lag_ms_late_is_denied(risk):
    """A daemon resumed after a SIGSTOP reads what the exchange sent meanwhile as if live."""
    entry = limit(Side.BUY, "0.010", "60000.0")
    assert isinstance(risk.check(entry, **OK, data_lag_ms=5000), OrderRequest)  # the limit
    assert denial(risk.check(entry, **OK, data_lag_ms=5001)) == LATE


def test_quantity_below_the_step_is_denied_with_binance_code(risk):
    # 0.0005 floors to 0.000
    assert denial(risk.check(limit(Side.BUY, "0.0005", "60000.0"), **OK)) == (
        "instrument filter LOT_SIZE (-4003): Quantity less than or equal to zero."
    )


def test_notional_below_min_notional_is_denied_with_binance_code(risk):
    # 0.001 * 9000 = 9 USDT < 10 USDT
    assert denial(risk.check(limit(Side.BUY, "0.001", "9000.0"), **OK)) == (
        "instrument filter MIN_NOTIONAL (-4164): Order's notional must be no smaller than 10 "
        "(unless you choose reduce only)."
    )


def test_buy_above_percent_price_cap_is_denied_with_binance_code(risk):
    # cap = 60000 * 1.1000 = 66000.0
    assert denial(risk.check(limit(Side.BUY, "0.010", "66000.1"), **OK)) == (
        "instrument filter PERCENT_PRICE (-4016): Limit price can't be higher than 66000.0."
    )


def test_limit_price_outside_the_band_is_denied(risk):
    # 700 / 60000 = 1.1666..% from the mark
    assert denial(risk.check(limit(Side.BUY, "0.010", "60700.0"), **OK)) == (
        "price band: limit 60700.0 is 1.17% from mark 60000 (max 1%)"
    )


def test_entry_without_a_mark_price_is_denied(risk, books):
    books.marks["BTCUSDT"] = None
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "no mark price for BTCUSDT yet"
    )


def test_entry_at_max_open_orders_is_denied(risk, books):
    books.open_orders["BTCUSDT"] = 3
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "max open orders: 3 open on BTCUSDT (max 3)"
    )


def _protection(books, *, take_profits: int) -> None:
    """Long 0.020 from 60000 guarded by its closePosition stop-loss and `take_profits`
    reduce-only take-profits of 0.005: all open orders of the books."""
    books.set_position("BTCUSDT", "0.020", "60000")
    books.add_open(replace(stop(OrderType.STOP_MARKET, Side.SELL, "58800.0"), client_order_id="sl"))
    for n in range(take_profits):
        tp = stop(OrderType.TAKE_PROFIT_MARKET, Side.SELL, "62400.0")
        part = replace(tp, quantity=D("0.005"), close_position=False, client_order_id=f"tp-{n}")
        books.add_open(part)


def test_the_positions_stop_loss_and_take_profits_leave_the_entries_budget_whole(make_risk, books):
    # 5 open orders, all the position's protection: the cap of 5 counts none of them.
    risk = make_risk(max_open_orders=5)
    _protection(books, take_profits=4)
    entry = limit(Side.BUY, "0.010", "60000.0")
    assert books.open_order_count("BTCUSDT") == 5
    assert risk.check(entry, **OK) is entry


def test_the_entries_budget_counts_the_entries_beside_the_protection(make_risk, books):
    # the stop-loss, 4 take-profits and 3 entries: 8 open, 3 of them entries (max 3)
    risk = make_risk(max_open_orders=3)
    _protection(books, take_profits=4)
    for n in range(3):
        books.add_open(replace(limit(Side.BUY, "0.001", "59000.0"), client_order_id=f"e-{n}"))
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "max open orders: 3 open on BTCUSDT (max 3)"
    )


def test_a_flatten_sent_as_risk_reducing_leaves_the_entries_budget(make_risk, books):
    # Two orders open at a cap of 2: a market close the risk manager approved as the daemon's
    # own (risk_reducing), which the books hold with its intent REDUCING, does not count; a
    # reduce-only order of the strategy's own (ORDINARY) does.
    risk = make_risk(max_open_orders=2)
    books.set_position("BTCUSDT", "0.020", "60000")
    close = replace(market(Side.SELL, "0.010", reduce_only=True), client_order_id="close")
    assert risk.check(close, **REDUCING_OK) is close
    books.add_open(close, OrderIntent.REDUCING)
    own = replace(limit(Side.SELL, "0.005", "60100.0", reduce_only=True), client_order_id="own")
    assert risk.check(own, **OK) is own
    books.add_open(own)
    entry = limit(Side.BUY, "0.010", "60000.0")
    assert risk.check(entry, **OK) is entry  # 1 of 2: the strategy's reduce-only order

    books.add_open(replace(entry, client_order_id="e-1"))
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "max open orders: 2 open on BTCUSDT (max 2)"
    )


def test_a_past_stops_market_close_leaves_the_entries_budget_a_plain_reduce_only_does_not(
    make_risk, books
):
    # Cap 1, long 0.020: the market close of a stop refused as past (intent PAST_STOP_CLOSE)
    # leaves the entry its place; the same order held as ORDINARY (the strategy's) uses it.
    books.set_position("BTCUSDT", "0.020", "60000")
    close = replace(market(Side.SELL, "0.010", reduce_only=True), client_order_id="past")
    books.add_open(close, OrderIntent.PAST_STOP_CLOSE)
    entry = limit(Side.BUY, "0.010", "60000.0")
    assert make_risk(max_open_orders=1).check(entry, **OK) is entry

    books.add_open(replace(close, client_order_id="own"))  # 2 open, 1 of them the budget's
    assert denial(make_risk(max_open_orders=1).check(entry, **OK)) == (
        "max open orders: 1 open on BTCUSDT (max 1)"
    )


def test_the_exchanges_own_order_leaves_the_entries_budget(make_risk, books):
    # a liquidation order the books track (client id autoclose-...): not ours to count
    risk = make_risk(max_open_orders=1)
    liquidation = replace(market(Side.SELL, "0.010"), client_order_id="autoclose-1700000000")
    books.add_open(liquidation)
    entry = limit(Side.BUY, "0.010", "60000.0")
    assert risk.check(entry, **OK) is entry


def test_order_notional_over_the_cap_is_denied(risk):
    # 0.020 * 60000 = 1200 USDT
    assert denial(risk.check(limit(Side.BUY, "0.020", "60000.0"), **OK)) == (
        "order notional 1200.00 USDT exceeds max 1000 USDT"
    )


def test_market_order_notional_is_valued_at_the_mark(risk):
    # 0.017 * 60000 = 1020 USDT
    assert denial(risk.check(market(Side.BUY, "0.017"), **OK)) == (
        "order notional 1020.00 USDT exceeds max 1000 USDT"
    )


def test_position_notional_counts_the_position_and_open_orders_on_the_same_side(risk, books):
    # long 0.020 + open buys 0.010 + this 0.010 = 0.040 long, at mark 60000 = 2400 USDT
    books.set_position("BTCUSDT", "0.020", "59000")
    books.open_qty[("BTCUSDT", Side.BUY)] = D("0.010")
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "position notional 2400.00 USDT (BTCUSDT 0.040 incl. open orders) exceeds max 2000 USDT"
    )


def test_open_orders_on_the_other_side_do_not_offset_the_position(risk, books):
    # open sells might be cancelled: they must not make room for more buys
    books.set_position("BTCUSDT", "0.030", "59000")
    books.open_qty[("BTCUSDT", Side.SELL)] = D("0.030")
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "position notional 2400.00 USDT (BTCUSDT 0.040 incl. open orders) exceeds max 2000 USDT"
    )


def test_total_notional_counts_other_symbols_at_their_worst_case(risk, books):
    # BTC: long 0.020 + 0.010 = 0.030 * 60000 = 1800
    # ETH: short 0.200, open sells 0.150 -> worst 0.350 short * 4000 = 1400; total 3200
    books.set_position("BTCUSDT", "0.020", "60000")
    books.set_position("ETHUSDT", "-0.200", "4000")
    books.open_qty[("ETHUSDT", Side.SELL)] = D("0.150")
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "total notional 3200.00 USDT exceeds max 3000 USDT"
    )


def test_total_notional_at_the_cap_passes(risk, books):
    # as above with open ETH sells 0.100: 1800 + 0.300 * 4000 = 3000
    books.set_position("BTCUSDT", "0.020", "60000")
    books.set_position("ETHUSDT", "-0.200", "4000")
    books.open_qty[("ETHUSDT", Side.SELL)] = D("0.100")
    assert isinstance(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK), OrderRequest)


def test_effective_leverage_over_the_max_is_denied(risk, books):
    # 600 USDT on 100 USDT equity = 6x > 5x
    books.equity_usdt = D(100)
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "leverage 6.00x (total notional 600.00 USDT on equity 100.00 USDT) exceeds max 5x"
    )


def test_entry_without_enough_available_margin_is_denied(risk, books):
    books.available_usdt = D(100)
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "insufficient margin: order needs 120.00 USDT at 5x, available 100.00 USDT (reserve 0 USDT)"
    )


def test_margin_reserve_is_kept_free(make_risk, books):
    # 120 needed + 50 reserve = 170 > 169.99
    risk = make_risk(min_available_margin_usdt=D(50))
    books.available_usdt = D("169.99")
    assert denial(risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)) == (
        "insufficient margin: order needs 120.00 USDT at 5x, available 169.99 USDT "
        "(reserve 50 USDT)"
    )


def test_margin_is_only_needed_for_the_part_that_flips_the_position(risk, books):
    # short 0.010, buy 0.015: only 0.005 opens -> 0.005 * 60000 / 5 = 60 USDT margin
    books.set_position("BTCUSDT", "-0.010", "60000")
    books.available_usdt = D(60)
    assert isinstance(risk.check(limit(Side.BUY, "0.015", "60000.0"), **OK), OrderRequest)


def test_entry_that_only_shrinks_the_position_skips_the_exposure_caps(risk, books):
    # long 0.040 is worth 2400 > 2000 after the mark rose; selling 0.010 brings it down
    books.set_position("BTCUSDT", "0.040", "50000")
    books.available_usdt = D(0)
    assert isinstance(risk.check(limit(Side.SELL, "0.010", "60000.0"), **OK), OrderRequest)


# --- orders per minute --------------------------------------------------------------------------


def test_sixth_order_within_a_minute_is_denied(risk, clock):
    for _ in range(5):
        assert isinstance(risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK), OrderRequest)
        clock.advance_ms(1000)
    assert denial(risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK)) == (
        "max orders per minute: 5 sent in the last 60 s (max 5)"
    )


def test_order_rate_window_slides(risk, clock):
    for _ in range(5):
        risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK)
    clock.advance_ms(60_000)  # the first five are now exactly 60 s old: out of the window
    assert isinstance(risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK), OrderRequest)


def test_the_callers_time_dates_the_order_rate_window_and_the_denial(risk, clock):
    # five orders at the caller's noon + 0 (the clock itself stays there), then at + 59_999
    # the window is full, and at + 60_000 the five are out; the clock is never read for them
    noon = clock.now_ms()
    for _ in range(5):
        assert isinstance(
            risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK, now_ms=noon), OrderRequest
        )
    denied = risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK, now_ms=noon + 59_999)
    assert isinstance(denied, RiskDenied) and denied.event_time_ms == noon + 59_999
    assert isinstance(
        risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK, now_ms=noon + 60_000), OrderRequest
    )


def test_denied_orders_do_not_use_the_order_rate(risk):
    for _ in range(10):
        risk.check(limit(Side.BUY, "0.010", "60000.0"), gap_open=True, clock_offset_ms=0)
    for _ in range(5):
        assert isinstance(risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK), OrderRequest)


def test_a_strategys_own_reduce_only_orders_count_toward_the_order_rate(risk, books):
    # not the daemon's risk-reducing orders (see above): a strategy's loop can repeat it
    books.set_position("BTCUSDT", "1.000", "60000")
    close = market(Side.SELL, "0.001", reduce_only=True)
    for _ in range(5):
        assert isinstance(risk.check(close, **OK), OrderRequest)
    assert denial(risk.check(close, **OK)) == (
        "max orders per minute: 5 sent in the last 60 s (max 5)"
    )


# --- the daemon's own risk-reducing orders ------------------------------------------------------


def test_the_daemons_risk_reducing_orders_pass_a_full_order_rate_window_uncounted(risk, books):
    """A flatten, a stop-loss and a target's reduce-only close after 5 entries in a minute
    (the limit) are sent; and after 4 entries and those 3, a 5th entry still may go."""
    entry = limit(Side.BUY, "0.001", "60000.0")
    flatten = market(Side.SELL, "1.000", reduce_only=True)
    stop_loss = stop(OrderType.STOP_MARKET, Side.SELL, "58800.0")
    close = limit(Side.SELL, "0.500", "60000.0", reduce_only=True)

    def reduce_risk() -> list:
        books.set_position("BTCUSDT", "1.000", "60000")
        approved = [risk.check(r, **REDUCING_OK) for r in (flatten, stop_loss, close)]
        books.set_position("BTCUSDT", "0", "0")  # closed: entries are entries again
        return approved

    first = [risk.check(entry, **OK) for _ in range(4)]
    between = reduce_risk()
    fifth = risk.check(entry, **OK)
    after_five = reduce_risk()

    assert first == [entry] * 4 and fifth is entry  # 4 + 3 risk-reducing did not fill it
    assert between == after_five == [flatten, stop_loss, close]
    assert denial(risk.check(entry, **OK)) == (
        "max orders per minute: 5 sent in the last 60 s (max 5)"
    )


def test_an_order_that_can_add_exposure_is_not_exempt_whoever_sends_it(risk):
    for _ in range(5):
        risk.check(limit(Side.BUY, "0.001", "60000.0"), **OK)
    assert denial(risk.check(limit(Side.BUY, "0.001", "60000.0"), **REDUCING_OK)) == (
        "max orders per minute: 5 sent in the last 60 s (max 5)"
    )


def test_a_risk_reducing_limit_skips_the_price_band_but_not_the_exchanges_percent_price(
    risk, books
):
    # band 1 %: 59000.0 is 1.67 % from 60000; PERCENT_PRICE multiplierDown 0.5454: a SELL may
    # not go below 60000 x 0.5454 = 32724.0
    books.set_position("BTCUSDT", "0.050", "60000")
    inside = limit(Side.SELL, "0.050", "59000.0", reduce_only=True)
    assert risk.check(inside, **REDUCING_OK) is inside
    assert denial(
        risk.check(limit(Side.SELL, "0.050", "32700.0", reduce_only=True), **REDUCING_OK)
    ) == ("instrument filter PERCENT_PRICE (-4024): Limit price can't be lower than 32724.0.")


def test_a_risk_reducing_order_leaves_max_num_orders_to_the_exchange(risk, books):
    """Our count of 200 open orders includes those whose cancel is on its way (REDUCING sends
    the cancel-all just before the flatten): the exchange counts its own."""
    books.set_position("BTCUSDT", "0.050", "60000")
    books.open_orders["BTCUSDT"] = 200
    flatten = market(Side.SELL, "0.050", reduce_only=True)
    assert risk.check(flatten, **REDUCING_OK) is flatten


def test_a_risk_reducing_order_still_obeys_the_trading_state_and_the_lot_filter(risk, books):
    books.set_position("BTCUSDT", "0.050", "60000")
    assert denial(risk.check(market(Side.BUY, "0.050", reduce_only=True), **REDUCING_OK)) == (
        "reduce-only BUY would increase the long position 0.050"
    )
    assert denial(risk.check(market(Side.SELL, "1001", reduce_only=True), **REDUCING_OK)) == (
        "instrument filter MARKET_LOT_SIZE (-4005): Quantity greater than max quantity."
    )


# --- reduce-only and closePosition orders ---------------------------------------------------------


def test_reduce_only_order_skips_the_entry_checks(risk, books):
    # gap open, clock off, a minute behind, notional 0.050 * 60000 = 3000 over every cap, no
    # margin, 3 open
    books.set_position("BTCUSDT", "0.050", "60000")
    books.available_usdt = D(0)
    books.open_orders["BTCUSDT"] = 3
    result = risk.check(
        market(Side.SELL, "0.050", reduce_only=True),
        gap_open=True,
        clock_offset_ms=5000,
        data_lag_ms=60_000,
    )
    assert isinstance(result, OrderRequest)


def test_a_strategys_own_reduce_only_order_still_obeys_the_open_order_count(risk, books):
    books.set_position("BTCUSDT", "0.050", "60000")
    books.open_orders["BTCUSDT"] = 200
    assert denial(risk.check(market(Side.SELL, "0.050", reduce_only=True), **OK)) == (
        "instrument filter MAX_NUM_ORDERS (-2025): Reach max open order limit."
    )


def test_a_strategys_own_reduce_only_limit_still_obeys_the_price_band(risk, books):
    books.set_position("BTCUSDT", "0.050", "60000")
    assert denial(risk.check(limit(Side.SELL, "0.050", "59000.0", reduce_only=True), **OK)) == (
        "price band: limit 59000.0 is 1.67% from mark 60000 (max 1%)"
    )


def test_reduce_only_on_the_side_of_the_position_is_denied(risk, books):
    books.set_position("BTCUSDT", "0.010", "60000")
    assert denial(risk.check(market(Side.BUY, "0.010", reduce_only=True), **OK)) == (
        "reduce-only BUY would increase the long position 0.010"
    )


def test_reduce_only_with_no_position_is_denied(risk):
    assert denial(risk.check(market(Side.SELL, "0.010", reduce_only=True), **OK)) == (
        "reduce-only SELL with no position to reduce"
    )


def test_close_position_stop_may_wait_while_flat(risk):
    result = risk.check(stop(OrderType.STOP_MARKET, Side.SELL, "58800.0"), **OK)
    assert isinstance(result, OrderRequest)


def test_close_position_flag_on_a_limit_order_is_denied(risk, books):
    # it would otherwise skip every entry check
    books.set_position("BTCUSDT", "-0.010", "60000")
    request = limit(Side.BUY, "0.100", "60000.0", close_position=True)
    assert denial(risk.check(request, **OK)) == (
        "closePosition on a LIMIT order (-1106): only STOP_MARKET or TAKE_PROFIT_MARKET"
    )


def test_books_without_open_order_exposure_are_refused_at_construction(instruments, clock):
    class BareBooks:
        pass

    books = BareBooks()
    with pytest.raises(TypeError, match="lacks open_order_qty"):
        RiskManager(
            config=RiskConfig(),
            instruments=instruments,
            clock=clock,
            view=books,  # type: ignore[arg-type]
        )
