"""Rounding invariants, for any price and quantity (hypothesis)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.enums import OrderType, Side
from core.instrument import Instrument

prices = st.decimals(min_value=Decimal("402"), max_value=Decimal("1246396"), places=6)
quantities = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"), places=6)
sides = st.sampled_from(list(Side))
order_types = st.sampled_from([OrderType.LIMIT, OrderType.MARKET])


@pytest.fixture(scope="module")
def btc() -> Instrument:
    from tests.conftest import load_fixture

    info = load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
    )
    return Instrument.from_exchange_info(info["symbols"][0])


@given(price=prices, side=sides)
def test_rounded_price_is_on_the_grid_within_one_tick_and_never_crosses(btc, price, side):
    rounded = btc.round_price(price, side)
    assert (rounded - btc.min_price) % btc.tick_size == 0
    assert abs(rounded - price) < btc.tick_size
    if side is Side.BUY:
        assert rounded <= price
    else:
        assert rounded >= price
    assert btc.check_price(rounded) is None or rounded > btc.max_price


@given(price=prices, side=sides)
def test_rounding_is_idempotent(btc, price, side):
    once = btc.round_price(price, side)
    assert btc.round_price(once, side) == once


@given(qty=quantities, order_type=order_types)
def test_floored_quantity_never_exceeds_input_and_is_on_the_step(btc, qty, order_type):
    floored = btc.floor_qty(qty, order_type)
    lot = btc.lot_for(order_type)
    assert floored <= qty
    assert qty - floored < lot.step_size
    assert floored % lot.step_size == 0
    if floored >= lot.min_qty:
        assert btc.check_qty(floored, order_type) is None


@given(price=prices, side=sides)
def test_formatted_price_parses_back_exactly(btc, price, side):
    rounded = btc.round_price(price, side)
    text = btc.format_price(rounded)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == rounded
