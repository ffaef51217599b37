"""Trading through python-binance AsyncClient against the local exchange, with the user stream
read by the `websockets` library on `/private/ws?listenKey=` (what python-binance 1.0.37 uses).
"""

import asyncio
from decimal import Decimal

import pytest
import websockets
from binance.exceptions import BinanceAPIException

from exchange_sim.engine import EngineConfig
from exchange_sim.server import connected_client, make_socket_manager
from tests.exchange_sim.ws_helpers import events_until_quiet


@pytest.fixture
async def touch_exchange(exchange_factory):
    """Stepped exchange whose resting orders also fill on trades AT their price (more fills)."""
    ex = await exchange_factory(engine_config=EngineConfig(fill_mode="touch"))
    await ex.step(1000)
    return ex


@pytest.fixture
async def client(touch_exchange):
    async with connected_client(touch_exchange) as c:
        yield c


@pytest.fixture
async def user_ws(touch_exchange, client):
    key = await client.futures_stream_get_listen_key()
    async with websockets.connect(f"{touch_exchange.ws_url}/private/ws?listenKey={key}") as ws:
        yield ws


async def _touch(client) -> dict:
    return await client.futures_orderbook_ticker(symbol="BTCUSDT")


async def test_limit_order_rests_is_queried_and_cancelled(client) -> None:
    bid = Decimal((await _touch(client))["bidPrice"])
    placed = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=str(bid - 500),
    )

    queried = await client.futures_get_order(symbol="BTCUSDT", orderId=placed["orderId"])
    open_orders = await client.futures_get_open_orders(symbol="BTCUSDT")
    cancelled = await client.futures_cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])

    assert placed["status"] == "NEW"
    assert queried["clientOrderId"] == placed["clientOrderId"]
    assert [o["orderId"] for o in open_orders] == [placed["orderId"]]
    assert cancelled["status"] == "CANCELED"


async def test_market_order_fill_arrives_on_user_stream(client, user_ws) -> None:
    ack = await client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
    )

    events = await events_until_quiet(user_ws)

    fills = [e for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert ack["status"] == "NEW"
    assert fills[-1]["o"]["X"] == "FILLED"
    assert fills[-1]["o"]["i"] == ack["orderId"]
    assert any(e["e"] == "ACCOUNT_UPDATE" for e in events)


async def test_resting_limit_order_shows_partial_fills_on_user_stream(
    touch_exchange, client, user_ws
) -> None:
    await client.futures_change_leverage(symbol="BTCUSDT", leverage=100)
    bid = (await _touch(client))["bidPrice"]
    placed = await client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="3.000", price=bid
    )

    await touch_exchange.step(60_000)
    events = await events_until_quiet(user_ws)

    statuses = [
        e["o"]["X"]
        for e in events
        if e["e"] == "ORDER_TRADE_UPDATE"
        and e["o"]["i"] == placed["orderId"]
        and e["o"]["x"] == "TRADE"
    ]
    assert "PARTIALLY_FILLED" in statuses
    assert statuses[-1] == "FILLED"


async def test_post_only_order_that_would_cross_is_rejected_5022(client) -> None:
    ask = (await _touch(client))["askPrice"]

    with pytest.raises(BinanceAPIException) as info:
        await client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTX",
            quantity="0.010",
            price=ask,
        )

    assert info.value.code == -5022


async def test_post_only_order_below_the_touch_rests(client) -> None:
    bid = (await _touch(client))["bidPrice"]

    placed = await client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.010", price=bid
    )

    assert placed["status"] == "NEW"
    assert placed["timeInForce"] == "GTX"


async def test_ioc_order_result_is_terminal(client) -> None:
    ask = Decimal((await _touch(client))["askPrice"])

    result = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="IOC",
        quantity="0.010",
        price=str(ask),
        newOrderRespType="RESULT",
    )

    assert result["status"] in ("FILLED", "EXPIRED")
    assert result["timeInForce"] == "IOC"


async def test_fok_order_that_cannot_fill_is_rejected_5021(client) -> None:
    ask = Decimal((await _touch(client))["askPrice"])

    with pytest.raises(BinanceAPIException) as info:
        await client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="FOK",
            quantity="0.010",
            price=str(ask - 100),
        )

    assert info.value.code == -5021


