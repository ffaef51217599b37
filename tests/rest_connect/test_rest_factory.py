"""Client construction: every base URL on the configured host, nothing sent before start."""

import logging
import socket

import pytest

from core.clock import LiveClock
from core.errors import FatalError, RetryableError
from rest_connect import build_client, create_rest_connection
from rest_connect.rest_factory import normalise_rest_url


def url_attrs(client) -> dict[str, str]:
    return {
        attr: getattr(client, attr)
        for attr in dir(client)
        if attr.endswith("_URL") and isinstance(getattr(client, attr, None), str)
    }


@pytest.mark.parametrize(
    "rest_url", ["http://127.0.0.1:8123", "https://testnet.binancefuture.com/"]
)
async def test_every_base_url_points_at_the_configured_host(rest_url: str) -> None:
    client = build_client(
        rest_url=rest_url, api_key="k", api_secret="s", recv_window_ms=5000, timeout_s=10.0
    )
    try:
        urls = url_attrs(client)
        base = rest_url.rstrip("/")
        ws_base = base.replace("http", "ws", 1)
        futures_url = urls.pop("FUTURES_URL")

        assert futures_url == f"{base}/fapi"
        assert all(u in (f"{base}/unsupported", f"{ws_base}/unsupported") for u in urls.values())
        assert client.ws_api._url == f"{ws_base}/unsupported"
        assert client.ws_future._url == f"{ws_base}/unsupported"
        assert client.REQUEST_RECVWINDOW == 5000
    finally:
        await client.close_connection()


@pytest.mark.parametrize("bad", ["fapi.binance.com", "ftp://x", "http://", ""])
def test_rest_url_without_http_scheme_and_host_is_fatal(bad: str) -> None:
    with pytest.raises(FatalError, match="rest_url"):
        normalise_rest_url(bad)


async def test_unreachable_venue_fails_retryably_after_the_attempts_each_retry_said(
    caplog,
) -> None:
    # Each retry is logged: a venue that never answered held the start ~45 s (4 attempts x
    # 10 s timeouts) with nothing on the console before the one-line error: it looked like a
    # hang.
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    with caplog.at_level(logging.WARNING), pytest.raises(RetryableError, match="futures_time"):
        await create_rest_connection(
            rest_url=f"http://127.0.0.1:{port}",
            api_key="k",
            api_secret="s",
            clock=LiveClock(),
            sleep=no_wait,
            max_attempts=3,
        )

    assert len(waits) == 2  # three attempts, two backoff waits
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 2  # three attempts: two retries, each said once
    assert all(m.startswith("measuring the exchange clock: futures_time") for m in said)
    assert all(" retry in " in m for m in said)
