from core.enums import (
    CONDITIONAL_TYPES,
    MARKET_LIKE_TYPES,
    ExecutionType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    TradingState,
    WorkingType,
)


def test_enum_values_are_binance_spellings():
    assert [s.value for s in Side] == ["BUY", "SELL"]
    assert {t.value for t in OrderType} == {
        "LIMIT",
        "MARKET",
        "STOP",
        "STOP_MARKET",
        "TAKE_PROFIT",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
        "LIQUIDATION",
    }
    assert {t.value for t in TimeInForce} == {"GTC", "IOC", "FOK", "GTX", "GTD"}
    assert {p.value for p in PositionSide} == {"BOTH", "LONG", "SHORT"}
    assert {w.value for w in WorkingType} == {"CONTRACT_PRICE", "MARK_PRICE"}
    assert {x.value for x in ExecutionType} == {
        "NEW",
        "CANCELED",
        "CALCULATED",
        "EXPIRED",
        "TRADE",
        "AMENDMENT",
    }
    assert {s.value for s in TradingState} == {"ACTIVE", "REDUCING", "HALTED"}


def test_enums_compare_equal_to_wire_strings():
    assert Side("BUY") is Side.BUY
    assert OrderStatus("PARTIALLY_FILLED") == "PARTIALLY_FILLED"
    assert f"{OrderType.STOP_MARKET}" == "STOP_MARKET"


def test_side_sign_and_opposite():
    assert Side.BUY.sign == 1 and Side.SELL.sign == -1
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY


def test_conditional_types_are_exactly_the_algo_order_types():
    conditional = {t for t in OrderType if t.is_conditional}
    assert conditional == {
        OrderType.STOP,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    }


def test_market_like_types_use_market_lot_size():
    assert OrderType.MARKET.is_market_like and OrderType.STOP_MARKET.is_market_like
    assert not OrderType.LIMIT.is_market_like and not OrderType.STOP.is_market_like


def test_the_order_paths_type_sets_are_the_properties_sets():
    assert {t for t in OrderType if t.is_conditional} == CONDITIONAL_TYPES
    assert {t for t in OrderType if t.is_market_like} == MARKET_LIKE_TYPES
    assert {
        OrderType.MARKET,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
        OrderType.LIQUIDATION,
    } == MARKET_LIKE_TYPES


def test_terminal_and_open_statuses():
    terminal = {s for s in OrderStatus if s.is_terminal}
    assert terminal == {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
    }
    assert {s for s in OrderStatus if s.is_open} == {
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
    }
    assert not OrderStatus.PENDING_SUBMIT.is_terminal and not OrderStatus.UNKNOWN.is_terminal
