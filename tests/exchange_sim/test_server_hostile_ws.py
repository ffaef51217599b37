"""WebSocket under hostile clients (issue 8, items 2, 3 and 6): slow consumers are dropped and
never hold back the replay or the other clients, no frame holds the event loop for 10 ms,
stream names and connections are limited as Binance limits them, and broken frames or
handshakes get a proper answer instead of a traceback."""

import asyncio
import itertools
import json
import logging
import socket
import struct
import threading
import time

import pytest
import websockets
from websockets.sync.client import connect as sync_connect

from exchange_sim.server import WsConfig
from tests.exchange_sim.hostile_helpers import (
    WS_UPGRADE,
    LoopHold,
    is_reset,
    stalled_ws_client,
)

STREAMS = "btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@depth@100ms/btcusdt@depth20@100ms"
INVALID_STREAM = {"code": 2, "msg": "Invalid request: invalid stream"}


class Reader(threading.Thread):
    """A client in its own thread that reads everything and records when each frame came."""

    def __init__(self, ws) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.times: list[float] = []
        self.stop = threading.Event()

    @classmethod
    async def connect(cls, url: str) -> "Reader":
        ws = await asyncio.to_thread(sync_connect, url, max_size=None, proxy=None, close_timeout=1)
        reader = cls(ws)
        reader.start()
        return reader

    def run(self) -> None:
        with self.ws:
            while not self.stop.is_set():
                try:
                    self.ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self.times.append(time.monotonic())

    def longest_gap_s(self, since: float, until: float) -> float:
        times = [since, *(t for t in self.times if since <= t <= until), until]
        return max(b - a for a, b in itertools.pairwise(times))


async def _until(condition, timeout_s: float) -> float | None:
    """Seconds until `condition()` is true, or None after `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if condition():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return None


@pytest.mark.parametrize("speed", ["max", 1.0])
async def test_client_that_never_reads_is_dropped_and_never_holds_back_the_others(
    exchange_factory, speed
) -> None:
    ex = await exchange_factory(speed="step" if speed == "max" else speed)
    reader = await Reader.connect(f"{ex.ws_url}/stream?streams={STREAMS}")
    stalled = stalled_ws_client(ex.port, f"/stream?streams={STREAMS}")
    assert await _until(lambda: ex.hub.connection_count() == 2, 20.0) is not None  # busy: slow
    port = stalled.getsockname()[1]
    conn = next(c for c in ex.hub.connections() if c.peer_port == port)
    started = time.monotonic()
    if speed == "max":
        ex.release_max_speed()

    dropped_after = await _until(lambda: ex.hub.connection_count() == 1, 8.0)
    await asyncio.sleep(1.0)
    ended = time.monotonic()
    reader.stop.set()
    await asyncio.to_thread(reader.join, 5)

    assert dropped_after is not None and dropped_after < 6.0
    assert is_reset(stalled)
    assert conn.closed and conn.outbox == [] and conn.queued_bytes == 0  # its queue is freed
    assert reader.longest_gap_s(started + 0.5, ended) < 1.0
    stalled.close()


async def test_worst_frames_under_the_limits_hold_the_loop_under_10_ms(exchange_factory) -> None:
    ex = await exchange_factory(data=None)
    long_names = [f"{'s' * 80}{i:06d}@aggTrade" for i in range(600)]  # 95 chars, valid form
    short_names = [f"s{i}@depth20@100ms" for i in range(1024)]
    frames = [
        {"method": "SUBSCRIBE", "params": long_names, "id": 1},
        {"method": "UNSUBSCRIBE", "params": long_names, "id": 2},
        {"method": "SUBSCRIBE", "params": short_names, "id": 3},
        {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"] * 3200, "id": 4},  # ~64 KiB
        {"method": "SUBSCRIBE", "params": [n.upper() for n in long_names], "id": 5},
        {"method": "LIST_SUBSCRIPTIONS", "id": 6},
    ]
    texts = [json.dumps(f) for f in frames] + ["[" * 65_000]
    assert all(len(t) <= 65_536 for t in texts)

    def send_all(url: str, texts: list[str], pause_s: float) -> list:
        with sync_connect(url, proxy=None, max_size=None) as ws:
            replies = []
            for text in texts:
                ws.send(text)
                replies.append(json.loads(ws.recv(timeout=5)))
                time.sleep(pause_s)
            return replies

    worst = json.dumps({"method": "SUBSCRIBE", "params": long_names, "id": 9})
    async with LoopHold() as hold:
        results = await asyncio.gather(
            asyncio.to_thread(send_all, f"{ex.ws_url}/ws", texts, 0.12),
            asyncio.to_thread(send_all, f"{ex.ws_url}/ws", [worst] * 4, 0.25),
            asyncio.to_thread(send_all, f"{ex.ws_url}/ws", [worst] * 4, 0.25),
        )
    replies: list[dict] = results[0]

    assert hold.longest_ms < 10, f"event loop held {hold.longest_ms:.1f} ms"
    assert [r.get("result", r.get("error")) for r in replies[:3]] == [None, None, None]
    assert replies[3]["error"]["code"] == 2 and "too many streams" in replies[3]["error"]["msg"]
    assert replies[4] == {"error": INVALID_STREAM, "id": 5}
    assert len(replies[5]["result"]) == 1024
    assert replies[6]["error"]["code"] == 3


def _send_frame_header(port: int, length: int) -> bytes:
    """Upgrade, announce one masked text frame of `length` bytes, send 1 KB of it, read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(WS_UPGRADE.format(path="/ws").encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, length) + bytes(4) + b"x" * 1000)
        return sock.recv(16)


