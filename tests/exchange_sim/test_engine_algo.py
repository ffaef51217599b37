"""Conditional orders: Algo Order API (STOP_MARKET, TAKE_PROFIT_MARKET, closePosition,
MARK_PRICE/CONTRACT_PRICE triggers) and the legacy conditional orders on /fapi/v1/order."""

import pytest

from exchange_sim.engine import EngineConfig
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import (
    T0,
    D,
    make_exchange,
    market,
    of_type,
)

FUNDING_TIME = 1723161600000


def algo(side: str, order_type: str, trigger: str, **extra: str) -> dict[str, str]:
    return {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": side,
        "type": order_type,
        "triggerPrice": trigger,
        **extra,
    }


def _long(ex, qty="0.100"):
    ex.new_order("alice", market("BUY", qty))
    ex.drain_user_events()


def test_new_algo_order_replies_new_and_emits_algo_update_new():
    ex, _ = make_exchange()

    reply = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", quantity="0.100"))

    assert (reply["algoStatus"], reply["orderType"], reply["triggerPrice"]) == (
        "NEW",
        "STOP_MARKET",
        "61000.00",
    )
    [event] = of_type(ex.drain_user_events(), "ALGO_UPDATE")
    assert (event["o"]["X"], event["o"]["aid"], event["o"]["ai"]) == ("NEW", reply["algoId"], "")


def test_stop_market_triggers_on_a_trade_at_its_price_and_sells_at_the_book():
    ex, clock = make_exchange()
    _long(ex)
    placed = ex.new_algo_order(
        "alice", algo("SELL", "STOP_MARKET", "61700.0", quantity="0.100", reduceOnly="true")
    )
    ex.on_book_ticker("BTCUSDT", D("61699.9"), D("1"), D("61700.0"), D("1"), T0 + 500)
    ex.on_trade("BTCUSDT", D("61700.1"), D("0.010"), True, T0 + 900)  # above: nothing
    ex.drain_user_events()

    ex.on_trade("BTCUSDT", D("61700.0"), D("0.010"), True, T0 + 1000)

    events = ex.drain_user_events()
    sequence = [(e["e"], e["o"]["X"] if "o" in e else e["a"]["m"]) for _, e in events]
    assert sequence == [
        ("ALGO_UPDATE", "TRIGGERING"),
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "FILLED"),
        ("ACCOUNT_UPDATE", "ORDER"),
        ("ALGO_UPDATE", "FINISHED"),
    ]
    fill = of_type(events, "ORDER_TRADE_UPDATE")[-1]["o"]
    assert (fill["o"], fill["ot"], fill["L"], fill["z"]) == (
        "MARKET",
        "STOP_MARKET",
        "61699.90",
        "0.100",
    )
    finished = of_type(events, "ALGO_UPDATE")[-1]["o"]
    assert (finished["ap"], finished["aq"], finished["tt"]) == ("61699.9", "0.100", T0 + 1000)
    assert finished["ai"] == str(fill["i"])
    queried = ex.query_algo_order("alice", {"algoId": str(placed["algoId"])})
    assert (queried["algoStatus"], queried["actualOrderId"]) == ("FINISHED", str(fill["i"]))
    assert clock.now_ms() == T0 + 1000


def test_trigger_that_already_holds_is_2021():
    ex, _ = make_exchange()
    ex.on_trade("BTCUSDT", D("61800.3"), D("0.010"), False, T0 + 10)

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61900.0", quantity="0.100"))

    assert (e.value.code, e.value.msg) == (-2021, "Order would immediately trigger.")


