"""python-binance helpers pointed at a `LocalExchange` (never at a non-loopback address).

`make_async_client(ex)` builds `binance.AsyncClient` without its network-touching `create()`,
sets every REST base URL to the local server (futures `FUTURES_URL = <rest>/fapi`, spot
`API_URL = <rest>/api`, and the other families to the same loopback host), then performs what
`create()` would: ping `/api/v3/ping` and learn `timestamp_offset` from `/api/v3/time`.
In stepped mode the client instead tracks the exchange's (unskewed) clock exactly, because the
test moves that clock faster than real time; the clock-skew fault still shows up as -1021.
"""

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from binance import AsyncClient
from binance.ws.streams import BinanceSocketManager

_OTHER_URL_ATTRS = (
    "API_TESTNET_URL",
    "API_DEMO_URL",
    "MARGIN_API_URL",
    "WEBSITE_URL",
    "FUTURES_TESTNET_URL",
    "FUTURES_DEMO_URL",
    "FUTURES_DATA_URL",
    "FUTURES_DATA_TESTNET_URL",
    "FUTURES_COIN_URL",
    "FUTURES_COIN_TESTNET_URL",
    "FUTURES_COIN_DEMO_URL",
    "FUTURES_COIN_DATA_URL",
    "FUTURES_COIN_DATA_TESTNET_URL",
    "OPTIONS_URL",
    "OPTIONS_TESTNET_URL",
    "PAPI_URL",
)


class _ClockTrackingClient(AsyncClient):
    """AsyncClient whose timestamp offset follows a stepped exchange clock."""

    _exchange: Any = None

    @property  # type: ignore[override]
    def timestamp_offset(self) -> int:
        if self._exchange is None:
            return 0
        return self._exchange.clock.base_now_ms() - time.time_ns() // 1_000_000

    @timestamp_offset.setter
    def timestamp_offset(self, value: int) -> None:
        """Ignored: the offset is always derived from the exchange clock."""


def point_client_at(client: AsyncClient, rest_url: str) -> AsyncClient:
    """Rewrite every REST base URL of `client` to the local server."""
    client.API_URL = f"{rest_url}/api"
    client.FUTURES_URL = f"{rest_url}/fapi"
    for attr in _OTHER_URL_ATTRS:
        setattr(client, attr, f"{rest_url}/unsupported")
    ws_base = rest_url.replace("http://", "ws://", 1)
    for name in ("ws_api", "ws_future"):  # the WS-API is not served; never reach a real host
        api = getattr(client, name, None)
        if api is not None and hasattr(api, "_url"):
            api._url = f"{ws_base}/unsupported"
    return client


async def make_async_client(
    ex: Any, api_key: str | None = None, api_secret: str | None = None
) -> AsyncClient:
    """A ready python-binance AsyncClient for `ex` (default: the demo account's key)."""
    key = api_key if api_key is not None else ex.api_key
    secret = api_secret if api_secret is not None else ex.api_secret
    if ex.clock.stepped:
        client: AsyncClient = _ClockTrackingClient(key, secret)
        client._exchange = ex
    else:
        client = AsyncClient(key, secret)
    point_client_at(client, ex.rest_url)
    try:
        await client.ping()
        if not ex.clock.stepped:
            server = await client.get_server_time()
            client.timestamp_offset = server["serverTime"] - time.time_ns() // 1_000_000
    except Exception:
        await client.close_connection()
        raise
    return client


@contextlib.asynccontextmanager
async def connected_client(ex: Any, *args: Any, **kwargs: Any) -> AsyncIterator[AsyncClient]:
    """`async with connected_client(ex) as client:` make_async_client, closed on the way out."""
    client = await make_async_client(ex, *args, **kwargs)
    try:
        yield client
    finally:
        await client.close_connection()


def make_socket_manager(client: AsyncClient, ex: Any, **kwargs: Any) -> BinanceSocketManager:
    """A BinanceSocketManager whose futures stream URLs point at `ex`."""
    manager = BinanceSocketManager(client, **kwargs)
    for attr in ("FSTREAM_URL", "FSTREAM_TESTNET_URL", "FSTREAM_DEMO_URL"):
        setattr(manager, attr, f"{ex.ws_url}/")
    for attr in dir(manager):  # spot / coin-M streams are not served: keep them on loopback
        if attr.endswith("_URL") and not attr.startswith("FSTREAM"):
            value = getattr(manager, attr)
            if isinstance(value, str) and value.startswith("wss://"):
                setattr(manager, attr, f"{ex.ws_url}/unsupported/")
    return manager
