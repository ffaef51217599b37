"""WebSocket market and user-data streams: URL routing, live subscriptions, fan-out, pings.

One `WsHub` serves every connection of the server. Fan-out is the hot path (the benchmark needs
>= 50k messages/s to one client): `publish()` serialises a payload once per form (bare and
`{"stream","data"}` envelope), appends the ready string to each subscriber's outbox and sets an
event; one writer task per connection sends everything queued in one go. No task is created per
message, and nothing is serialised for a stream nobody subscribed to.

URL forms (reference 8.1, 10.1): `/ws[/<s1>/<s2>...]`, `/stream?streams=<s1>/<s2>` (combined),
the same under `/public`, `/market` (routed), and user data by listenKey: `/ws/<listenKey>`,
`/stream?streams=<listenKey>`, `/private/ws/<listenKey>`, `/private/ws?listenKey=<k>`,
`/private/stream?listenKey=<k1>&listenKey=<k2>`, optionally with
`&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE` (only those user events; `listenKeyExpired` always
passes). A routed path only delivers its own group; a
subscription of another group is acknowledged and stays silent (what Binance does after the
2026-04-23 split). Legacy paths deliver every group unless `post_split=True`, in which case they
deliver only the public group.

Control frames (reference 8.2) get `{"result": ..., "id": n}`; errors use the
`{"error": {"code", "msg"}, "id": n}` envelope (the futures envelope is UNSURE; this is spot's).
Pings: a ping frame every `ping_interval_s`; no pong within `pong_timeout_s` -> close. Incoming
frames (text, ping and pong) are limited to `max_incoming_per_s`; exceeding it closes the socket.
"""

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import orjson
from aiohttp import WSMsgType, web

from .faults import Faults
from .streams import MARKET, PRIVATE, PUBLIC, is_listen_key, stream_group

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# orjson is ~8x faster than the stdlib encoder on the fan-out hot path.
_dump_bytes = orjson.dumps


_LEN16 = struct.Struct("!BBH").pack
_LEN64 = struct.Struct("!BBQ").pack


def text_frame(text: str | bytes) -> bytes:
    """One complete unmasked, uncompressed WebSocket text frame (server -> client)."""
    payload = text.encode() if isinstance(text, str) else text
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _LEN16(0x81, 126, n) + payload
    return _LEN64(0x81, 127, n) + payload


METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


@dataclass(frozen=True, slots=True, kw_only=True)
class WsConfig:
    """Connection rules (reference 8.3); times in seconds."""

    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    max_incoming_per_s: int = 10
    max_streams: int = 1024
    max_outbox: int = 500_000
    post_split: bool = False


class Connection:
    """One client socket: its route, subscriptions and queue of ready-to-send frames."""

    __slots__ = (
        "closed",
        "combined",
        "events",
        "in_count",
        "in_window",
        "outbox",
        "pong_due",
        "request",
        "route",
        "streams",
        "wake",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        route: str,
        combined: bool,
        events: frozenset[str] | None = None,
    ):
        self.ws = ws
        self.events = events  # user-data event types to deliver (`events=` URL param); None: all
        self.request = request
        self.route = route  # "legacy", "public", "market" or "private"
        self.combined = combined
        self.streams: list[str] = []
        self.outbox: list[bytes] = []  # complete encoded frames
        self.wake = asyncio.Event()
        self.closed = False
        self.in_window = 0
        self.in_count = 0
        self.pong_due: float | None = None

    def delivers(self, group: str | None, post_split: bool) -> bool:
        if group is None:
            return False
        if self.route == "legacy":
            return group == PUBLIC if post_split else True
        return group == self.route


