"""Public market-data REST calls (aggTrades, klines, time, exchangeInfo) for backfill and history.

Keeps under the IP request-weight limit by reading `X-MBX-USED-WEIGHT-1M` after every response
and pausing until the next 1-minute window before a request that would cross the budget.
Transient failures (connection refused or dropped mid-response, timeouts, 5xx, a truncated
body) are retried with the shared backoff; a 429 waits out its `Retry-After` (seconds) and
retries; a 418 (IP banned) raises `IpBanStop` at once, because continuing extends the ban. The
daemon's client shares the ban with its order connection (`ban`, the `RateGovernor`): a ban
either meets stops both until its end, when both resume; a call waits it out in its retries
(`core.errors.IpBanned`, retryable), without a request.
Other 4xx answers raise `RejectedError` with Binance's code. Rows are parsed at this boundary.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from core import errors
from core.backoff import Backoff, Sleep, retry
from core.clock import Clock
from core.errors import FatalError, RejectedError, RetryableError
from core.intervals import interval_ms
from core.market import Bar, Trade
from gateway.wire import MalformedMessage, parse_rest_agg_trade, parse_rest_kline
from rest_connect.errors import banned_until_ms, not_connected
from rest_connect.rate_governor import RateGovernor

log = logging.getLogger(__name__)

AGG_TRADES_MAX_LIMIT = 1000
KLINES_MAX_LIMIT = 1500
WINDOW_MS = 60_000


class IpBanStop(FatalError):
    """HTTP 418 to a client that shares no ban (`fetch_historical.py`): the IP is banned for
    ignoring 429s and retrying would only extend the ban, so the run stops. The daemon's
    clients share one ban and get the retryable `core.errors.IpBanned` instead."""


def klines_weight(limit: int) -> int:
    """Request weight of `GET /fapi/v1/klines` for `limit` rows (reference section 4.3)."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


@dataclass(slots=True)
class RestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers waited out
    weight_pauses: int = 0  # pauses to stay under the weight budget
    paused_s: float = 0.0


class WeightGovernor:
    """Tracks the used request weight of the current 1-minute window from response headers."""

    def __init__(self, *, clock: Clock, limit: int, headroom: float, sleep: Sleep) -> None:
        self.clock = clock
        self.limit = limit
        self.budget = int(limit * headroom)
        self._sleep = sleep
        self.used = 0
        self._window = -1

    def observe(self, headers: Any) -> None:
        value = headers.get("X-MBX-USED-WEIGHT-1M")
        if value is None:
            return
        try:
            self.used = int(value)
        except ValueError:
            return
        self._window = self.clock.now_ms() // WINDOW_MS

    async def before(self, weight: int, stats: RestStats) -> None:
        """Wait for the next window when `weight` more would cross the budget."""
        now = self.clock.now_ms()
        if now // WINDOW_MS != self._window:
            self.used = 0
            return
        if self.used + weight <= self.budget:
            return
        wait_s = ((self._window + 1) * WINDOW_MS - now) / 1000 + 0.25
        log.info("request weight %d/%d used: pausing %.1f s", self.used, self.limit, wait_s)
        stats.weight_pauses += 1
        stats.paused_s += wait_s
        await self._sleep(wait_s)
        self.used = 0
        self._window = -1