async def test_reduce_only_without_position_is_rejected_2022(client) -> None:
    with pytest.raises(BinanceAPIException) as info:
        await client.futures_create_order(
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.010", reduceOnly="true"
        )

    assert info.value.code == -2022


async def test_reduce_only_order_closes_an_open_position(client) -> None:
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")

    await client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.010", reduceOnly="true"
    )
    positions = await client.futures_position_information(symbol="BTCUSDT")

    assert all(Decimal(p["positionAmt"]) == 0 for p in positions)


@pytest.mark.parametrize(
    ("order_type", "offset"), [("STOP_MARKET", -2000), ("TAKE_PROFIT_MARKET", 2000)]
)
async def test_conditional_orders_go_to_algo_endpoint_and_can_be_cancelled(
    client, order_type: str, offset: int
) -> None:
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
    last = Decimal((await client.futures_symbol_ticker(symbol="BTCUSDT"))["price"])

    algo = await client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type=order_type,
        quantity="0.010",
        stopPrice=str(last + offset),
        reduceOnly="true",
    )
    listed = await client.futures_get_open_orders(symbol="BTCUSDT", conditional=True)
    cancelled = await client.futures_cancel_order(algoId=algo["algoId"], conditional=True)

    assert algo["algoStatus"] == "NEW"
    assert algo["orderType"] == order_type
    assert [a["algoId"] for a in listed] == [algo["algoId"]]
    assert cancelled["algoId"] == algo["algoId"]


async def test_stop_market_triggers_and_reports_algo_update(
    touch_exchange, client, user_ws
) -> None:
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
    last = Decimal((await client.futures_symbol_ticker(symbol="BTCUSDT"))["price"])
    algo = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="STOP_MARKET",
        quantity="0.010",
        stopPrice=str(last + Decimal("0.1")),
        workingType="CONTRACT_PRICE",
    )

    await touch_exchange.step(120_000)
    events = await events_until_quiet(user_ws)

    algo_states = [
        e["o"]["X"] for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["aid"] == algo["algoId"]
    ]
    assert "TRIGGERED" in algo_states


async def test_batch_orders_answer_per_element(client) -> None:
    bid = Decimal((await _touch(client))["bidPrice"])
    orders = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - 300),
        },
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.010",
            "reduceOnly": "true",
        },
    ]

    results = await client.futures_place_batch_order(batchOrders=orders)

    assert results[0]["status"] == "NEW"
    assert results[1]["code"] == -2022


async def test_cancel_all_open_orders_answers_code_200(client) -> None:
    bid = Decimal((await _touch(client))["bidPrice"])
    await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=str(bid - 300),
    )

    reply = await client.futures_cancel_all_open_orders(symbol="BTCUSDT")
    remaining = await client.futures_get_open_orders(symbol="BTCUSDT")

    assert reply["code"] == 200
    assert remaining == []


async def test_order_placement_carries_order_count_headers(client) -> None:
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")

    headers = client.response.headers

    assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert headers["X-MBX-ORDER-COUNT-1M"] == "1"
    assert "X-MBX-USED-WEIGHT-1M" in headers


async def test_python_binance_socket_manager_streams_market_and_user_data(
    touch_exchange, client
) -> None:
    manager = make_socket_manager(client, touch_exchange)

    async with manager.aggtrade_futures_socket("BTCUSDT") as market:
        await touch_exchange.step(2000)
        agg = await asyncio.wait_for(market.recv(), 3)
    async with manager.futures_user_socket() as user:
        await client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )
        event = await asyncio.wait_for(user.recv(), 3)

    assert agg["stream"] == "btcusdt@aggTrade"
    assert event["e"] == "ORDER_TRADE_UPDATE"


async def test_helper_client_points_only_at_loopback(touch_exchange, client) -> None:
    urls = [v for k, v in vars(client).items() if k.endswith("_URL") and isinstance(v, str)]
    urls += [client.ws_api._url, client.ws_future._url]

    assert urls
    assert all(u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")) for u in urls)
