"""`RestConnection.sign`/`send`: the order path's own signing builds byte for byte the request
python-binance builds (URL, headers, form body, signature) and the local exchange accepts it."""

import asyncio
import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import FormData

from core.enums import OrderType, Side
from exchange_sim.server import LocalExchange
from rest_connect import RestConnection
from rest_connect.connection import HmacSha256
from rest_connect.rate_governor import LimitKind

FROZEN_S = 1_700_000_000.1234


class _Captured(Exception):
    """Raised by the recording session: the request is in our hands, nothing is sent."""


class RecordingSession:
    """Stands in for the client's aiohttp session: records each request and raises."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, method: str, url: Any, kw: dict[str, Any]) -> Any:
        self.requests.append((method, str(url), kw))
        raise _Captured

    def post(self, url: Any, **kw: Any) -> Any:
        return self._record("post", url, kw)

    def delete(self, url: Any, **kw: Any) -> Any:
        return self._record("delete", url, kw)


def wire_body(data: Any) -> bytes:
    """The bytes aiohttp sends for `data` (python-binance hands it a list of pairs)."""
    if isinstance(data, str):
        return data.encode("utf-8")
    payload = FormData(data)()
    return bytes(payload._value)


async def capture_both(
    conn: RestConnection, monkeypatch: pytest.MonkeyPatch, method: str, params: dict[str, Any]
) -> tuple[tuple[str, str, dict[str, Any]], tuple[str, str, dict[str, Any]]]:
    """(python-binance's request, ours) for the same parameters at the same timestamp."""
    monkeypatch.setattr(time, "time", lambda: FROZEN_S)
    real_session = conn.client.session
    recorder = RecordingSession()
    conn.client.session = recorder
    try:
        with pytest.raises(_Captured):
            await getattr(conn.client, method)(**dict(params))
        request = conn.sign(method, **params)
        assert request is not None
        with pytest.raises(_Captured):
            await conn.send(request)
    finally:
        conn.client.session = real_session
        monkeypatch.undo()
    theirs, ours = recorder.requests
    return theirs, ours


CASES = [
    (
        "futures_create_order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "50000.10",
            "newClientOrderId": "d7-abc_123.x",
            "reduceOnly": None,
        },
    ),
    (
        "futures_create_order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.004",
            "newClientOrderId": "d7-1",
            "reduceOnly": "true",
        },
    ),
    (  # values that are not text (a caller of python-binance's may pass them): str() of each
        "futures_create_order",
        {
            "symbol": "BTCUSDT",
            "side": Side.BUY,
            "type": OrderType.LIMIT,
            "timeInForce": "GTC",
            "quantity": Decimal("0.010"),
            "price": 50000,
            "newClientOrderId": "d7-2",
        },
    ),
    (  # a client id with characters urlencode() escapes: the slow encoding branch
        "futures_create_order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.004",
            "newClientOrderId": "d7:1/é+ x",
        },
    ),
    (  # python-binance reroutes conditional types to the Algo API
        "futures_create_order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "49000.0",
            "closePosition": "true",
            "clientAlgoId": "d7-sl-1",
            "newClientOrderId": "ignored",
        },
    ),
    (
        "futures_create_algo_order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "49000.0",
            "closePosition": "true",
            "clientAlgoId": "d7-sl-2",
            "workingType": "MARK_PRICE",
        },
    ),
    ("futures_cancel_order", {"symbol": "BTCUSDT", "origClientOrderId": "d7-1"}),
    ("futures_cancel_order", {"symbol": "BTCUSDT", "clientAlgoId": "d7-sl-1"}),
    ("futures_cancel_algo_order", {"symbol": "BTCUSDT", "clientAlgoId": "d7-sl-2"}),
]


@pytest.mark.parametrize(("method", "params"), CASES)
async def test_fast_request_is_byte_identical_to_python_binance(
    exchange: LocalExchange,
    connect: Any,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    params: dict[str, Any],
) -> None:
    conn = await connect(exchange, time_samples=1)

    theirs, ours = await capture_both(conn, monkeypatch, method, params)

    assert ours[0] == theirs[0]  # HTTP method
    assert ours[1] == theirs[1]  # URL
    their_kw, our_kw = theirs[2], ours[2]
    assert wire_body(our_kw.pop("data")) == wire_body(their_kw.pop("data"))
    assert our_kw == their_kw  # headers, proxy, timeout
    assert conn.stats.unknown_outcomes == 0


async def test_fast_order_and_cancel_are_accepted_by_the_exchange(
    exchange: LocalExchange, connect: Any
) -> None:
    conn = await connect(exchange, time_samples=1)
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "50000",
        "newClientOrderId": "fast-1",
    }
    request = conn.sign("futures_create_order", **params)
    assert request is not None and request.timestamp_ms > 0

    placed = await conn.send(request, weight=0, orders=1)
    cancelled = await conn.call(
        "futures_cancel_order", mutating=True, symbol="BTCUSDT", origClientOrderId="fast-1"
    )

    assert placed["status"] == "NEW" and placed["clientOrderId"] == "fast-1"
    assert cancelled["status"] == "CANCELED"
    assert conn.governor.used("X-MBX-ORDER-COUNT-1M") >= 1  # the answer's headers were read


