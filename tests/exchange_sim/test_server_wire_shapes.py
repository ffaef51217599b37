"""What goes over the wire has the keys and JSON value types of the real Binance examples.

One test per message type, at the HTTP / WebSocket level (the engine and replay owners test
their dict builders; here we check what the server actually sends). The examples are copies of
`/work/shared/data/binance_api/` in `tests/fixtures/binance_api/` (see its README). Where an
example predates a documented field (e.g. `nq`, `ap`, `rpiCommissionRate`) the newer field is
listed as allowed extra; ccxt captures that store integers as strings are compared loosely.
"""

from decimal import Decimal

import aiohttp
import pytest
import websockets

from exchange_sim.engine import EngineConfig
from exchange_sim.server import connected_client
from tests.conftest import load_fixture
from tests.exchange_sim.ws_helpers import events_until_quiet


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


def assert_same_shape(
    ours: object,
    real: object,
    *,
    extra: frozenset = frozenset(),
    missing: frozenset = frozenset(),
    ints_as_str: bool = False,
    path: str = "$",
) -> None:
    """Same keys (recursively) and JSON value types; `extra`/`missing` keys are tolerated."""
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        assert set(ours) - set(real) <= extra, f"{path}: unexpected keys {set(ours) - set(real)}"
        assert set(real) - set(ours) <= missing, f"{path}: missing keys {set(real) - set(ours)}"
        for key in set(ours) & set(real):
            assert_same_shape(
                ours[key],
                real[key],
                extra=extra,
                missing=missing,
                ints_as_str=ints_as_str,
                path=f"{path}.{key}",
            )
    elif isinstance(real, list):
        assert isinstance(ours, list), f"{path}: expected an array, got {ours!r}"
        if real and ours:
            if isinstance(real[0], list | dict):
                assert_same_shape(
                    ours[0],
                    real[0],
                    extra=extra,
                    missing=missing,
                    ints_as_str=ints_as_str,
                    path=f"{path}[0]",
                )
            else:  # a tuple-like array (klines, [price, qty]): every position
                assert [_kind(v) for v in ours] == [_kind(v) for v in real], path
    elif real is None:
        return
    elif ints_as_str and isinstance(real, str) and real.lstrip("-").isdigit():
        assert _kind(ours) in ("int", "str"), f"{path}: {ours!r} vs {real!r}"
    else:
        assert _kind(ours) == _kind(real), f"{path}: {ours!r} ({_kind(ours)}) vs {real!r}"


def rest_fixture(name: str):
    return load_fixture(f"binance_api/rest/{name}")


def ws_fixture(name: str):
    data = load_fixture(f"binance_api/{name}")
    return data.get("data", data) if isinstance(data, dict) and "stream" in data else data


@pytest.fixture
async def ex(exchange_factory):
    exchange = await exchange_factory(
        engine_config=EngineConfig(fill_mode="touch", emit_trade_lite=True)
    )
    await exchange.step(2000)
    return exchange


@pytest.fixture
async def client(ex):
    async with connected_client(ex) as c:
        yield c


@pytest.fixture
async def with_position(client):
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
    return client


# ---- REST -----------------------------------------------------------------------------------


async def test_ping_and_time(client) -> None:
    assert await client.futures_ping() == {}
    assert_same_shape(await client.futures_time(), {"serverTime": 1716000000123})


async def test_exchange_info(client) -> None:
    real = rest_fixture("GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json")

    ours = await client.futures_exchange_info()

    assert_same_shape(ours, real, missing=frozenset())
    assert len(ours["rateLimits"]) == 3


async def test_depth(client) -> None:
    ours = await client.futures_order_book(symbol="BTCUSDT", limit=5)

    assert_same_shape(ours, rest_fixture("GET_fapi_v1_depth__docs.json"))
    assert len(ours["bids"]) == 5


async def test_agg_trades(client) -> None:
    ours = await client.futures_aggregate_trades(symbol="BTCUSDT", limit=3)

    assert_same_shape(ours, rest_fixture("GET_fapi_v1_aggTrades__docs.json"))


