"""`RestConnection`: every signed and public REST call of the daemon, through one governor.

`call("futures_create_order", mutating=True, orders=1, weight=0, symbol=..., ...)` runs that
python-binance `AsyncClient` method after the `RateGovernor` lets it through, feeds the answer's
rate-limit headers back to the governor (errors included) and translates failures at this
boundary (`errors.py`):

- 429: every caller waits out `Retry-After`, then the call is sent again (it was not executed),
  at most `max_rate_limited` times.
- -1021 (timestamp outside recvWindow): the clock offset is measured again and the call sent
  again, once (it was not executed).
- 418: the governor halts; this and every later call raise `TradingHalted` without sending.
- Non-mutating calls are retried with `core.backoff` on retryable failures, up to
  `max_attempts` attempts. Mutating calls are never sent again once the request may have
  reached the exchange: a timeout, hang-up or 5xx raises `ExecutionStatusUnknown` carrying the
  request's signed `timestamp` (`sent_at_ms`, exchange clock estimate, ms). The exchange
  rejects a request that arrives later than `timestamp + recvWindow`, so "order does not
  exist" is final once that time has passed on the exchange's clock.

Time: `clock` (a `LiveClock`) is our estimate of the exchange's clock. python-binance signs
with `int(time.time() * 1000 + client.timestamp_offset)`; `sync_time` sets both offsets to
the same value, measured as `serverTime - midpoint of the round trip` of `GET /fapi/v1/time`
(the sample with the shortest round trip wins).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from binance import AsyncClient  # type: ignore[import-untyped]

from core.backoff import Backoff, Sleep, retry
from core.clock import LiveClock
from core.errors import ExecutionStatusUnknown, RejectedError, RetryableError

from .errors import Failure, FailureKind, classify, to_error
from .rate_governor import LimitKind, RateGovernor

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Request:
    """What python-binance did with one request: its signed `timestamp`, the answer's headers."""

    timestamp_ms: int | None = None
    headers: Mapping[str, str] | None = None


_CURRENT: ContextVar[_Request | None] = ContextVar("rest_connect_request", default=None)

# python-binance sends these types of `futures_create_order` to the Algo Order API, drops any
# `newClientOrderId` and invents a `clientAlgoId` unless one is given.
_ALGO_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)


def _require_client_id(method: str, params: Mapping[str, Any]) -> None:
    """An order whose outcome turns out unknown can only be found again by the id we chose.

    python-binance invents a random id when none is given; refuse that for order placement.
    """
    if method == "futures_create_algo_order":
        needed = "clientAlgoId"
    elif method == "futures_create_order":
        is_algo = str(params.get("type", "")).upper() in _ALGO_TYPES
        needed = "clientAlgoId" if is_algo else "newClientOrderId"
    else:
        return
    if not params.get(needed):
        raise ValueError(f"{method} needs {needed}: without it an unknown outcome is unresolvable")


def _signed_timestamp(kwargs: Mapping[str, Any]) -> int | None:
    for key in ("data", "params"):
        value = kwargs.get(key)
        if isinstance(value, str):
            pairs = parse_qsl(value)
        elif isinstance(value, list | tuple):
            pairs = [p for p in value if isinstance(p, tuple) and len(p) == 2]
        elif isinstance(value, dict):
            pairs = list(value.items())
        else:
            continue
        for name, raw in pairs:
            if name == "timestamp":
                try:
                    return int(raw)
                except (TypeError, ValueError):
                    return None
    return None


