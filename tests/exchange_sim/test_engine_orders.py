"""Order placement, matching, query and cancel on the pure engine (no network).

Book in every test unless stated: mark 61800.0, recorded bookTicker bid 61800.2 / ask 61800.3
with 2.000 BTC each (synthetic book: that quantity on each of the next 10 ticks).
Fees: maker 0.02 %, taker 0.05 %.
"""

import json

import pytest

from exchange_sim.engine import EngineConfig
from exchange_sim.errors import BinanceError
from tests.exchange_sim.test_engine_support import (
    T0,
    D,
    limit,
    make_exchange,
    market,
    of_type,
)


def test_limit_below_market_rests_and_is_queryable_by_both_ids():
    ex, _ = make_exchange()

    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0", newClientOrderId="bid-1"))

    by_id = ex.query_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})
    by_client = ex.query_order("alice", {"symbol": "BTCUSDT", "origClientOrderId": "bid-1"})
    assert placed["status"] == "NEW"
    assert by_id == by_client
    assert by_id["status"] == "NEW" and by_id["price"] == "61700.00"
    assert [o["orderId"] for o in ex.open_orders("alice", {"symbol": "BTCUSDT"})] == [
        placed["orderId"]
    ]


def test_new_limit_emits_one_order_update_with_bid_notional():
    ex, _ = make_exchange()

    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))

    updates = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
    assert len(updates) == 1
    o = updates[0]["o"]
    assert (o["x"], o["X"], o["b"], o["a"]) == ("NEW", "NEW", "617", "0")  # 0.010 * 61700


def test_cancel_returns_canceled_order_and_emits_canceled_event():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.drain_user_events()

    canceled = ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    assert canceled["status"] == "CANCELED"
    [event] = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
    assert (event["o"]["x"], event["o"]["X"]) == ("CANCELED", "CANCELED")
    assert ex.open_orders("alice", {}) == []


def test_cancel_of_a_closed_order_is_2011():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    with pytest.raises(BinanceError) as e:
        ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    assert (e.value.code, e.value.msg) == (-2011, "Unknown order sent.")


def test_query_of_unknown_order_is_2013_and_open_order_of_closed_order_is_2013():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    with pytest.raises(BinanceError) as unknown:
        ex.query_order("alice", {"symbol": "BTCUSDT", "orderId": "1"})
    with pytest.raises(BinanceError) as closed:
        ex.open_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    assert unknown.value.code == closed.value.code == -2013


def test_query_without_any_id_is_1102():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.query_order("alice", {"symbol": "BTCUSDT"})

    assert e.value.code == -1102


def test_market_buy_walks_touch_then_next_tick_of_synthetic_book():
    ex, _ = make_exchange(qty="0.200")

    result = ex.new_order("alice", market("BUY", "0.300", newOrderRespType="RESULT"))

    # 0.200 @ 61800.3 + 0.100 @ 61800.4 = 12360.06 + 6180.04 = 18540.10; avg 61800.333...
    assert result["status"] == "FILLED"
    assert result["cumQuote"] == "18540.10000"
    assert result["avgPrice"] == "61800.33333333"
    fills = ex.user_trades("alice", {"symbol": "BTCUSDT"})
    assert [(t["price"], t["qty"], t["maker"]) for t in fills] == [
        ("61800.30", "0.200", False),
        ("61800.40", "0.100", False),
    ]
    # taker 0.05 %: 6.18003 + 3.09002 = 9.27005
    assert ex.balance("alice", {})[0]["balance"] == "9990.72995000"


def test_market_ack_reports_new_with_nothing_executed_yet():
    ex, _ = make_exchange()

    ack = ex.new_order("alice", market("BUY", "0.100"))

    assert (ack["status"], ack["executedQty"], ack["avgPrice"]) == ("NEW", "0.000", "0.00")
    assert (
        ex.query_order("alice", {"symbol": "BTCUSDT", "orderId": str(ack["orderId"])})["status"]
        == "FILLED"
    )