async def test_klines(client) -> None:
    ours = await client.futures_klines(symbol="BTCUSDT", interval="1m", limit=3)

    assert_same_shape(ours, rest_fixture("GET_fapi_v1_klines__docs.json"))


async def test_premium_index(client) -> None:
    ours = await client.futures_mark_price(symbol="BTCUSDT")

    assert_same_shape(ours, rest_fixture("GET_fapi_v1_premiumIndex__docs.json"))


async def test_funding_rate_history(exchange_factory) -> None:
    ex = await exchange_factory(data="klines-week", symbols=["BTCUSDT"])
    async with connected_client(ex) as client:
        ours = await client.futures_funding_rate(symbol="BTCUSDT", limit=5)

    assert ours
    assert_same_shape(
        ours, rest_fixture("GET_fapi_v1_fundingRate__docs.json"), extra=frozenset({"markPrice"})
    )


async def test_book_ticker(client) -> None:
    ours = await client.futures_orderbook_ticker(symbol="BTCUSDT")

    assert_same_shape(ours, rest_fixture("GET_fapi_v1_ticker_bookTicker__docs.json"))


async def test_ticker_price_v1_and_v2(ex, client) -> None:
    v2 = await client.futures_symbol_ticker(symbol="BTCUSDT")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{ex.rest_url}/fapi/v1/ticker/price?symbol=BTCUSDT") as resp,
    ):
        v1 = await resp.json()

    real = rest_fixture("GET_fapi_v1_ticker_price__docs.json")
    assert_same_shape(v2, real)
    assert_same_shape(v1, real)


async def test_new_order_response(client) -> None:
    bid = Decimal((await client.futures_orderbook_ticker(symbol="BTCUSDT"))["bidPrice"])

    ours = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=str(bid - 100),
    )

    real = rest_fixture("POST_fapi_v1_batchOrders__NEW_LIMIT_BTCUSDT_2025-02-17__ccxt.json")[0]
    assert_same_shape(ours, real)


async def test_batch_orders_response(client) -> None:
    bid = Decimal((await client.futures_orderbook_ticker(symbol="BTCUSDT"))["bidPrice"])
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": str(bid - 100),
    }

    ours = await client.futures_place_batch_order(batchOrders=[order])

    assert_same_shape(
        ours, rest_fixture("POST_fapi_v1_batchOrders__NEW_LIMIT_BTCUSDT_2025-02-17__ccxt.json")
    )


async def test_query_order_response(client) -> None:
    bid = Decimal((await client.futures_orderbook_ticker(symbol="BTCUSDT"))["bidPrice"])
    placed = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity="0.010",
        price=str(bid - 100),
    )

    ours = await client.futures_get_order(symbol="BTCUSDT", orderId=placed["orderId"])

    real = rest_fixture("GET_fapi_v1_openOrder__LTCUSDT_GTX_2024-02-14__ccxt.json")
    assert_same_shape(ours, real, ints_as_str=True)


async def test_open_orders_response(client) -> None:
    bid = Decimal((await client.futures_orderbook_ticker(symbol="BTCUSDT"))["bidPrice"])
    await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=str(bid - 100),
    )

    ours = await client.futures_get_open_orders(symbol="BTCUSDT")

    # the docs example is a legacy trailing stop: it has its activation fields and predates
    # priceMatch / selfTradePreventionMode / goodTillDate
    assert_same_shape(
        ours,
        rest_fixture("GET_fapi_v1_openOrders__docs.json"),
        extra=frozenset({"priceMatch", "selfTradePreventionMode", "goodTillDate"}),
        missing=frozenset({"activatePrice", "priceRate"}),
    )


async def test_user_trades(with_position) -> None:
    ours = await with_position.futures_account_trades(symbol="BTCUSDT")

    assert ours
    assert_same_shape(
        ours,
        rest_fixture("GET_fapi_v1_userTrades__BTCUSDT_2023-11-14__ccxt.json"),
        ints_as_str=True,
    )


