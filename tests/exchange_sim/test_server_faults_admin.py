"""The admin faults endpoint under bad input (issue 8, item 7): wrong types, negative counts and
absurd values are refused with a 400 JSON error and change nothing, so no request can leave the
server answering 500 or 429 for good."""

import aiohttp
import pytest

from exchange_sim.server.faults import MAX_SKEW_MS, Faults


@pytest.fixture
async def admin(exchange_factory):
    return await exchange_factory(data=None, admin=True)


async def _post(ex, body: bytes) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{ex.rest_url}/_sim/faults", data=body) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def _ping(ex) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{ex.rest_url}/fapi/v1/ping") as r:
        return r.status


@pytest.mark.parametrize(
    "body",
    [
        b'{"fault": "latency", "rest_s": "1"}',
        b'{"fault": "latency", "rest_s": true}',
        b'{"fault": "latency", "rest_s": 1e9}',
        b'{"fault": "latency", "ws_s": -0.5}',
        b'{"fault": "latency", "rest_s": NaN}',
        b'{"fault": "latency", "colour": 1}',
        b'{"fault": "rest_rate_limit", "count": -1}',
        b'{"fault": "rest_rate_limit", "count": 1, "retry_after_s": -5}',
        b'{"fault": "rest_rate_limit", "count": 2.5}',
        b'{"fault": "order_failure", "mode": "unknown_after", "count": -1}',
        b'{"fault": "order_failure", "mode": "explode"}',
        b'{"fault": "order_rejection", "code": -1000}',
        b'{"fault": "order_rejection", "code": -4131, "count": 0}',
        b'{"fault": "clock_skew", "ms": 1e18}',
        b'{"fault": "clock_skew", "ms": 86400001}',
        b'{"fault": "clock_skew", "ms": "5"}',
        b'{"fault": "clock_skew"}',
        b'{"fault": "silence", "seconds": -1}',
        b'{"fault": "drop_websockets", "refuse_s": "x"}',
        b'{"fault": "malformed_frames", "count": 1.5}',
        b'{"fault": "rest_drop_mid_response", "count": -3}',
        b'{"fault": "rest_ban", "seconds": -1}',
        b'{"fault": "rest_ban", "seconds": "120"}',
        b'{"fault": "reorder_user_events", "on": "yes"}',
        b'{"fault": "expire_listen_key", "key": 5}',
        b'{"fault": "nope"}',
        b"[1, 2]",
        b"not json",
        b"[" * 5000,
    ],
)
async def test_bad_fault_spec_is_400_json_and_changes_nothing(admin, body) -> None:
    status, reply = await _post(admin, body)

    assert status == 400
    assert set(reply) == {"code", "msg"} and reply["code"] == -1130
    assert await _ping(admin) == 200
    assert not admin.faults.rest_active and not admin.faults.ws_active
    assert admin.faults.clock_skew_ms == 0


async def test_clock_skew_of_one_day_is_accepted_and_one_more_ms_is_not(admin) -> None:
    accepted, _ = await _post(admin, b'{"fault": "clock_skew", "ms": -86400000}')
    refused, _ = await _post(admin, b'{"fault": "clock_skew", "ms": 86400001}')

    assert (accepted, refused) == (200, 400)
    assert admin.faults.clock_skew_ms == -MAX_SKEW_MS


async def test_valid_fault_with_numbers_in_range_still_applies(admin) -> None:
    status, reply = await _post(
        admin, b'{"fault": "rest_rate_limit", "count": 1, "retry_after_s": 2}'
    )

    assert (status, reply) == (200, {"ok": True, "result": None})
    assert await _ping(admin) == 429
    assert await _ping(admin) == 200


async def test_admin_endpoint_answers_other_methods_with_405_json(admin) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{admin.rest_url}/_sim/faults") as r,
    ):
        status, body = r.status, await r.json()

    assert status == 405
    assert body == {"code": -5000, "msg": "Path /_sim/faults, Method GET is invalid"}


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("latency", {"rest_s": "1"}),
        ("rest_rate_limit", {"count": -1}),
        ("clock_skew", {"ms": 10**18}),
        ("silence", {"seconds": float("inf")}),
        ("order_failure", {"mode": "hangup_after", "count": 0}),
        ("order_rejection", {"code": True}),
        ("order_rejection", {"code": -2019, "count": 1.5}),
    ],
)
def test_python_fault_api_checks_its_arguments_too(method, kwargs) -> None:
    faults = Faults()

    with pytest.raises(ValueError):
        getattr(faults, method)(**kwargs)

    assert not faults.rest_active and faults.clock_skew_ms == 0
