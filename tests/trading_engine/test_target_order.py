"""plan_target_order: the order from a position to a target, computed by hand. BTCUSDT of the
tests' bundle: lot step and minimum 0.001, maxQty 1000, tick 0.10, minimum notional 10 USDT;
the order notional cap 10,000 USDT."""

from decimal import Decimal as D

import pytest

from core.enums import OrderType, Side
from core.orders import TargetPosition
from tests.trading_engine.support import INSTRUMENTS
from trading_engine.target_order import TargetOrder, plan_target_order

INST = INSTRUMENTS["BTCUSDT"]
CAP = D(10_000)


def plan(target: str, position: str = "0", *, price: str | None = None, working: str = "0",
         has_working: bool = False, mark: str | None = "60000") -> TargetOrder | None:  # fmt: skip
    return plan_target_order(
        TargetPosition(symbol="BTCUSDT", qty=D(target), price=None if price is None else D(price)),
        INST,
        position=D(position),
        mark=None if mark is None else D(mark),
        working=D(working),
        has_working=has_working,
        max_order_notional=CAP,
    )


def test_an_entry_from_flat_is_a_market_order_of_the_target():
    assert plan("0.010") == (Side.BUY, OrderType.MARKET, D("0.010"), None, False, False)


def test_a_turn_is_one_order_of_both_sizes_that_opens_the_other_side():
    # long 0.010 -> short 0.010: SELL 0.020 (600 + 600 USDT at 60,000), not reduce-only
    assert plan("-0.010", "0.010") == (Side.SELL, OrderType.MARKET, D("0.020"), None, False, True)


def test_going_flat_or_smaller_is_reduce_only_and_adding_is_not():
    assert plan("0", "0.010") == (Side.SELL, OrderType.MARKET, D("0.010"), None, True, True)
    assert plan("0.004", "0.010") == (Side.SELL, OrderType.MARKET, D("0.006"), None, True, True)
    assert plan("0.016", "0.010") == (Side.BUY, OrderType.MARKET, D("0.006"), None, False, False)


def test_a_turn_over_the_order_notional_cap_closes_first_reduce_only():
    # 0.200 BTC at 60,000 = 12,000 USDT > 10,000: SELL the 0.100 long only, reduce-only
    assert plan("-0.100", "0.100") == (Side.SELL, OrderType.MARKET, D("0.100"), None, True, True)
    # with orders already working toward the target the turn is not split (the risk check
    # decides it, the working orders are what the ExecManager sees to first)
    assert plan("-0.100", "0.100", has_working=True) == (
        Side.SELL,
        OrderType.MARKET,
        D("0.200"),
        None,
        False,
        True,
    )


def test_close_enough_is_no_order():
    assert plan("0.010", "0.010") is None  # there
    assert plan("0.0105", "0.010") is None  # 0.0005 is less than one lot
    assert plan("0.010", working="0.010") is None  # working toward it already
    # an entry of 0.001 BTC at 5,000 USDT = 5 USDT, under the 10 USDT minimum notional
    assert plan("0.001", mark="5000") is None
    # without a mark no notional is checked here (the risk check denies without one)
    assert plan("0.001", mark=None) == (Side.BUY, OrderType.MARKET, D("0.001"), None, False, False)


@pytest.mark.parametrize(
    ("target", "price", "side", "rounded"),
    [("0.010", "60000.05", Side.BUY, "60000.0"), ("-0.010", "60000.05", Side.SELL, "60000.1")],
)
def test_a_target_with_a_price_is_a_limit_order_rounded_away_from_crossing(
    target, price, side, rounded
):
    order = plan(target, price=price)
    assert order is not None
    assert (order.side, order.type, order.price) == (side, OrderType.LIMIT, D(rounded))


def test_an_order_goes_at_most_the_lots_max_quantity():
    # 1,500 BTC away, maxQty 1000: this order goes 1000 (at a mark of 1 USDT, under the cap)
    order = plan("1500", mark="1")
    assert order is not None and order.qty == D("1000")
