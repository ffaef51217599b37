"""WebSocket control frames (reference 8.2) and connection rules (8.3) at the wire level."""

import asyncio
import json

import aiohttp
import pytest
import websockets

from exchange_sim.server import WsConfig


async def _rpc(ws, request: dict) -> dict:
    await ws.send(json.dumps(request))
    return json.loads(await asyncio.wait_for(ws.recv(), 2))


async def test_subscribe_is_acknowledged_and_listed(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws") as ws:
        reply = await _rpc(
            ws, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1}
        )
        listed = await _rpc(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3})

    assert reply == {"result": None, "id": 1}
    assert listed == {"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3}


async def test_unsubscribe_removes_stream_from_list(local_exchange) -> None:
    async with websockets.connect(
        f"{local_exchange.ws_url}/stream?streams=btcusdt@aggTrade/btcusdt@depth"
    ) as ws:
        reply = await _rpc(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 312})
        listed = await _rpc(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 4})

    assert reply == {"result": None, "id": 312}
    assert listed["result"] == ["btcusdt@aggTrade"]


async def test_combined_property_defaults_per_url_form_and_can_be_set(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws") as raw_ws:
        raw_default = await _rpc(
            raw_ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}
        )
        set_reply = await _rpc(
            raw_ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}
        )
        after = await _rpc(raw_ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 6})
    async with websockets.connect(f"{local_exchange.ws_url}/stream") as combined_ws:
        combined_default = await _rpc(
            combined_ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 7}
        )

    assert raw_default == {"result": False, "id": 2}
    assert set_reply == {"result": None, "id": 5}
    assert after == {"result": True, "id": 6}
    assert combined_default == {"result": True, "id": 7}


@pytest.mark.parametrize(
    ("request_text", "code"),
    [
        ('{"method": "SET_PROPERTY", "params": ["colour", true], "id": 1}', 0),
        ('{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}', 1),
        ('{"method": "SUBSCRIBE", "params": [], "id": "x"}', 2),
        ('{"method": "SUBSCRIBE", "params": [], "id": -1}', 2),
        ('{"method": "PUBLISH", "params": [], "id": 1}', 2),
        ('{"params": [], "id": 1}', 2),
        ('{"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 1}', 2),
        ('{"method": "SUBSCRIBE", "params": [', 3),
    ],
)
async def test_bad_control_frames_get_documented_error_codes(
    local_exchange, request_text: str, code: int
) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws") as ws:
        await ws.send(request_text)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert reply["error"]["code"] == code
    assert isinstance(reply["error"]["msg"], str)


async def test_more_than_ten_incoming_messages_per_second_closes_the_socket(
    local_exchange,
) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws") as ws:
        for i in range(12):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(20):
                await asyncio.wait_for(ws.recv(), 2)

    assert ws.close_code == 1008


async def test_server_pings_and_keeps_a_ponging_client(exchange_factory) -> None:
    ex = await exchange_factory(ws_config=WsConfig(ping_interval_s=0.1, pong_timeout_s=0.3))
    pings = 0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{ex.ws_url}/ws", autoping=False) as ws,
    ):
        # Five pings, 0.4 s and more: past the pong timeout, answered each time. Counted, not
        # a fixed 0.8 s window (a busy machine sent 4 in it).
        while pings < 5:
            msg = await ws.receive(timeout=2)
            assert msg.type == aiohttp.WSMsgType.PING
            pings += 1
            await ws.pong(msg.data)
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}))
        msg = await ws.receive(timeout=2)
        while msg.type == aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
            msg = await ws.receive(timeout=2)

    assert pings >= 5
    assert json.loads(msg.data) == {"result": [], "id": 9}


async def test_client_that_never_pongs_is_disconnected(exchange_factory) -> None:
    ex = await exchange_factory(ws_config=WsConfig(ping_interval_s=0.1, pong_timeout_s=0.2))
    kinds = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{ex.ws_url}/ws", autoping=False) as ws,
    ):
        for _ in range(10):
            msg = await ws.receive(timeout=2)
            kinds.append(msg.type)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break

    assert kinds[0] == aiohttp.WSMsgType.PING
    assert kinds[-1] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_unknown_ws_path_is_rejected(local_exchange) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(f"{local_exchange.ws_url}/nowhere"):
            pass

    assert info.value.response.status_code == 404
