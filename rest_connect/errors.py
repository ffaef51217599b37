"""What a failed REST request means, translated into the `core.errors` classes.

python-binance raises `BinanceAPIException` (an HTTP answer with a status and, usually, a
Binance `{"code", "msg"}` body), `BinanceRequestException` (a 2xx body that is not JSON);
aiohttp raises `ClientError`s (refused, reset, hang-up, body cut off) and `TimeoutError`.
`classify` turns any of them into a `Failure` (what happened); `to_error` turns a `Failure` into
what the caller should do, which depends on whether the request could have changed state at the
exchange (`mutating`):

| failure                                   | non-mutating     | mutating                 |
|-------------------------------------------|------------------|--------------------------|
| never left this machine (connect failed)  | RetryableError   | RetryableError           |
| timeout, hang-up, reset, cut-off body     | RetryableError   | ExecutionStatusUnknown   |
| HTTP 5xx / 408, -1000 / -1006 / -1007     | RetryableError   | ExecutionStatusUnknown   |
| 401, -2014 / -2015 / -1022 / -1002        | FatalError       | FatalError               |
| 404 / 405 (the venue has no such endpoint)| FatalError       | FatalError               |
| 418 (IP banned; nothing executed)         | IpBanned         | IpBanned                 |
| other 4xx with a Binance code             | RejectedError    | RejectedError            |

Every 5xx on a mutating call is an unknown outcome, including the 503 "Service Unavailable."
and -1001 / -1008 answers that Binance documents as certain failures: the cost of being wrong
the other way is a lost or doubled order, the cost of this choice is one order query.
429 (-1003 / -1015), 418 and -1021 are kinds of their own: the connection waits, sends nothing
until the ban's end or resyncs (see `connection.py`). Messages never contain the API key or
secret, a request's HMAC signature (python-binance signs a GET in its URL, which aiohttp quotes
in some errors) or a listenKey (`core.redaction.redact`, the list the logs use too).
"""

import enum
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp
from binance.exceptions import (  # type: ignore[import-untyped]
    BinanceAPIException,
    BinanceRequestException,
)

from core.errors import (
    ExecutionStatusUnknown,
    FatalError,
    IpBanned,
    RejectedError,
    RetryableError,
    TradingError,
)
from core.redaction import redact as _redact


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret and secret-shaped value (`core.redaction`) as `***`."""
    return _redact(text, secrets, mark="***")


AUTH_CODES = frozenset({-1002, -1022, -2014, -2015})
OUTCOME_UNKNOWN_CODES = frozenset({-1000, -1006, -1007})
RATE_LIMIT_CODES = frozenset({-1003, -1015})
CLOCK_CODE = -1021
# Binance's 418 message: "Way too many requests; IP banned until 1716000120000. Please ..."
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})\b")


class FailureKind(enum.StrEnum):
    """What went wrong, as far as the client can tell."""

    NOT_SENT = "not_sent"  # the connection was never made: nothing reached the exchange
    TRANSPORT = "transport"  # timeout / hang-up / reset / cut-off body: may have executed
    SERVER = "server"  # HTTP 5xx or 408, or -1000/-1006/-1007: may have executed
    RATE_LIMITED = "rate_limited"  # HTTP 429 or -1003/-1015: not executed, wait Retry-After
    BANNED = "banned"  # HTTP 418: IP banned; anything more extends the ban
    CLOCK = "clock"  # -1021: timestamp outside recvWindow; resync and retry once
    AUTH = "auth"  # bad key, secret or permissions
    CONFIG = "config"  # 404/405 or a bad URL: this venue does not serve the request
    REJECTED = "rejected"  # any other 4xx: a business rejection with Binance's code


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed request. `headers` are the answer's headers (None without an answer)."""

    kind: FailureKind
    message: str  # status, code and Binance's msg (redacted)
    reason: str = ""  # Binance's msg alone (redacted), for RejectedError
    status: int | None = None
    code: int | None = None
    retry_after_s: float | None = None
    headers: Mapping[str, str] | None = None
    banned_until_ms: int | None = None  # a 418's "IP banned until <ms>" (exchange clock)