class MarketDataRest:
    """An aiohttp client for the public market-data endpoints of one REST base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        weight_limit: int = 2400,
        weight_headroom: float = 0.9,
        backoff: Backoff | None = None,
        max_attempts: int = 12,
        timeout_s: float = 10.0,
        default_retry_after_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        ban: RateGovernor | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ban = ban  # the order connection's governor: one IP, one ban (None: ours alone)
        self.clock = clock
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self.backoff = backoff or Backoff(initial_s=0.2, max_s=10.0, sleep=sleep)
        self.max_attempts = max_attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.default_retry_after_s = default_retry_after_s
        self.governor = WeightGovernor(
            clock=clock, limit=weight_limit, headroom=weight_headroom, sleep=sleep
        )
        self.stats = RestStats()

    async def __aenter__(self) -> "MarketDataRest":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def get_json(self, path: str, params: dict[str, Any], weight: int) -> Any:
        """GET `path` with retries; returns the decoded JSON body of the 200 answer."""
        query = {k: str(v) for k, v in params.items() if v is not None}
        url = self.base_url + path

        async def attempt() -> Any:
            await self.governor.before(weight, self.stats)
            return await self._attempt(url, query)

        def on_retry(exc: BaseException, delay: float) -> None:
            self.stats.retries += 1
            # A ban was said once, with its end, by the governor: not again for each call.
            level = logging.INFO if isinstance(exc, errors.IpBanned) else logging.WARNING
            log.log(level, "GET %s failed: %s; retry in %.2f s", path, exc, delay)

        return await retry(
            attempt, backoff=self.backoff, max_attempts=self.max_attempts, on_retry=on_retry
        )

    async def _attempt(self, url: str, query: dict[str, str]) -> Any:
        if self.ban is not None:
            self.ban.check_ban()  # nothing is sent during a ban: a request would extend it
        self.stats.requests += 1
        try:
            async with self._http().get(url, params=query, timeout=self.timeout) as resp:
                self.governor.observe(resp.headers)
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                body = await resp.read()
        except aiohttp.ClientConnectorError as exc:
            raise RetryableError(not_connected(exc)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        if status == 200:
            try:
                return json.loads(body)
            except ValueError as exc:
                raise RetryableError(f"undecodable 200 body ({len(body)} bytes)") from exc
        code, msg = _error_fields(body)
        if status == 429:
            self.stats.rate_limited += 1
            wait_s = _seconds(retry_after, self.default_retry_after_s)
            raise RetryableError(f"429 {code} {msg}", retry_after_s=wait_s)
        if status == 418:
            detail = f"HTTP 418 from {url}: IP banned by the exchange ({code} {msg})"
            if self.ban is not None:
                left_s = self.ban.banned(
                    until_ms=banned_until_ms(msg),
                    retry_after_s=_seconds(retry_after, 0.0) if retry_after else None,
                    reason=detail,
                )
                raise errors.IpBanned(detail, retry_after_s=left_s)
            raise IpBanStop(f"{detail}; stop and wait for the ban to expire")
        if status >= 500 or status == 408:
            raise RetryableError(f"HTTP {status} {code} {msg}")
        raise RejectedError(code, msg or f"HTTP {status}")

    # --- endpoints ------------------------------------------------------------------------

    async def server_time_ms(self) -> int:
        body = await self.get_json("/fapi/v1/time", {}, 1)
        return int(body["serverTime"])

    async def exchange_info(self) -> dict[str, Any]:
        return await self.get_json("/fapi/v1/exchangeInfo", {}, 1)

    async def agg_trades_raw(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = AGG_TRADES_MAX_LIMIT,
    ) -> list[dict[str, Any]]:
        """The aggTrades rows as sent (for stores that keep exact strings)."""
        params = {
            "symbol": symbol,
            "fromId": from_id,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        rows = await self.get_json("/fapi/v1/aggTrades", params, 20)
        if not isinstance(rows, list):
            raise RetryableError(f"aggTrades answer is not a list: {str(rows)[:200]}")
        return rows

    async def agg_trades(self, symbol: str, **kwargs: Any) -> list[Trade]:
        """Aggregate trades, ascending by id (`fromId` inclusive, at most `limit`)."""
        rows = await self.agg_trades_raw(symbol, **kwargs)
        now = self.clock.now_ms()
        try:
            return [parse_rest_agg_trade(symbol, row, now) for row in rows]
        except MalformedMessage as exc:
            raise RetryableError(f"malformed aggTrades row: {exc}") from exc

    async def klines_raw(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = KLINES_MAX_LIMIT,
    ) -> list[list[Any]]:
        interval_ms(interval)
        params = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        rows = await self.get_json("/fapi/v1/klines", params, klines_weight(limit))
        if not isinstance(rows, list):
            raise RetryableError(f"klines answer is not a list: {str(rows)[:200]}")
        return rows

    async def klines(
        self, symbol: str, interval: str, *, closed_before_ms: int | None = None, **kwargs: Any
    ) -> list[Bar]:
        """Klines ascending by open time; a bar closing at/after `closed_before_ms` is open."""
        rows = await self.klines_raw(symbol, interval, **kwargs)
        try:
            return [
                parse_rest_kline(
                    symbol,
                    interval,
                    row,
                    closed=closed_before_ms is None or row[6] < closed_before_ms,
                )
                for row in rows
            ]
        except MalformedMessage as exc:
            raise RetryableError(f"malformed klines row: {exc}") from exc


def _error_fields(body: bytes) -> tuple[int, str]:
    try:
        doc = json.loads(body)
        return int(doc.get("code", 0)), str(doc.get("msg", ""))
    except (ValueError, AttributeError, TypeError):
        return 0, body[:200].decode("utf-8", "replace")


def _seconds(header: str | None, default: float) -> float:
    if header is None:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        return default
