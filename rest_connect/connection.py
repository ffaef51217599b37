"""`RestConnection`: every signed and public REST call of the daemon, through one governor.

`call("futures_create_order", mutating=True, orders=1, weight=0, symbol=..., ...)` runs that
python-binance `AsyncClient` method after the `RateGovernor` lets it through, feeds the answer's
rate-limit headers back to the governor (errors included) and translates failures at this
boundary (`errors.py`):

- 429: every caller waits out `Retry-After`, then the call is sent again (it was not executed),
  at most `max_rate_limited` times.
- -1021 (timestamp outside recvWindow): the clock offset is measured again and the call sent
  again, once (it was not executed).
- 418 (IP banned): this call raises `IpBanned` (nothing was executed) and so does every call
  until the ban's end, without sending anything (a request during a ban extends it); a
  non-mutating call waits the ban out in its retries, an order is refused as not sent.
- Non-mutating calls are retried with `core.backoff` on retryable failures, up to
  `max_attempts` attempts. Mutating calls are never sent again once the request may have
  reached the exchange: a timeout, hang-up or 5xx raises `ExecutionStatusUnknown` carrying the
  request's signed `timestamp` (`sent_at_ms`, exchange clock estimate, ms). The exchange
  rejects a request that arrives later than `timestamp + recvWindow`, so "order does not
  exist" is final once that time has passed on the exchange's clock.

Time: `clock` (a `LiveClock`) is our estimate of the exchange's clock: a steady count that a
step of the wall clock does not move, plus `clock.offset_ms`, measured as `serverTime -
midpoint of the round trip` of `GET /fapi/v1/time` on that count (the sample with the shortest
round trip wins). python-binance signs with `int(time.time() * 1000 +
client.timestamp_offset)`: `sync_time` sets `client.timestamp_offset` so that this is the
clock's time, i.e. the exchange's clock minus the machine's wall clock. When NTP steps the
wall clock, the signatures are off until the exchange answers -1021, and the resync then puts
`client.timestamp_offset` right again (the clock itself never moved).
"""

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode

import yarl
from binance import AsyncClient  # type: ignore[import-untyped]

from core.backoff import Backoff, Sleep, retry
from core.clock import LiveClock
from core.errors import ExecutionStatusUnknown, IpBanned, RejectedError, RetryableError
from core.repeated_lines import RepeatedLines

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


# ---- signing fast path --------------------------------------------------------------------
# python-binance spends ~30 us per signed request in `_get_request_kwargs` (the parameters
# sorted twice, quote(), a new HMAC key schedule per request). For order placement and cancel
# `RestConnection.sign` builds the very same request itself: same URL, same body, same
# signature (tests/rest_connect/test_fast_sign.py compares them byte for byte).

_METHOD_ROUTES = frozenset(
    {
        "futures_create_order",
        "futures_create_algo_order",
        "futures_cancel_order",
        "futures_cancel_algo_order",
    }
)
# parameters python-binance treats specially (or overwrites): those requests take its own path
_SPECIAL_PARAMS = frozenset(
    {"version", "headers", "requests_params", "signature", "conditional", "timestamp", "recvWindow"}
)
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")  # what urlencode() (quote_plus) leaves unchanged
_RESIGN_AFTER_MS = 250  # a request that waited longer (governor, busy loop) is signed again
_quoted_symbols: dict[str, str] = {}  # quote(symbol), python-binance's only quoted value


def _quote_symbol(symbol: str) -> str:
    quoted = _quoted_symbols.get(symbol)
    if quoted is None:
        quoted = quote(symbol)
        if len(_quoted_symbols) < 10_000:
            _quoted_symbols[symbol] = quoted
    return quoted


