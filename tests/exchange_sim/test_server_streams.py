"""Market streams over real WebSocket connections: URL routing, envelopes, REST consistency."""

import asyncio
import itertools
import json
import time

import aiohttp
import pytest
import websockets

from exchange_sim.server import WsConfig, connected_client
from tests.exchange_sim.ws_helpers import frames_until_quiet


async def test_raw_ws_path_delivers_bare_events(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        await local_exchange.step(2000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert frames
    assert {f["e"] for f in frames} == {"aggTrade"}


async def test_combined_stream_wraps_events_in_envelope(local_exchange) -> None:
    url = f"{local_exchange.ws_url}/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s"
    async with websockets.connect(url) as ws:
        await local_exchange.step(3000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert {f["stream"] for f in frames} == {"btcusdt@aggTrade", "btcusdt@markPrice@1s"}
    assert all(set(f) == {"stream", "data"} for f in frames)


async def test_set_property_combined_switches_to_envelope(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@bookTicker") as ws:
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 1}))
        assert json.loads(await ws.recv()) == {"result": None, "id": 1}
        await local_exchange.step(500)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert frames
    assert all(f["stream"] == "btcusdt@bookTicker" for f in frames)


async def test_live_subscribe_starts_delivery(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws") as ws:
        await local_exchange.step(1000)
        before = await frames_until_quiet(ws, 0.1)
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}))
        assert json.loads(await ws.recv()) == {"result": None, "id": 1}
        await local_exchange.step(2000)
        after = await frames_until_quiet(ws)

    assert before == []
    assert after