class TrackedClient(AsyncClient):  # type: ignore[misc]
    """python-binance `AsyncClient` that reports each request to the `call` that made it.

    The record lives in a context variable of the calling task, so concurrent calls on one
    client never see each other's timestamp or headers (`client.response` is shared).
    """

    def _get_request_kwargs(
        self, method: str, signed: bool, force_params: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = super()._get_request_kwargs(method, signed, force_params, **kwargs)
        record = _CURRENT.get()
        if record is not None and signed:
            record.timestamp_ms = _signed_timestamp(out)
        return out

    async def _handle_response(self, response: Any) -> Any:
        record = _CURRENT.get()
        if record is not None:
            record.headers = response.headers
        return await super()._handle_response(response)


@dataclass(slots=True)
class RestStats:
    calls: int = 0  # `call`s made
    requests: int = 0  # HTTP requests sent
    retries: int = 0  # non-mutating calls sent again after a retryable failure
    rate_limited: int = 0  # 429 answers (waited out, then sent again)
    resyncs: int = 0  # clock-offset measurements after -1021
    unknown_outcomes: int = 0  # mutating calls that ended in ExecutionStatusUnknown
    rejected: int = 0  # RejectedError raised
    last_rtt_ms: int = 0  # round trip of the last accepted time sample


class _RateLimited(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class _ClockRejected(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class RestConnection:
    """One python-binance client, its rate governor and the exchange-clock estimate."""

    def __init__(
        self,
        *,
        client: AsyncClient,
        clock: LiveClock,
        governor: RateGovernor,
        sleep: Sleep = asyncio.sleep,
        recv_window_ms: int = 5000,
        max_attempts: int = 4,
        max_rate_limited: int = 10,
        time_samples: int = 3,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.client = client
        self.clock = clock
        self.governor = governor
        self.recv_window_ms = recv_window_ms
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        self.time_samples = max(1, time_samples)
        self.stats = RestStats()
        self._sleep = sleep
        self._backoff_s = (backoff_initial_s, backoff_max_s)
        self._secrets = tuple(s for s in (client.API_KEY, client.API_SECRET) if s)
        self._sync_lock = asyncio.Lock()
        self._syncs = 0  # completed offset measurements
        self._closed = False

    # ---- calls ----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        /,
        *,
        weight: int = 1,
        orders: int = 0,
        mutating: bool = False,
        **params: Any,
    ) -> Any:
        """`client.<method>(**params)` under the governor; see the module docstring.

        `weight`: request weight on the IP limit; `orders`: new orders it counts (1 for an
        order placement); `mutating`: the request changes state at the exchange (orders,
        cancels, leverage, countdownCancelAll, listenKey).
        """
        function = getattr(self.client, method)
        if mutating:
            _require_client_id(method, params)
        self.stats.calls += 1

        async def attempt() -> Any:
            return await self._attempt(method, function, params, weight, orders, mutating)

        if mutating:
            return await attempt()

        def on_retry(exc: BaseException, delay_s: float) -> None:
            self.stats.retries += 1
            log.warning("%s failed (%s); retry in %.2f s", method, exc, delay_s)

        return await retry(
            attempt, backoff=self._new_backoff(), max_attempts=self.max_attempts, on_retry=on_retry
        )

    def _new_backoff(self) -> Backoff:
        """One per retry loop: concurrent calls must not share failure counts."""
        initial_s, max_s = self._backoff_s
        return Backoff(initial_s=initial_s, max_s=max_s, sleep=self._sleep)

    async def _attempt(
        self,
        method: str,
        function: Callable[..., Awaitable[Any]],
        params: dict[str, Any],
        weight: int,
        orders: int,
        mutating: bool,
    ) -> Any:
        """One logical attempt: re-sent only after answers that prove nothing was executed."""
        limited = 0
        resynced = False
        while True:
            syncs_before = self._syncs
            await self.governor.acquire(weight=weight, orders=orders)
            try:
                return await self._send(method, function, params, mutating)
            except _RateLimited as exc:
                limited += 1
                if limited > self.max_rate_limited:
                    raise RetryableError(
                        f"{method}: still rate limited after {limited - 1} waits "
                        f"({exc.failure.message})",
                        retry_after_s=exc.failure.retry_after_s,
                    ) from exc
            except _ClockRejected as exc:
                if resynced:
                    raise RetryableError(
                        f"{method}: {exc.failure.message} again after a clock resync"
                    ) from exc
                resynced = True
                self.stats.resyncs += 1
                log.warning("%s: %s; resyncing the clock offset", method, exc.failure.message)
                await self._resync(syncs_before)

    async def _send(
        self,
        method: str,
        function: Callable[..., Awaitable[Any]],
        params: dict[str, Any],
        mutating: bool,
    ) -> Any:
        """One HTTP request; translates its failure (`raise ... from` the library's error)."""
        record = _Request()
        token = _CURRENT.set(record)
        sent_ms = self.clock.now_ms()
        self.stats.requests += 1
        try:
            result = await function(**dict(params))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = classify(exc, secrets=self._secrets)
            if failure is None:
                raise
            self.governor.observe(failure.headers or record.headers, sent_ms=sent_ms)
            raise self._translate(method, failure, mutating, record, sent_ms) from exc
        finally:
            _CURRENT.reset(token)
        self.governor.observe(record.headers, sent_ms=sent_ms)
        return result

    def _translate(
        self, method: str, failure: Failure, mutating: bool, record: _Request, sent_ms: int
    ) -> Exception:
        kind = failure.kind
        if kind is FailureKind.BANNED:
            self.governor.halt(failure.message)
        elif kind is FailureKind.RATE_LIMITED:
            self.stats.rate_limited += 1
            limit_kind = LimitKind.ORDERS if failure.code == -1015 else LimitKind.WEIGHT
            self.governor.rate_limited(retry_after_s=failure.retry_after_s, kind=limit_kind)
            return _RateLimited(failure)
        elif kind is FailureKind.CLOCK:
            return _ClockRejected(failure)
        sent_at = record.timestamp_ms if record.timestamp_ms is not None else sent_ms
        error = to_error(failure, what=method, mutating=mutating, sent_at_ms=sent_at)
        if isinstance(error, ExecutionStatusUnknown):
            self.stats.unknown_outcomes += 1
        elif isinstance(error, RejectedError):
            self.stats.rejected += 1
        return error

    # ---- time -----------------------------------------------------------------------------

    async def sync_time(self) -> int:
        """Measure the exchange-clock offset (ms) and set it on the clock and the client."""
        async with self._sync_lock:
            return await self._measure_offset()

    async def _resync(self, syncs_before: int) -> None:
        """After -1021: measure again unless another call already did since `syncs_before`."""
        async with self._sync_lock:
            if self._syncs == syncs_before:
                await self._measure_offset()

    async def _measure_offset(self) -> int:
        best: tuple[int, int] | None = None  # (round trip, offset), both ms
        for _ in range(self.time_samples):
            sample = await retry(
                self._time_sample, backoff=self._new_backoff(), max_attempts=self.max_attempts
            )
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        rtt, offset = best
        previous = self.clock.offset_ms
        self.clock.offset_ms = offset
        self.client.timestamp_offset = offset
        self.stats.last_rtt_ms = rtt
        self._syncs += 1
        if abs(offset - previous) > 1000:
            log.warning("exchange clock offset %+d ms (was %+d ms)", offset, previous)
        return offset

    async def _time_sample(self) -> tuple[int, int]:
        """(round trip, serverTime - midpoint of the round trip) of one `GET /fapi/v1/time`."""
        await self.governor.acquire(weight=1)
        started = self._wall_ms()
        try:
            body = await self._send("futures_time", self.client.futures_time, {}, False)
        except _RateLimited as exc:
            raise RetryableError(exc.failure.message) from exc
        ended = self._wall_ms()
        try:
            server_ms = int(body["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RetryableError(f"futures_time: malformed answer {str(body)[:200]}") from exc
        return ended - started, server_ms - (started + ended) // 2

    def _wall_ms(self) -> int:
        """This machine's clock, on the same base as python-binance's `time.time()`."""
        return self.clock.now_ms() - self.clock.offset_ms

    async def run_time_sync(self, interval_s: float = 300.0) -> None:
        """Re-measure the offset every `interval_s` seconds until cancelled.

        Transient failures are logged and tried at the next interval; a halt or a fatal error
        ends the loop with that error.
        """
        while True:
            await self._sleep(interval_s)
            try:
                await self.sync_time()
            except RetryableError as exc:
                log.warning("clock offset refresh failed: %s", exc)

    # ---- lifecycle ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self.client.close_connection()

    @property
    def halted(self) -> bool:
        return self.governor.halted

    def __repr__(self) -> str:
        return (
            f"RestConnection(url={self.client.FUTURES_URL!r}, offset={self.clock.offset_ms} ms, "
            f"{self.governor.usage()})"
        )