class WsHub:
    """All WebSocket connections and the stream -> subscribers index."""

    def __init__(
        self,
        config: WsConfig,
        faults: Faults,
        now_ms: Callable[[], int],
        listen_key_account: Callable[[str], Hashable | None],
    ) -> None:
        self.config = config
        self.faults = faults
        self._now_ms = now_ms
        self._listen_key_account = listen_key_account
        self._subs: dict[str, set[Connection]] = {}
        self._conns: set[Connection] = set()
        self._writers: set[asyncio.Task] = set()
        self._drained = asyncio.Event()
        self.sent_frames = 0

    # ---- publishing -------------------------------------------------------------------------

    def has_subscribers(self, stream: str) -> bool:
        return bool(self._subs.get(stream))

    def publish(self, stream: str, data: dict | str) -> bool:
        """Queue one message for every subscriber of `stream`; return whether anyone had it."""
        conns = self._subs.get(stream)
        if not conns:
            return False
        faults = self.faults
        if faults.ws_active and faults.is_silenced(stream):
            return False
        raw = data.encode() if isinstance(data, str) else _dump_bytes(data)
        copies = 1
        if faults.ws_active and not is_listen_key(stream):
            raw, copies = faults.mangle_market_frame(raw)
        bare = combined = None
        overflow = None
        event_type = data.get("e") if isinstance(data, dict) else None
        for conn in conns:
            if (
                conn.events is not None
                and event_type not in conn.events
                and event_type != "listenKeyExpired"
            ):
                continue
            if conn.combined:
                if combined is None:
                    combined = text_frame(
                        b'{"stream":"' + stream.encode() + b'","data":' + raw + b"}"
                    )
                frame = combined
            else:
                if bare is None:
                    bare = text_frame(raw)
                frame = bare
            outbox = conn.outbox
            for _ in range(copies):
                outbox.append(frame)
            if len(outbox) > self.config.max_outbox:
                overflow = [*(overflow or ()), conn]
            conn.wake.set()
        if overflow:
            for conn in overflow:
                self._abort(conn)
        return True

    def publish_user(self, listen_key: str, event: dict) -> bool:
        return self.publish(listen_key, event)

    def expire_listen_key(self, listen_key: str) -> None:
        """Send `listenKeyExpired` to the key's sockets, then deliver nothing more for it."""
        self.publish(
            listen_key, {"e": "listenKeyExpired", "E": self._now_ms(), "listenKey": listen_key}
        )
        self._subs.pop(listen_key, None)

    def close_listen_key(self, listen_key: str) -> None:
        """DELETE listenKey: close the user-data sockets of that key."""
        for conn in list(self._subs.pop(listen_key, ())):
            task = asyncio.get_running_loop().create_task(self._close_gracefully(conn))
            self._writers.add(task)  # kept (and cancelled by close()) like the writer tasks
            task.add_done_callback(self._writers.discard)

    async def _close_gracefully(self, conn: Connection) -> None:
        with contextlib.suppress(Exception):
            await conn.ws.close()

    def drop_all(self) -> int:
        """Abort every socket without a close frame (the client sees code 1006)."""
        conns = list(self._conns)
        for conn in conns:
            self._abort(conn)
        return len(conns)

    def connection_count(self) -> int:
        return len(self._conns)

    def max_backlog(self) -> int:
        """Frames queued on the slowest socket (max mode pauses on this)."""
        return max((len(c.outbox) for c in self._conns), default=0)

    async def wait_backlog_below(self, frames: int) -> None:
        """Return once every socket has at most `frames` frames queued."""
        while self.max_backlog() > frames:
            self._drained.clear()
            await self._drained.wait()

    # ---- aiohttp handler --------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.faults.ws_refusing():
            return web.json_response({"code": -1001, "msg": "Service Unavailable."}, status=503)
        parsed = _parse_ws_path(request)
        if parsed is None:
            return web.json_response({"code": -1, "msg": "Not found."}, status=404)
        route, combined, initial, events = parsed
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Connection(ws, request, route, combined, events)
        self._conns.add(conn)
        self._subscribe(conn, initial)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        try:
            await self._reader(conn)
        finally:
            transport = _transport(conn)
            if transport is not None and (conn.outbox or transport.get_write_buffer_size()):
                # the client is gone or closing while data is still queued: a close frame
                # behind megabytes of market data would reach it only after its close timeout
                transport.abort()
            self._forget(conn)
            conn.wake.set()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
            writer.cancel()
        return ws

    async def close(self) -> None:
        """Close every socket (1001, at most 1 s for the close handshakes), stop the writers."""
        conns = list(self._conns)

        async def close_one(conn: Connection) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 1.0)
            self._abort(conn)

        if conns:
            await asyncio.gather(*(close_one(c) for c in conns))
        for task in list(self._writers):
            task.cancel()
        if self._writers:
            await asyncio.wait(list(self._writers), timeout=2.0)

    # ---- internals --------------------------------------------------------------------------

    def _forget(self, conn: Connection) -> None:
        conn.closed = True
        self._drained.set()
        self._conns.discard(conn)
        for stream in conn.streams:
            subs = self._subs.get(stream)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._subs[stream]

    def _abort(self, conn: Connection) -> None:
        transport = _transport(conn)
        if transport is not None:
            transport.abort()
        self._forget(conn)
        conn.wake.set()

    def _subscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            if stream in conn.streams:
                continue
            conn.streams.append(stream)
            group = stream_group(stream)
            if group == PRIVATE and self._listen_key_account(stream) is None:
                continue
            if conn.delivers(group, self.config.post_split):
                self._subs.setdefault(stream, set()).add(conn)

    def _unsubscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            if stream in conn.streams:
                conn.streams.remove(stream)
            subs = self._subs.get(stream)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._subs[stream]

    async def _writer(self, conn: Connection) -> None:
        cfg = self.config
        ws = conn.ws
        next_ping = time.monotonic() + cfg.ping_interval_s
        try:
            while not conn.closed:
                if not conn.outbox:
                    conn.wake.clear()
                    deadline = next_ping if conn.pong_due is None else min(next_ping, conn.pong_due)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                            await conn.wake.wait()
                now = time.monotonic()
                if conn.pong_due is not None and now >= conn.pong_due:
                    await ws.close(code=1008, message=b"pong timeout")
                    self._abort(conn)
                    return
                if now >= next_ping:
                    next_ping = now + cfg.ping_interval_s
                    if conn.pong_due is None:
                        conn.pong_due = now + cfg.pong_timeout_s
                    await ws.ping(b"")
                if conn.outbox and not conn.closed:
                    frames = conn.outbox
                    conn.outbox = []
                    delay = self.faults.ws_latency_s
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await _write_frames(ws, frames)
                    self.sent_frames += len(frames)
                    self._drained.set()
        except (ConnectionResetError, RuntimeError, OSError):
            self._abort(conn)

    async def _reader(self, conn: Connection) -> None:
        ws = conn.ws
        limit = self.config.max_incoming_per_s
        async for msg in ws:
            now_s = int(time.monotonic())
            if now_s != conn.in_window:
                conn.in_window = now_s
                conn.in_count = 0
            conn.in_count += 1
            if conn.in_count > limit:
                await ws.close(code=1008, message=b"Too many requests")
                return
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.pong_due = None
            elif msg.type == WSMsgType.TEXT:
                reply = self._control(conn, msg.data)
                if reply is not None:
                    conn.outbox.append(text_frame(_dumps(reply)))
                    conn.wake.set()
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return

    def _control(self, conn: Connection, text: str) -> dict | None:
        try:
            req = json.loads(text)
        except ValueError as exc:
            return _error(3, f"Invalid JSON: {exc}", None)
        if not isinstance(req, dict):
            return _error(3, "Invalid JSON: expected an object", None)
        req_id = req.get("id")
        if "method" not in req:
            return _error(2, "Invalid request: missing field `method`", req_id)
        if not isinstance(req_id, int) or isinstance(req_id, bool) or req_id < 0:
            return _error(2, "Invalid request: request ID must be an unsigned integer", req_id)
        method = req["method"]
        params = req.get("params", [])
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            msg = f"Invalid request: unknown variant `{method}`, expected one of {expected}"
            return _error(2, msg, req_id)
        if not isinstance(params, list):
            return _error(2, "Invalid request: params must be an array", req_id)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) for p in params):
                return _error(2, "Invalid request: params must be stream names", req_id)
            if method == "SUBSCRIBE":
                if len(set(conn.streams) | set(params)) > self.config.max_streams:
                    return _error(2, "Invalid request: too many streams", req_id)
                self._subscribe(conn, params)
            else:
                self._unsubscribe(conn, params)
            return {"result": None, "id": req_id}
        if method == "LIST_SUBSCRIPTIONS":
            if params:
                return _error(2, "Invalid request: too many parameters", req_id)
            return {"result": list(conn.streams), "id": req_id}
        if method == "SET_PROPERTY":
            if len(params) != 2:
                return _error(2, "Invalid request: too many parameters", req_id)
            if params[0] != "combined":
                return _error(0, "Unknown property", req_id)
            if not isinstance(params[1], bool):
                return _error(1, "Invalid value type: expected Boolean", req_id)
            conn.combined = params[1]
            return {"result": None, "id": req_id}
        if len(params) != 1:
            return _error(2, "Invalid request: too many parameters", req_id)
        if params[0] != "combined":
            return _error(0, "Unknown property", req_id)
        return {"result": conn.combined, "id": req_id}


