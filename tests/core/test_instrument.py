"""Instrument rules against the real BTCUSDT exchangeInfo entries (2021 and 2022 captures)."""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.enums import OrderType, Side
from core.instrument import Instrument, InstrumentError, LotSize


@pytest.fixture
def btc(btcusdt_entry_2022) -> Instrument:
    return Instrument.from_exchange_info(btcusdt_entry_2022)


@pytest.fixture
def btc_2021(btcusdt_entry_2021) -> Instrument:
    return Instrument.from_exchange_info(btcusdt_entry_2021)


def test_parses_every_filter_of_the_real_entry(btc):
    assert btc.symbol == "BTCUSDT" and btc.margin_asset == "USDT"
    assert (btc.tick_size, btc.min_price, btc.max_price) == (D("0.10"), D("402"), D("1246396.60"))
    assert (btc.lot.min_qty, btc.lot.max_qty, btc.lot.step_size) == (
        D("0.001"),
        D("1000"),
        D("0.001"),
    )
    assert btc.market_lot.max_qty == D("1000")
    assert btc.min_notional == D("10")
    assert btc.max_num_orders == 200 and btc.max_num_algo_orders == 10
    assert (btc.multiplier_up, btc.multiplier_down) == (D("1.1000"), D("0.5454"))
    assert btc.price_decimals == 1 and btc.qty_decimals == 3
    assert btc.liquidation_fee == D("0.012000")


def test_older_entry_has_finer_tick(btc_2021):
    assert btc_2021.tick_size == D("0.01") and btc_2021.min_notional == D("5")


def test_malformed_entry_raises_a_clear_error(btcusdt_entry_2022):
    broken = dict(btcusdt_entry_2022, filters=[{"filterType": "LOT_SIZE"}])
    with pytest.raises(InstrumentError, match="BTCUSDT is malformed"):
        Instrument.from_exchange_info(broken)


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (D("61590.37"), Side.BUY, D("61590.3")),  # a buy never pays more than asked
        (D("61590.37"), Side.SELL, D("61590.4")),  # a sell never receives less than asked
        (D("61590.30"), Side.BUY, D("61590.3")),  # on-grid prices are unchanged
        (D("61590.30"), Side.SELL, D("61590.3")),
        (D("61590.3000001"), Side.SELL, D("61590.4")),
    ],
)
def test_round_price_to_tick_by_side(btc, price, side, expected):
    assert btc.round_price(price, side) == expected


def test_floor_qty_uses_the_lot_of_the_order_type(btc):
    assert btc.floor_qty(D("0.0129")) == D("0.012")
    assert btc.floor_qty(D("0.0129"), OrderType.MARKET) == D("0.012")
    assert btc.floor_qty(D("0.0009")) == D("0.000")
    assert btc.floor_qty(D("-1")) == D("0.000")


def test_format_never_uses_exponent_notation(btc):
    assert btc.format_price(D("6E+4")) == "60000.0"
    assert btc.format_qty(D("1E-3")) == "0.001"


def test_ticks_and_steps_round_trip(btc):
    assert btc.to_ticks(D("61590.3")) == 615903
    assert btc.from_ticks(615903) == D("61590.3")
    assert btc.to_steps(D("0.012")) == 12 and btc.from_steps(12) == D("0.012")
    with pytest.raises(ValueError):
        btc.to_ticks(D("61590.35"))


def _check(inst, **kw):
    params = dict(
        side=Side.BUY, order_type=OrderType.LIMIT, quantity=D("0.010"), price=D("61590.3")
    )
    params.update(kw)
    return inst.check_order(**params)


def test_valid_order_passes(btc):
    assert _check(btc, mark_price=D("61590.0"), open_orders=199) is None


@pytest.mark.parametrize(
    ("overrides", "filter_type", "code"),
    [
        ({"price": D("61590.35")}, "PRICE_FILTER", -1111),  # more decimals than the tick
        ({"price": D("0")}, "PRICE_FILTER", -4001),
        ({"price": D("401.9")}, "PRICE_FILTER", -4013),
        ({"price": D("1246396.7")}, "PRICE_FILTER", -4002),
        ({"stop_price": D("61590.33")}, "PRICE_FILTER", -1111),
        ({"quantity": D("0.0105")}, "LOT_SIZE", -1111),
        ({"quantity": D("0")}, "LOT_SIZE", -4003),
        ({"quantity": D("1000.001")}, "LOT_SIZE", -4005),
        ({"quantity": D("0.0001")}, "LOT_SIZE", -1111),
        (
            {
                "order_type": OrderType.MARKET,
                "price": None,
                "quantity": D("1000.001"),
                "mark_price": D("61590"),
            },
            "MARKET_LOT_SIZE",
            -4005,
        ),
        ({"quantity": D("0.001"), "price": D("9000.0")}, "MIN_NOTIONAL", -4164),
        (
            {
                "order_type": OrderType.MARKET,
                "price": None,
                "quantity": D("0.001"),
                "mark_price": D("9000"),
            },
            "MIN_NOTIONAL",
            -4164,
        ),
        ({"price": D("70000.0"), "mark_price": D("61590.0")}, "PERCENT_PRICE", -4016),
        (
            {"side": Side.SELL, "price": D("30000.0"), "mark_price": D("61590.0")},
            "PERCENT_PRICE",
            -4024,
        ),
        ({"open_orders": 200}, "MAX_NUM_ORDERS", -2025),
    ],
)
def test_each_violated_filter_gives_binance_code(btc, overrides, filter_type, code):
    violation = _check(btc, **overrides)
    assert violation is not None
    assert (violation.filter_type, violation.code) == (filter_type, code)


