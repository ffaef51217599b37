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


# Exchange refusals whose own words are long for a console line ("Due to the order could not
# be executed as maker, the Post Only order will be rejected. The order will not be recorded in
# the order history"): said short there; the journal and orders.csv keep the exchange's words.
SHORT_REFUSALS = {
    -5021: "fill-or-kill, it could not fill in full at once",
    -5022: "post-only, it would have matched at once as taker",
}


def refusal_line(code: int, reason: str) -> str:
    """A refusal as a console line says it: short for a known code, else the exchange's
    words; with the code, as `RejectedError` says it."""
    return f"{SHORT_REFUSALS.get(code, reason)} (code {code})"


def coded_refusal_line(reason: str) -> str:
    """An order's recorded reason, `"<code> <the exchange's words>"` (as the journal's order
    rows hold it), as a console line says it (`refusal_line`); any other as it is."""
    code, _, words = reason.partition(" ")
    try:
        short = SHORT_REFUSALS.get(int(code))
    except ValueError:
        return reason
    return reason if short is None or not words else f"{code} {short}"