def test_market_event_sequence_is_new_trade_account_update():
    ex, _ = make_exchange()

    ex.new_order("alice", market("BUY", "0.100"))

    kinds = [(e["e"], e["o"]["x"] if "o" in e else e["a"]["m"]) for _, e in ex.drain_user_events()]
    assert kinds == [
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", "ORDER"),
    ]


def test_market_remainder_beyond_the_known_book_expires_with_reason_9():
    ex, _ = make_exchange(EngineConfig(book_ticker_levels=1), qty="0.200")

    result = ex.new_order("alice", market("BUY", "0.300", newOrderRespType="RESULT"))

    assert (result["status"], result["executedQty"]) == ("EXPIRED", "0.200")
    last = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")[-1]["o"]
    assert (last["x"], last["X"], last["er"]) == ("EXPIRED", "EXPIRED", "9")


def test_market_beyond_take_bound_is_4131():
    # marketTakeBound 0.30: a BUY may not reach above 61800 * 1.30 = 80340.0
    ex, _ = make_exchange(bid="80399.9", ask="80400.0")

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", market("BUY", "0.001"))

    assert e.value.code == -4131


def test_crossing_limit_takes_at_book_price_and_rests_the_remainder():
    ex, _ = make_exchange(EngineConfig(book_ticker_levels=1), qty="0.200")

    result = ex.new_order("alice", limit("BUY", "0.300", "61800.5", newOrderRespType="RESULT"))

    assert result["status"] == "PARTIALLY_FILLED"
    assert (result["executedQty"], result["avgPrice"]) == ("0.200", "61800.3")
    [resting] = ex.open_orders("alice", {})
    assert resting["price"] == "61800.50"
    trade = ex.user_trades("alice", {"symbol": "BTCUSDT"})[0]
    assert trade["maker"] is False


def test_gtx_that_would_cross_is_5022_and_leaves_no_trace():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.010", "61800.3", "GTX", newClientOrderId="px"))

    assert e.value.code == -5022
    assert ex.drain_user_events() == []
    with pytest.raises(BinanceError):
        ex.query_order("alice", {"symbol": "BTCUSDT", "origClientOrderId": "px"})


def test_gtx_that_does_not_cross_rests():
    ex, _ = make_exchange()

    placed = ex.new_order("alice", limit("BUY", "0.010", "61800.2", "GTX"))

    assert placed["status"] == "NEW" and placed["timeInForce"] == "GTX"


def test_ioc_partially_filled_expires_the_remainder_with_reason_2():
    ex, _ = make_exchange(EngineConfig(book_ticker_levels=1), qty="0.200")

    result = ex.new_order(
        "alice", limit("BUY", "0.300", "61800.3", "IOC", newOrderRespType="RESULT")
    )

    assert (result["status"], result["executedQty"]) == ("EXPIRED", "0.200")
    otus = [e["o"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")]
    assert [(o["x"], o["X"], o["er"]) for o in otus] == [
        ("NEW", "NEW", "0"),
        ("TRADE", "PARTIALLY_FILLED", "0"),
        ("EXPIRED", "EXPIRED", "2"),
    ]


def test_fok_not_fully_fillable_is_5021_without_events():
    ex, _ = make_exchange(EngineConfig(book_ticker_levels=1), qty="0.200")

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.300", "61800.3", "FOK"))

    assert e.value.code == -5021
    assert ex.drain_user_events() == []


def test_fok_fully_fillable_fills():
    ex, _ = make_exchange(qty="0.200")

    result = ex.new_order(
        "alice", limit("BUY", "0.300", "61800.4", "FOK", newOrderRespType="RESULT")
    )

    assert (result["status"], result["executedQty"]) == ("FILLED", "0.300")


def test_reduce_only_without_position_is_2022():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("SELL", "0.010", "61900.0", reduceOnly="true"))

    assert (e.value.code, e.value.msg) == (-2022, "ReduceOnly Order is rejected.")


def test_reduce_only_in_the_direction_of_the_position_is_2022():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.010"))

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", market("BUY", "0.010", reduceOnly="true"))

    assert e.value.code == -2022


def test_reduce_only_market_larger_than_position_only_closes_it():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.010"))

    result = ex.new_order(
        "alice", market("SELL", "0.050", reduceOnly="true", newOrderRespType="RESULT")
    )

    assert result["executedQty"] == "0.010"
    assert ex.position_risk("alice", {"symbol": "BTCUSDT"}) == []  # v3: no position left


def test_resting_reduce_only_expires_when_the_position_is_closed():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.010"))
    ex.new_order("alice", limit("SELL", "0.010", "62000.0", reduceOnly="true"))
    ex.drain_user_events()

    ex.new_order("alice", market("SELL", "0.010"))

    expired = [
        e["o"]
        for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
        if e["o"]["x"] == "EXPIRED"
    ]
    assert [(o["R"], o["er"]) for o in expired] == [(True, "4")]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (limit("BUY", "0.010", "61700.05"), -1111),  # 2 decimals, tick 0.10
        (limit("BUY", "0.0105", "61700.0"), -1111),  # 4 decimals, step 0.001
        (limit("BUY", "0.010", "401.0"), -4013),  # minPrice 402
        (limit("BUY", "0.010", "1246396.7"), -4002),  # maxPrice 1246396.60
        (limit("BUY", "0", "61700.0"), -4003),
        (limit("BUY", "1000.001", "61700.0"), -4005),  # maxQty 1000
        (limit("BUY", "0.010", "68000.0"), -4016),  # > mark 61800 * 1.1 = 67980
        (limit("SELL", "0.010", "33700.0"), -4024),  # < mark 61800 * 0.5454 = 33705.72
        (limit("BUY", "0.001", "5000.0"), -4164),  # notional 5 < 10
        (market("BUY", "0.0001"), -1111),
        (market("BUY", "0.000"), -4003),
    ],
)
def test_filter_rejections_carry_the_exact_binance_code(params, code):
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", params)

    assert e.value.code == code