def test_take_profit_close_position_on_mark_price_closes_the_whole_position():
    ex, _ = make_exchange()
    _long(ex, "0.150")
    ex.new_algo_order(
        "alice",
        algo(
            "SELL", "TAKE_PROFIT_MARKET", "62000.0", closePosition="true", workingType="MARK_PRICE"
        ),
    )
    ex.on_book_ticker("BTCUSDT", D("62000.5"), D("1"), D("62000.6"), D("1"), T0 + 500)
    ex.on_trade("BTCUSDT", D("62100.0"), D("0.010"), False, T0 + 600)  # last price: no trigger
    ex.on_mark_price("BTCUSDT", D("61999.9"), D("61999.9"), D("0"), FUNDING_TIME, T0 + 700)
    still_open = ex.open_algo_orders("alice", {"symbol": "BTCUSDT"})

    ex.on_mark_price("BTCUSDT", D("62000.0"), D("62000.0"), D("0"), FUNDING_TIME, T0 + 1000)

    assert len(still_open) == 1
    assert ex.position_risk("alice", {}) == []
    fill = ex.user_trades("alice", {"symbol": "BTCUSDT"})[-1]
    assert (fill["side"], fill["qty"], fill["price"]) == ("SELL", "0.150", "62000.50")
    # 0.150 * (62000.5 - 61800.3) = 30.03
    assert fill["realizedPnl"] == "30.03000000"


def test_close_position_with_nothing_to_close_expires_at_trigger():
    ex, _ = make_exchange()
    ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))
    ex.drain_user_events()

    ex.on_trade("BTCUSDT", D("60999.9"), D("0.010"), True, T0 + 1000)

    statuses = [e["o"]["X"] for e in of_type(ex.drain_user_events(), "ALGO_UPDATE")]
    assert statuses == ["TRIGGERING", "EXPIRED"]


def test_reduce_only_algo_without_position_is_rejected_at_trigger():
    ex, _ = make_exchange()
    ex.new_algo_order(
        "alice", algo("SELL", "STOP_MARKET", "61000.0", quantity="0.100", reduceOnly="true")
    )
    ex.drain_user_events()

    ex.on_trade("BTCUSDT", D("60999.9"), D("0.010"), True, T0 + 1000)

    last = of_type(ex.drain_user_events(), "ALGO_UPDATE")[-1]["o"]
    assert (last["X"], last["rm"]) == ("REJECTED", "Reduce Only reject")


def test_quantity_with_close_position_is_4137():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order(
            "alice",
            algo("SELL", "STOP_MARKET", "61000.0", closePosition="true", quantity="0.100"),
        )

    assert e.value.code == -4137


def test_close_position_with_reduce_only_false_is_1106():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order(
            "alice",
            algo("SELL", "STOP_MARKET", "61000.0", closePosition="true", reduceOnly="false"),
        )

    assert (e.value.code, e.value.msg) == (-1106, "Parameter 'reduceonly' sent when not required.")


def test_non_conditional_type_on_algo_endpoint_is_1116():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order("alice", algo("SELL", "MARKET", "61000.0", quantity="0.100"))

    assert e.value.code == -1116


def test_cancel_algo_order_replies_success_and_emits_canceled():
    ex, _ = make_exchange()
    placed = ex.new_algo_order(
        "alice", algo("SELL", "STOP_MARKET", "61000.0", quantity="0.100", clientAlgoId="sl-1")
    )
    ex.drain_user_events()

    reply = ex.cancel_algo_order("alice", {"clientAlgoId": "sl-1"})

    assert reply == {
        "algoId": placed["algoId"],
        "clientAlgoId": "sl-1",
        "code": "200",
        "msg": "success",
    }
    [event] = of_type(ex.drain_user_events(), "ALGO_UPDATE")
    assert event["o"]["X"] == "CANCELED"
    with pytest.raises(BinanceError) as again:
        ex.cancel_algo_order("alice", {"algoId": str(placed["algoId"])})
    assert again.value.code == -2011


def test_canceled_stop_never_triggers():
    ex, _ = make_exchange()
    _long(ex)
    placed = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", quantity="0.100"))
    ex.cancel_algo_order("alice", {"algoId": str(placed["algoId"])})

    ex.on_trade("BTCUSDT", D("60000.0"), D("1"), True, T0 + 1000)

    assert ex.position_risk("alice", {})[0]["positionAmt"] == "0.100"


