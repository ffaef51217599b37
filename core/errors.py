"""Errors grouped by what the caller should do: retry, treat as a rejection, or stop.

Exchange errors are translated into these at the gateway boundary (`raise ... from e`).
"""


class TradingError(Exception):
    """Base of every error the project raises on purpose."""


class RetryableError(TradingError):
    """Transient: network, 5xx without execution, -1001, 429 after waiting, -1021 after resync."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ExecutionStatusUnknown(TradingError):
    """The request may have executed (timeout, hang-up, 503, -1007): resolve it, never resend.

    Deliberately *not* a `RetryableError`: a retry helper that resent an order call on this
    error could place the order twice. The caller marks the order UNKNOWN and asks the exchange
    (query by `origClientOrderId`, the user stream) what happened.
    """

    def __init__(self, message: str, *, sent_at_ms: int | None = None) -> None:
        super().__init__(message)
        self.sent_at_ms = sent_at_ms  # the request's `timestamp` (exchange clock), if known


OutcomeUnknown = ExecutionStatusUnknown


class RejectedError(TradingError):
    """A business rejection from the exchange or from our own checks; becomes an event."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (code {code})")
        self.code = code
        self.reason = reason


class FatalError(TradingError):
    """Nothing to retry: bad key, bad configuration. Stop with a clear message."""


class IpBanned(RetryableError):
    """The exchange bans this IP (HTTP 418) for `retry_after_s` more: the request was not sent
    (or not executed), and nothing may be sent before the ban ends, as a request during a ban
    extends it. Safe to send again after that."""

    code = -1003  # Binance's TOO_MANY_REQUESTS: the code of an order refused during a ban