def test_percent_price_rejection_message_names_the_cap():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.010", "68000.0"))

    assert e.value.msg == "Limit price can't be higher than 67980.0."


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"side": "BUY", "type": "LIMIT"}, -1102),  # symbol missing
        (limit("BUY", "0.010", "61700.0") | {"symbol": "XYZUSDT"}, -1121),
        ({k: v for k, v in limit("BUY", "0.010", "61700.0").items() if k != "price"}, -1102),
        ({k: v for k, v in limit("BUY", "0.010", "61700.0").items() if k != "timeInForce"}, -1102),
        (limit("BUY", "0.010", "61700.0") | {"price": "abc"}, -1102),
        (limit("HOLD", "0.010", "61700.0"), -1117),
        (limit("BUY", "0.010", "61700.0") | {"type": "ICEBERG"}, -1116),
        (limit("BUY", "0.010", "61700.0", "GTE"), -1115),
        (limit("BUY", "0.010", "61700.0", newOrderRespType="FULL"), -1136),
        (limit("BUY", "0.010", "61700.0", positionSide="SIDEWAYS"), -4060),
        (limit("BUY", "0.010", "61700.0", positionSide="LONG"), -4061),
        (limit("BUY", "0.010", "61700.0", newClientOrderId="x" * 37), -4015),
        (limit("BUY", "0.010", "61700.0", newClientOrderId="bad id!"), -1100),
        (
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.010",
                "stopPrice": "61000.0",
            },
            -4120,
        ),
    ],
)
def test_request_errors_carry_the_exact_binance_code(params, code):
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", params)

    assert e.value.code == code


def test_client_order_id_of_an_open_order_is_4116_and_reusable_after_cancel():
    ex, _ = make_exchange()
    first = ex.new_order("alice", limit("BUY", "0.010", "61700.0", newClientOrderId="dup"))

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.010", "61600.0", newClientOrderId="dup"))
    ex.cancel_order("alice", {"symbol": "BTCUSDT", "origClientOrderId": "dup"})
    second = ex.new_order("alice", limit("BUY", "0.010", "61600.0", newClientOrderId="dup"))

    assert e.value.code == -4116
    assert second["orderId"] > first["orderId"]


