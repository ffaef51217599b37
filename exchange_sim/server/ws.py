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

Limits that keep one client from hurting the others (`WsConfig`; each check is O(frame)):

- Stream names must be a form Binance serves (`streams.stream_group`: `<symbol>@aggTrade`,
  `@depth20@100ms`, `!markPrice@arr`, a listenKey, ...) and at most `max_stream_name_chars`
  long; a SUBSCRIBE/UNSUBSCRIBE with any other name gets `{"code": 2, "msg": "Invalid request:
  invalid stream"}` (what fstream answers) and changes nothing. A well-formed name of a symbol
  that is not served is acknowledged and stays silent, as on Binance. More than `max_streams`
  (1024) names in one message or on one connection: code 2 "too many streams". In the URL, an
  invalid name or too many names: HTTP 400 JSON before the upgrade.
- Incoming frames over `max_frame_bytes` (64 KiB: 1024 names fit twice) are refused with close
  code 1009; JSON is parsed by orjson (nesting limited, so a deeply nested frame gets the
  code 3 error frame, never a RecursionError).
- Per IP: at most `max_connections_per_ip` open and `max_new_connections_per_ip` opened per
  `new_connections_window_s` (Binance: 300 connections per 5 minutes per IP); over either,
  the upgrade is answered HTTP 429 `{"code": -1003, ...}` with `Retry-After`.
- Slow consumers are disconnected, as Binance does: a socket whose client has taken none of
  the data waiting for it (transport buffer + bytes the kernel has not had acknowledged) for
  `slow_consumer_timeout_s`, or whose queue of frames not yet handed to the transport exceeds
  `max_queue_bytes`, is aborted (the client sees the connection reset; a close frame could
  not reach a client that does not read) and its queue is freed. In max mode
  the replay paces on the slowest socket that is still draining: a socket that has drained
  nothing for `pace_grace_s` stops holding the replay back while another socket drains, so
  one stalled client never freezes the others (alone, it holds the replay until dropped).