def test_cancel_all_algo_orders_and_listings():
    ex, _ = make_exchange()
    ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", quantity="0.100"))
    ex.new_algo_order("alice", algo("BUY", "STOP_MARKET", "62000.0", quantity="0.100"))
    listed = ex.open_algo_orders("alice", {})

    reply = ex.cancel_all_algo_orders("alice", {"symbol": "BTCUSDT"})

    assert len(listed) == 2
    assert reply["code"] == 200
    assert ex.open_algo_orders("alice", {}) == []
    assert [a["algoStatus"] for a in ex.all_algo_orders("alice", {"symbol": "BTCUSDT"})] == [
        "CANCELED",
        "CANCELED",
    ]


def test_stop_limit_algo_places_a_resting_limit_order_when_triggered():
    ex, _ = make_exchange()
    ex.new_algo_order(
        "alice",
        algo("BUY", "STOP", "61900.0", quantity="0.010", price="61950.0", timeInForce="GTC"),
    )
    ex.on_book_ticker("BTCUSDT", D("61999.9"), D("1"), D("62000.0"), D("1"), T0 + 500)

    ex.on_trade("BTCUSDT", D("61900.0"), D("0.010"), False, T0 + 1000)

    [order] = ex.open_orders("alice", {})
    assert (order["type"], order["origType"], order["price"]) == ("LIMIT", "STOP", "61950.00")


def test_legacy_switch_accepts_stop_market_on_order_endpoint_and_keeps_the_order_id():
    ex, _ = make_exchange(EngineConfig(legacy_conditional_orders=True))
    _long(ex)
    placed = ex.new_order(
        "alice",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "61700.0",
            "quantity": "0.100",
        },
    )
    listed = ex.open_orders("alice", {})
    ex.on_book_ticker("BTCUSDT", D("61699.9"), D("1"), D("61700.0"), D("1"), T0 + 500)

    ex.on_trade("BTCUSDT", D("61700.0"), D("0.010"), True, T0 + 1000)

    assert [(o["type"], o["status"]) for o in listed] == [("STOP_MARKET", "NEW")]
    otus = [e["o"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")]
    assert [(o["i"], o["x"], o["o"], o["ot"]) for o in otus] == [
        (placed["orderId"], "NEW", "STOP_MARKET", "STOP_MARKET"),
        (placed["orderId"], "NEW", "MARKET", "STOP_MARKET"),
        (placed["orderId"], "TRADE", "MARKET", "STOP_MARKET"),
    ]
    assert ex.position_risk("alice", {}) == []


def test_legacy_conditional_can_be_canceled_like_an_order():
    ex, _ = make_exchange(EngineConfig(legacy_conditional_orders=True))
    placed = ex.new_order(
        "alice",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "STOP_MARKET",
            "stopPrice": "62000.0",
            "quantity": "0.100",
        },
    )

    ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})
    ex.on_trade("BTCUSDT", D("62500.0"), D("1"), False, T0 + 1000)

    assert ex.position_risk("alice", {}) == []
    assert ex.open_orders("alice", {}) == []


def test_trailing_stop_activates_then_fires_after_the_callback_from_the_high():
    ex, _ = make_exchange()
    _long(ex)
    ex.on_trade("BTCUSDT", D("61800.3"), D("0.010"), False, T0 + 100)
    ex.new_algo_order(
        "alice",
        algo(
            "SELL",
            "TRAILING_STOP_MARKET",
            "0",
            quantity="0.100",
            activatePrice="62000.0",
            callbackRate="1",
        )
        | {"triggerPrice": ""},
    )
    ex.on_book_ticker("BTCUSDT", D("61875.0"), D("1"), D("61875.1"), D("1"), T0 + 150)
    for k, price in enumerate(["61700.0", "62000.0", "62500.0", "61875.1"]):
        ex.on_trade("BTCUSDT", D(price), D("0.010"), False, T0 + 200 + k)
    waiting = ex.open_algo_orders("alice", {})

    # highest since activation 62500.0; fires at <= 62500.0 * (1 - 1/100) = 61875.0
    ex.on_trade("BTCUSDT", D("61875.0"), D("0.010"), True, T0 + 300)

    assert [a["activatePrice"] for a in waiting] == ["62000.00"]
    assert [a["callbackRate"] for a in waiting] == ["1"]
    assert ex.open_algo_orders("alice", {}) == []
    fill = ex.user_trades("alice", {"symbol": "BTCUSDT"})[-1]
    assert (fill["side"], fill["qty"], fill["price"]) == ("SELL", "0.100", "61875.00")