def _transport(conn: Connection) -> asyncio.Transport | None:
    writer = conn.ws._writer
    transport = writer.transport if writer is not None else None
    return transport if transport is not None else conn.request.transport


async def _write_frames(ws: web.WebSocketResponse, frames: list[bytes]) -> None:
    """Write many pre-encoded frames with one transport write, then honour flow control.

    Uses aiohttp's writer transport/protocol (pinned aiohttp 3.14): one syscall per batch
    instead of one per frame is what makes >= 50k msgs/s possible.
    """
    writer = ws._writer
    if writer is None or writer._closing or writer.transport.is_closing():
        raise ConnectionResetError("socket closed")
    writer.transport.write(b"".join(frames))
    protocol = writer.protocol
    if protocol._paused:
        await protocol._drain_helper()


def _error(code: int, msg: str, req_id: object) -> dict:
    return {"error": {"code": code, "msg": msg}, "id": req_id}


def _parse_ws_path(
    request: web.Request,
) -> tuple[str, bool, list[str], frozenset[str] | None] | None:
    """(route, combined, initial streams, user event filter) for a WS URL, or None if the path
    is not a WS path."""
    parts = [p for p in request.path.split("/") if p]
    route = "legacy"
    if parts and parts[0] in (PUBLIC, MARKET, PRIVATE):
        route = parts[0]
        parts = parts[1:]
    if not parts or parts[0] not in ("ws", "stream"):
        return None
    combined = parts[0] == "stream"
    streams = list(parts[1:]) if parts[0] == "ws" else []
    query = request.rel_url.query
    if combined and "streams" in query:
        streams += [s for s in query["streams"].split("/") if s]
    streams += [k for k in query.getall("listenKey", []) if k]
    events = [e for spec in query.getall("events", []) for e in spec.split("/") if e]
    return route, combined, streams, (frozenset(events) if events else None)
