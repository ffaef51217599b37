"""REST-level faults: injected 429s, mid-response drops, latency, clock skew, admin endpoint."""

import logging
import time

import aiohttp
import pytest

from tests.gateway.fake_exchange import wait_for


async def _get(url: str) -> tuple[int, dict, object]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_injected_429_hits_exactly_the_next_n_requests(local_exchange) -> None:
    local_exchange.faults.rest_rate_limit(count=2, retry_after_s=7)

    results = [await _get(f"{local_exchange.rest_url}/fapi/v1/ping") for _ in range(3)]

    assert [status for status, _, _ in results] == [429, 429, 200]
    assert results[0][1]["Retry-After"] == "7"
    assert results[0][2]["code"] == -1003


async def test_injected_ban_answers_418_with_its_end_until_it_is_over(local_exchange) -> None:
    url = f"{local_exchange.rest_url}/fapi/v1/ping"
    local_exchange.faults.rest_ban(seconds=0.5)
    began_ms = local_exchange.now_ms()

    first = await _get(url)
    second = await _get(url)
    statuses = [second[0]]
    while statuses[-1] == 418:  # the ban ends 0.5 s after the first request
        statuses.append((await _get(url))[0])

    status, headers, body = first
    until = local_exchange.faults.rest_ban_until_ms
    assert (status, headers["Retry-After"]) == (418, "1")
    assert body == {
        "code": -1003,
        "msg": f"Way too many requests; IP banned until {until}. "
        "Please use the websocket for live updates to avoid bans.",
    }
    assert began_ms + 500 <= until <= local_exchange.now_ms() + 500
    assert second[2] == body  # the same end for every request of the ban
    assert statuses[-1] == 200
    assert local_exchange.faults.rest_ban_hits == len(statuses)  # the first and every 418 after


async def test_drop_mid_response_cuts_the_body_of_the_next_n_requests(local_exchange) -> None:
    local_exchange.faults.rest_drop_mid_response(count=1)
    url = f"{local_exchange.rest_url}/fapi/v1/exchangeInfo"

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(url) as resp:
                await resp.read()
        async with session.get(url) as resp:
            healthy = resp.status, len(await resp.read())

    assert healthy[0] == 200
    assert healthy[1] > 100


async def test_rest_latency_delays_responses(local_exchange) -> None:
    local_exchange.faults.latency(rest_s=0.3)

    started = time.monotonic()
    status, _, _ = await _get(f"{local_exchange.rest_url}/fapi/v1/ping")
    elapsed = time.monotonic() - started

    assert status == 200
    assert elapsed >= 0.3


async def test_clock_skew_moves_server_time(local_exchange) -> None:
    _, _, before = await _get(f"{local_exchange.rest_url}/fapi/v1/time")
    local_exchange.faults.clock_skew(-120_000)

    _, _, after = await _get(f"{local_exchange.rest_url}/fapi/v1/time")

    assert before["serverTime"] - after["serverTime"] >= 119_000


async def test_admin_endpoint_is_404_without_admin_mode(local_exchange) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{local_exchange.rest_url}/_sim/faults", json={"fault": "rest_rate_limit", "count": 1}
        ) as resp,
    ):
        status = resp.status

    assert status == 404


async def test_admin_endpoint_applies_a_fault(exchange_factory) -> None:
    ex = await exchange_factory(admin=True)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{ex.rest_url}/_sim/faults",
            json={"fault": "rest_rate_limit", "count": 1, "retry_after_s": 3},
        ) as resp:
            applied = resp.status
        async with session.get(f"{ex.rest_url}/fapi/v1/ping") as resp:
            limited = resp.status, resp.headers["Retry-After"]
        async with session.post(f"{ex.rest_url}/_sim/faults", json={"fault": "nope"}) as resp:
            rejected = resp.status

    assert applied == 200
    assert limited == (429, "3")
    assert rejected == 400


async def test_admin_clear_switches_faults_off(exchange_factory) -> None:
    ex = await exchange_factory(admin=True)
    ex.faults.rest_rate_limit(count=5)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{ex.rest_url}/_sim/faults", json={"fault": "clear"}) as resp:
            assert resp.status == 200
        async with session.get(f"{ex.rest_url}/fapi/v1/ping") as resp:
            status = resp.status

    assert status == 200


async def test_a_client_gone_before_its_body_is_read_is_one_info_line_not_a_traceback(
    local_exchange, caplog
) -> None:
    """Under injected latency a daemon's order request timed out and it closed the connection;
    the server, reading the body after the delay, printed 'unhandled error' with a traceback
    to the operator's console. Nothing was executed and nobody is left to answer."""
    local_exchange.faults.latency(rest_s=0.5)
    url = f"{local_exchange.rest_url}/fapi/v1/order"
    gone = aiohttp.ClientTimeout(total=0.1)

    with caplog.at_level(logging.INFO, logger="exchange_sim.server.rest"):
        async with aiohttp.ClientSession(timeout=gone) as session:
            with pytest.raises(TimeoutError):
                await session.post(url, data="symbol=BTCUSDT&side=BUY&type=MARKET")
        await wait_for(lambda: caplog.records, timeout_s=5.0)

    [said] = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert said == (
        "INFO",
        "POST /fapi/v1/order: the client went away before its request was read; nothing done",
        None,
    )
