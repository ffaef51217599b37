"""Translation of python-binance / aiohttp failures into `core.errors` (pure, no network)."""

import json
import socket

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from binance.exceptions import BinanceAPIException, BinanceRequestException

from core.errors import (
    ExecutionStatusUnknown,
    FatalError,
    IpBanned,
    RejectedError,
    RetryableError,
)
from rest_connect.errors import FailureKind, classify, to_error

KEY = "K" * 64
SECRET = "S" * 64


class FakeResponse:
    """What BinanceAPIException keeps of an aiohttp answer: its headers."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.text = "<html>busy</html>"


def api_error(status: int, code: int | None, msg: str = "", **headers: str) -> BinanceAPIException:
    body = json.dumps({"code": code, "msg": msg}) if code is not None else "<html>busy</html>"
    return BinanceAPIException(FakeResponse(headers), status, body)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (api_error(418, -1003, "Way too many requests; IP banned until 1."), FailureKind.BANNED),
        (api_error(429, -1003, "Too many requests"), FailureKind.RATE_LIMITED),
        (api_error(429, -1015, "Too many new orders"), FailureKind.RATE_LIMITED),
        (api_error(400, -1021, "Timestamp outside of the recvWindow."), FailureKind.CLOCK),
        (api_error(503, -1006, "Unknown error, please check"), FailureKind.SERVER),
        (api_error(503, -1001, "Service Unavailable."), FailureKind.SERVER),
        (api_error(502, None), FailureKind.SERVER),
        (api_error(408, -1007, "Timeout waiting for response"), FailureKind.SERVER),
        (api_error(500, -1000, "An unknown error occurred"), FailureKind.SERVER),
        (api_error(401, -2015, "Invalid API-key, IP, or permissions"), FailureKind.AUTH),
        (api_error(401, -2014, "API-key format invalid."), FailureKind.AUTH),
        (api_error(400, -1022, "Signature for this request is not valid."), FailureKind.AUTH),
        (api_error(404, -1, "Not found."), FailureKind.CONFIG),
        (
            api_error(400, -4164, "Order's notional must be no smaller than 10"),
            FailureKind.REJECTED,
        ),
        (api_error(400, -2019, "Margin is insufficient."), FailureKind.REJECTED),
        (BinanceRequestException("Invalid Response: {"), FailureKind.TRANSPORT),
        # python-binance's response.text() on a body that is not UTF-8: undecodable, like
        # the above (for an order: its outcome is unknown)
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), FailureKind.TRANSPORT),
        (aiohttp.ServerDisconnectedError(), FailureKind.TRANSPORT),
        (aiohttp.ClientPayloadError("cut"), FailureKind.TRANSPORT),
        (TimeoutError(), FailureKind.TRANSPORT),
        (ConnectionResetError(), FailureKind.TRANSPORT),
        (aiohttp.ConnectionTimeoutError(), FailureKind.NOT_SENT),
    ],
)
def test_failures_are_classified_by_what_the_caller_should_do(exc, kind) -> None:
    failure = classify(exc)

    assert failure is not None
    assert failure.kind is kind


def _not_connected(cause: OSError) -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None, None)
    if isinstance(cause, socket.gaierror):
        return aiohttp.ClientConnectorDNSError(key, cause)
    return aiohttp.ClientConnectorError(key, cause)


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (
            ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"),
            "connection refused (nothing listens at that host and port)",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "no such host 127.0.0.1 (Name or service not known)",
        ),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            "ClientConnectorDNSError: Cannot connect to host 127.0.0.1:9 ssl:default "
            "[Temporary failure in name resolution]",
        ),
    ],
)
def test_a_connection_that_could_not_be_made_says_why_as_a_person_acts_on_it(
    cause: OSError, said: str
) -> None:
    """It said "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default [Connect
    call failed ('127.0.0.1', 9)]" of an http:// URL where nothing listened."""
    failure = classify(_not_connected(cause))

    assert failure is not None
    assert (failure.kind, failure.message) == (FailureKind.NOT_SENT, said)