async def test_routed_path_stays_silent_for_another_group(local_exchange) -> None:
    url = f"{local_exchange.ws_url}/public/ws/btcusdt@aggTrade/btcusdt@bookTicker"
    async with websockets.connect(url) as ws:
        await local_exchange.step(2000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert frames
    assert {f["e"] for f in frames} == {"bookTicker"}


async def test_post_split_legacy_path_only_carries_public_streams(exchange_factory) -> None:
    ex = await exchange_factory(ws_config=WsConfig(post_split=True))
    url = f"{ex.ws_url}/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
    async with websockets.connect(url) as ws:
        await ex.step(2000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert {f["stream"] for f in frames} == {"btcusdt@bookTicker"}


async def test_rest_agg_trades_from_id_returns_exactly_what_the_stream_sent(
    local_exchange, binance_client
) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        await local_exchange.step(5000)
        streamed = [json.loads(f) for f in await frames_until_quiet(ws)]
    first_id = streamed[0]["a"]

    rest = await binance_client.futures_aggregate_trades(
        symbol="BTCUSDT", fromId=first_id, limit=len(streamed)
    )

    stream_keys = ("a", "p", "q", "f", "l", "T", "m")
    assert rest == [{k: m[k] for k in stream_keys} for m in streamed]
    assert [m["a"] for m in streamed] == local_exchange.published_agg_ids("BTCUSDT")[
        -len(streamed) :
    ]


async def test_kline_stream_closes_each_minute_with_x_true(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@kline_1m") as ws:
        await local_exchange.step(70_000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    closed = [f for f in frames if f["k"]["x"]]
    assert len(closed) >= 1
    assert all(f["k"]["T"] - f["k"]["t"] == 59_999 for f in closed)


async def test_mark_price_3s_stream_is_sparser_than_1s(local_exchange) -> None:
    url = f"{local_exchange.ws_url}/stream?streams=btcusdt@markPrice/btcusdt@markPrice@1s"
    async with websockets.connect(url) as ws:
        await local_exchange.step(9000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    slow = [f for f in frames if f["stream"] == "btcusdt@markPrice"]
    fast = [f for f in frames if f["stream"] == "btcusdt@markPrice@1s"]
    assert 2 <= len(slow) <= 4
    assert len(fast) >= 8


@pytest.mark.parametrize("speed", [50.0, "max"])
async def test_accelerated_replay_streams_without_stepping(exchange_factory, speed) -> None:
    ex = await exchange_factory(speed=speed)
    # max_queue=None: a client that stops reading a max-speed flood would otherwise wait its
    # close timeout for the server's close frame queued behind the unread data
    async with websockets.connect(f"{ex.ws_url}/ws/btcusdt@aggTrade", max_queue=None) as ws:
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(20)]

    ids = [f["a"] for f in frames]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20


async def test_partial_depth_stream_sends_top_levels_snapshot(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@depth5@100ms") as ws:
        await local_exchange.step(2000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    assert frames
    assert all(len(f["b"]) == 5 and len(f["a"]) == 5 for f in frames)
    best_bid, best_ask = float(frames[-1]["b"][0][0]), float(frames[-1]["a"][0][0])
    assert best_bid < best_ask


async def test_diff_depth_events_continue_the_rest_snapshot(local_exchange, binance_client) -> None:
    snapshot = await binance_client.futures_order_book(symbol="BTCUSDT", limit=1000)
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@depth") as ws:
        await local_exchange.step(3000)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    # futures ids are not contiguous: continuity is `pu` == the previous `u` (reference 9)
    assert frames[0]["pu"] == snapshot["lastUpdateId"]
    assert all(b["pu"] == a["u"] for a, b in itertools.pairwise(frames))


async def test_deleting_the_listen_key_closes_the_user_stream(
    local_exchange, binance_client
) -> None:
    key = await binance_client.futures_stream_get_listen_key()
    async with websockets.connect(f"{local_exchange.ws_url}/private/ws/{key}") as ws:
        await binance_client.futures_stream_close(key)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)


async def test_streamed_kline_updates_equal_the_rest_klines(local_exchange, binance_client) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@kline_1m") as ws:
        await local_exchange.step(90_000)
        frames = [json.loads(f)["k"] for f in await frames_until_quiet(ws)]
    rest = await binance_client.futures_klines(symbol="BTCUSDT", interval="1m", limit=5)
    by_open = {row[0]: row for row in rest}

    def as_rest(k: dict) -> list:
        return [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"],
                k["Q"], "0"]  # fmt: skip

    closed = [k for k in frames if k["x"]]
    assert closed
    assert all(as_rest(k) == by_open[k["t"]] for k in closed)


@pytest.mark.parametrize("step_ms", [1_000, 45_000, 130_000])
async def test_incremental_1m_kline_equals_the_kline_store(local_exchange, step_ms) -> None:
    await local_exchange.step(step_ms)
    driver = local_exchange.driver

    live = driver.live_minutes["BTCUSDT"].row()
    stored = local_exchange.kline_store.current(
        "BTCUSDT", "1m", now_ms=driver.kline_now_ms("BTCUSDT")
    )

    assert live == stored


@pytest.mark.parametrize("speed", [1.0, 20.0])
async def test_live_replay_keeps_one_clock_for_events_and_signed_requests(
    exchange_factory, speed
) -> None:
    ex = await exchange_factory(speed=speed)
    async with connected_client(ex) as client:
        async with websockets.connect(f"{ex.ws_url}/ws/btcusdt@aggTrade") as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        asked_ms = time.time() * 1000
        server_time = (await client.futures_time())["serverTime"]
        answered_ms = time.time() * 1000  # read here, not after the sleep and the next request
        await asyncio.sleep(0.5)
        balance = await client.futures_account_balance()  # signed: passes recvWindow

    assert asked_ms - 1000 < server_time < answered_ms + 1000
    assert server_time - 61_000 <= event["E"] <= server_time + 1000
    assert balance[0]["asset"] == "USDT"


async def test_private_events_filter_delivers_only_the_named_event_types(
    local_exchange, binance_client
) -> None:
    key = await binance_client.futures_stream_get_listen_key()
    url = f"{local_exchange.ws_url}/private/ws?listenKey={key}&events=ACCOUNT_UPDATE"
    async with websockets.connect(url) as ws:
        await local_exchange.step(1000)
        await binance_client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
        )
        kinds = {json.loads(f)["e"] for f in await frames_until_quiet(ws)}

    assert kinds == {"ACCOUNT_UPDATE"}


async def test_a_huge_replay_speed_leaves_the_rest_server_answering(exchange_factory) -> None:
    """At speed 1e12 the whole replay (and its endless synthesized continuation) is due at
    once; it was published in one call that never returned, so no request was ever answered
    (`python app.py` with `[local] speed = 1e12` hung at start)."""
    ex = await exchange_factory(speed=1e12)

    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(5):
            answers = []
            for _ in range(3):
                async with http.get(f"{ex.rest_url}/fapi/v1/time") as answer:
                    answers.append(answer.status)

    assert answers == [200, 200, 200]