def test_trailing_stop_whose_activation_already_holds_is_2021():
    ex, _ = make_exchange()
    ex.on_trade("BTCUSDT", D("61800.3"), D("0.010"), False, T0 + 100)

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order(
            "alice",
            {
                "algoType": "CONDITIONAL",
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "TRAILING_STOP_MARKET",
                "quantity": "0.100",
                "activatePrice": "61700.0",
                "callbackRate": "1",
            },
        )

    assert e.value.code == -2021


@pytest.mark.parametrize("rate", ["0.05", "10.1"])
def test_trailing_callback_rate_outside_0_1_to_10_is_1130(rate):
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_algo_order(
            "alice",
            {
                "algoType": "CONDITIONAL",
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "TRAILING_STOP_MARKET",
                "quantity": "0.100",
                "activatePrice": "62000.0",
                "callbackRate": rate,
            },
        )

    assert e.value.code == -1130


def test_legacy_trailing_stop_order_reports_activate_price_and_rate():
    ex, _ = make_exchange(EngineConfig(legacy_conditional_orders=True))
    ex.on_trade("BTCUSDT", D("61800.3"), D("0.010"), False, T0 + 100)

    placed = ex.new_order(
        "alice",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "TRAILING_STOP_MARKET",
            "quantity": "0.100",
            "activationPrice": "61500.0",
            "callbackRate": "0.5",
        },
    )

    assert (placed["activatePrice"], placed["priceRate"]) == ("61500.00", "0.5")
    [event] = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
    assert (event["o"]["AP"], event["o"]["cr"]) == ("61500.00", "0.5")


def test_second_close_position_order_of_the_same_side_is_4130_whatever_its_type():
    ex, _ = make_exchange()
    _long(ex)
    ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))

    for order_type, trigger in (("STOP_MARKET", "60000.0"), ("TAKE_PROFIT_MARKET", "63000.0")):
        with pytest.raises(BinanceError) as e:
            ex.new_algo_order("alice", algo("SELL", order_type, trigger, closePosition="true"))
        assert e.value.code == -4130
    # The other side, and a reduce-only take-profit with a quantity, are accepted.
    ex.new_algo_order("alice", algo("BUY", "STOP_MARKET", "63000.0", closePosition="true"))
    ex.new_algo_order(
        "alice",
        algo("SELL", "TAKE_PROFIT_MARKET", "63000.0", quantity="0.100", reduceOnly="true"),
    )
    assert len(ex.open_algo_orders("alice", {"symbol": "BTCUSDT"})) == 3


def test_close_position_order_is_accepted_again_once_the_first_is_canceled():
    ex, _ = make_exchange()
    _long(ex)
    first = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))
    ex.cancel_algo_order("alice", {"algoId": str(first["algoId"])})

    second = ex.new_algo_order(
        "alice", algo("SELL", "STOP_MARKET", "60500.0", closePosition="true")
    )

    assert second["algoStatus"] == "NEW"


# --- conditionals of a position that is gone (reference 6.3 EXPIRED, 10.8 liquidation) -------


def _algo_updates(ex) -> list[tuple[int, str]]:
    return [(e["o"]["aid"], e["o"]["X"]) for e in of_type(ex.drain_user_events(), "ALGO_UPDATE")]


