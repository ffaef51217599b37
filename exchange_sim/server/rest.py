"""The REST request pipeline: faults, rate limits, authentication, dispatch, headers, errors.

Order of processing (per request): injected latency; IP ban (418, earned or injected); injected 429;
endpoint lookup (unknown path: 404, known path with another method: 405, both with Binance's -5000
body "Path <path>, Method <METHOD> is invalid"); the body (over 16 KiB: 413 -1101); parameter
parsing (duplicates, too many: -1101, see params.py); request weight (429, then 418 for clients that
keep going); security checks of reference section 2 (`auth.KeyStore.authenticate`); parameter syntax
(`params.check_syntax`: -1100 / -1102 / -1130, so no handler ever sees a malformed number); a
parameter the endpoint does not read (`accepted.check_all_read`: -1104); order-count limits on order
placement (429 -1015); injected order failures; the handler.
Every response carries `X-MBX-USED-WEIGHT-1M`; order placement responses also carry
`X-MBX-ORDER-COUNT-10S` / `-1M`. Every error body is `{"code", "msg"}` JSON (errors found by
the HTTP parser itself are made JSON by `app.JsonErrorRunner`).
"""

import asyncio
import inspect
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exchange_sim.errors import BinanceError

from .accepted import check_all_read
from .auth import AuthConfig, Credentials, KeyStore, Security
from .faults import ORDER_REJECTIONS, SERVICE_UNAVAILABLE_MSG, UNKNOWN_ERROR_MSG, Faults
from .params import check_syntax, parse_params
from .ratelimit import RateLimited, RateLimiter, ip_banned

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# aiohttp's client_max_size (app.py). Binance documents no limit; no valid request comes near
# it (five batch orders are ~3.5 KB), and parsing stays well under 1 ms at this size.
MAX_BODY_BYTES = 16_384
MAX_ECHOED_PATH = 100  # characters of the request path an error message repeats
REQUEST_LOG_SIZE = 1000  # requests `RestServer.request_log` remembers


def invalid_path(method: str, path: str) -> BinanceError:
    """What Binance answers for a path/method it does not serve (observed on fapi: -5000)."""
    if len(path) > MAX_ECHOED_PATH:
        path = path[:MAX_ECHOED_PATH] + "..."
    return BinanceError(-5000, f"Path {path}, Method {method} is invalid", 404)


def body_too_large() -> BinanceError:
    return BinanceError(-1101, f"Request body too large; the limit is {MAX_BODY_BYTES} bytes.", 413)


