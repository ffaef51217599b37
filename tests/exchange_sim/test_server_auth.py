"""Authentication of SIGNED endpoints exactly as reference section 2 (HTTP level, raw requests)."""

import aiohttp
import pytest
from binance.exceptions import BinanceAPIException

from exchange_sim.server import AuthConfig
from exchange_sim.server.signing import sign


async def _send(
    ex,
    method: str,
    path: str,
    *,
    query: str = "",
    body: str = "",
    key: str | None = None,
) -> tuple[int, dict]:
    headers = {"X-MBX-APIKEY": key if key is not None else ex.api_key}
    url = f"{ex.rest_url}{path}" + (f"?{query}" if query else "")
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body or None, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def _signed(secret: str, payload: str) -> str:
    return f"{payload}&signature={sign(secret, payload)}"


async def test_signed_query_string_is_accepted(local_exchange) -> None:
    payload = f"timestamp={local_exchange.now_ms()}"

    status, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed(local_exchange.api_secret, payload)
    )

    assert status == 200
    assert body[0]["asset"] == "USDT"


async def test_query_and_body_signed_together_are_accepted(local_exchange) -> None:
    query = "symbol=BTCUSDT"
    body = f"leverage=7&recvWindow=5000&timestamp={local_exchange.now_ms()}"
    signature = sign(local_exchange.api_secret, query + body)

    status, reply = await _send(
        local_exchange,
        "POST",
        "/fapi/v1/leverage",
        query=query,
        body=f"{body}&signature={signature.upper()}",
    )

    assert status == 200
    assert reply["leverage"] == 7


async def test_wrong_signature_is_1022(local_exchange) -> None:
    payload = f"timestamp={local_exchange.now_ms()}"

    status, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed("not-the-secret", payload)
    )

    assert (status, body) == (
        400,
        {"code": -1022, "msg": "Signature for this request is not valid."},
    )


async def test_missing_signature_is_1102(local_exchange) -> None:
    status, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=f"timestamp={local_exchange.now_ms()}"
    )

    assert (status, body["code"]) == (400, -1102)
    assert "'signature'" in body["msg"]


async def test_missing_timestamp_is_1102(local_exchange) -> None:
    status, body = await _send(
        local_exchange,
        "GET",
        "/fapi/v2/balance",
        query=_signed(local_exchange.api_secret, "recvWindow=5000"),
    )

    assert (status, body["code"]) == (400, -1102)
    assert "'timestamp'" in body["msg"]


async def test_old_timestamp_is_1021_outside_recv_window(local_exchange) -> None:
    payload = f"recvWindow=5000&timestamp={local_exchange.now_ms() - 5001}"

    status, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed(local_exchange.api_secret, payload)
    )

    assert (status, body) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
    )


async def test_default_recv_window_is_5000_ms(local_exchange) -> None:
    fresh = f"timestamp={local_exchange.now_ms() - 4900}"
    stale = f"timestamp={local_exchange.now_ms() - 5100}"

    ok, _ = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed(local_exchange.api_secret, fresh)
    )
    late, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed(local_exchange.api_secret, stale)
    )

    assert (ok, late, body["code"]) == (200, 400, -1021)


async def test_timestamp_a_second_ahead_is_1021(local_exchange) -> None:
    payload = f"timestamp={local_exchange.now_ms() + 1000}"

    status, body = await _send(
        local_exchange, "GET", "/fapi/v2/balance", query=_signed(local_exchange.api_secret, payload)
    )

    assert (status, body) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."},
    )


async def test_recv_window_above_cap_is_rejected(exchange_factory) -> None:
    ex = await exchange_factory(auth_config=AuthConfig(max_recv_window_ms=10_000))
    payload = f"recvWindow=10001&timestamp={ex.now_ms()}"

    status, body = await _send(ex, "GET", "/fapi/v2/balance", query=_signed(ex.api_secret, payload))

    assert (status, body["code"]) == (400, -1131)


async def test_key_without_trade_permission_is_2015_on_trade_endpoint(local_exchange) -> None:
    read_only = local_exchange.create_account(can_trade=False)
    payload = f"symbol=BTCUSDT&leverage=3&timestamp={local_exchange.now_ms()}"

    status, body = await _send(
        local_exchange,
        "POST",
        "/fapi/v1/leverage",
        body=_signed(read_only.api_secret, payload),
        key=read_only.api_key,
    )
    data_status, _ = await _send(
        local_exchange,
        "GET",
        "/fapi/v2/balance",
        query=_signed(read_only.api_secret, f"timestamp={local_exchange.now_ms()}"),
        key=read_only.api_key,
    )

    assert (status, body["code"]) == (401, -2015)
    assert data_status == 200


@pytest.mark.parametrize("key", ["", "x" * 10, "A" * 63 + "!"])
async def test_malformed_key_on_signed_endpoint_is_2014(local_exchange, key: str) -> None:
    payload = f"timestamp={local_exchange.now_ms()}"

    status, body = await _send(
        local_exchange,
        "GET",
        "/fapi/v2/balance",
        query=_signed(local_exchange.api_secret, payload),
        key=key,
    )

    assert (status, body) == (401, {"code": -2014, "msg": "API-key format invalid."})


async def test_clock_skew_fault_makes_client_timestamps_fail_1021(
    local_exchange, binance_client
) -> None:
    local_exchange.faults.clock_skew(60_000)

    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_account_balance()

    assert info.value.code == -1021