def classify(exc: BaseException, *, secrets: Iterable[str] = ()) -> Failure | None:
    """The `Failure` behind `exc`, or None when `exc` is not a request failure (a bug)."""
    secrets = tuple(secrets)
    if isinstance(exc, BinanceAPIException):
        return _classify_answer(exc, secrets)
    if isinstance(exc, BinanceRequestException):
        return Failure(FailureKind.TRANSPORT, redact(f"undecodable answer: {exc.message}", secrets))
    if isinstance(exc, UnicodeDecodeError):  # python-binance's response.text() on bad bytes
        detail = f"undecodable answer: not {exc.encoding}: {exc.reason}"
        return Failure(FailureKind.TRANSPORT, detail)
    if isinstance(exc, aiohttp.InvalidURL):
        return Failure(FailureKind.CONFIG, redact(f"invalid URL: {exc}", secrets))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure(FailureKind.NOT_SENT, redact(not_connected(exc), secrets))
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure(FailureKind.NOT_SENT, redact(f"{type(exc).__name__}: {exc}", secrets))
    if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
        detail = str(exc) or "no answer in time"
        return Failure(FailureKind.TRANSPORT, redact(f"{type(exc).__name__}: {detail}", secrets))
    return None


def not_connected(exc: aiohttp.ClientConnectorError) -> str:
    """A connection that could not be made, as the user stream's start says it (the order
    connection's errors and the market-data REST's retries and errors): aiohttp's
    "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default [Connect call
    failed ...]" named an `ssl` of a plain http:// URL and no cause a person acts on."""
    cause = exc.os_error
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (nothing listens at that host and port)"
    if isinstance(cause, socket.gaierror) and cause.errno != socket.EAI_AGAIN:
        return f"no such host {exc.host} ({cause.strerror})"
    return f"{type(exc).__name__}: {exc}"


def _classify_answer(exc: BinanceAPIException, secrets: tuple[str, ...]) -> Failure:
    status = int(exc.status_code)
    code = exc.code if isinstance(exc.code, int) and exc.code != 0 else None
    msg = exc.message if isinstance(exc.message, str) and code is not None else ""
    headers = getattr(exc.response, "headers", None)
    retry_after = _retry_after_s(headers)
    text = redact(f"HTTP {status}" + (f" {code} {msg}" if code is not None else ""), secrets)
    if status == 418:
        kind = FailureKind.BANNED
    elif status == 429 or code in RATE_LIMIT_CODES:
        kind = FailureKind.RATE_LIMITED
    elif code == CLOCK_CODE:
        kind = FailureKind.CLOCK
    elif status >= 500 or status == 408 or code in OUTCOME_UNKNOWN_CODES:
        kind = FailureKind.SERVER
    elif status == 401 or code in AUTH_CODES:
        kind = FailureKind.AUTH
    elif status in (404, 405):
        kind = FailureKind.CONFIG
    else:
        kind = FailureKind.REJECTED
    until = banned_until_ms(msg) if kind is FailureKind.BANNED else None
    return Failure(kind, text, redact(msg, secrets), status, code, retry_after, headers, until)


def banned_until_ms(msg: str) -> int | None:
    """The end of a ban (exchange ms) that a 418's message names, if it names one."""
    found = _BANNED_UNTIL.search(msg)
    return int(found.group(1)) if found else None


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


# calls whose unknown outcome is settled by looking the order up (never by sending it again)
_ORDER_CALLS = frozenset(
    {
        "futures_create_order",
        "futures_create_algo_order",
        "futures_cancel_order",
        "futures_cancel_algo_order",
        "futures_cancel_all_open_orders",
        "futures_cancel_all_algo_open_orders",
    }
)


def _unknown_hint(what: str) -> str:
    """What the operator reads after "outcome unknown": an order is looked up; any other
    state change (countdownCancelAll, leverage, listenKey) is not resent by this call and is
    set again by its owner's next pass."""
    if what in _ORDER_CALLS:
        return "(outcome unknown: query the order, do not resend)"
    return "(outcome unknown: not resent)"


def to_error(
    failure: Failure, *, what: str, mutating: bool, sent_at_ms: int | None
) -> TradingError:
    """The `core.errors` exception the caller acts on (raise it `from` the original)."""
    message = f"{what}: {failure.message}"
    kind = failure.kind
    if kind in (FailureKind.TRANSPORT, FailureKind.SERVER):
        if mutating:
            return ExecutionStatusUnknown(f"{message} {_unknown_hint(what)}", sent_at_ms=sent_at_ms)
        return RetryableError(message)
    if kind in (FailureKind.NOT_SENT, FailureKind.RATE_LIMITED, FailureKind.CLOCK):
        return RetryableError(message, retry_after_s=failure.retry_after_s)
    if kind is FailureKind.AUTH:
        return FatalError(f"{message} (check the API key, secret and its permissions)")
    if kind is FailureKind.CONFIG:
        return FatalError(f"{message} (check the REST URL of this venue)")
    if kind is FailureKind.BANNED:
        return IpBanned(f"{message} (not executed)", retry_after_s=failure.retry_after_s)
    code = failure.code if failure.code is not None else 0
    return RejectedError(code, f"{what}: {failure.reason or failure.message}")
