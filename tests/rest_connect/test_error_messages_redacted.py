"""A failed request's message never carries its HMAC signature: python-binance signs a GET in
its URL, and aiohttp quotes that URL in some errors (a 2xx answer that is not JSON, e.g. the
page of a proxy or captive portal). The message reaches logs, the journal (an order's reason),
status.json and the daemon's one-line exit."""

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from core.clock import LiveClock
from core.errors import RetryableError
from rest_connect import create_rest_connection
from rest_connect.errors import redact

KEY = "K" * 64
SECRET = "S" * 64
SIGNATURE = re.compile(r"signature=[0-9a-fA-F]{8}")


@pytest.fixture
async def proxy_page() -> AsyncIterator[str]:
    """A venue whose signed GETs answer 200 with an HTML page (no JSON)."""

    async def time_(_: web.Request) -> web.Response:
        return web.json_response({"serverTime": 1_700_000_000_000})

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html>sign in to the network</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/fapi/v1/time", time_)
    app.router.add_get("/fapi/{version}/account", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_non_json_answer_to_a_signed_get_is_reported_without_its_signature(
    proxy_page: str,
) -> None:
    conn = await create_rest_connection(
        rest_url=proxy_page, api_key=KEY, api_secret=SECRET, clock=LiveClock(), max_attempts=1
    )
    try:
        with pytest.raises(RetryableError) as caught:
            await conn.call("futures_account")
    finally:
        await conn.close()

    message = str(caught.value)
    assert "futures_account" in message and "/account" in message  # still says what failed
    assert not SIGNATURE.search(message), message


def test_redact_scrubs_signatures_and_listen_keys_as_well_as_the_secrets() -> None:
    listen_key = "L" * 64
    text = (
        f"url='http://h/fapi/v1/order?symbol=X&timestamp=1&signature={'ab' * 32}' "
        f"ws://h/private/ws?listenKey={listen_key} key {KEY}"
    )

    out = redact(text, (KEY,))

    assert "ab" * 32 not in out and listen_key not in out and KEY not in out
    assert "symbol=X&timestamp=1" in out
