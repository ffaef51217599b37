"""The user data stream: listenKey lifecycle and the private websocket, reconnected forever.

`UserStream` creates a listenKey (`POST /fapi/v1/listenKey`), connects
`<ws_url>/private/ws?listenKey=<key>`, hands every frame to `on_frame(raw, recv_time_ms)` and
keeps the key alive with `PUT /fapi/v1/listenKey` every `keepalive_interval_s` (Binance expires
a key 60 minutes after its creation or last keepalive). The key is POSTed again before every
connection (Binance returns the same key while it is valid, and extends it), and the socket is
reconnected when:

- the owner calls `renew()` (it saw `listenKeyExpired` on the stream),
- a keepalive answers -1125 (the key no longer exists),
- the socket fails or closes.

A renewal is reported once, as the DISCONNECTED state's detail (`<reason>; a new key is
made`): the socket it closes is its consequence, not a second event, so the owner's one line
for a link going down says both.

Every (re)connection is reported through `on_connected(n)` (n = connections so far), so the
owner can reconcile orders and positions over REST, and `on_state(state, detail)`. Failed
attempts wait with `core.backoff` (reset after a connection succeeds). A fatal REST error (bad
key, IP ban) or a bad URL ends the stream in state FAILED; `failure` holds the error. So does
an endpoint that refuses the first connection `start_refusals` times in a row (`refusal`:
nothing listens, no such host, TLS against a plain endpoint or the reverse, a 4xx answer): a
mistyped `ws_url` fails the start in about a second, not after its 30 s timeout
(`EndpointRefused`, which says whether the refusal can pass: `refusal_may_pass`). So does a
URL the websocket library refuses (InvalidURI). Once a connection has been made, every
failure is retried, as a drop during a run is.
Connections are rotated before Binance's 24-hour limit.
"""

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus, InvalidURI, WebSocketException

from core.backoff import Backoff, Sleep
from core.clock import Clock
from core.errors import ExecutionStatusUnknown, FatalError, RejectedError, RetryableError
from core.events import StreamState
from core.redaction import redact
from core.repeated_lines import RepeatedLines
from gateway.stream_link import RETRYABLE_STATUS
from rest_connect.connection import RestConnection

log = logging.getLogger(__name__)

LISTEN_KEY_GONE = -1125  # "This listenKey does not exist."
_SOCKET_ERRORS = (WebSocketException, OSError, TimeoutError)
_REST_ERRORS = (RetryableError, ExecutionStatusUnknown, RejectedError)
START_REFUSALS = 3  # refusals in a row before any connection: the endpoint is wrong


class EndpointRefused(FatalError):
    """The websocket endpoint refused every connection of the start: a wrong `ws_url`.
    `may_pass`: one of the refusals could also be an endpoint down for a moment (nothing
    listening at its port, a connection closed before any answer): a start a little later
    may get through. Otherwise (no such host, TLS the wrong way round, a 4xx answer,
    a URL the websocket library refuses) only a changed URL does."""

    def __init__(self, message: str, *, may_pass: bool) -> None:
        super().__init__(message)
        self.may_pass = may_pass


def refusal(exc: BaseException) -> str | None:
    """What a failed open attempt says when the endpoint itself refuses (nothing listens, no
    such host, TLS against a plain endpoint or the reverse, a 4xx answer), or None for a
    failure that may pass (a timeout, a reset, a 5xx, a name server that did not answer)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens at that host and port)"
    if isinstance(exc, socket.gaierror) and exc.errno != socket.EAI_AGAIN:
        return f"no such host ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        why = getattr(exc, "reason", None) or exc
        return f"TLS failed ({why}): a wss:// URL for a plain ws:// endpoint?"
    if isinstance(exc, InvalidMessage):
        return "no websocket (HTTP) answer: a ws:// URL for a TLS (wss://) endpoint?"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status not in RETRYABLE_STATUS:
            return f"answered HTTP {status} instead of a websocket (a wrong path or host?)"
    return None


def refusal_may_pass(exc: BaseException) -> bool:
    """Whether a `refusal` may also be an endpoint down for a moment rather than a wrong URL:
    nothing listening at that port (a server restarting), or a connection closed before any
    answer (a server going down; a TLS endpoint may close on a plain request too). No such
    host, TLS failing, an answer that is no HTTP and a 4xx answer say the URL is wrong."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    return isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError | OSError)


@dataclass(slots=True)
class UserStreamStats:
    connects: int = 0
    disconnects: int = 0
    frames: int = 0
    keys_created: int = 0  # POSTs, one per connection (a still-valid key comes back unchanged)
    key_renewals: int = 0  # re-creations asked for (expiry, -1125)
    keepalives: int = 0
    keepalive_failures: int = 0
    rotations: int = 0


class UserStream:
    """One user-data websocket of one account (see the module docstring)."""

    def __init__(
        self,
        *,
        rest: RestConnection,
        ws_url: str,
        on_frame: Callable[[str | bytes, int], None],
        on_connected: Callable[[int], None],
        on_state: Callable[[StreamState, str], None],
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        keepalive_interval_s: float = 1800.0,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 1.0,
        ping_interval_s: float | None = 20.0,
        max_connection_age_s: float = 23 * 3600.0,
        start_refusals: int = START_REFUSALS,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.rest = rest
        self.ws_url = ws_url.rstrip("/")
        self._on_frame = on_frame
        self._on_connected = on_connected
        self._on_state = on_state
        self.clock = clock
        self._failed_lines = RepeatedLines()
        self._sleep = sleep
        self.keepalive_interval_s = keepalive_interval_s
        self.open_timeout_s = open_timeout_s
        self.close_timeout_s = close_timeout_s
        self.ping_interval_s = ping_interval_s
        self.max_connection_age_s = max_connection_age_s
        self.start_refusals = start_refusals
        self._refused: str | None = None  # the last attempt's `refusal`, if it was one
        self._refusal_may_pass = False  # ... and whether it may pass (`refusal_may_pass`)
        self._backoff = Backoff(
            initial_s=reconnect_initial_s, max_s=reconnect_max_s, sleep=sleep, rand=rand
        )
        self.stats = UserStreamStats()
        self.listen_key: str | None = None
        self.failure: BaseException | None = None
        self.connected = asyncio.Event()  # set while a socket is open
        self.finished = asyncio.Event()  # set when the stream gave up (FAILED) or was stopped
        self._renew_key = False
        self._renew_reason = ""  # why `renew` was asked: said in the DISCONNECTED detail
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"{self.ws_url}/private/ws?listenKey={self.listen_key}"

    def start(self) -> None:
        if self._task is None:
            self.failure = None
            self.finished.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="user-stream")

    async def stop(self, *, close_key: bool = True, timeout_s: float = 2.0) -> None:
        """Close the socket and stop reconnecting; DELETE the listenKey if `close_key`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout_s)
        for closer in list(self._closers):
            closer.cancel()
        self.connected.clear()
        self.finished.set()
        key, self.listen_key = self.listen_key, None
        if close_key and key is not None:
            try:
                await asyncio.wait_for(
                    self.rest.call("futures_stream_close", listenKey=key), timeout_s
                )
            except TimeoutError:  # its str() is empty; a ban being waited out ends so, too
                log.info("user stream: listenKey close failed (no answer within %g s)", timeout_s)
            except (*_REST_ERRORS, FatalError) as exc:
                log.info("user stream: listenKey close failed (%s)", exc)

    def renew(self, reason: str) -> None:
        """Create a new listenKey and reconnect (the current key expired or is unknown)."""
        if self._renew_key:
            return
        # The DISCONNECTED report that follows says it (`_renewal`): a WARNING here as well
        # made two lines of one event.
        log.debug("user stream: listenKey renewal (%s)", reason)
        self._renew_key = True
        self._renew_reason = reason
        self.stats.key_renewals += 1
        ws = self._ws
        if ws is not None:
            closer = asyncio.get_running_loop().create_task(self._close(ws))
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    # --- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        refusals = 0  # in a row, before the first connection
        may_pass = False  # one of them may pass (`refusal_may_pass`)
        try:
            while True:
                connects = self.stats.connects
                detail = await self._attempt()
                self.connected.clear()
                if self.stats.connects > connects:
                    self._on_state(StreamState.DISCONNECTED, detail)
                else:
                    # an outage retries every few seconds: said once a minute
                    self._failed_lines.say(
                        log, logging.INFO, "connect", self.clock.now_ms(), "user stream: %s", detail
                    )
                refusals = refusals + 1 if self._refused and not self.stats.connects else 0
                may_pass = refusals > 0 and (may_pass or self._refusal_may_pass)
                if refusals and refusals >= self.start_refusals:
                    raise EndpointRefused(
                        f"the user data stream at {redact(self.ws_url)} cannot connect: "
                        f"{self._refused} ({refusals} attempts)",
                        may_pass=may_pass,
                    )
                await self._backoff.wait()
        except asyncio.CancelledError:
            raise
        except EndpointRefused as exc:
            # A start that failed, not a stream that failed: no FAILED state for the owner to
            # act on (journaled, it would hold the next start in REDUCING once ws_url is fixed).
            self._fail(exc, report=False)
        except InvalidURI as exc:
            # The URL itself (the settings refuse what they can tell): a start that failed
            # too. Said without the URL the library names, which holds the listenKey.
            refused = EndpointRefused(
                f"the user data stream at {redact(self.ws_url)} cannot connect: the websocket "
                f"library refuses the URL: {exc.msg}",
                may_pass=False,
            )
            self._fail(refused, report=False)
        except FatalError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: report it as a failed stream instead of hiding it
            log.exception("user stream: unexpected error")
            self._fail(exc)

    def _fail(self, exc: BaseException, *, report: bool = True) -> None:
        self.failure = exc
        self.connected.clear()
        self.finished.set()
        log.error("user stream failed: %s", exc)
        if report:
            self._on_state(StreamState.FAILED, str(exc))

    async def _attempt(self) -> str:
        """One key + connection; returns why it ended (retryable failures included)."""
        self._refused = None
        self._refusal_may_pass = False
        try:
            # POST before every connection: it extends a still-valid key (and returns it) or
            # creates a new one, so a reconnect after a long outage never uses a dead key.
            self._renew_key = False
            self.listen_key = await self.rest.call("futures_stream_get_listen_key")
            self.stats.keys_created += 1
            ws = await connect(
                self.url,
                open_timeout=self.open_timeout_s,
                close_timeout=self.close_timeout_s,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_interval_s,
                compression=None,
                proxy=None,
                max_size=2**22,
                max_queue=4096,
            )
        except _REST_ERRORS as exc:
            return f"listenKey: {exc}"
        except InvalidURI:
            raise
        except _SOCKET_ERRORS as exc:
            self._refused = refusal(exc)
            self._refusal_may_pass = self._refused is not None and refusal_may_pass(exc)
            return f"connect failed: {type(exc).__name__}: {exc}"
        self._ws = ws
        self.stats.connects += 1
        self._failed_lines.clear("connect")
        self._backoff.reset()
        self.connected.set()
        self._on_state(StreamState.CONNECTED, "" if self.stats.connects == 1 else "reconnected")
        self._on_connected(self.stats.connects)
        keepalive = asyncio.get_running_loop().create_task(
            self._keepalive(ws), name="user-stream-keepalive"
        )
        try:
            return await self._read(ws)
        finally:
            self._ws = None
            self.stats.disconnects += 1
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keepalive
            await self._close(ws)

    async def _read(self, ws: ClientConnection) -> str:
        on_frame = self._on_frame
        now_ms = self.clock.now_ms
        try:
            async with asyncio.timeout(self.max_connection_age_s):
                async for raw in ws:
                    self.stats.frames += 1
                    on_frame(raw, now_ms())
                    if self._renew_key:
                        return self._renewal()
        except TimeoutError:
            self.stats.rotations += 1
            return "rotated before the 24 h connection limit"
        except WebSocketException as exc:
            return f"socket error: {exc}"
        if self._renew_key:
            return self._renewal()
        return f"closed (code {ws.close_code})"

    def _renewal(self) -> str:
        """Why the socket closed when `renew` closed it: what happened and what is done."""
        return f"{self._renew_reason}; a new key is made"

    async def _keepalive(self, ws: ClientConnection) -> None:
        """PUT the key every interval; -1125 means it is gone: renew and reconnect."""
        while True:
            await self._sleep(self.keepalive_interval_s)
            key = self.listen_key
            if key is None:
                return
            try:
                await self.rest.call("futures_stream_keepalive", listenKey=key)
                self.stats.keepalives += 1
            except RejectedError as exc:
                self.stats.keepalive_failures += 1
                if exc.code == LISTEN_KEY_GONE:
                    self.renew("the keepalive found the listenKey gone, -1125")
                    return
                log.warning("user stream: keepalive rejected: %s", exc)
            except (RetryableError, ExecutionStatusUnknown, FatalError) as exc:
                self.stats.keepalive_failures += 1
                log.warning("user stream: keepalive failed: %s", exc)

    async def _close(self, ws: ClientConnection) -> None:
        try:
            async with asyncio.timeout(self.close_timeout_s):
                await ws.close()
        except (TimeoutError, *_SOCKET_ERRORS):
            ws.transport.abort()
