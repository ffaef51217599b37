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


# --- the fast paths (on-grid quantities) give what the full sequence gives ----------------------

_any_qty = st.one_of(
    quantities,
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("2000"), places=4),
    st.sampled_from(
        [Decimal("0.0010"), Decimal("0.00100000"), Decimal("1E-3"), Decimal("1000.000")]
    ),
)


def _reference_check_qty(inst: Instrument, qty: Decimal, order_type: OrderType) -> object:
    """check_qty without its fast path: Binance's checks in Binance's order."""
    from core.instrument import FilterViolation, _decimal_places, _is_multiple

    lot = inst.lot_for(order_type)
    name = "MARKET_LOT_SIZE" if order_type.is_market_like else "LOT_SIZE"
    market = order_type.is_market_like
    if _decimal_places(qty) > (inst._market_lot_decimals if market else inst._lot_decimals):
        return FilterViolation(name, -1111, "Precision is over the maximum defined for this asset.")
    if qty <= 0:
        return FilterViolation(name, -4003, "Quantity less than or equal to zero.")
    if lot.min_qty and qty < lot.min_qty:
        return FilterViolation(name, -4004, "Quantity less than min quantity.")
    if lot.max_qty and qty > lot.max_qty:
        return FilterViolation(name, -4005, "Quantity greater than max quantity.")
    if not _is_multiple(qty, lot.min_qty, lot.step_size):
        return FilterViolation(name, -4023, "Quantity not increased by step size.")
    return None


@given(qty=_any_qty, order_type=order_types)
def test_check_qty_fast_path_agrees_with_the_full_sequence(btc, qty, order_type):
    assert btc.check_qty(qty, order_type) == _reference_check_qty(btc, qty, order_type)


@given(qty=_any_qty, order_type=order_types)
def test_floor_qty_fast_path_gives_the_snapped_value_and_its_digits(btc, qty, order_type):
    from decimal import ROUND_FLOOR

    from core.instrument import _snap

    lot = btc.lot_for(order_type)
    if qty <= 0:
        return
    base = lot.min_qty if qty >= lot.min_qty else Decimal(0)
    expected = _snap(qty, base, lot.step_size, ROUND_FLOOR)
    floored = btc.floor_qty(qty, order_type)
    assert floored == expected and str(floored) == str(expected)  # same digits in the journal


_any_price = st.one_of(
    prices,
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("2000000"), places=3),
    st.sampled_from(
        [Decimal("0"), Decimal("402.00"), Decimal("402.000"), Decimal("4.02E+2"), Decimal("0.01")]
    ),
)


@given(price=_any_price, field=st.sampled_from(["price", "stopPrice"]))
def test_check_price_fast_path_agrees_with_the_full_sequence(btc, price, field):
    # The full sequence: the same instrument with the fast path off.
    full = Instrument(**{f: getattr(btc, f) for f in btc.__dataclass_fields__ if f[0] != "_"})
    object.__setattr__(full, "_price_grid_exact", False)
    assert btc._price_grid_exact
    assert btc.check_price(price, field) == full.check_price(price, field)