Handler = Callable[[Mapping[str, str], Credentials | None], Any | Awaitable[Any]]
Weight = int | Callable[[Mapping[str, str]], int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST route. `orders` = (10 s count, 1 min count) for order-placing endpoints."""

    method: str
    path: str
    security: Security
    weight: Weight
    handler: Handler
    orders: tuple[int, int] | None = None
    # The parameter names the endpoint reads (`accepted.py`); any other is -1104.
    accepted: frozenset[str] = frozenset()

    def weight_of(self, params: Mapping[str, str]) -> int:
        return self.weight(params) if callable(self.weight) else self.weight


class _HangUp(Exception):
    """Close the connection without answering."""


class RestServer:
    """Dispatches REST requests to `Endpoint`s; owns the per-request protocol rules."""

    def __init__(
        self,
        *,
        endpoints: list[Endpoint],
        keys: KeyStore,
        limiter: RateLimiter,
        faults: Faults,
        now_ms: Callable[[], int],
        auth_config: AuthConfig,
    ) -> None:
        self._routes: dict[tuple[str, str], Endpoint] = {(e.method, e.path): e for e in endpoints}
        self._paths = {e.path for e in endpoints}
        self.keys = keys
        self.limiter = limiter
        self.faults = faults
        self._now_ms = now_ms
        self.auth_config = auth_config
        self.request_count = 0
        # "METHOD /path" of the latest requests, oldest first: what a test counts the round
        # trips of a client's step by (the server's view: retries and every code path included)
        self.request_log: deque[str] = deque(maxlen=REQUEST_LOG_SIZE)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        self.request_log.append(f"{request.method} {request.path[:MAX_ECHOED_PATH]}")
        ip = request.remote or "127.0.0.1"
        headers: dict[str, str] = {}
        faults = self.faults
        try:
            if faults.rest_active and faults.rest_latency_s > 0:
                await asyncio.sleep(faults.rest_latency_s)
            self.limiter.check_ban(ip)
            if faults.rest_active:
                ban = faults.take_rest_ban(self._now_ms())
                if ban is not None:
                    raise ip_banned(*ban)
                retry_after = faults.take_rest_429()
                if retry_after is not None:
                    raise RateLimited(
                        -1003,
                        "Too many requests; current limit is "
                        f"{self.limiter.config.weight_limit} requests per minute. Please use "
                        "the websocket for live updates to avoid polling the API.",
                        429,
                        retry_after,
                    )
            endpoint = self._routes.get((request.method, request.path))
            if endpoint is None:
                error = invalid_path(request.method, request.path)
                if request.path in self._paths:
                    error.http_status = 405
                    headers["Allow"] = ", ".join(m for (m, p) in self._routes if p == request.path)
                raise error
            raw_query = request.rel_url.raw_query_string
            raw_body = ""
            if request.method != "GET" and request.can_read_body:
                try:
                    raw_body = (await request.read()).decode("utf-8", "replace")
                except web.HTTPRequestEntityTooLarge:
                    raise body_too_large() from None
                except ConnectionResetError:
                    # A client that gave up (its timeout shorter than injected latency): not
                    # an error of ours, and no one is left to answer.
                    log.info(
                        "%s %s: the client went away before its request was read; nothing done",
                        request.method,
                        request.path,
                    )
                    raise asyncio.CancelledError from None
            params = parse_params(raw_query, raw_body)
            used = self.limiter.charge_weight(ip, endpoint.weight_of(params))
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            creds = self.keys.authenticate(
                security=endpoint.security,
                api_key=request.headers.get("X-MBX-APIKEY"),
                ip=ip,
                raw_query=raw_query,
                raw_body=raw_body,
                params=params,
                server_time_ms=self._now_ms(),
                config=self.auth_config,
            )
            check_syntax(params)
            check_all_read(endpoint.accepted, params)
            failure = None
            if endpoint.orders is not None:
                assert creds is not None
                c10, c1m = self.limiter.charge_orders(str(creds.account_id), *endpoint.orders)
                headers["X-MBX-ORDER-COUNT-10S"] = str(c10)
                headers["X-MBX-ORDER-COUNT-1M"] = str(c1m)
                if faults.rest_active:
                    failure = faults.take_order_failure()
                    refused = None if failure else faults.take_order_rejection()
                    if refused is not None:
                        raise BinanceError(refused, ORDER_REJECTIONS[refused])
            if failure == "unavailable_before":
                raise BinanceError(-1001, SERVICE_UNAVAILABLE_MSG, 503)
            if failure == "hangup_before":
                raise _HangUp
            result = endpoint.handler(params, creds)
            if inspect.isawaitable(result):
                result = await result
            if failure == "unknown_after":
                raise BinanceError(-1006, UNKNOWN_ERROR_MSG, 503)
            if failure == "hangup_after":
                raise _HangUp
            status = 200
            body: Any = result
        except _HangUp:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError from None
        except RateLimited as exc:
            status, body = exc.http_status, exc.to_json()
            headers["Retry-After"] = str(exc.retry_after_s)
            headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.limiter.used_weight(ip)))
        except BinanceError as exc:
            status, body = exc.http_status, exc.to_json()
            headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.limiter.used_weight(ip)))
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            status = 500
            body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.limiter.used_weight(ip)))
        payload = _dumps(body).encode()
        if faults.rest_active and faults.take_rest_drop():
            return await _drop_mid_response(request, status, headers, payload)
        return web.Response(
            body=payload, status=status, content_type="application/json", headers=headers
        )


async def _drop_mid_response(
    request: web.Request, status: int, headers: dict[str, str], payload: bytes
) -> web.StreamResponse:
    """Send the headers and half the body, then cut the connection."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_type = "application/json"
    resp.content_length = len(payload)
    await resp.prepare(request)
    await resp.write(payload[: max(1, len(payload) // 2)])
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError
