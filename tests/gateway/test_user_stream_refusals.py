"""The user stream at start and during a run: an endpoint that refuses the first connection is
a wrong `ws_url` (the start fails in about a second); one that refuses after a connection was
made is an outage (retried until it answers again, as a dropped socket is)."""

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.http11 import Response

from core.clock import LiveClock
from core.events import StreamState
from gateway.user_stream import (
    START_REFUSALS,
    EndpointRefused,
    UserStream,
    refusal,
    refusal_may_pass,
)
from rest_connect import create_rest_connection
from tests.gateway.venue_harness import start_exchange


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "", Headers()))


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (
            ConnectionRefusedError(111, "Connect call failed"),
            "connection refused (nothing listens at that host and port)",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "no such host (Name or service not known)",
        ),
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            "TLS failed ([SSL: WRONG_VERSION_NUMBER] wrong version number): a wss:// URL for a "
            "plain ws:// endpoint?",
        ),
        (
            InvalidMessage("did not receive a valid HTTP response"),
            "no websocket (HTTP) answer: a ws:// URL for a TLS (wss://) endpoint?",
        ),
        (_status(404), "answered HTTP 404 instead of a websocket (a wrong path or host?)"),
    ],
)
def test_what_says_the_endpoint_itself_refuses(exc, said):
    assert refusal(exc) == said


def _closed_without_an_answer() -> InvalidMessage:
    exc = InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = EOFError("connection closed while reading HTTP status line")
    return exc


def _no_http_answer() -> InvalidMessage:
    exc = InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = ValueError("unsupported protocol; expected HTTP/1.1: '\\x15\\x03\\x01'")
    return exc


@pytest.mark.parametrize(
    ("exc", "may_pass"),
    [
        # nothing listens there: the endpoint may be restarting
        (ConnectionRefusedError(111, "Connect call failed"), True),
        # closed before any answer: a server going down (or TLS closing on plain text)
        (_closed_without_an_answer(), True),
        # these repeat until the URL is changed
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), False),
        (_no_http_answer(), False),
        (_status(404), False),
    ],
    ids=["refused", "closed", "no_such_host", "tls", "not_http", "http_404"],
)
def test_which_refusals_may_pass_and_which_say_the_url_is_wrong(exc, may_pass):
    assert refusal(exc) is not None
    assert refusal_may_pass(exc) is may_pass


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        ConnectionResetError(104, "Connection reset by peer"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        _status(503),
        _status(429),
    ],
)
def test_failures_that_may_pass_are_no_refusal(exc):
    assert refusal(exc) is None


class Relay:
    """A loopback TCP relay to `port` that can stop listening (its connections cut, new ones
    refused: nothing listens) and listen again on the same port."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ex() -> AsyncIterator[Any]:
    exchange = await start_exchange()
    yield exchange
    await exchange.stop()


async def _until(predicate, timeout_s: float = 10.0) -> None:
    """Wait until `predicate()` holds, checked every 10 ms."""
    never = asyncio.Event()
    async with asyncio.timeout(timeout_s):
        while not predicate():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(never.wait(), 0.01)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_refused_endpoint_during_a_run_is_retried_until_it_answers_again(ex, caplog):
    creds = ex.create_account()
    clock = LiveClock()
    rest = await create_rest_connection(
        rest_url=ex.rest_url, api_key=creds.api_key, api_secret=creds.api_secret, clock=clock
    )
    relay = Relay(urlsplit(ex.ws_url).port or 0)
    await relay.listen()
    states: list[StreamState] = []
    stream = UserStream(
        rest=rest,
        ws_url=f"ws://127.0.0.1:{relay.port}",
        on_frame=lambda raw, t: None,
        on_connected=lambda n: None,
        on_state=lambda state, detail: states.append(state),
        clock=clock,
        reconnect_initial_s=0.02,
        reconnect_max_s=0.05,
    )
    # the repeats of a failure are said at DEBUG (once a minute at INFO): every attempt counts
    caplog.set_level(logging.DEBUG, logger="gateway.user_stream")

    def refused() -> int:
        return sum("connect failed: ConnectionRefusedError" in m for m in caplog.messages)

    try:
        stream.start()
        await _until(stream.connected.is_set)
        await relay.stop()  # the socket cut, then nothing listens there
        await _until(lambda: refused() >= START_REFUSALS + 3)
        assert not stream.finished.is_set()
        await relay.listen()  # the same port again

        await _until(stream.connected.is_set)
    finally:
        await stream.stop(close_key=False)
        await rest.close()

    assert stream.stats.connects == 2 and stream.failure is None
    assert StreamState.FAILED not in states
    assert states[:2] == [StreamState.CONNECTED, StreamState.DISCONNECTED]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_url_the_websocket_library_refuses_fails_the_start_without_a_failed_stream(ex):
    """A fragment in `ws_url` (the settings refuse it now; the stream does not rely on that):
    the library refused the URL with the listenKey in it, the stream reported FAILED with
    that URL as its reason, and the daemon journaled REDUCING (the listenKey in the journal)
    and failed its start with exit 1. It is a start that failed, as an endpoint refusing is,
    which no restart clears, said without the listenKey."""
    creds = ex.create_account()
    clock = LiveClock()
    rest = await create_rest_connection(
        rest_url=ex.rest_url, api_key=creds.api_key, api_secret=creds.api_secret, clock=clock
    )
    states: list[StreamState] = []
    stream = UserStream(
        rest=rest,
        ws_url=f"{ex.ws_url}#live",
        on_frame=lambda raw, t: None,
        on_connected=lambda n: None,
        on_state=lambda state, detail: states.append(state),
        clock=clock,
    )
    try:
        stream.start()
        await asyncio.wait_for(stream.finished.wait(), 10)
        key = stream.listen_key
    finally:
        await stream.stop(close_key=False)
        await rest.close()

    failure = stream.failure
    assert isinstance(failure, EndpointRefused) and failure.may_pass is False
    assert str(failure) == (
        f"the user data stream at {ex.ws_url}#live cannot connect: the websocket library "
        "refuses the URL: fragment identifier is meaningless"
    )
    assert key and key not in str(failure)
    assert states == []


class _SilentRest:
    """A REST connection whose calls never answer (an IP ban waited out, a dead link)."""

    async def call(self, method: str, **params: Any) -> Any:
        await asyncio.Event().wait()


async def test_a_listen_key_close_without_an_answer_says_so(caplog):
    stream = UserStream(
        rest=_SilentRest(),  # type: ignore[arg-type]
        ws_url="ws://127.0.0.1:9",
        on_frame=lambda frame, recv_ms: None,
        on_connected=lambda recv_ms: None,
        on_state=lambda state, detail: None,
        clock=LiveClock(),
    )
    stream.listen_key = "k" * 60
    with caplog.at_level(logging.INFO, logger="gateway.user_stream"):
        await stream.stop(timeout_s=0.05)

    assert "listenKey close failed (no answer within 0.05 s)" in caplog.text
