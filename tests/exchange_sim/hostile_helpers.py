"""Helpers for tests that act as hostile clients of the local exchange (loopback only).

`LoopHold` measures how long the server's event loop is held; the hostile clients run in other
threads (`raw_http`, `raw_ws_upgrade`) so that only the server's work is on the loop thread.
"""

import asyncio
import contextlib
import gc
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from exchange_sim.server.signing import sign

WS_UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class LoopHold:
    """`async with LoopHold() as hold:` ... `hold.longest_ms`: the most CPU time (ms) the loop's
    thread spent between two ticks of a 1 ms timer, i.e. the longest stretch during which no
    other client could be served. CPU time, not wall time: other processes on the machine and
    threads waiting for the GIL do not count. Nor does the heap left by earlier tests of the
    same process (which ones depends on how pytest-xdist shares the tests out): it is
    collected and frozen on entry, so a cyclic GC pass inside the span walks only what was
    allocated since, the server's own objects included (the likely cause of a 105 ms hold
    seen once in a parallel CI run; not reproduced)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "LoopHold":
        gc.collect()
        gc.freeze()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        gc.unfreeze()

    async def _tick(self) -> None:
        last = time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now = time.thread_time()
            self.longest_ms = max(self.longest_ms, (now - last) * 1000)
            last = now


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_http(port: int, request: bytes, timeout_s: float = 5.0) -> RawResponse:
    """Send bytes as they are (blocking; run it in a thread) and read the answer to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return RawResponse(int(lines[0].split()[1]), headers, body)


def http_request(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    """One HTTP/1.1 request that asks the server to close the connection after answering."""
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}"
    if body:
        head += (
            f"Content-Length: {len(body)}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        )
    return head.encode("latin-1") + b"\r\n" + body


async def signed(
    ex, method: str, path: str, payload: str, *, in_body: bool = False
) -> tuple[int, dict]:
    """A SIGNED request with `payload` (already percent-encoded) sent byte for byte."""
    payload = f"{payload}&timestamp={ex.now_ms()}" if payload else f"timestamp={ex.now_ms()}"
    payload += f"&signature={sign(ex.api_secret, payload)}"
    url = yarl.URL(f"{ex.rest_url}{path}" + ("" if in_body else f"?{payload}"), encoded=True)
    async with (
        aiohttp.ClientSession(headers={"X-MBX-APIKEY": ex.api_key}) as session,
        session.request(
            method,
            url,
            data=payload.encode() if in_body else None,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def public_get(ex, target: str) -> tuple[int, dict, object]:
    """GET `target` (path and query, already percent-encoded) exactly as written."""
    url = yarl.URL(f"{ex.rest_url}{target}", encoded=True)
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


def stalled_ws_client(port: int, path: str) -> socket.socket:
    """A websocket client that upgrades with a tiny receive buffer and then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", port))
    sock.sendall(WS_UPGRADE.format(path=path).encode())
    return sock


def is_reset(sock: socket.socket, timeout_s: float = 2.0) -> bool:
    """True if the server has reset (or closed) this never-read socket; reads what is queued."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(1 << 20):
            pass
    except TimeoutError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    return True  # end of stream