def test_generated_client_order_ids_are_22_alphanumeric_and_distinct():
    ex, _ = make_exchange()

    ids = {ex.new_order("alice", limit("BUY", "0.010", "61700.0"))["clientOrderId"] for _ in "ab"}

    assert len(ids) == 2
    assert all(len(i) == 22 and i.isalnum() for i in ids)


def test_resting_bid_fills_partially_then_fully_from_trades_through_its_price():
    ex, clock = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.drain_user_events()

    ex.on_trade("BTCUSDT", D("61699.9"), D("0.004"), True, T0 + 1000)
    ex.on_trade("BTCUSDT", D("61700.0"), D("1.000"), True, T0 + 2000)  # at price: not through
    after_two = ex.query_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})
    ex.on_trade("BTCUSDT", D("61699.0"), D("0.500"), True, T0 + 3000)

    assert (after_two["status"], after_two["executedQty"]) == ("PARTIALLY_FILLED", "0.004")
    otus = [e["o"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")]
    assert [(o["X"], o["l"], o["L"], o["m"], o["n"]) for o in otus] == [
        ("PARTIALLY_FILLED", "0.004", "61700.00", True, "0.04936000"),  # 0.004*61700*0.0002
        ("FILLED", "0.006", "61700.00", True, "0.07404000"),  # 0.006*61700*0.0002
    ]
    assert [o["T"] for o in otus] == [T0 + 1000, T0 + 3000]
    assert clock.now_ms() == T0 + 3000


def test_touch_mode_fills_a_resting_bid_on_a_trade_at_its_price():
    ex, _ = make_exchange(EngineConfig(fill_mode="touch"))
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))

    ex.on_trade("BTCUSDT", D("61700.0"), D("0.003"), True, T0 + 1000)

    assert ex.open_orders("alice", {})[0]["executedQty"] == "0.003"


def test_a_trade_fills_resting_orders_in_price_time_priority_up_to_its_quantity():
    ex, _ = make_exchange()
    ex.create_account("bob", {"USDT": D("10000")})
    first = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    second = ex.new_order("bob", limit("BUY", "0.010", "61700.0"))
    better = ex.new_order("bob", limit("BUY", "0.002", "61750.0"))

    ex.on_trade("BTCUSDT", D("61600.0"), D("0.015"), True, T0 + 1000)

    def executed(account, order):
        return ex.query_order(account, {"symbol": "BTCUSDT", "orderId": str(order["orderId"])})[
            "executedQty"
        ]

    # 0.015 = 0.002 (best price) + 0.010 (first in queue at 61700) + 0.003
    assert executed("bob", better) == "0.002"
    assert executed("alice", first) == "0.010"
    assert executed("bob", second) == "0.003"


def test_batch_orders_return_one_result_per_element_in_request_order():
    ex, _ = make_exchange()
    batch = [
        limit("BUY", "0.010", "61700.0"),
        limit("BUY", "0.010", "61700.05"),
        limit("SELL", "0.010", "61900.0"),
    ]

    results = ex.batch_orders("alice", {"batchOrders": json.dumps(batch)})

    assert results[0]["status"] == "NEW" and results[2]["status"] == "NEW"
    assert results[1] == {
        "code": -1111,
        "msg": "Precision is over the maximum defined for this asset.",
    }


def test_batch_of_more_than_five_orders_is_4082():
    ex, _ = make_exchange()
    with pytest.raises(BinanceError) as e:
        ex.batch_orders(
            "alice", {"batchOrders": json.dumps([limit("BUY", "0.010", "61700.0")] * 6)}
        )

    assert e.value.code == -4082


def test_cancel_batch_returns_canceled_orders_and_errors():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))

    results = ex.cancel_batch_orders(
        "alice",
        {"symbol": "BTCUSDT", "orderIdList": json.dumps([placed["orderId"], 12345])},
    )

    assert results[0]["status"] == "CANCELED"
    assert results[1] == {"code": -2011, "msg": "Unknown order sent."}


def test_cancel_all_open_orders_cancels_each_with_an_event():
    ex, _ = make_exchange()
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.new_order("alice", limit("SELL", "0.010", "61900.0"))
    ex.drain_user_events()

    reply = ex.cancel_all_open_orders("alice", {"symbol": "BTCUSDT"})

    assert reply == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert [e["o"]["X"] for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")] == [
        "CANCELED",
        "CANCELED",
    ]