- A client that resets during the handshake is logged in one line.
"""

import asyncio
import contextlib
import json
import logging
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import orjson
from aiohttp import WSMsgType, web

try:  # Linux: how much of a socket's send queue the peer has not acknowledged
    import fcntl
    import termios

    _TIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - other platforms: buffer sizes only
    _TIOCOUTQ = None

from .faults import Faults
from .rest import invalid_path
from .streams import MARKET, PRIVATE, PUBLIC, is_listen_key, stream_group

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# orjson is ~8x faster than the stdlib encoder on the fan-out hot path.
_dump_bytes = orjson.dumps


_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
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


INVALID_STREAM_MSG = "Invalid request: invalid stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class WsConfig:
    """Connection rules (reference 8.3) and the limits of the module docstring; times in s."""

    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    max_incoming_per_s: int = 10
    max_streams: int = 1024
    max_stream_name_chars: int = 100
    max_frame_bytes: int = 65_536
    max_queue_bytes: int = 64 << 20
    slow_consumer_timeout_s: float = 3.0
    pace_grace_s: float = 0.25
    max_connections_per_ip: int = 300
    max_new_connections_per_ip: int = 300
    new_connections_window_s: float = 300.0
    post_split: bool = False


class ConnectionLimits:
    """Per-IP counts of open connections and of connections opened in the sliding window."""

    def __init__(self, config: WsConfig) -> None:
        self.config = config
        self._open: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def refusal(self, ip: str, now: float) -> tuple[str, int] | None:
        """(message, Retry-After seconds) if `ip` may not open another connection now."""
        cfg = self.config
        recent = self._recent.get(ip)
        if recent is not None:
            while recent and recent[0] <= now - cfg.new_connections_window_s:
                recent.popleft()
            if not recent:
                del self._recent[ip]
                recent = None
        if self._open.get(ip, 0) >= cfg.max_connections_per_ip:
            return (
                "Too many open connections; current limit is "
                f"{cfg.max_connections_per_ip} connections per IP.",
                1,
            )
        if recent is not None and len(recent) >= cfg.max_new_connections_per_ip:
            wait = math.ceil(recent[0] + cfg.new_connections_window_s - now)
            return (
                "Too many new connections; current limit is "
                f"{cfg.max_new_connections_per_ip} connections per "
                f"{cfg.new_connections_window_s:g} seconds per IP.",
                max(1, wait),
            )
        return None

    def opened(self, ip: str, now: float) -> None:
        self._open[ip] = self._open.get(ip, 0) + 1
        self._recent.setdefault(ip, deque()).append(now)

    def closed(self, ip: str) -> None:
        left = self._open.get(ip, 0) - 1
        if left > 0:
            self._open[ip] = left
        else:
            self._open.pop(ip, None)


class Connection:
    """One client socket: its route, subscriptions and queue of ready-to-send frames."""

    __slots__ = (
        "bytes_written",
        "closed",
        "combined",
        "drained_at",
        "events",
        "in_count",
        "in_window",
        "ip",
        "last_drained",
        "outbox",
        "pong_due",
        "queued_bytes",
        "request",
        "route",
        "stalled_s",
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
        self.ip = request.remote or "unknown"
        self.streams: dict[str, None] = {}  # an ordered set: LIST_SUBSCRIPTIONS keeps the order
        self.outbox: list[bytes] = []  # complete encoded frames
        self.queued_bytes = 0  # bytes in `outbox`
        self.bytes_written = 0  # handed to the transport by the writer
        self.last_drained = 0  # bytes the client had taken (acknowledged) at `drained_at`
        self.drained_at = time.monotonic()  # when the client last took something
        self.stalled_s = 0.0  # how long it had taken nothing, at the last sweep
        self.wake = asyncio.Event()
        self.closed = False
        self.in_window = 0
        self.in_count = 0
        self.pong_due: float | None = None

    @property
    def peer_port(self) -> int | None:
        """The client's TCP port (to tell connections from one IP apart)."""
        transport = self.request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return peer[1] if peer else None

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
        flush_user_events: Callable[[], object] = lambda: None,
    ) -> None:
        self.config = config
        self.faults = faults
        self._now_ms = now_ms
        self._listen_key_account = listen_key_account
        # Sends the user-data events that happened so far (to the sockets open then): called
        # before a socket subscribes to a listenKey, so it hears only what happens after.
        self._flush_user_events = flush_user_events
        self._subs: dict[str, set[Connection]] = {}
        self._conns: set[Connection] = set()
        self.limits = ConnectionLimits(config)
        self._writers: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
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
        bare_size = combined_size = 0
        overflow = None
        max_queue = self.config.max_queue_bytes
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
                    combined_size = len(combined) * copies
                frame, size = combined, combined_size
            else:
                if bare is None:
                    bare = text_frame(raw)
                    bare_size = len(bare) * copies
                frame, size = bare, bare_size
            outbox = conn.outbox
            for _ in range(copies):
                outbox.append(frame)
            conn.queued_bytes += size
            if conn.queued_bytes > max_queue:
                overflow = [*(overflow or ()), conn]
            conn.wake.set()
        if overflow:
            for conn in overflow:
                log.info(
                    "dropped slow websocket consumer %s: more than %d bytes queued",
                    conn.ip,
                    max_queue,
                )
                self._abort(conn, reset=True)
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

    def connections(self) -> tuple[Connection, ...]:
        """The open connections (for status lines and tests)."""
        return tuple(self._conns)

    def queued_bytes(self) -> int:
        """Bytes of frames queued for all sockets and not yet handed to their transports."""
        return sum(c.queued_bytes for c in self._conns)

    def max_backlog(self) -> int:
        """Frames queued on the slowest socket that is still draining (max mode paces on
        this). A socket that has drained nothing for `pace_grace_s` does not count while
        another one still drains (if none does, there is nobody to hurry for)."""
        grace = self.config.pace_grace_s
        draining = [len(c.outbox) for c in self._conns if c.stalled_s <= grace]
        if draining or not self._conns:
            return max(draining, default=0)
        return max(len(c.outbox) for c in self._conns)

    async def wait_backlog_below(self, frames: int) -> None:
        """Return once every draining socket has at most `frames` frames queued."""
        recheck_s = self.config.pace_grace_s / 2  # a socket may stall while we wait
        while self.max_backlog() > frames:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(recheck_s):
                    await self._drained.wait()

    # ---- aiohttp handler --------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.faults.ws_refusing():
            return web.json_response({"code": -1001, "msg": "Service Unavailable."}, status=503)
        parsed = _parse_ws_path(request)
        if parsed is None:
            error = invalid_path(request.method, request.path)
            return web.json_response(error.to_json(), status=error.http_status)
        route, combined, initial, events = parsed
        problem = self._check_names(initial)
        if problem is not None:
            return web.json_response({"code": -1100, "msg": problem}, status=400)
        ip = request.remote or "unknown"
        now = time.monotonic()
        refusal = self.limits.refusal(ip, now)
        if refusal is not None:
            msg, retry_after = refusal
            return web.json_response(
                {"code": -1003, "msg": msg},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        ws = web.WebSocketResponse(
            autoping=False, compress=False, max_msg_size=self.config.max_frame_bytes
        )
        if not ws.can_prepare(request):
            return web.json_response(
                {"code": -1102, "msg": "Invalid WebSocket handshake."}, status=400
            )
        self.limits.opened(ip, now)
        try:
            try:
                await ws.prepare(request)
            except ConnectionError as exc:
                log.info("websocket handshake from %s aborted by the client (%s)", ip, exc)
                raise asyncio.CancelledError from None  # aiohttp: premature disconnection
            await self._serve(ws, request, route, combined, initial, events)
        finally:
            self.limits.closed(ip)
        return ws

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        route: str,
        combined: bool,
        initial: list[str],
        events: frozenset[str] | None,
    ) -> None:
        conn = Connection(ws, request, route, combined, events)
        self._conns.add(conn)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
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

    def _check_names(self, streams: list[str]) -> str | None:
        """Why a list of stream names (URL or SUBSCRIBE) is refused, or None."""
        cfg = self.config
        if len(streams) > cfg.max_streams:
            return f"Too many streams; at most {cfg.max_streams} per connection."
        longest = cfg.max_stream_name_chars
        for name in streams:
            if not isinstance(name, str) or len(name) > longest or stream_group(name) is None:
                return "Illegal format ws or stream."
        return None

    async def close(self) -> None:
        """Close every socket (1001, at most 1 s for the close handshakes), stop the writers."""
        conns = list(self._conns)

        async def close_one(conn: Connection) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 1.0)
            self._abort(conn)

        if conns:
            await asyncio.gather(*(close_one(c) for c in conns))
        tasks = [*self._writers, *([self._sweeper] if self._sweeper is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    # ---- internals --------------------------------------------------------------------------

    async def _sweep(self) -> None:
        """While sockets are open: note how long each client has taken none of the data
        waiting for it (max mode paces on the others), and drop it at
        `slow_consumer_timeout_s` (Binance disconnects slow consumers)."""
        limit_s = self.config.slow_consumer_timeout_s
        period_s = min(0.25, limit_s / 4, self.config.pace_grace_s)
        while self._conns:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            for conn in list(self._conns):
                conn.stalled_s = _stalled_s(conn, now)
                if conn.stalled_s >= limit_s:
                    log.info(
                        "dropped slow websocket consumer %s: it read nothing for %g s",
                        conn.ip,
                        limit_s,
                    )
                    self._abort(conn, reset=True)

    def _forget(self, conn: Connection) -> None:
        conn.closed = True
        conn.outbox = []  # free what a dropped consumer never read
        conn.queued_bytes = 0
        self._drained.set()
        self._conns.discard(conn)
        for stream in conn.streams:
            subs = self._subs.get(stream)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._subs[stream]

    def _abort(self, conn: Connection, *, reset: bool = False) -> None:
        """Close without a close frame. `reset`: with a TCP reset, so that the kernel drops
        the send queue at once (a slow consumer's may hold megabytes it would never read)."""
        transport = _transport(conn)
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if reset and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()
        self._forget(conn)
        conn.wake.set()

    def _subscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            if stream in conn.streams:
                continue
            conn.streams[stream] = None
            group = stream_group(stream)
            if group == PRIVATE:
                if self._listen_key_account(stream) is None:
                    continue
                # Binance pushes an event to the sockets open when it happens: one made before
                # this socket (a direct engine call's, still pending) is not for it.
                self._flush_user_events()
            if conn.delivers(group, self.config.post_split):
                self._subs.setdefault(stream, set()).add(conn)

    def _unsubscribe(self, conn: Connection, streams: list[str]) -> None:
        for stream in streams:
            conn.streams.pop(stream, None)
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
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await ws.close(code=1008, message=b"pong timeout")
                    self._abort(conn)
                    return
                if now >= next_ping:
                    next_ping = now + cfg.ping_interval_s
                    if conn.pong_due is None:
                        conn.pong_due = now + cfg.pong_timeout_s
                    async with asyncio.timeout(cfg.slow_consumer_timeout_s):
                        await ws.ping(b"")
                if conn.outbox and not conn.closed:
                    frames = conn.outbox
                    conn.outbox = []
                    conn.queued_bytes = 0
                    delay = self.faults.ws_latency_s
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await self._write_frames(conn, frames)
                    self.sent_frames += len(frames)
                    self._drained.set()
        except (ConnectionResetError, RuntimeError, OSError):  # TimeoutError (ping) included
            self._abort(conn)

    async def _write_frames(self, conn: Connection, frames: list[bytes]) -> None:
        """Write many pre-encoded frames with one transport write, then honour flow control
        (a client that stops reading is dropped by `_sweep`, which also ends this wait).

        Uses aiohttp's writer transport/protocol (pinned aiohttp 3.14): one syscall per batch
        instead of one per frame is what makes >= 50k msgs/s possible.
        """
        writer = conn.ws._writer
        if writer is None or writer._closing or writer.transport.is_closing():
            raise ConnectionResetError("socket closed")
        data = b"".join(frames)
        writer.transport.write(data)
        conn.bytes_written += len(data)
        protocol = writer.protocol
        if protocol._paused:
            await protocol._drain_helper()

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
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await ws.close(code=1008, message=b"Too many requests")
                return
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.pong_due = None
            elif msg.type == WSMsgType.TEXT:
                reply = self._control(conn, msg.data)
                if reply is not None:
                    frame = text_frame(_dumps(reply))
                    conn.outbox.append(frame)
                    conn.queued_bytes += len(frame)
                    conn.wake.set()
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return

    def _control(self, conn: Connection, text: str) -> dict | None:
        try:
            req = orjson.loads(text)  # nesting limited to 1024: no RecursionError
        except orjson.JSONDecodeError as exc:
            return _error(3, f"Invalid JSON: {exc}", None)
        if not isinstance(req, dict):
            return _error(3, "Invalid JSON: expected an object", None)
        req_id = req.get("id")
        if "method" not in req:
            return _error(2, "Invalid request: missing field `method`", _echo(req_id))
        if not isinstance(req_id, int) or isinstance(req_id, bool) or req_id < 0:
            msg = "Invalid request: request ID must be an unsigned integer"
            return _error(2, msg, _echo(req_id))
        method = req["method"]
        params = req.get("params", [])
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            shown = method[:50] if isinstance(method, str) else type(method).__name__
            msg = f"Invalid request: unknown variant `{shown}`, expected one of {expected}"
            return _error(2, msg, req_id)
        if not isinstance(params, list):
            return _error(2, "Invalid request: params must be an array", req_id)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if len(params) > self.config.max_streams:
                msg = f"Invalid request: too many streams (at most {self.config.max_streams})"
                return _error(2, msg, req_id)
            if self._check_names(params) is not None:
                return _error(2, INVALID_STREAM_MSG, req_id)
            if method == "SUBSCRIBE":
                new = {p for p in params if p not in conn.streams}
                if len(conn.streams) + len(new) > self.config.max_streams:
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


def _echo(req_id: object) -> object:
    """An invalid request id is echoed only if it is a short scalar (never a nested value)."""
    if req_id is None or isinstance(req_id, bool | int | float):
        return req_id
    if isinstance(req_id, str) and len(req_id) <= 64:
        return req_id
    return None


def _stalled_s(conn: Connection, now: float) -> float:
    """Seconds the client has taken none of the data waiting for it (0 if none waits).

    Waiting = the transport's buffer plus what the kernel has not had acknowledged
    (`TIOCOUTQ`, Linux): a client that does not read closes its TCP window, so that number
    stops shrinking whatever the kernel buffer sizes; one that reads, however slowly, moves it.
    """
    transport = _transport(conn)
    if transport is None or transport.is_closing():
        return 0.0
    pending = transport.get_write_buffer_size() + _unacknowledged(transport)
    drained = conn.bytes_written - pending
    if pending == 0 or drained > conn.last_drained:
        conn.last_drained = drained
        conn.drained_at = now
        return 0.0
    return now - conn.drained_at


def _unacknowledged(transport: asyncio.Transport) -> int:
    """Bytes in the socket's send queue not yet acknowledged by the peer (0 if unknown)."""
    sock = transport.get_extra_info("socket")
    if sock is None or _TIOCOUTQ is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _transport(conn: Connection) -> asyncio.Transport | None:
    writer = conn.ws._writer
    transport = writer.transport if writer is not None else None
    return transport if transport is not None else conn.request.transport


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