@dataclass(slots=True)
class SignedRequest:
    """One order placement or cancel, signed exactly as python-binance would sign it."""

    method: str  # the python-binance method it stands for (errors, logs)
    http: str  # "post" or "delete"
    url: yarl.URL
    head: str  # the signed query up to and including "timestamp=" (only `symbol` quoted)
    tail: str  # the rest of it after the timestamp's digits ("" or "&k=v...")
    # python-binance's sorted parameters without the timestamp (it goes at ts_index) when
    # urlencode() escapes something in them; None when the body is the query as it is
    pairs: list[tuple[str, str]] | None
    ts_index: int
    body: str = ""  # the form body as aiohttp encodes python-binance's pairs
    timestamp_ms: int = 0  # the signed `timestamp`
    sent: bool = False  # handed to the session once: any later attempt is signed again


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _sha256_constructor() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 (`_sha2` since 3.12, `_sha256` before) rather than OpenSSL's
    through `hashlib`: the same digest, and on the order path, where the caches are cold
    between two orders, about half the time (2.0 against 4.7 us per HMAC after the caches
    were flushed, 1.2 against 1.5 us warm); `hashlib.sha256` where neither module exists."""
    for name in ("_sha2", "_sha256"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if constructor is not None:
            return constructor  # type: ignore[no-any-return]
    return hashlib.sha256


_sha256 = _sha256_constructor()


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once: the same
    digest as `hmac.new(key, msg, sha256)`, in about half the time of `hmac`'s `copy()`."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # SHA-256's block size
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = _sha256(key.translate(_IPAD))
        self._outer = _sha256(key.translate(_OPAD))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class _Plan(NamedTuple):
    """How `sign` builds a request of one shape (method, `type`, recvWindow, parameter names)."""

    http: str
    path: str
    needed: str  # our client id parameter that must not be empty ("" for cancels)
    names: tuple[str, ...]  # the sent parameter names, sorted, without the timestamp
    sources: tuple[tuple[str, str | None], ...]  # per name: (parameter, None) or ("", constant)
    ts_index: int  # where the timestamp goes among `names`
    plain_names: bool  # no name or constant urlencode() would escape
    params: tuple[str, ...]  # the parameters whose values are sent, in the sent order
    symbol_at: int  # the index of `symbol` (the only quoted value) in `params`, -1 if absent
    split: int  # how many of `params` come before the timestamp
    head: str  # format of the signed query up to "timestamp=" (`params[:split]` in the {})
    tail: str  # format of the rest after the timestamp's digits (`params[split:]` in the {})


class _Param:
    """A parameter's place in `_plan`'s probe of `_route`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_NO_PLAN = _Plan(
    "", "", "", (), (), 0, False, (), -1, 0, "", ""
)  # a shape `sign` leaves to `_sign_any`


def _plan(method: str, params: Mapping[str, Any], recv_window: Any) -> _Plan:
    """The plan of `params`' shape: what `_sign_any` does, with each parameter's value left
    to fill in (the route depends on the names and `type` only)."""
    if method not in _METHOD_ROUTES or not _SPECIAL_PARAMS.isdisjoint(params):
        return _NO_PLAN
    probe: dict[str, Any] = {name: _Param(name) for name in params}  # stands in for values
    if "type" in params:
        probe["type"] = params["type"]  # the route depends on it (in the plan's key)
    route = _route(method, probe)
    if route is None:
        return _NO_PLAN
    http, path, sent = route
    sources: dict[str, tuple[str, str | None]] = {}
    for name, value in sent.items():
        if isinstance(value, _Param):
            sources[name] = (value.name, None)  # possibly renamed (stopPrice -> triggerPrice)
        elif name == "type":
            sources[name] = ("type", None)
        else:
            sources[name] = ("", str(value))  # a constant python-binance adds (algoType)
    if recv_window:
        sources["recvWindow"] = ("", str(recv_window))
    names = tuple(sorted(sources))
    if method == "futures_create_algo_order":
        needed = "clientAlgoId"
    elif method == "futures_create_order":
        needed = (
            "clientAlgoId"
            if str(params.get("type", "")).upper() in _ALGO_TYPES
            else ("newClientOrderId")
        )
    else:
        needed = ""
    sorted_sources = tuple(sources[n] for n in names)
    ts_index = sum(1 for n in names if n < "timestamp")
    items: list[str] = []
    used: list[str] = []
    split = 0
    for n, (src, const) in zip(names, sorted_sources, strict=True):
        if const is None:
            items.append(f"{n}={{}}")
            used.append(src)
            split += n < "timestamp"
        else:
            items.append(f"{n}={const}".replace("{", "{{").replace("}", "}}"))
    constants = "".join(c for _, c in sorted_sources if c is not None)
    return _Plan(
        http=http,
        path=path,
        needed=needed,
        names=names,
        sources=sorted_sources,
        ts_index=ts_index,
        plain_names=_URL_SAFE.fullmatch("".join(names) + constants) is not None,
        params=tuple(used),
        symbol_at=used.index("symbol") if "symbol" in used else -1,
        split=split,
        head="&".join([*items[:ts_index], "timestamp="]),
        tail="".join("&" + i for i in items[ts_index:]),
    )


