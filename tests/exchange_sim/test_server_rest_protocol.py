"""REST protocol rules at the HTTP level: errors, params, weights, 429 and 418 bans, API keys."""

import aiohttp
import pytest

from exchange_sim.server import RateLimitConfig


async def _get(url: str, **kwargs) -> tuple[int, dict, object]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_unknown_path_is_404_json(local_exchange) -> None:
    status, headers, body = await _get(f"{local_exchange.rest_url}/fapi/v1/nothing")

    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == {"code", "msg"}


async def test_every_response_carries_used_weight_header(local_exchange) -> None:
    _, first, _ = await _get(f"{local_exchange.rest_url}/fapi/v1/ping")
    _, second, _ = await _get(f"{local_exchange.rest_url}/fapi/v1/exchangeInfo")
    _, error, _ = await _get(f"{local_exchange.rest_url}/fapi/v1/depth?symbol=NOPE")

    assert int(first["X-MBX-USED-WEIGHT-1M"]) == 1
    assert int(second["X-MBX-USED-WEIGHT-1M"]) == 2
    assert int(error["X-MBX-USED-WEIGHT-1M"]) == 12


async def test_query_string_value_wins_over_form_body(local_exchange) -> None:
    base = f"{local_exchange.rest_url}/fapi/v1/listenKey"
    headers = {"X-MBX-APIKEY": local_exchange.api_key}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(base) as resp:
            key = (await resp.json())["listenKey"]
        async with session.put(
            f"{base}?listenKey={key}",
            data="listenKey=" + "B" * 64,
            headers={"Content-Type": "application/json"},  # ignored: the body is a form
        ) as resp:
            status, body = resp.status, await resp.json()

    assert (status, body) == (200, {"listenKey": key})


async def test_form_body_is_read_whatever_the_content_type(local_exchange) -> None:
    base = f"{local_exchange.rest_url}/fapi/v1/listenKey"
    headers = {"X-MBX-APIKEY": local_exchange.api_key}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(base) as resp:
            assert resp.status == 200
        async with session.put(
            base, data="listenKey=" + "B" * 64, headers={"Content-Type": "application/json"}
        ) as resp:
            status, body = resp.status, await resp.json()

    assert (status, body["code"]) == (400, -1125)


async def test_known_path_with_wrong_method_is_405_json(local_exchange) -> None:
    url = f"{local_exchange.rest_url}/fapi/v1/depth"
    async with aiohttp.ClientSession() as session, session.delete(url) as resp:
        status, body = resp.status, await resp.json()

    assert status == 405
    assert set(body) == {"code", "msg"}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/fapi/v1/depth", -1102),
        ("/fapi/v1/depth?symbol=NOPE", -1121),
        ("/fapi/v1/depth?symbol=BTCUSDT&limit=7", -4021),
        ("/fapi/v1/depth?symbol=BTCUSDT&limit=abc", -1100),
        ("/fapi/v1/klines?symbol=BTCUSDT&interval=7m", -1120),
        ("/fapi/v1/klines?symbol=BTCUSDT", -1102),
        ("/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1001", -1130),
        ("/fapi/v1/aggTrades?symbol=BTCUSDT&startTime=0&endTime=3600001", -1127),
    ],
)
async def test_bad_market_data_params_get_documented_codes(local_exchange, path, code) -> None:
    status, _, body = await _get(f"{local_exchange.rest_url}{path}")

    assert status == 400
    assert body["code"] == code


async def test_over_weight_limit_answers_429_with_retry_after(exchange_factory) -> None:
    ex = await exchange_factory(rate_limits=RateLimitConfig(weight_limit=3))
    statuses = []
    for _ in range(4):
        status, headers, body = await _get(f"{ex.rest_url}/fapi/v1/ping")
        statuses.append(status)

    assert statuses == [200, 200, 200, 429]
    assert body["code"] == -1003
    assert int(headers["Retry-After"]) >= 1
    assert headers["X-MBX-USED-WEIGHT-1M"] == "4"


async def test_ignoring_429_leads_to_418_ban_with_retry_after(exchange_factory) -> None:
    ex = await exchange_factory(
        rate_limits=RateLimitConfig(weight_limit=2, ban_after_ignored=2, ban_base_ms=120_000)
    )
    statuses = []
    for _ in range(6):
        status, headers, body = await _get(f"{ex.rest_url}/fapi/v1/ping")
        statuses.append(status)

    assert statuses == [200, 200, 429, 429, 418, 418]
    assert body["code"] == -1003
    assert "banned until" in body["msg"]
    assert 100 <= int(headers["Retry-After"]) <= 120


async def test_ban_duration_escalates(exchange_factory) -> None:
    ex = await exchange_factory(
        rate_limits=RateLimitConfig(
            weight_limit=1, ban_after_ignored=1, ban_base_ms=1000, weight_window_ms=60_000
        )
    )
    limiter = ex.limiter
    durations = []
    for _ in range(2):
        for _ in range(3):
            status, headers, _ = await _get(f"{ex.rest_url}/fapi/v1/ping")
        assert status == 418
        durations.append(int(headers["Retry-After"]))
        limiter._ips["127.0.0.1"].banned_until_ms = 0  # let the ban lapse without waiting

    assert durations == [1, 2]


async def test_listen_key_without_api_key_is_401_2014(local_exchange) -> None:
    url = f"{local_exchange.rest_url}/fapi/v1/listenKey"
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        status, body = resp.status, await resp.json()

    assert (status, body["code"]) == (401, -2014)


async def test_malformed_api_key_is_401_2014(local_exchange) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{local_exchange.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "short"}
        ) as resp,
    ):
        status, body = resp.status, await resp.json()

    assert (status, body["code"]) == (401, -2014)


async def test_unknown_api_key_is_401_2015(local_exchange) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{local_exchange.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "A" * 64}
        ) as resp,
    ):
        status, body = resp.status, await resp.json()

    assert (status, body["code"]) == (401, -2015)
    assert body["msg"].startswith("Invalid API-key, IP, or permissions for action")