def test_all_orders_lists_open_and_closed_orders_oldest_first():
    ex, _ = make_exchange()
    a = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.cancel_order("alice", {"symbol": "BTCUSDT", "orderId": str(a["orderId"])})
    b = ex.new_order("alice", limit("BUY", "0.010", "61600.0"))

    listed = ex.all_orders("alice", {"symbol": "BTCUSDT"})

    assert [(o["orderId"], o["status"]) for o in listed] == [
        (a["orderId"], "CANCELED"),
        (b["orderId"], "NEW"),
    ]


def test_modify_moves_the_price_and_emits_amendment():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    ex.drain_user_events()

    changed = ex.modify_order(
        "alice",
        {
            "symbol": "BTCUSDT",
            "orderId": str(placed["orderId"]),
            "side": "BUY",
            "quantity": "0.010",
            "price": "61650.0",
        },
    )

    assert changed["price"] == "61650.00"
    [event] = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")
    assert (event["o"]["x"], event["o"]["p"]) == ("AMENDMENT", "61650.00")


def test_modify_without_change_is_5027():
    ex, _ = make_exchange()
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0"))

    with pytest.raises(BinanceError) as e:
        ex.modify_order(
            "alice",
            {
                "symbol": "BTCUSDT",
                "orderId": str(placed["orderId"]),
                "side": "BUY",
                "quantity": "0.010",
                "price": "61700.0",
            },
        )

    assert e.value.code == -5027


def test_gtd_order_expires_at_its_good_till_date():
    ex, _ = make_exchange()
    gtd = T0 + 3_600_000
    placed = ex.new_order("alice", limit("BUY", "0.010", "61700.0", "GTD", goodTillDate=str(gtd)))
    due = gtd // 1000 * 1000  # second precision

    ex.on_time(due - 1)
    still_open = ex.open_orders("alice", {})
    ex.on_time(due)

    assert len(still_open) == 1
    assert (
        ex.query_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})["status"]
        == "EXPIRED"
    )


def test_gtd_closer_than_600_seconds_is_5040():
    ex, _ = make_exchange()

    with pytest.raises(BinanceError) as e:
        ex.new_order("alice", limit("BUY", "0.010", "61700.0", "GTD", goodTillDate=str(T0 + 1000)))

    assert e.value.code == -5040


def test_test_order_validates_without_placing():
    ex, _ = make_exchange()

    reply = ex.test_order("alice", limit("BUY", "0.010", "61700.0"))
    with pytest.raises(BinanceError) as e:
        ex.test_order("alice", limit("BUY", "0.001", "5000.0"))

    assert reply == {}
    assert e.value.code == -4164
    assert ex.open_orders("alice", {}) == [] and ex.drain_user_events() == []


def test_list_endpoints_take_their_optional_symbol_as_one_symbol_all_or_1121():
    ex, _ = make_exchange()  # BTCUSDT and ETHUSDT listed
    ex.new_order("alice", limit("BUY", "0.010", "61700.0", newClientOrderId="bid"))

    assert [o["clientOrderId"] for o in ex.open_orders("alice", {})] == ["bid"]
    assert ex.open_orders("alice", {"symbol": "ETHUSDT"}) == []
    assert [c["symbol"] for c in ex.symbol_config("alice", {})] == ["BTCUSDT", "ETHUSDT"]
    assert [c["symbol"] for c in ex.symbol_config("alice", {"symbol": "ETHUSDT"})] == ["ETHUSDT"]
    v2 = ex.position_risk("alice", {}, version=2)
    assert [r["symbol"] for r in v2] == ["BTCUSDT", "ETHUSDT"]
    for endpoint in (
        ex.open_orders,
        ex.open_algo_orders,
        ex.symbol_config,
        ex.position_risk,
        ex.income,
    ):
        with pytest.raises(BinanceError) as err:
            endpoint("alice", {"symbol": "NOPEUSDT"})
        assert (err.value.code, err.value.msg) == (-1121, "Invalid symbol."), endpoint.__name__
