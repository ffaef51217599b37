"""Stream and order faults: each one does what `exchange_sim.server.faults` says."""

import asyncio
import json
import time

import aiohttp
import pytest
import websockets
from binance.exceptions import BinanceAPIException

from exchange_sim.server import connected_client
from tests.exchange_sim.ws_helpers import frames_until_quiet


async def test_drop_websockets_closes_every_socket_abnormally(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        dropped = local_exchange.faults.drop_websockets()
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)

    assert dropped == 1
    assert ws.close_code == 1006


async def test_reconnects_are_refused_for_the_given_time(local_exchange) -> None:
    local_exchange.faults.drop_websockets(refuse_s=0.5)

    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade")
    await asyncio.sleep(0.6)
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        await local_exchange.step(2000)
        after = await frames_until_quiet(ws)

    assert info.value.response.status_code == 503
    assert after


async def test_silenced_stream_stays_connected_but_quiet(local_exchange) -> None:
    url = f"{local_exchange.ws_url}/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
    async with websockets.connect(url) as ws:
        local_exchange.faults.silence(stream="btcusdt@aggTrade")
        await local_exchange.step(2000)
        during = [json.loads(f)["stream"] for f in await frames_until_quiet(ws)]
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert during
    assert "btcusdt@aggTrade" not in during
    assert reply["id"] == 1


async def test_silence_ends_after_its_duration(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        local_exchange.faults.silence(seconds=0.2)
        await local_exchange.step(2000)
        during = await frames_until_quiet(ws)
        await asyncio.sleep(0.25)
        await local_exchange.step(2000)
        after = await frames_until_quiet(ws)

    assert during == []
    assert after


async def test_malformed_frames_are_invalid_json_then_normal_again(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        local_exchange.faults.malformed_frames(2)
        await local_exchange.step(3000)
        frames = await frames_until_quiet(ws)

    def parses(frame: str) -> bool:
        try:
            json.loads(frame)
        except ValueError:
            return False
        return True

    assert [parses(f) for f in frames[:3]] == [False, False, True]


async def test_duplicated_frames_repeat_the_same_event(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        local_exchange.faults.duplicate_frames(1)
        await local_exchange.step(3000)
        frames = await frames_until_quiet(ws)

    assert frames[0] == frames[1]
    assert frames[1] != frames[2]


async def test_ws_latency_delays_delivery(local_exchange) -> None:
    url = f"{local_exchange.ws_url}/ws/btcusdt@aggTrade"
    async with websockets.connect(url, max_queue=None) as ws:  # unread frames don't block close
        local_exchange.faults.latency(ws_s=0.4)
        await local_exchange.step(2000)
        started = time.monotonic()
        await asyncio.wait_for(ws.recv(), 2)
        waited = time.monotonic() - started

    assert waited >= 0.35


async def test_forced_listen_key_expiry_pushes_event_then_keepalive_fails(
    local_exchange, binance_client
) -> None:
    key = await binance_client.futures_stream_get_listen_key()
    async with websockets.connect(f"{local_exchange.ws_url}/ws/{key}") as ws:
        local_exchange.faults.expire_listen_key(key)
        expired = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await binance_client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )
        after = await frames_until_quiet(ws)
        with pytest.raises(BinanceAPIException) as info:
            await binance_client.futures_stream_keepalive(key)

    assert expired["e"] == "listenKeyExpired"
    assert expired["listenKey"] == key
    assert isinstance(expired["E"], int)
    assert after == []
    assert info.value.code == -1125


async def test_listen_key_lapses_after_its_validity(exchange_factory) -> None:
    ex = await exchange_factory()
    ex.listen_keys.validity_ms = 1000
    async with connected_client(ex) as client:
        key = await client.futures_stream_get_listen_key()
        async with websockets.connect(f"{ex.ws_url}/private/ws/{key}") as ws:
            await ex.step(1500)
            expired = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert expired["e"] == "listenKeyExpired"


async def test_reorder_sends_account_update_before_order_update(
    local_exchange, binance_client
) -> None:
    key = await binance_client.futures_stream_get_listen_key()
    async with websockets.connect(f"{local_exchange.ws_url}/private/ws?listenKey={key}") as ws:
        await local_exchange.step(1000)
        local_exchange.faults.reorder_user_events(True)
        await binance_client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )
        kinds = [json.loads(f)["e"] for f in await frames_until_quiet(ws)]

    assert kinds.index("ACCOUNT_UPDATE") < max(
        i for i, k in enumerate(kinds) if k == "ORDER_TRADE_UPDATE"
    )


async def test_unknown_after_executes_the_order_but_answers_503(
    local_exchange, binance_client
) -> None:
    await local_exchange.step(1000)
    local_exchange.faults.order_failure("unknown_after")

    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId="fault-after-1",
        )
    found = await binance_client.futures_get_order(
        symbol="BTCUSDT", origClientOrderId="fault-after-1"
    )

    assert info.value.status_code == 503
    assert info.value.message == "Unknown error, please check your request or try again later."
    assert found["clientOrderId"] == "fault-after-1"


async def test_unavailable_before_executes_nothing(local_exchange, binance_client) -> None:
    await local_exchange.step(1000)
    local_exchange.faults.order_failure("unavailable_before")

    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId="fault-before-1",
        )
    with pytest.raises(BinanceAPIException) as lookup:
        await binance_client.futures_get_order(symbol="BTCUSDT", origClientOrderId="fault-before-1")

    assert (info.value.status_code, info.value.message) == (503, "Service Unavailable.")
    assert lookup.value.code == -2013


@pytest.mark.parametrize(("mode", "executed"), [("hangup_after", True), ("hangup_before", False)])
async def test_hangup_closes_the_connection_without_an_answer(
    local_exchange, binance_client, mode: str, executed: bool
) -> None:
    await local_exchange.step(1000)
    local_exchange.faults.order_failure(mode)
    client_id = f"fault-{mode}"

    with pytest.raises(aiohttp.ClientError):
        await binance_client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId=client_id,
        )
    orders = await binance_client.futures_get_all_orders(symbol="BTCUSDT")

    assert (client_id in [o["clientOrderId"] for o in orders]) is executed


async def test_order_rejection_refuses_the_next_orders_with_the_code_and_executes_nothing(
    local_exchange, binance_client
) -> None:
    await local_exchange.step(1000)
    local_exchange.faults.order_rejection(-4131, count=1)

    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId="refused-1",
        )
    with pytest.raises(BinanceAPIException) as lookup:
        await binance_client.futures_get_order(symbol="BTCUSDT", origClientOrderId="refused-1")
    second = await binance_client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
    )

    assert (info.value.status_code, info.value.code, info.value.message) == (
        400,
        -4131,
        "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
    )
    assert lookup.value.code == -2013
    assert second["status"] == "NEW"
    assert not local_exchange.faults.rest_active


async def test_order_failure_count_limits_the_fault(local_exchange, binance_client) -> None:
    await local_exchange.step(1000)
    local_exchange.faults.order_failure("unavailable_before", count=1)

    with pytest.raises(BinanceAPIException):
        await binance_client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )
    second = await binance_client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
    )

    assert second["status"] == "NEW"