def _route(method: str, params: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]] | None:
    """(HTTP method, futures path, parameters) python-binance's `method` sends; None if the
    request must take python-binance's own path."""
    if method == "futures_create_order":
        kind = params.get("type", "")
        if not isinstance(kind, str):
            return None
        if kind.upper() not in _ALGO_TYPES:
            return "post", "order", params
        algo = dict(params)
        algo.pop("newClientOrderId", None)
        algo["algoType"] = "CONDITIONAL"
        if "stopPrice" in algo and "triggerPrice" not in algo:
            algo["triggerPrice"] = algo.pop("stopPrice")
        return "post", "algoOrder", algo
    if method == "futures_create_algo_order":
        if "algoType" in params:
            return "post", "algoOrder", params
        return "post", "algoOrder", {**params, "algoType": "CONDITIONAL"}
    if method == "futures_cancel_order":
        algo_id = "algoId" in params or "clientAlgoId" in params
        return "delete", "algoOrder" if algo_id else "order", params
    if method == "futures_cancel_algo_order":
        return "delete", "algoOrder", params
    return None


class StartedCall:
    """The rest of a call whose request `RestConnection.start` already handed to the HTTP
    layer: await it once. `close()` when it will never be awaited (its task was cancelled
    before it ran): the request is then never sent (aiohttp starts it when awaited)."""

    __slots__ = ("_call", "_complete", "_context")

    def __init__(
        self, call: Coroutine[Any, Any, Any], complete: Coroutine[Any, Any, Any], context: Any
    ) -> None:
        self._call = call
        self._complete = complete
        self._context = context

    def __await__(self) -> Generator[Any, None, Any]:
        return self._call.__await__()

    def close(self) -> None:
        """Drop the call without running it (a no-op once it has run)."""
        self._call.close()
        self._complete.close()
        if isinstance(self._context, Coroutine):  # aiohttp's request, not started yet
            self._context.close()


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
        self._retry_lines = RepeatedLines()
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
        self._mac_key: str | None = None  # the secret `_mac` was keyed with
        self._mac: HmacSha256 | None = None  # keyed with the secret `_mac_key`
        self._urls: dict[tuple[str, str, bool, bool], yarl.URL] = {}
        self._fast_type: type | None = None  # client class checked to sign as we do
        self._plans: dict[tuple[Any, ...], _Plan] = {}  # `sign`'s plans by request shape

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
        if mutating and method in _METHOD_ROUTES:
            request = self.sign(method, **params)
            if request is not None:
                return await self.send(request, weight=weight, orders=orders)
        function = getattr(self.client, method)
        if mutating:
            _require_client_id(method, params)
        self.stats.calls += 1

        def send() -> Awaitable[Any]:
            return self._send(method, function, params, mutating)

        async def attempt() -> Any:
            return await self._attempt(method, send, weight, orders)

        if mutating:
            return await attempt()

        def on_retry(exc: BaseException, delay_s: float) -> None:
            self.stats.retries += 1
            # The ban was said once, with its end, when it began: not again for each read.
            level = logging.INFO if isinstance(exc, IpBanned) else logging.WARNING
            # An outage retries each read every few seconds: said once a minute by call.
            self._retry_lines.say(
                log,
                level,
                method,
                self.clock.now_ms(),
                "%s failed (%s); retry in %.2f s",
                method,
                exc,
                delay_s,
            )

        result = await retry(
            attempt, backoff=self._new_backoff(), max_attempts=self.max_attempts, on_retry=on_retry
        )
        if method in self._retry_lines:
            self._retry_lines.clear(method)
        return result

    def _new_backoff(self) -> Backoff:
        """One per retry loop: concurrent calls must not share failure counts."""
        initial_s, max_s = self._backoff_s
        return Backoff(initial_s=initial_s, max_s=max_s, sleep=self._sleep)

    async def _attempt(
        self,
        method: str,
        send: Callable[[], Awaitable[Any]],
        weight: int,
        orders: int,
        first: tuple[Awaitable[Any], int] | None = None,
    ) -> Any:
        """One logical attempt: re-sent only after answers that prove nothing was executed.
        `first`: the first request, already counted by the governor and handed to the HTTP
        layer (`start`), with the number of clock syncs done before it was signed."""
        limited = 0
        resynced = False
        while True:
            if first is not None:
                pending, syncs_before = first
                first = None
            else:
                syncs_before = self._syncs
                await self.governor.acquire(weight=weight, orders=orders)
                pending = send()
            try:
                return await pending
            except _RateLimited as exc:
                limited += 1
                self._check_waits(method, limited, exc)
            except _ClockRejected as exc:
                if resynced:
                    raise RetryableError(
                        f"{method}: {exc.failure.message} again after a clock resync"
                    ) from exc
                resynced = True
                self.stats.resyncs += 1
                log.warning("%s: %s; resyncing the clock offset", method, exc.failure.message)
                await self._resync(syncs_before)

    def _check_waits(self, method: str, limited: int, exc: "_RateLimited") -> None:
        """After the `limited`-th 429 of one request: wait it out (the governor holds the next
        send for its Retry-After) up to `max_rate_limited` times, then give up retryably."""
        if limited > self.max_rate_limited:
            raise RetryableError(
                f"{method}: still rate limited after {limited - 1} waits ({exc.failure.message})",
                retry_after_s=exc.failure.retry_after_s,
            ) from exc

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
            raise self._translate(method, failure, mutating, record.timestamp_ms, sent_ms) from exc
        finally:
            _CURRENT.reset(token)
        self.governor.observe(record.headers, sent_ms=sent_ms)
        return result

    def _translate(
        self, method: str, failure: Failure, mutating: bool, signed_ms: int | None, sent_ms: int
    ) -> Exception:
        kind = failure.kind
        if kind is FailureKind.BANNED:
            left_s = self.governor.banned(
                until_ms=failure.banned_until_ms,
                retry_after_s=failure.retry_after_s,
                reason=f"{method}: {failure.message}",
            )
            return IpBanned(f"{method}: {failure.message} (not executed)", retry_after_s=left_s)
        if kind is FailureKind.RATE_LIMITED:
            self.stats.rate_limited += 1
            limit_kind = LimitKind.ORDERS if failure.code == -1015 else LimitKind.WEIGHT
            self.governor.rate_limited(retry_after_s=failure.retry_after_s, kind=limit_kind)
            return _RateLimited(failure)
        elif kind is FailureKind.CLOCK:
            return _ClockRejected(failure)
        sent_at = signed_ms if signed_ms is not None else sent_ms
        error = to_error(failure, what=method, mutating=mutating, sent_at_ms=sent_at)
        if isinstance(error, ExecutionStatusUnknown):
            self.stats.unknown_outcomes += 1
        elif isinstance(error, RejectedError):
            self.stats.rejected += 1
        return error

    # ---- order placement and cancel, signed here ------------------------------------------

    def sign(self, method: str, /, **params: Any) -> SignedRequest | None:
        """The signed request python-binance's `method(**params)` would send, built here at a
        fraction of the cost, for order placement and cancel; `send` sends it. None when the
        request or the client needs python-binance's own path (then use `call`).

        ValueError for an order placement without our client id (as `call`). What depends only
        on the parameter names (route, sorted order, constants) is planned once per shape."""
        recv_window = self.client.REQUEST_RECVWINDOW
        try:
            key = (method, params.get("type"), recv_window, *params)
            plan = self._plans.get(key)
        except TypeError:  # an unhashable `type`: python-binance's path decides
            key, plan = None, _NO_PLAN
        if plan is None:
            plan = _plan(method, params, recv_window)
            if key is not None and len(self._plans) < 1024:
                self._plans[key] = plan
        if plan is _NO_PLAN or None in params.values():
            return self._sign_any(method, params)
        needed = plan.needed
        if needed and not params.get(needed):
            _require_client_id(method, params)  # raises the ValueError
        if not self._fast_client():
            return None
        values = list(map(params.__getitem__, plan.params))  # no comprehension frame
        try:  # the order path's values are all text: joined in C, no loop over them
            joined = "".join(values)
        except TypeError:  # python-binance's callers may pass numbers: sent as str() of them
            values = [v if v.__class__ is str else str(v) for v in values]
            joined = "".join(values)
        plain = plan.plain_names and _URL_SAFE.fullmatch(joined) is not None
        pairs = None
        if not plain:  # urlencode() escapes something: the body is built from the pairs
            pairs = [
                (n, str(params[src]) if const is None else const)
                for n, (src, const) in zip(plan.names, plan.sources, strict=True)
            ]
        symbol_at = plan.symbol_at
        if symbol_at >= 0:
            symbol = values[symbol_at]
            # `_quote_symbol` and `_url` read their caches inline: a call each on the order path
            values[symbol_at] = _quoted_symbols.get(symbol) or _quote_symbol(symbol)
        split = plan.split
        client = self.client
        url = self._urls.get((plan.path, client.FUTURES_URL, client.testnet, client.demo))
        request = SignedRequest(
            method=method,
            http=plan.http,
            url=url if url is not None else self._url(plan.path),
            head=plan.head.format(*values[:split]),
            tail=plan.tail.format(*values[split:]),
            pairs=pairs,
            ts_index=plan.ts_index,
        )
        self._sign(request)
        return request

    def _sign_any(self, method: str, params: dict[str, Any]) -> SignedRequest | None:
        """`sign` for a shape without a plan (None values dropped, unusual parameters)."""
        _require_client_id(method, params)
        if method not in _METHOD_ROUTES or not _SPECIAL_PARAMS.isdisjoint(params):
            return None
        if not self._fast_client():
            return None
        route = _route(method, params)
        if route is None:
            return None
        http, path, sent = route
        pairs = [(k, str(v)) for k, v in sent.items() if v is not None]
        recv_window = self.client.REQUEST_RECVWINDOW
        if recv_window:
            pairs.append(("recvWindow", str(recv_window)))
        pairs.sort()  # by name: names are unique, values never compared
        at = sum(1 for k, _ in pairs if k < "timestamp")
        items = [f"{k}={_quote_symbol(v) if k == 'symbol' else v}" for k, v in pairs]
        plain = _URL_SAFE.fullmatch("".join([k + v for k, v in pairs])) is not None
        request = SignedRequest(
            method=method,
            http=http,
            url=self._url(path),
            head="&".join([*items[:at], "timestamp="]),
            tail="".join(["&" + i for i in items[at:]]),
            pairs=None if plain else pairs,
            ts_index=at,
        )
        self._sign(request)
        return request

    async def send(self, request: SignedRequest, /, *, weight: int = 0, orders: int = 0) -> Any:
        """Send a request from `sign`: a mutating call (see `call`), never resent once it may
        have reached the exchange; signed again before any later attempt."""
        self.stats.calls += 1

        def send() -> Awaitable[Any]:
            return self._send_signed(request)

        return await self._attempt(request.method, send, weight, orders)

    def start(
        self, request: SignedRequest, /, *, weight: int = 0, orders: int = 0, dry: bool = False
    ) -> "StartedCall | None":
        """`send` with its first request handed to the HTTP layer now, synchronously, when the
        governor lets it through without waiting (else None: use `send`). Returns the rest of
        the call (the answer, its error translation, any allowed re-send) to await, in a task.
        The request is signed and handed to the session here, without a loop hop; aiohttp
        writes it to the socket when that task first enters the request's context. Nothing is
        sent twice: a re-send after a 429 or -1021 is signed again, exactly as in `send`.

        `dry=True`: this code with no effect, for the order path's rehearsal
        (`trading_engine.order_rehearsal`, through `LiveVenue.rehearse`): the clock and the
        governor asked, nothing counted, the session call's arguments built, nothing handed
        over or marked sent; None."""
        # One reading of the clock for the governor and the hand-off when they share it.
        clock, governor = self.clock, self.governor
        now = clock.now_ms()
        shared = governor.clock is clock
        if not governor.try_acquire(
            weight=weight, orders=orders, now_ms=now if shared else None, count=not dry
        ):
            return None
        if dry:
            with contextlib.suppress(Exception):  # `_hand_off` leaves it to `_complete`
                self._session_call(request)  # what `_hand_off` passes to the session
            return None
        self.stats.calls += 1
        syncs_before = self._syncs
        context, error, sent_ms = self._hand_off(request, now)

        def send() -> Awaitable[Any]:
            return self._send_signed(request)

        complete = self._complete(request, context, error, sent_ms)
        call = self._attempt(request.method, send, weight, orders, (complete, syncs_before))
        return StartedCall(call, complete, context)

    def _fast_client(self) -> bool:
        """Whether python-binance would sign with plain HMAC and no extras we do not copy."""
        client = self.client
        secret = client.API_SECRET
        if (
            not secret
            or client.PRIVATE_KEY
            or client._requests_params
            or getattr(client, "verbose", False)
        ):
            return False
        kind = type(client)
        if kind is not self._fast_type:
            if kind._request is not AsyncClient._request or kind._get_request_kwargs not in (
                AsyncClient._get_request_kwargs,
                TrackedClient._get_request_kwargs,
            ):
                return False
            self._fast_type = kind
        if secret != self._mac_key:
            self._mac = HmacSha256(secret.encode("utf-8"))
            self._mac_key = secret
        return True

    def _url(self, path: str) -> yarl.URL:
        client = self.client
        key = (path, client.FUTURES_URL, client.testnet, client.demo)
        url = self._urls.get(key)
        if url is None:
            uri = client._create_futures_api_uri(path, version=1)
            url = self._urls[key] = yarl.URL(uri, encoded=True)
        return url

    def _sign(self, request: SignedRequest) -> None:
        """python-binance's `_get_request_kwargs`: timestamp and recvWindow added, parameters
        sorted by name (done once in `sign`), HMAC-SHA256 of `k=v&...` (only `symbol` quoted),
        signature last; the body is what aiohttp makes of those pairs (`urlencode`)."""
        timestamp = int(time.time() * 1000 + self.client.timestamp_offset)
        query = f"{request.head}{timestamp}{request.tail}"
        mac = self._mac
        assert mac is not None  # keyed by `_fast_client`, which every signing path passes
        signature = mac.hexdigest(query.encode("utf-8"))
        pairs = request.pairs
        if pairs is None:
            request.body = f"{query}&signature={signature}"
        else:
            sent = pairs.copy()
            sent.insert(request.ts_index, ("timestamp", str(timestamp)))
            sent.append(("signature", signature))
            request.body = urlencode(sent, doseq=True, encoding="utf-8")
        request.timestamp_ms = timestamp

    async def _send_signed(self, request: SignedRequest) -> Any:
        """One HTTP request of a signed order/cancel, as python-binance's `_request` sends it."""
        return await self._complete(request, *self._hand_off(request))

    def _hand_off(
        self, request: SignedRequest, now_ms: int | None = None
    ) -> tuple[Any, BaseException | None, int]:
        """Hand the request to the HTTP session (signed again first if it was sent before or
        signed too long ago): (the session's request context, or the exception the session
        raised, when it was handed over on our clock: `now_ms` when the caller has just read
        it, else read here). aiohttp starts the request when its context is entered
        (`_complete`)."""
        client = self.client
        if request.sent or (
            time.time() * 1000 + client.timestamp_offset - request.timestamp_ms > _RESIGN_AFTER_MS
        ):
            self._sign(request)
        request.sent = True
        sent_ms = self.clock.now_ms() if now_ms is None else now_ms
        self.stats.requests += 1
        try:
            send, kwargs = self._session_call(request)
            context = send(request.url, **kwargs)
        except Exception as exc:  # translated by `_complete`, as if raised when entering
            return None, exc, sent_ms
        return context, None, sent_ms

    def _session_call(self, request: SignedRequest) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The session's method for `request` and its keyword arguments but the URL, as
        python-binance's `_request` passes them; no effect (`start(dry=True)` builds them too,
        so that the hand-off finds them warm)."""
        client = self.client
        return getattr(client.session, request.http), {
            "proxy": client.https_proxy,
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "data": request.body,
            "timeout": client.REQUEST_TIMEOUT,
        }

    async def _complete(
        self, request: SignedRequest, context: Any, error: BaseException | None, sent_ms: int
    ) -> Any:
        """The answer to a request `_hand_off` handed over, its failure translated."""
        client = self.client
        headers: Mapping[str, str] | None = None
        try:
            if error is not None:
                raise error
            async with context as response:
                client.response = response
                headers = response.headers
                result = await client._handle_response(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = classify(exc, secrets=self._secrets)
            if failure is None:
                raise
            self.governor.observe(failure.headers or headers, sent_ms=sent_ms)
            raise self._translate(
                request.method, failure, True, request.timestamp_ms, sent_ms
            ) from exc
        self.governor.observe(headers, sent_ms=sent_ms)
        return result

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

        def on_retry(exc: BaseException, delay_s: float) -> None:
            # Said: at start-up against a venue that never answers, the attempts' timeouts
            # add up to ~45 s before the one-line error, silence that looks like a hang. A
            # ban was said once, with its end, when it began: not again here.
            level = logging.INFO if isinstance(exc, IpBanned) else logging.WARNING
            log.log(level, "measuring the exchange clock: %s; retry in %.2f s", exc, delay_s)

        for _ in range(self.time_samples):
            sample = await retry(
                self._time_sample,
                backoff=self._new_backoff(),
                max_attempts=self.max_attempts,
                on_retry=on_retry,
            )
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        rtt, offset = best
        clock = self.clock
        previous = clock.offset_ms
        clock.offset_ms = offset
        signing = clock.now_ms() - clock.wall_ms()  # python-binance's: exchange - wall clock
        stepped = signing - self.client.timestamp_offset
        self.client.timestamp_offset = signing
        self.stats.last_rtt_ms = rtt
        self._syncs += 1
        if abs(offset - previous) > 1000:
            log.warning("exchange clock offset %+d ms (was %+d ms)", offset, previous)
        if self._syncs > 1 and abs(stepped - (offset - previous)) > 1000:
            log.warning(
                "this machine's wall clock was set %+d ms (NTP?); the daemon's clock follows "
                "a steady count and the exchange's, so no deadline moved with it",
                -(stepped - (offset - previous)),
            )
        return offset

    def clock_error_ms(self) -> int:
        """The most `clock` can be off the exchange's clock (ms): the serverTime of the
        sample the offset came from was stamped somewhere within its round trip, so the
        midpoint is off by at most half of it (+1 for the whole milliseconds)."""
        return (self.stats.last_rtt_ms + 1) // 2 + 1

    async def _time_sample(self) -> tuple[int, int]:
        """(round trip, serverTime - midpoint of the round trip) of one `GET /fapi/v1/time`.

        A 429 is waited out as every other read waits it out (`_attempt`: the governor holds
        the next request for its Retry-After, up to `max_rate_limited` times), not counted as
        a failed attempt: the exchange answered, and asked to wait. Counted, a start into a
        run of 4 gave up ("cannot reach the exchange"), and a supervisor's restart asked again.
        The round trip is timed on the request that was answered, not across the waits."""
        limited = 0
        while True:
            await self.governor.acquire(weight=1)
            started = self._wall_ms()
            try:
                body = await self._send("futures_time", self.client.futures_time, {}, False)
                break
            except _RateLimited as exc:
                limited += 1
                self._check_waits("futures_time", limited, exc)
        ended = self._wall_ms()
        try:
            server_ms = int(body["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RetryableError(f"futures_time: malformed answer {str(body)[:200]}") from exc
        return ended - started, server_ms - (started + ended) // 2

    def _wall_ms(self) -> int:
        """This machine's time as the clock counts it (before the offset): the base the
        offset is measured on."""
        return self.clock.local_ms()

    async def run_time_sync(self, interval_s: float = 300.0) -> None:
        """Re-measure the offset every `interval_s` seconds until cancelled.

        Transient failures (an IP ban included) are logged and tried at the next interval; a
        fatal error ends the loop with that error.
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

    def __repr__(self) -> str:
        return (
            f"RestConnection(url={self.client.FUTURES_URL!r}, offset={self.clock.offset_ms} ms, "
            f"{self.governor.usage()})"
        )