async def test_account_v2(with_position) -> None:
    ours = await with_position.futures_account()

    assert_same_shape(ours, rest_fixture("GET_fapi_v2_account__nautilus.json"))


async def test_account_v3(with_position) -> None:
    ours = await with_position.futures_account(version=3)

    assert_same_shape(
        ours,
        rest_fixture("GET_fapi_v3_account__multi_asset_2024-07-28__ccxt.json"),
        ints_as_str=True,
    )


async def test_balance_v2_and_v3(ex, client) -> None:
    v3 = await client.futures_account_balance()
    v2 = await client.futures_account_balance(version=2)

    real = rest_fixture("GET_fapi_v2_balance__docs.json")
    assert_same_shape(v3, real)
    assert_same_shape(v2, real)


async def test_position_risk_v2(with_position) -> None:
    ours = await with_position.futures_position_information(symbol="BTCUSDT", version=2)

    assert_same_shape(
        ours,
        rest_fixture("GET_fapi_v2_positionRisk__one_way__docs.json"),
        extra=frozenset({"breakEvenPrice", "notional", "isolatedWallet"}),
    )


async def test_position_risk_v3(with_position) -> None:
    ours = await with_position.futures_position_information(symbol="BTCUSDT")

    assert_same_shape(
        ours,
        rest_fixture("GET_fapi_v3_positionRisk__BTCUSDT_2024-07-28__ccxt.json"),
        ints_as_str=True,
    )


async def test_position_mode_symbol_config_commission(client) -> None:
    mode = await client.futures_get_position_mode()
    config = await client.futures_symbol_config(symbol="BTCUSDT")
    rate = await client.futures_commission_rate(symbol="BTCUSDT")

    assert_same_shape(mode, rest_fixture("GET_fapi_v1_positionSide_dual.json"))
    assert_same_shape(config, rest_fixture("GET_fapi_v1_symbolConfig__nautilus.json"))
    assert_same_shape(
        rate,
        rest_fixture("GET_fapi_v1_commissionRate__BTCUSDT.json"),
        extra=frozenset({"rpiCommissionRate"}),
    )


async def test_listen_key(client) -> None:
    key = await client.futures_stream_get_listen_key()

    assert_same_shape(
        {"listenKey": key}, rest_fixture("POST_fapi_v1_listenKey__shape_from_spot_docs.json")
    )
    assert len(key) == 64


async def test_error_body_and_headers(ex) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{ex.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=3") as resp,
    ):
        status, headers, body = resp.status, resp.headers, await resp.json()

    assert status == 400
    assert body == {"code": -4021, "msg": "Invalid depth limit."}
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-MBX-USED-WEIGHT-1M"].isdigit()


# ---- WebSocket ------------------------------------------------------------------------------


async def _stream_message(ex, stream: str, step_ms: int = 3000) -> dict:
    async with websockets.connect(f"{ex.ws_url}/stream?streams={stream}") as ws:
        await ex.step(step_ms)
        frames = await events_until_quiet(ws)
    assert frames, stream
    assert all(f["stream"] == stream for f in frames)
    return frames[0]["data"]


async def test_agg_trade_event(ex) -> None:
    ours = await _stream_message(ex, "btcusdt@aggTrade")

    real = ws_fixture("ws_market/futures_aggTrade__CTKUSDT_2021-07-22__cryptofeed.json")
    assert_same_shape(ours, real, extra=frozenset({"nq"}))


async def test_book_ticker_event(ex) -> None:
    ours = await _stream_message(ex, "btcusdt@bookTicker")

    assert_same_shape(
        ours, ws_fixture("ws_market/futures_bookTicker__BTCUSDT_2024-08-08__hftbacktest.json")
    )


async def test_depth_update_event(ex) -> None:
    ours = await _stream_message(ex, "btcusdt@depth@100ms")

    assert_same_shape(
        ours, ws_fixture("ws_market/futures_depthUpdate_0ms__BTCUSDT_2024-08-08__hftbacktest.json")
    )