def test_closing_the_position_expires_its_close_position_stop_and_keeps_a_reduce_only_one():
    ex, _ = make_exchange()
    _long(ex)
    stop = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))
    take = ex.new_algo_order(
        "alice",
        algo("SELL", "TAKE_PROFIT_MARKET", "63000.0", quantity="0.100", reduceOnly="true"),
    )
    ex.drain_user_events()

    ex.new_order("alice", market("SELL", "0.100"))

    assert _algo_updates(ex) == [(stop["algoId"], "EXPIRED")]
    queried = ex.query_algo_order("alice", {"algoId": str(stop["algoId"])})
    assert queried["algoStatus"] == "EXPIRED"
    listed = ex.open_algo_orders("alice", {"symbol": "BTCUSDT"})
    assert [(a["algoId"], a["algoStatus"]) for a in listed] == [(take["algoId"], "NEW")]


def test_reducing_the_position_keeps_its_close_position_stop():
    ex, _ = make_exchange()
    _long(ex)
    stop = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))
    ex.drain_user_events()

    ex.new_order("alice", market("SELL", "0.040"))

    assert _algo_updates(ex) == []
    [listed] = ex.open_algo_orders("alice", {"symbol": "BTCUSDT"})
    assert listed["algoId"] == stop["algoId"]


def test_expired_close_position_stop_never_fires_on_the_next_position():
    ex, _ = make_exchange()
    _long(ex)
    ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "61000.0", closePosition="true"))
    ex.new_order("alice", market("SELL", "0.100"))
    _long(ex, "0.050")  # a new long, without a stop of its own

    ex.on_trade("BTCUSDT", D("60999.9"), D("0.010"), True, T0 + 1000)

    [risk] = ex.position_risk("alice", {})
    assert risk["positionAmt"] == "0.050"


def test_closing_the_position_expires_a_legacy_close_position_order_with_reason_6():
    ex, _ = make_exchange(EngineConfig(legacy_conditional_orders=True))
    _long(ex)
    placed = ex.new_order(
        "alice",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "61000.0",
            "closePosition": "true",
        },
    )
    ex.drain_user_events()

    ex.new_order("alice", market("SELL", "0.100"))

    otus = [e["o"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")]
    assert [(o["x"], o["er"]) for o in otus if o["i"] == placed["orderId"]] == [("EXPIRED", "6")]
    assert ex.open_orders("alice", {}) == []


def test_liquidation_expires_reduce_only_and_close_position_conditionals_first():
    ex, _ = make_exchange(usdt="1000")
    ex.new_order("alice", market("BUY", "0.300"))  # liquidation price ~58,700 (accounting test)
    stop = ex.new_algo_order("alice", algo("SELL", "STOP_MARKET", "40000.0", closePosition="true"))
    take = ex.new_algo_order(
        "alice",
        algo("SELL", "TAKE_PROFIT_MARKET", "70000.0", quantity="0.300", reduceOnly="true"),
    )
    entry = ex.new_algo_order(
        "alice", algo("BUY", "STOP_MARKET", "65000.0", quantity="0.001")
    )  # opens, not reduce-only: stays armed
    ex.drain_user_events()

    ex.on_mark_price("BTCUSDT", D("50000.0"), D("50000.0"), D("0"), FUNDING_TIME, T0 + 1000)

    events = [e for _, e in ex.drain_user_events()]
    kinds = [(e["e"], e["o"].get("aid") or e["o"].get("c")) for e in events if "o" in e]
    expired = [(e["o"]["aid"], e["o"]["X"]) for e in events if e["e"] == "ALGO_UPDATE"]
    assert expired == [(stop["algoId"], "EXPIRED"), (take["algoId"], "EXPIRED")]
    first_autoclose = next(
        i for i, (kind, c) in enumerate(kinds) if kind == "ORDER_TRADE_UPDATE"
    )  # the liquidation order comes after the conditionals expired
    assert kinds[first_autoclose][1].startswith("autoclose-")
    assert first_autoclose == 2
    assert ex.position_risk("alice", {}) == []
    listed = ex.open_algo_orders("alice", {"symbol": "BTCUSDT"})
    assert [(a["algoId"], a["algoStatus"]) for a in listed] == [(entry["algoId"], "NEW")]
