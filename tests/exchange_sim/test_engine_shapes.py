"""Every response and event the engine produces has the keys and JSON value types of the real
Binance example of that message (tests/fixtures/binance_api). One test per message type.

ccxt fixtures store some integers as strings ("stringified" in PROVENANCE.md); the live API
returns numbers, so for those keys we require int.
"""

import json

from exchange_sim.engine import EngineConfig
from tests.exchange_sim.test_engine_support import (
    T0,
    D,
    limit,
    load,
    make_exchange,
    market,
    of_type,
    type_name,
)

CCXT_STRINGIFIED_INTS = {
    "orderId",
    "id",
    "time",
    "updateTime",
    "goodTillDate",
    "adl",
    "feeTier",
    "tradeGroupId",
}


def _types(obj: dict, ccxt: bool = False) -> dict[str, str]:
    out = {}
    for key, value in obj.items():
        if ccxt and key in CCXT_STRINGIFIED_INTS and isinstance(value, str):
            out[key] = "int"
        elif value is None:
            out[key] = "NoneType"
        else:
            out[key] = type_name(value)
    return out


def assert_same_shape(ours: dict, real: dict, *, ccxt: bool = False, extra: set = frozenset()):
    """Same keys (ours may add the documented `extra` ones) and same JSON types per key."""
    assert set(ours) - set(extra) == set(real), set(ours) ^ set(real)
    real_types = _types(real, ccxt)
    ours_types = _types(ours)
    assert {k: ours_types[k] for k in real} == real_types


def _filled_exchange():
    ex, _ = make_exchange(EngineConfig(emit_trade_lite=True))
    ex.new_order("alice", market("BUY", "0.100"))
    ex.new_order("alice", limit("BUY", "0.010", "61700.0"))
    return ex


def test_post_order_response_matches_real_batch_order_element():
    ex, _ = make_exchange()
    [real] = load(
        "binance_api/rest/POST_fapi_v1_batchOrders__NEW_LIMIT_BTCUSDT_2025-02-17__ccxt.json"
    )

    ours = ex.new_order("alice", limit("SELL", "0.200", "61900.0"))

    assert_same_shape(ours, real)


def test_batch_orders_element_matches_real_batch_order_element():
    ex, _ = make_exchange()
    [real] = load(
        "binance_api/rest/POST_fapi_v1_batchOrders__NEW_LIMIT_BTCUSDT_2025-02-17__ccxt.json"
    )

    [ours] = ex.batch_orders(
        "alice", {"batchOrders": json.dumps([limit("SELL", "0.200", "61900.0")])}
    )

    assert_same_shape(ours, real)


def test_open_order_query_matches_real_open_order():
    ex, _ = make_exchange()
    real = load("binance_api/rest/GET_fapi_v1_openOrder__LTCUSDT_GTX_2024-02-14__ccxt.json")
    placed = ex.new_order("alice", limit("BUY", "0.200", "61700.0", "GTX"))

    ours = ex.open_order("alice", {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})

    assert_same_shape(ours, real, ccxt=True)


def test_user_trades_match_real_user_trades():
    ex = _filled_exchange()
    real = load("binance_api/rest/GET_fapi_v1_userTrades__ETHUSDT_2022-02-27__nautilus.json")

    [ours] = ex.user_trades("alice", {"symbol": "BTCUSDT"})

    assert_same_shape(ours, real[1])


def test_account_v2_matches_real_account_v2():
    ex = _filled_exchange()
    real = load("binance_api/rest/GET_fapi_v2_account__nautilus.json")

    ours = ex.account("alice", {}, version=2)

    assert_same_shape(ours, real)
    assert_same_shape(ours["assets"][0], real["assets"][0])
    assert_same_shape(ours["positions"][0], real["positions"][0])