def test_too_many_decimals_is_1111_on_the_real_entry(btc_2021):
    assert _check(btc_2021, price=D("61590.305")).code == -1111


def test_off_grid_values_within_precision_are_4014_and_4023():
    # Ticks and steps that are not powers of ten (as some altcoins have) allow values with the
    # right number of decimals that are still off the grid.
    entry = {
        "symbol": "TESTUSDT",
        "baseAsset": "TEST",
        "quoteAsset": "USDT",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.05",
                "maxPrice": "1000",
                "tickSize": "0.05",
            },
            {"filterType": "LOT_SIZE", "minQty": "5", "maxQty": "1000", "stepSize": "5"},
        ],
    }
    inst = Instrument.from_exchange_info(entry)
    assert inst.check_price(D("1.02")).code == -4014
    assert inst.check_qty(D("7")).code == -4023
    assert inst.check_qty(D("3")).code == -4004


def test_reduce_only_is_exempt_from_min_notional(btc):
    assert _check(btc, quantity=D("0.001"), price=D("9000.0"), reduce_only=True) is None


def test_min_notional_message_names_the_threshold(btc):
    violation = _check(btc, quantity=D("0.001"), price=D("9000.0"))
    assert violation.msg == (
        "Order's notional must be no smaller than 10 (unless you choose reduce only)."
    )


def test_percent_price_message_shows_the_bound_on_the_tick(btc):
    violation = _check(btc, price=D("70000.0"), mark_price=D("61590.0"))
    assert violation.msg == "Limit price can't be higher than 67749.0."


def test_close_position_needs_no_quantity(btc):
    assert (
        _check(
            btc,
            order_type=OrderType.STOP_MARKET,
            price=None,
            quantity=None,
            stop_price=D("60000.0"),
            close_position=True,
        )
        is None
    )
    assert _check(btc, quantity=None).code == -1102


# --- quantities beyond one order -----------------------------------------------------------------


def _small_market_lot(btc: Instrument, min_qty: str = "0.001") -> Instrument:
    """BTCUSDT with MARKET_LOT_SIZE maxQty 0.050 (step 0.001): LOT_SIZE keeps its 1000."""
    return replace(btc, market_lot=LotSize(D(min_qty), D("0.050"), D("0.001")))


@pytest.mark.parametrize(
    ("qty", "parts"),
    [
        ("0.125", ["0.050", "0.050", "0.025"]),  # two of maxQty, the rest last
        ("0.100", ["0.050", "0.050"]),
        ("0.050", ["0.050"]),
        ("0.0305", ["0.030"]),  # floored to the step first
        ("0.0004", []),  # less than one step: nothing to send
    ],
)
def test_a_quantity_beyond_max_qty_is_split_into_orders_of_max_qty(btc, qty, parts):
    assert _small_market_lot(btc).split_qty(D(qty), OrderType.MARKET) == [D(p) for p in parts]


def test_a_rest_below_min_qty_takes_what_it_lacks_from_the_order_before_it(btc):
    # minQty 0.010: 0.104 = 0.050 + 0.050 + 0.004, and 0.004 < 0.010 -> 0.050, 0.044, 0.010
    inst = _small_market_lot(btc, min_qty="0.010")
    parts = inst.split_qty(D("0.104"), OrderType.MARKET)
    assert parts == [D("0.050"), D("0.044"), D("0.010")]
    assert all(inst.check_qty(p, OrderType.MARKET) is None for p in parts)


def test_limit_orders_split_on_lot_size_and_market_ones_on_market_lot_size(btc):
    inst = _small_market_lot(btc)
    assert inst.max_qty(OrderType.MARKET) == D("0.050")
    assert inst.max_qty(OrderType.TAKE_PROFIT_MARKET) == D("0.050")  # market-like
    assert inst.max_qty(OrderType.LIMIT) == D("1000")
    assert inst.split_qty(D("0.125"), OrderType.LIMIT) == [D("0.125")]


def test_max_qty_is_max_qty_floored_onto_the_grid_of_the_replaced_filter(btc):
    # maxQty 0.0505 on min 0.001 / step 0.001: 0.001 + 49 * 0.001 = 0.050 is the last grid point.
    # Computed once per instrument: an instrument made by replace() gets its own filter's.
    inst = replace(btc, market_lot=LotSize(D("0.001"), D("0.0505"), D("0.001")))
    assert inst.max_qty(OrderType.MARKET) == D("0.050")
    assert str(inst.max_qty(OrderType.MARKET)) == "0.050"  # on the step's exponent
    assert inst.max_qty(OrderType.LIMIT) == btc.max_qty(OrderType.LIMIT) == D("1000")
