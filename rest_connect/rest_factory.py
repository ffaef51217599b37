"""Build a `RestConnection` for one venue: local exchange, testnet, live or any `[endpoints]` URL.

The python-binance client is built without `AsyncClient.create()`, which would ping and ask
the time of the *spot* API. Instead `FUTURES_URL` becomes `<rest_url>/fapi` and every other
base URL of the client (spot, margin, coin-M, options, portfolio margin, the WebSocket APIs)
points at `<rest_url>/unsupported`, so no call can reach a host other than the configured
one (a loopback `rest_url` keeps the daemon on loopback). The clock offset is then measured
with `GET /fapi/v1/time`.
"""

import asyncio
from typing import Any
from urllib.parse import urlsplit

from core.backoff import Sleep
from core.clock import LiveClock
from core.errors import FatalError

from .connection import RestConnection, TrackedClient
from .rate_governor import RateGovernor

_FUTURES_ATTR = "FUTURES_URL"
_WS_API_ATTRS = ("ws_api", "ws_future")  # python-binance WebSocket-API clients (not used)


def normalise_rest_url(rest_url: str) -> str:
    """`rest_url` without a trailing slash; FatalError unless it is an http(s) URL with a host."""
    parts = urlsplit(rest_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FatalError(
            f"rest_url must be an http(s) URL such as https://fapi.binance.com, got {rest_url!r}"
        )
    return rest_url.strip().rstrip("/")


def point_client_at(client: Any, rest_url: str) -> Any:
    """Rewrite every base URL of a python-binance client: futures to `rest_url`, the rest away.

    Generic over the client's `*_URL` attributes, so a python-binance upgrade that adds a new
    API family cannot silently send requests to a real Binance host.
    """
    base = normalise_rest_url(rest_url)
    unsupported = f"{base}/unsupported"
    ws_unsupported = base.replace("http", "ws", 1) + "/unsupported"
    for attr in dir(client):
        if not attr.endswith("_URL") or attr == _FUTURES_ATTR:
            continue
        value = getattr(client, attr, None)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            setattr(client, attr, unsupported)
        elif isinstance(value, str) and value.startswith(("ws://", "wss://")):
            setattr(client, attr, ws_unsupported)
    setattr(client, _FUTURES_ATTR, f"{base}/fapi")
    for name in _WS_API_ATTRS:
        api = getattr(client, name, None)
        if api is not None and hasattr(api, "_url"):
            api._url = ws_unsupported
    return client


def build_client(
    *, rest_url: str, api_key: str, api_secret: str, recv_window_ms: int, timeout_s: float
) -> TrackedClient:
    """A python-binance client for `rest_url` that has sent nothing yet."""
    if recv_window_ms <= 0 or timeout_s <= 0:
        raise FatalError(
            f"recv_window_ms and timeout_s must be positive ({recv_window_ms}, {timeout_s})"
        )
    client = TrackedClient(api_key or None, api_secret or None)
    point_client_at(client, rest_url)
    client.REQUEST_RECVWINDOW = recv_window_ms  # python-binance adds it to every signed request
    client.REQUEST_TIMEOUT = timeout_s  # aiohttp total timeout: connect, send, read
    # aiohttp re-sends PUT/DELETE once when a kept-alive connection breaks under them; a cancel
    # must not be sent twice behind our back either (the caller resolves unknown outcomes).
    if hasattr(client.session, "_retry_connection"):
        client.session._retry_connection = False
    return client


async def create_rest_connection(
    *,
    rest_url: str,
    api_key: str,
    api_secret: str,
    clock: LiveClock,
    sleep: Sleep = asyncio.sleep,
    recv_window_ms: int = 5000,
    timeout_s: float = 10.0,
    governor: RateGovernor | None = None,
    max_attempts: int = 4,
    time_samples: int = 3,
) -> RestConnection:
    """A connected `RestConnection` whose `clock` tracks the exchange's clock.

    `governor` defaults to Binance's published limits with 0.9 headroom (replace them from
    exchangeInfo `rateLimits` with `governor.set_limits(limits_from_exchange_info(...))`).
    Raises RetryableError if the venue cannot be reached, FatalError for a bad URL.
    """
    client = build_client(
        rest_url=rest_url,
        api_key=api_key,
        api_secret=api_secret,
        recv_window_ms=recv_window_ms,
        timeout_s=timeout_s,
    )
    connection = RestConnection(
        client=client,
        clock=clock,
        governor=governor or RateGovernor(clock=clock, sleep=sleep),
        sleep=sleep,
        recv_window_ms=recv_window_ms,
        max_attempts=max_attempts,
        time_samples=time_samples,
    )
    try:
        await connection.sync_time()
    except BaseException:
        await connection.close()
        raise
    return connection
