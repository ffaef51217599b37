"""The pure check functions, one behaviour each, expected values worked out by hand."""

from decimal import Decimal as D

from core.enums import OrderType, Side
from risk_manager import pre_trade


def test_projected_position_counts_open_orders_on_the_same_side():
    # long 0.020, open buys 0.010, buy 0.005 more: worst case 0.035 long
    assert pre_trade.projected_position(D("0.020"), Side.BUY, D("0.005"), D("0.010")) == D("0.035")


def test_projected_position_of_a_sell_goes_short():
    # long 0.010, open sells 0.004, sell 0.020: 0.010 - 0.004 - 0.020 = -0.014
    assert pre_trade.projected_position(D("0.010"), Side.SELL, D("0.020"), D("0.004")) == D(
        "-0.014"
    )


def test_exposure_increase_of_a_buy_against_a_short_is_only_the_flip():
    # short 0.010, buy 0.015: closes 0.010, opens 0.005 long
    assert pre_trade.exposure_increase(D("-0.010"), Side.BUY, D("0.015"), D(0)) == D("0.005")


def test_exposure_increase_counts_open_orders_on_the_same_side_as_closing_first():
    # short 0.010 with open buys 0.004: this buy of 0.010 closes 0.006 and opens 0.004
    assert pre_trade.exposure_increase(D("-0.010"), Side.BUY, D("0.010"), D("0.004")) == D("0.004")


def test_exposure_increase_of_an_order_from_flat_is_the_whole_order():
    assert pre_trade.exposure_increase(D(0), Side.SELL, D("0.010"), D(0)) == D("0.010")


def test_exposure_increase_of_an_order_that_only_shrinks_is_zero():
    assert pre_trade.exposure_increase(D("0.030"), Side.SELL, D("0.010"), D(0)) == 0


def test_filters_reason_names_the_binance_filter_and_code(btc):
    reason = pre_trade.check_filters(
        btc,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1001"),
        price=D("60000.0"),
        stop_price=None,
        reduce_only=False,
        close_position=False,
        mark_price=D(60000),
        open_orders=0,
    )
    assert reason == "instrument filter LOT_SIZE (-4005): Quantity greater than max quantity."


def test_price_band_exactly_at_the_limit_passes():
    # 1 % of 60000 is 600
    assert pre_trade.check_price_band(D("60600.0"), D(60000), D(1)) is None


def test_price_band_below_the_mark_is_denied_too():
    # 59000 is 1000 / 60000 = 1.666..% below
    assert pre_trade.check_price_band(D("59000.0"), D(60000), D(1)) == (
        "price band: limit 59000.0 is 1.67% from mark 60000 (max 1%)"
    )


def test_reduce_only_sell_against_a_long_reduces():
    assert pre_trade.check_reduces(Side.SELL, D("0.010"), close_position=False) is None


def test_reduce_only_sell_against_a_short_is_denied():
    assert pre_trade.check_reduces(Side.SELL, D("-0.010"), close_position=False) == (
        "reduce-only SELL would increase the short position -0.010"
    )


def test_leverage_with_no_equity_is_denied():
    assert pre_trade.check_leverage(D(600), D(0), 5) == "leverage: equity 0 USDT is not positive"


def test_margin_exactly_covering_order_and_reserve_passes():
    assert pre_trade.check_margin(D(120), D(170), D(50), 5) is None


def test_order_rate_below_the_limit_passes():
    assert pre_trade.check_order_rate(4, 5) is None


def test_exposure_increase_of_a_sell_counts_open_sells_as_closing_first():
    # long 0.010 with open sells 0.004: this sell of 0.010 closes 0.006 and opens 0.004 short
    assert pre_trade.exposure_increase(D("0.010"), Side.SELL, D("0.010"), D("0.004")) == D("0.004")


def test_a_current_view_passes_at_the_limits():
    # lag exactly the max, offset exactly the max either way: still current
    assert pre_trade.check_view_current(False, 2000, 2000, 1000, 1000) is None
    assert pre_trade.check_view_current(False, 0, 2000, -1000, 1000) is None


def test_a_stale_view_is_denied_with_the_first_reason_in_check_order():
    # gap, lag and offset all out: the gap's reason, as check_gap would give it first
    assert pre_trade.check_view_current(True, 5000, 2000, 3000, 1000) == pre_trade.check_gap(True)
    assert pre_trade.check_view_current(False, 2001, 2000, 3000, 1000) == (
        pre_trade.check_data_lag(2001, 2000)
    )
    assert pre_trade.check_view_current(False, 0, 2000, -1001, 1000) == (
        "clock offset -1001 ms exceeds 1000 ms: no new entries"
    )
