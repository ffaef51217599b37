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


class ExecutionStatusUnknown(RetryableError):
    """The request may have executed (timeout, 503 "Unknown error"): reconcile, never resend."""


class RejectedError(TradingError):
    """A business rejection from the exchange or from our own checks; becomes an event."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (code {code})")
        self.code = code
        self.reason = reason


class FatalError(TradingError):
    """Nothing to retry: bad key, bad configuration, IP ban. Stop with a clear message."""