def test_account_v3_matches_real_account_v3():
    ex = _filled_exchange()
    real = load("binance_api/rest/GET_fapi_v3_account__multi_asset_2024-07-28__ccxt.json")

    ours = ex.account("alice", {}, version=3)

    assert_same_shape(ours, real, ccxt=True)
    assert_same_shape(ours["assets"][0], real["assets"][4], ccxt=True)  # the USDT asset
    assert_same_shape(ours["positions"][0], real["positions"][0], ccxt=True)


def test_balance_matches_real_balance():
    ex = _filled_exchange()
    [real] = load("binance_api/rest/GET_fapi_v2_balance__docs.json")

    [ours] = ex.balance("alice", {}, version=2)

    assert_same_shape(ours, real)


def test_position_risk_v3_matches_real_position_risk_v3():
    ex = _filled_exchange()
    [real] = load("binance_api/rest/GET_fapi_v3_positionRisk__BTCUSDT_2024-07-28__ccxt.json")

    [ours] = ex.position_risk("alice", {}, version=3)

    assert_same_shape(ours, real, ccxt=True)


def test_position_risk_v2_matches_docs_example_plus_documented_v2_fields():
    ex = _filled_exchange()
    [real] = load("binance_api/rest/GET_fapi_v2_positionRisk__one_way__docs.json")

    ours = next(r for r in ex.position_risk("alice", {}, version=2) if r["symbol"] == "BTCUSDT")

    # The docs example predates breakEvenPrice/notional/isolatedWallet (section 7.4 lists them).
    assert_same_shape(ours, real, extra={"breakEvenPrice", "notional", "isolatedWallet"})


def test_commission_rate_matches_real_commission_rate():
    ex, _ = make_exchange()
    real = load("binance_api/rest/GET_fapi_v1_commissionRate__BTCUSDT.json")

    assert_same_shape(ex.commission_rate("alice", {"symbol": "BTCUSDT"}), real)


def test_symbol_config_matches_real_symbol_config():
    ex, _ = make_exchange()
    real = load("binance_api/rest/GET_fapi_v1_symbolConfig__nautilus.json")

    for ours in ex.symbol_config("alice", {}):
        assert_same_shape(ours, real[0])


def test_position_mode_matches_real_position_mode():
    ex, _ = make_exchange()
    real = load("binance_api/rest/GET_fapi_v1_positionSide_dual.json")

    assert_same_shape(ex.get_position_mode("alice", {}), real)


def test_order_trade_update_trade_matches_docs_trade_event():
    ex = _filled_exchange()
    real = load("binance_api/ws_user/ORDER_TRADE_UPDATE__TRADE_partial__docs_derived.json")

    [trade] = [
        e for e in of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE") if e["o"]["x"] == "TRADE"
    ]

    assert_same_shape(trade, real)
    # pm/gtd/er are documented (section 10.3) but newer than this example.
    assert_same_shape(trade["o"], real["o"], extra={"pm", "gtd", "er"})


def test_order_trade_update_new_matches_docs_new_event_without_commission():
    ex = _filled_exchange()
    real = load("binance_api/ws_user/ORDER_TRADE_UPDATE__NEW_trailing_stop__docs.json")

    new = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")[0]

    # n/N are omitted when there is no commission (section 10.3).
    expected = {k: v for k, v in real["o"].items() if k not in ("n", "N")}
    assert_same_shape(new["o"], expected, extra={"pm", "gtd", "er"})


def test_liquidation_event_matches_upstream_liquidation_shape():
    ex, _ = make_exchange(usdt="1000")
    ex.new_order("alice", market("BUY", "0.300"))
    ex.drain_user_events()
    real = load("binance_api/upstream_constructed/ORDER_TRADE_UPDATE__liquidation_CALCULATED.json")

    ex.on_mark_price("BTCUSDT", D("50000.0"), D("50000.0"), D("0"), 0, T0 + 1000)

    fill = of_type(ex.drain_user_events(), "ORDER_TRADE_UPDATE")[-1]
    assert_same_shape(fill["o"], real["o"], extra={"pm", "gtd", "er"})
    for key in ("o", "f", "x", "X", "R", "ot", "m"):
        assert fill["o"][key] == real["o"][key], key


