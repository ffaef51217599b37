"""One websocket link: open it, read its frames, watch it, rotate it; say how it ended.

A `StreamLink` owns at most one live connection to one combined-stream URL (two for a moment
while rotating). Every frame goes to `on_frame` as it arrives. `watch()` returns a typed
`LinkEnd` when the connection closed, went silent, is due for rotation, or its reader failed;
the caller (the DataStream's reconnect loop) decides what to do. Connection errors are
classified the way the websockets library's own reconnect loop does (`process_exception`):
network errors, timeouts, a broken handshake and 5xx/429/408/403 answers are worth retrying
(`UNREACHABLE`); a bad URI or proxy, an IP ban (418) and other 4xx answers are not (`FAILED`).

Times come from the injected clock (ms) and sleep, so tests can run the watchdog, silence and
rotation logic in simulated time. Only the TCP/handshake open timeout and the websocket
library's own close handshake use real time (they bound I/O, not our logic).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
)

from core.backoff import Sleep
from core.clock import Clock

log = logging.getLogger(__name__)

# Everything an open attempt may raise that is about the connection, not a bug of ours.
CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    EOFError,
    InvalidHandshake,
    InvalidURI,
    InvalidProxy,
    ConnectionClosed,
)
RETRYABLE_STATUS = frozenset({403, 408, 429, 500, 502, 503, 504})  # 403: Binance WAF limit


class LinkOutcome(StrEnum):
    """Why a link's connection ended (or could not start)."""

    CLOSED = "closed"  # the server closed it or the connection dropped: reconnect
    SILENT = "silent"  # open but no frame for too long (or flagged silent): reconnect
    ROTATE = "rotate"  # due for the 24-hour rotation: `rotate()`
    UNREACHABLE = "unreachable"  # an open attempt failed in a way worth retrying
    FAILED = "failed"  # fatal (bad URI, IP ban, reader crashed): give up on this link


@dataclass(frozen=True, slots=True)
class LinkEnd:
    outcome: LinkOutcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Timing of one link (seconds)."""

    silence_s: float = 5.0
    check_s: float = 0.25
    max_age_s: float = 23.5 * 3600  # Binance cuts a connection at 24 h
    rotation_overlap_s: float = 10.0
    open_timeout_s: float = 5.0
    close_timeout_s: float = 1.0
    max_size: int = 2**22
    max_queue: int = 1024


def classify_connect_error(exc: BaseException) -> LinkEnd:
    """A failed open attempt -> UNREACHABLE (worth retrying) or FAILED (give up)."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in RETRYABLE_STATUS:
            return LinkEnd(LinkOutcome.UNREACHABLE, detail)
        if status == 418:
            return LinkEnd(LinkOutcome.FAILED, f"IP banned by the exchange (HTTP 418): {detail}")
        return LinkEnd(LinkOutcome.FAILED, detail)
    if isinstance(exc, (InvalidURI, InvalidProxy)):
        return LinkEnd(LinkOutcome.FAILED, detail)
    if isinstance(exc, (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, EOFError)):
        return LinkEnd(LinkOutcome.UNREACHABLE, detail)
    return LinkEnd(LinkOutcome.FAILED, detail)


class _Socket:
    __slots__ = ("delivering", "frames", "opened_ms", "reader", "ws")

    def __init__(self, ws: ClientConnection, now_ms: int) -> None:
        self.ws = ws
        self.opened_ms = now_ms
        self.frames = 0
        self.delivering = asyncio.Event()  # set on the first frame
        self.reader: asyncio.Task[None] | None = None


Connector = Callable[..., Awaitable[ClientConnection]]