async def test_sign_refuses_an_order_without_our_client_id(
    exchange: LocalExchange, connect: Any
) -> None:
    conn = await connect(exchange, time_samples=1)
    with pytest.raises(ValueError, match="newClientOrderId"):
        conn.sign(
            "futures_create_order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
        )
    assert conn.sign("futures_get_all_orders", symbol="BTCUSDT") is None  # not a fast method


@pytest.mark.parametrize(("method", "params"), CASES[:3])
async def test_started_request_is_handed_over_before_start_returns_and_byte_identical(
    exchange: LocalExchange,
    connect: Any,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    params: dict[str, Any],
) -> None:
    """`start` hands the request to the session synchronously (no loop hop), the very request
    `send` would hand over; the error the session raises comes out of the awaited call."""
    conn = await connect(exchange, time_samples=1)
    theirs, _ = await capture_both(conn, monkeypatch, method, params)
    monkeypatch.setattr(time, "time", lambda: FROZEN_S)
    recorder = RecordingSession()
    real_session = conn.client.session
    conn.client.session = recorder
    try:
        request = conn.sign(method, **params)
        assert request is not None
        started = conn.start(request, weight=0, orders=1)
        assert started is not None
        assert len(recorder.requests) == 1  # handed over before anything was awaited
        with pytest.raises(_Captured):
            await started
    finally:
        conn.client.session = real_session
        monkeypatch.undo()
    (ours,) = recorder.requests
    assert ours[:2] == theirs[:2]
    their_kw, our_kw = dict(theirs[2]), dict(ours[2])
    assert wire_body(our_kw.pop("data")) == wire_body(their_kw.pop("data"))
    assert our_kw == their_kw


async def test_started_order_is_accepted_and_a_closed_start_never_sends(
    exchange: LocalExchange, connect: Any
) -> None:
    conn = await connect(exchange, time_samples=1)
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "50000",
        "newClientOrderId": "start-1",
    }
    started = conn.start(conn.sign("futures_create_order", **params), weight=0, orders=1)
    assert started is not None
    placed = await started
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "start-1"

    # A started call closed before it ran (its task cancelled): aiohttp never starts it.
    dropped = conn.start(
        conn.sign("futures_create_order", **{**params, "newClientOrderId": "start-2"}),
        weight=0,
        orders=1,
    )
    assert dropped is not None
    dropped.close()
    await asyncio.sleep(0.05)
    rows = await conn.call("futures_get_open_orders", symbol="BTCUSDT")
    assert {r["clientOrderId"] for r in rows} == {"start-1"}

    # A governor that would make the order wait: no hand-over, `send` takes it.
    conn.governor.rate_limited(retry_after_s=5, kind=LimitKind.WEIGHT)
    assert conn.start(conn.sign("futures_create_order", **params), weight=0, orders=1) is None


@pytest.mark.parametrize("key", [b"", b"k", b"s" * 63, b"s" * 64, b"s" * 65, bytes(range(200))])
def test_hmac_sha256_equals_the_standard_library(key: bytes) -> None:
    mac = HmacSha256(key)
    for message in (b"", b"symbol=BTCUSDT&timestamp=1", "d7:1/é+ x".encode() * 50):
        assert mac.hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


async def test_a_dry_start_hands_nothing_over_counts_nothing_and_builds_the_session_call(
    exchange: LocalExchange, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start(dry=True)` (the order path's rehearsal): `start`'s own code, the governor asked
    and the session call's arguments built, with no request handed to the session, nothing
    counted by the governor or the stats, the request not marked sent."""
    conn = await connect(exchange, time_samples=1)
    request = conn.sign("futures_create_order", **CASES[0][1])
    assert request is not None
    recorder = RecordingSession()
    real_session = conn.client.session
    conn.client.session = recorder
    built: list[Any] = []
    session_call = conn._session_call
    monkeypatch.setattr(conn, "_session_call", lambda r: built.append(session_call(r)))
    used = [c.used for c in conn.governor._order_counters]
    calls, requests = conn.stats.calls, conn.stats.requests
    try:
        assert conn.start(request, weight=0, orders=1, dry=True) is None
        [(send, kwargs)] = built  # the session's method and its arguments, not called
        assert send == recorder.post and kwargs["data"] == request.body
        assert recorder.requests == []
        assert [c.used for c in conn.governor._order_counters] == used
        assert (conn.stats.calls, conn.stats.requests, request.sent) == (calls, requests, False)
        # A session that cannot take the request (here: no `post`): nothing raised
        conn.client.session = object()
        assert conn.start(request, weight=0, orders=1, dry=True) is None
        conn.client.session = recorder
        # Where the governor would make the order wait, `start` hands nothing over: a dry
        # start builds nothing either
        built.clear()
        conn.governor.rate_limited(retry_after_s=5, kind=LimitKind.WEIGHT)
        assert conn.start(request, weight=0, orders=1, dry=True) is None
        assert built == []
        assert conn.start(request, weight=0, orders=1) is None
    finally:
        conn.client.session = real_session