def test_a_418_names_the_end_of_the_ban_and_its_retry_after() -> None:
    exc = api_error(
        418,
        -1003,
        "Way too many requests; IP banned until 1716000120000. Please use the websocket for "
        "live updates to avoid bans.",
        **{"Retry-After": "120"},
    )

    failure = classify(exc)

    assert failure is not None
    assert (failure.kind, failure.banned_until_ms, failure.retry_after_s) == (
        FailureKind.BANNED,
        1716000120000,
        120.0,
    )


def test_programming_errors_are_not_request_failures() -> None:
    assert classify(TypeError("unexpected keyword")) is None


@pytest.mark.parametrize(
    ("kind_exc", "mutating", "error_class"),
    [
        (api_error(503, -1006, "Unknown error"), True, ExecutionStatusUnknown),
        (api_error(503, -1006, "Unknown error"), False, RetryableError),
        (api_error(503, -1001, "Service Unavailable."), True, ExecutionStatusUnknown),
        (aiohttp.ServerDisconnectedError(), True, ExecutionStatusUnknown),
        (aiohttp.ServerDisconnectedError(), False, RetryableError),
        (TimeoutError(), True, ExecutionStatusUnknown),
        (aiohttp.ConnectionTimeoutError(), True, RetryableError),
        (api_error(401, -2015, "Invalid API-key"), True, FatalError),
        (api_error(404, -1, "Not found."), False, FatalError),
        (api_error(418, -1003, "banned"), False, IpBanned),
        (api_error(418, -1003, "banned"), True, IpBanned),
        (api_error(400, -4164, "notional too small"), True, RejectedError),
    ],
)
def test_errors_depend_on_whether_the_request_could_have_executed(
    kind_exc, mutating: bool, error_class: type
) -> None:
    failure = classify(kind_exc)
    assert failure is not None

    error = to_error(failure, what="futures_create_order", mutating=mutating, sent_at_ms=123)

    assert type(error) is error_class


def test_unknown_outcome_carries_the_request_timestamp() -> None:
    failure = classify(api_error(503, -1006, "Unknown error"))
    assert failure is not None

    error = to_error(failure, what="futures_create_order", mutating=True, sent_at_ms=1_700)

    assert isinstance(error, ExecutionStatusUnknown)
    assert error.sent_at_ms == 1_700


@pytest.mark.parametrize(
    ("method", "hint"),
    [
        ("futures_create_order", "(outcome unknown: query the order, do not resend)"),
        ("futures_cancel_order", "(outcome unknown: query the order, do not resend)"),
        ("futures_countdown_cancel_all", "(outcome unknown: not resent)"),
        ("futures_change_leverage", "(outcome unknown: not resent)"),
    ],
)
def test_unknown_outcome_hint_fits_the_call(method: str, hint: str) -> None:
    """An order is settled by looking it up; a timer refresh or a setting is not an order."""
    failure = classify(api_error(503, -1006, "Unknown error"))
    assert failure is not None

    error = to_error(failure, what=method, mutating=True, sent_at_ms=1)

    assert str(error) == f"{method}: {failure.message} {hint}"


def test_rejection_keeps_binance_code_and_message() -> None:
    failure = classify(api_error(400, -4164, "Order's notional must be no smaller than 10"))
    assert failure is not None

    error = to_error(failure, what="futures_create_order", mutating=True, sent_at_ms=None)

    assert isinstance(error, RejectedError)
    assert error.code == -4164
    assert "notional must be no smaller than 10" in error.reason


def test_retry_after_header_is_read_from_the_answer() -> None:
    failure = classify(api_error(429, -1003, "Too many requests", **{"Retry-After": "7"}))

    assert failure is not None
    assert failure.retry_after_s == 7.0


def test_messages_never_contain_the_key_or_secret() -> None:
    exc = api_error(401, -2015, f"Invalid API-key {KEY} signed with {SECRET}")

    failure = classify(exc, secrets=(KEY, SECRET))
    assert failure is not None
    error = to_error(failure, what="futures_account", mutating=False, sent_at_ms=None)

    assert KEY not in str(error)
    assert SECRET not in str(error)
    assert "***" in str(error)