class StreamLink:
    """One routed combined-stream websocket (e.g. "market" or "public")."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        on_frame: Callable[[str | bytes], object],
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        config: LinkConfig | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.config = config or LinkConfig()
        self._on_frame = on_frame
        self._now_ms = clock.now_ms
        self._sleep = sleep
        self._connector: Connector = connector or _connect
        self._sock: _Socket | None = None
        self._others: set[_Socket] = set()  # a rotation's old socket while it closes
        self._flag: str | None = None  # why the current connection must be replaced

    # --- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def delivered(self) -> bool:
        """Whether the current connection delivered at least one frame (a "good" connection)."""
        return self._sock is not None and self._sock.frames > 0

    @property
    def frames(self) -> int:
        return self._sock.frames if self._sock is not None else 0

    @property
    def flagged(self) -> bool:
        return self._flag is not None

    def flag_silent(self, detail: str) -> None:
        """Something outside saw this link's data stop (e.g. one stream of it): replace it."""
        if self._flag is None:
            self._flag = detail

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> LinkEnd | None:
        """Open a connection and start reading; None on success, else why it did not open."""
        if self._sock is not None:
            raise RuntimeError(f"link {self.name} is already open")
        sock, end = await self._open_socket()
        if sock is None:
            return end
        self._flag = None
        self._sock = sock
        self._start_reader(sock)
        return None

    async def watch(self) -> LinkEnd:
        """Wait until the connection closes, goes silent, or is due for rotation."""
        sock = self._sock
        if sock is None:
            raise RuntimeError(f"link {self.name} is not open")
        cfg = self.config
        reader = sock.reader
        assert reader is not None
        silence_ms = cfg.silence_s * 1000
        max_age_ms = cfg.max_age_s * 1000
        seen = sock.frames
        quiet_since = self._now_ms()
        while True:
            if not await self._sleep_unless_done(reader, cfg.check_s):
                return self._reader_end(sock)
            now = self._now_ms()
            if sock.frames != seen:
                seen = sock.frames
                quiet_since = now
            elif now - quiet_since > silence_ms:
                return LinkEnd(LinkOutcome.SILENT, f"no frame for {cfg.silence_s:.1f} s")
            if self._flag is not None:
                return LinkEnd(LinkOutcome.SILENT, self._flag)
            if now - sock.opened_ms > max_age_ms:
                return LinkEnd(LinkOutcome.ROTATE, f"connection older than {cfg.max_age_s:.0f} s")

    async def rotate(self) -> LinkEnd | None:
        """Open the replacement first, switch when it delivers, then close the old one.

        None when switched (also when the new one stayed quiet for `rotation_overlap_s`). If
        the replacement cannot be opened or dies at once, the old connection is kept
        (UNREACHABLE: rotation is tried again a minute later) or the failure is fatal (FAILED).
        """
        old = self._sock
        if old is None:
            raise RuntimeError(f"link {self.name} is not open")
        new, end = await self._open_socket()
        if new is None:
            assert end is not None
            if end.outcome is LinkOutcome.UNREACHABLE:
                log.warning(
                    "%s: rotation connect failed (%s); keeping the old socket",
                    self.name,
                    end.detail,
                )
                old.opened_ms += 60_000
            return end
        self._start_reader(new)
        reader = new.reader
        assert reader is not None
        delivering = asyncio.ensure_future(new.delivering.wait())
        try:
            await self._sleep_unless_done(delivering, self.config.rotation_overlap_s, reader)
        finally:
            delivering.cancel()
        if reader.done():  # the replacement died before it took over: keep the old one
            end = self._reader_end(new)
            await self._close_socket(new)
            if end.outcome is LinkOutcome.CLOSED:
                old.opened_ms += 60_000
                return LinkEnd(LinkOutcome.UNREACHABLE, f"replacement {end.detail}")
            return end
        self._sock = new
        self._others.add(old)
        try:
            await self._close_socket(old)
        finally:
            self._others.discard(old)
        return None

    async def close(self) -> None:
        """Close the current connection (if any); bounded by `close_timeout_s`."""
        sock = self._sock
        self._sock = None
        if sock is not None:
            await self._close_socket(sock)

    def abort(self) -> None:
        """Drop every connection at once, without a close handshake (shutdown)."""
        socks = [s for s in (self._sock, *self._others) if s is not None]
        self._sock = None
        self._others.clear()
        for sock in socks:
            if sock.reader is not None:
                sock.reader.cancel()
            sock.ws.transport.abort()

    # --- internals -----------------------------------------------------------------------------

    async def _open_socket(self) -> tuple[_Socket | None, LinkEnd | None]:
        cfg = self.config
        try:
            ws = await self._connector(
                self.url,
                open_timeout=cfg.open_timeout_s,
                close_timeout=cfg.close_timeout_s,
                compression=None,
                proxy=None,
                max_size=cfg.max_size,
                max_queue=cfg.max_queue,
            )
        except CONNECT_ERRORS as exc:
            return None, classify_connect_error(exc)
        return _Socket(ws, self._now_ms()), None

    def _start_reader(self, sock: _Socket) -> None:
        sock.reader = asyncio.get_running_loop().create_task(
            self._pump(sock), name=f"link-{self.name}-reader"
        )

    async def _pump(self, sock: _Socket) -> None:
        on_frame = self._on_frame
        delivering = sock.delivering
        with contextlib.suppress(ConnectionClosed):
            async for raw in sock.ws:
                if not sock.frames:
                    delivering.set()
                sock.frames += 1
                on_frame(raw)

    def _reader_end(self, sock: _Socket) -> LinkEnd:
        reader = sock.reader
        assert reader is not None and reader.done()
        if reader.cancelled():
            return LinkEnd(LinkOutcome.CLOSED, "reader cancelled")
        exc = reader.exception()
        if exc is None:
            ws = sock.ws
            return LinkEnd(LinkOutcome.CLOSED, f"closed (code {ws.close_code} {ws.close_reason!r})")
        if isinstance(exc, (OSError, TimeoutError)):
            return LinkEnd(LinkOutcome.CLOSED, f"{type(exc).__name__}: {exc}")
        log.error("%s: frame handling failed", self.name, exc_info=exc)
        return LinkEnd(LinkOutcome.FAILED, f"frame handling failed: {type(exc).__name__}: {exc}")

    async def _sleep_unless_done(
        self, task: "asyncio.Future[Any]", seconds: float, *others: "asyncio.Future[Any]"
    ) -> bool:
        """Sleep `seconds` (injected sleep); False as soon as `task` (or one of `others`) ends."""
        if task.done() or any(o.done() for o in others):
            return False
        tick = asyncio.ensure_future(self._sleep(seconds))
        try:
            done, _ = await asyncio.wait({tick, task, *others}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tick.cancel()
        return tick in done and not task.done() and not any(o.done() for o in others)

    async def _close_socket(self, sock: _Socket) -> None:
        reader = sock.reader
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait({reader})
        elif reader is not None and not reader.cancelled():
            reader.exception()  # retrieved: already reported by `watch`
        closing = asyncio.ensure_future(sock.ws.close())
        try:
            await self._sleep_unless_done(closing, self.config.close_timeout_s)
        finally:
            clean = closing.done() and not closing.cancelled() and closing.exception() is None
            if not clean:  # too slow, failed, or we were cancelled: drop the connection
                closing.cancel()
                sock.ws.transport.abort()


async def _connect(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, **kwargs)