def test_account_update_matches_docs_account_update():
    ex = _filled_exchange()
    real = load("binance_api/ws_user/ACCOUNT_UPDATE__ORDER__docs.json")

    [ours] = of_type(ex.drain_user_events(), "ACCOUNT_UPDATE")

    assert_same_shape(ours, real)
    assert_same_shape(ours["a"], real["a"])
    assert_same_shape(ours["a"]["B"][0], real["a"]["B"][0])
    assert_same_shape(ours["a"]["P"][0], real["a"]["P"][0])


def test_trade_lite_matches_real_trade_lite():
    ex = _filled_exchange()
    real = load("binance_api/ws_user/TRADE_LITE__ETHUSDT_2024-09-30__nautilus.json")

    [ours] = of_type(ex.drain_user_events(), "TRADE_LITE")

    assert_same_shape(ours, real)


def _algo_events():
    ex, _ = make_exchange()
    ex.new_order("alice", market("BUY", "0.100"))
    ex.new_algo_order(
        "alice",
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "61700.0",
            "quantity": "0.100",
        },
    )
    ex.on_trade("BTCUSDT", D("61699.0"), D("0.010"), True, T0 + 1000)
    return {e["o"]["X"]: e for e in of_type(ex.drain_user_events(), "ALGO_UPDATE")}


def test_algo_update_new_matches_docs_algo_update():
    real = load("binance_api/ws_user/ALGO_UPDATE__NEW__BNBUSDT__docs.json")

    ours = _algo_events()["NEW"]

    assert_same_shape(ours, real)
    # `rm` (reject reason) is only sent with a reason.
    assert_same_shape(ours["o"], {k: v for k, v in real["o"].items() if k != "rm"})


def test_algo_update_triggering_triggered_finished_match_real_captures():
    ours = _algo_events()

    for status in ("TRIGGERING", "TRIGGERED", "FINISHED"):
        real = load(
            f"binance_api/ws_user/ALGO_UPDATE__{status}__DOGEUSDT_2025-12-11__nautilus.json"
        )
        assert_same_shape(ours[status], real)
        assert_same_shape(ours[status]["o"], real["o"])


def test_algo_order_response_has_the_documented_fields():
    ex, _ = make_exchange()

    ours = ex.new_algo_order(
        "alice",
        {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "61700.0",
            "quantity": "0.100",
        },
    )

    # Section 6.3 example (illustrative, the documented field list).
    documented = {
        "algoId": 2146760,
        "clientAlgoId": "x",
        "algoType": "CONDITIONAL",
        "orderType": "STOP_MARKET",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": "0.250",
        "algoStatus": "NEW",
        "triggerPrice": "65500.00",
        "price": "0.00",
        "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": "MARK_PRICE",
        "priceMatch": "NONE",
        "closePosition": False,
        "priceProtect": True,
        "reduceOnly": True,
        "activatePrice": "",
        "callbackRate": "",
        "createTime": 1716000002000,
        "updateTime": 1716000002000,
        "triggerTime": 0,
        "goodTillDate": 0,
    }
    assert_same_shape(ours, documented)


def test_order_decimals_are_printed_like_the_real_batch_order_example():
    # Real BTCUSDT order (ccxt capture 2025-02-17): a 0.10 tick with pricePrecision 2 prints
    # "110001.00"; unfilled averages and stop prices "0.00"; cumQuote with 2 + 3 decimals.
    real = load(
        "binance_api/rest/POST_fapi_v1_batchOrders__NEW_LIMIT_BTCUSDT_2025-02-17__ccxt.json"
    )[0]
    ex, _ = make_exchange()
    ours = ex.new_order("alice", limit("SELL", "0.200", "110001.0"))
    for key in ("price", "avgPrice", "origQty", "executedQty", "cumQty", "cumQuote", "stopPrice"):
        assert ours[key] == real[key], key