async def test_frame_over_64_kib_is_refused_with_close_code_1009(exchange_factory) -> None:
    ex = await exchange_factory(data=None)
    size = len(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"] * 240_000}))

    answer = await asyncio.to_thread(_send_frame_header, ex.port, size)

    assert answer == b"\x88\x02" + struct.pack("!H", 1009)  # a close frame, "message too big"


async def test_deeply_nested_frame_gets_an_error_frame_and_the_socket_stays_usable(
    exchange_factory, caplog
) -> None:
    ex = await exchange_factory(data=None)

    async with websockets.connect(f"{ex.ws_url}/ws") as ws:
        await ws.send("[" * 30_000 + "]" * 30_000)
        error = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}))
        listed = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert error["error"]["code"] == 3 and error["id"] is None
    assert listed == {"result": [], "id": 7}
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "name",
    ["BTCUSDT@aggTrade", "btcusdt@aggTrade\n", "btcusdt@nope", "x" * 200 + "@aggTrade", "", 5],
)
async def test_subscribe_with_an_invalid_stream_name_is_refused(exchange_factory, name) -> None:
    ex = await exchange_factory(data=None)

    async with websockets.connect(f"{ex.ws_url}/ws") as ws:
        await ws.send(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade", name], "id": 1})
        )
        reply = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        listed = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert reply == {"error": INVALID_STREAM, "id": 1}
    assert listed == {"result": [], "id": 2}  # nothing of the refused message was applied


async def test_well_formed_stream_of_an_unserved_symbol_is_acknowledged(exchange_factory) -> None:
    ex = await exchange_factory(data=None)

    async with websockets.connect(f"{ex.ws_url}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["dogeusdt@aggTrade"], "id": 1}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert reply == {"result": None, "id": 1}  # as Binance: accepted, silent


async def test_more_than_1024_streams_on_one_connection_is_refused(exchange_factory) -> None:
    ex = await exchange_factory(data=None)
    first = [f"s{i}@aggTrade" for i in range(1000)]
    more = [f"t{i}@aggTrade" for i in range(25)]

    async with websockets.connect(f"{ex.ws_url}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": first, "id": 1}))
        ok = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": more, "id": 2}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 2))

    assert ok == {"result": None, "id": 1}
    assert refused == {"error": {"code": 2, "msg": "Invalid request: too many streams"}, "id": 2}


@pytest.mark.parametrize("path", ["/ws/not-a-stream", "/stream?streams=btcusdt@aggTrade/NOPE"])
async def test_url_with_an_invalid_stream_is_refused_with_400_json(exchange_factory, path) -> None:
    ex = await exchange_factory(data=None)

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{ex.ws_url}{path}")

    response = refused.value.response
    assert response.status_code == 400
    assert json.loads(response.body) == {"code": -1100, "msg": "Illegal format ws or stream."}


def test_default_connection_rules_are_the_documented_ones() -> None:
    config = WsConfig()

    assert (config.max_streams, config.max_incoming_per_s) == (1024, 10)
    assert config.max_new_connections_per_ip == 300 and config.new_connections_window_s == 300
    assert config.max_connections_per_ip == 300


async def test_open_connections_per_ip_are_capped_with_a_429_json(exchange_factory) -> None:
    ex = await exchange_factory(data=None, ws_config=WsConfig(max_connections_per_ip=3))
    url = f"{ex.ws_url}/ws"
    first = [await websockets.connect(url) for _ in range(3)]

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url)
    await first.pop().close()
    assert await _until(lambda: ex.hub.connection_count() == 2, 20.0) is not None  # busy: slow
    again = await websockets.connect(url)

    response = refused.value.response
    assert response.status_code == 429
    assert json.loads(response.body) == {
        "code": -1003,
        "msg": "Too many open connections; current limit is 3 connections per IP.",
    }
    for ws in [*first, again]:
        await ws.close()


async def test_new_connections_per_ip_are_limited_per_window(exchange_factory) -> None:
    ex = await exchange_factory(data=None, ws_config=WsConfig(max_new_connections_per_ip=3))
    for _ in range(3):
        async with websockets.connect(f"{ex.ws_url}/ws"):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{ex.ws_url}/ws")

    response = refused.value.response
    assert response.status_code == 429
    assert 290 <= int(response.headers["Retry-After"]) <= 300
    assert json.loads(response.body)["msg"] == (
        "Too many new connections; current limit is 3 connections per 300 seconds per IP."
    )


def _connect_send_and_reset(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(WS_UPGRADE.format(path="/ws/btcusdt@aggTrade").encode())
    time.sleep(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST


async def test_client_resetting_during_the_handshake_logs_one_line(exchange_factory, caplog):
    ex = await exchange_factory(data=None)
    caplog.set_level(logging.INFO)

    for _ in range(3):
        client = threading.Thread(target=_connect_send_and_reset, args=(ex.port,))
        client.start()
        client.join()  # blocks the loop on purpose: the request and the reset arrive together
        await asyncio.sleep(0.1)

    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    lines = [r for r in caplog.records if "handshake" in r.message]
    assert len(lines) == 3 and all("\n" not in r.getMessage() for r in lines)


@pytest.mark.slow
async def test_five_stalled_clients_in_real_time_are_all_dropped_and_nothing_stays_queued(
    exchange_factory,
) -> None:
    ex = await exchange_factory(speed=1.0)
    stalled = [stalled_ws_client(ex.port, f"/stream?streams={STREAMS}") for _ in range(5)]

    dropped_after = await _until(lambda: ex.hub.connection_count() == 0, 20.0)
    await asyncio.sleep(10)

    assert dropped_after is not None and dropped_after < 8.0
    assert all(is_reset(s) for s in stalled)
    assert ex.hub.queued_bytes() == 0 and ex.hub.connection_count() == 0
    for sock in stalled:
        sock.close()