async def test_kline_event(ex) -> None:
    ours = await _stream_message(ex, "btcusdt@kline_1m")

    assert_same_shape(
        ours, ws_fixture("ws_market/futures_kline_1m__open__CTKUSDT_2021-07-22__cryptofeed.json")
    )


async def test_mark_price_event(ex) -> None:
    ours = await _stream_message(ex, "btcusdt@markPrice@1s")

    real = ws_fixture("ws_market/futures_markPriceUpdate_1s__BTCUSDT_2023-04-04__hftbacktest.json")
    assert_same_shape(ours, real, extra=frozenset({"ap"}))


async def _user_events(ex, client, action) -> list[dict]:
    key = await client.futures_stream_get_listen_key()
    async with websockets.connect(f"{ex.ws_url}/ws/{key}") as ws:
        await action()
        return await events_until_quiet(ws)


async def test_order_trade_update_event(ex, client) -> None:
    async def buy() -> None:
        await client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )

    events = await _user_events(ex, client, buy)

    fill = next(e for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE")
    real = ws_fixture("ws_user/ORDER_TRADE_UPDATE__TRADE_partial__docs_derived.json")
    # AP/cr are trailing-stop only; pm/gtd (2023) and er (2025-10) are newer than the example
    assert_same_shape(
        fill, real, extra=frozenset({"pm", "gtd", "er"}), missing=frozenset({"AP", "cr"})
    )


async def test_account_update_event(ex, client) -> None:
    async def buy() -> None:
        await client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )

    events = await _user_events(ex, client, buy)

    update = next(e for e in events if e["e"] == "ACCOUNT_UPDATE")
    assert_same_shape(update, ws_fixture("ws_user/ACCOUNT_UPDATE__ORDER__docs.json"))


async def test_trade_lite_event(ex, client) -> None:
    async def buy() -> None:
        await client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )

    events = await _user_events(ex, client, buy)

    lite = next(e for e in events if e["e"] == "TRADE_LITE")
    assert_same_shape(lite, ws_fixture("ws_user/TRADE_LITE__ETHUSDT_2024-09-30__nautilus.json"))


async def test_algo_update_event(ex, client) -> None:
    last = Decimal((await client.futures_symbol_ticker(symbol="BTCUSDT"))["price"])

    async def stop_and_run() -> None:
        await client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="STOP_MARKET",
            quantity="0.010",
            stopPrice=str(last + Decimal("0.1")),
        )
        await ex.step(120_000)

    events = await _user_events(ex, client, stop_and_run)

    triggered = next(e for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "TRIGGERED")
    real = ws_fixture("ws_user/ALGO_UPDATE__TRIGGERED__DOGEUSDT_2025-12-11__nautilus.json")
    assert_same_shape(triggered, real, extra=frozenset({"rm"}))


async def test_listen_key_expired_event(ex, client) -> None:
    async def expire() -> None:
        ex.faults.expire_listen_key()

    events = await _user_events(ex, client, expire)

    # reference section 10.6 (current docs): {"e", "E", "listenKey"}
    assert_same_shape(
        events, [{"e": "listenKeyExpired", "E": 1716003600000, "listenKey": "k" * 64}]
    )


# ---- endpoints without a captured example: the protocol reference's documented examples ----

REFERENCE_ALGO_ORDER = {  # reference 6.3
    "algoId": 2146760, "clientAlgoId": "x-Cb7ytekJ77aa11bb22cc33dd44ee55",
    "algoType": "CONDITIONAL", "orderType": "STOP_MARKET", "symbol": "BTCUSDT", "side": "SELL",
    "positionSide": "BOTH", "timeInForce": "GTC", "quantity": "0.250", "algoStatus": "NEW",
    "triggerPrice": "65500.00", "price": "0.00", "icebergQuantity": None,
    "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "MARK_PRICE", "priceMatch": "NONE",
    "closePosition": False, "priceProtect": True, "reduceOnly": True, "activatePrice": "",
    "callbackRate": "", "createTime": 1716000002000, "updateTime": 1716000002000,
    "triggerTime": 0, "goodTillDate": 0,
}  # fmt: skip
ALGO_QUERY_EXTRA = frozenset(
    {"actualOrderId", "actualPrice", "tpTriggerPrice", "tpPrice", "slTriggerPrice", "slPrice",
     "tpOrderType"}
)  # fmt: skip


@pytest.fixture
async def algo(with_position):
    last = Decimal((await with_position.futures_symbol_ticker(symbol="BTCUSDT"))["price"])
    return await with_position.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        quantity="0.010",
        stopPrice=str(last - 1000),
        reduceOnly="true",
    )


async def test_algo_order_placement(algo) -> None:
    assert_same_shape(algo, REFERENCE_ALGO_ORDER)


async def test_algo_order_queries(with_position, algo) -> None:
    one = await with_position.futures_get_order(algoId=algo["algoId"], conditional=True)
    open_ = await with_position.futures_get_open_orders(symbol="BTCUSDT", conditional=True)
    all_ = await with_position.futures_get_all_orders(symbol="BTCUSDT", conditional=True)

    for body in (one, open_, all_):
        expected = REFERENCE_ALGO_ORDER if isinstance(body, dict) else [REFERENCE_ALGO_ORDER]
        assert_same_shape(body, expected, extra=ALGO_QUERY_EXTRA)


async def test_algo_order_cancels(with_position, algo) -> None:
    one = await with_position.futures_cancel_order(algoId=algo["algoId"], conditional=True)
    everything = await with_position.futures_cancel_all_open_orders(
        symbol="BTCUSDT", conditional=True
    )

    assert_same_shape(one, {"algoId": 1, "clientAlgoId": "x", "code": "200", "msg": "success"})
    assert everything == {"code": 200, "msg": "The operation of cancel all open order is done."}


async def test_leverage_margin_type_and_countdown(client) -> None:
    leverage = await client.futures_change_leverage(symbol="BTCUSDT", leverage=10)
    margin = await client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
    countdown = await client.futures_countdown_cancel_all(symbol="BTCUSDT", countdownTime=120000)

    assert_same_shape(  # reference 7.5, 6.8
        leverage, {"leverage": 10, "maxNotionalValue": "230000000", "symbol": "BTCUSDT"}
    )
    assert margin == {"code": 200, "msg": "success"}
    assert countdown == {"symbol": "BTCUSDT", "countdownTime": "120000"}


async def test_income_leverage_bracket_account_config(with_position) -> None:
    income = await with_position.futures_income_history(symbol="BTCUSDT")
    brackets = await with_position.futures_leverage_bracket()
    config = await with_position.futures_account_config()

    assert_same_shape(  # reference 7.8
        income,
        [{"symbol": "BTCUSDT", "incomeType": "COMMISSION", "income": "-5.02500000",
          "asset": "USDT", "info": "COMMISSION", "time": 1716000001450, "tranId": 91837465012,
          "tradeId": "5012349001"}],
    )  # fmt: skip
    assert_same_shape(  # reference 7.6: numbers, not strings
        brackets,
        [{"symbol": "BTCUSDT", "brackets": [
            {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
             "maintMarginRatio": 0.004, "cum": 0.0}]}],
    )  # fmt: skip
    assert_same_shape(  # reference 7.5
        config,
        {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
         "dualSidePosition": False, "updateTime": 0, "multiAssetsMargin": False,
         "tradeGroupId": -1},
    )  # fmt: skip


async def test_ticker_24hr(client) -> None:
    one = await client.futures_ticker(symbol="BTCUSDT")
    every = await client.futures_ticker()

    real = rest_fixture("GET_fapi_v1_ticker_24hr__docs.json")
    assert_same_shape(one, real)
    assert_same_shape(every, [real])
    assert Decimal(one["lowPrice"]) <= Decimal(one["lastPrice"]) <= Decimal(one["highPrice"])
