"""Client-side rate governor: stays under Binance's request-weight and order-count limits.

Binance counts request weight per IP and new orders per account in fixed windows aligned to
its clock (every whole minute, every 10 s) and reports the running totals on every answer,
errors included: `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1M`.
The governor keeps the same counters, raised by what we are about to send and corrected by
those headers, and sleeps before a request that would push a counter past `headroom` x its
limit until that window has rolled (plus `margin_ms` for the error in our clock offset).

A 429 blocks every caller until its `Retry-After` has passed (without the header: until the
window ends), because each request sent while limited counts towards an IP ban. A 418 (the IP
banned, 2 minutes .. 3 days) stops every request until the ban's end: `acquire` raises
`IpBanned` at once, without waiting (an order must not go out minutes late; a read is retried
by its caller after the ban), and the first request after the end goes out as usual. A request
sent during a ban extends it, so the end taken is the latest of what the exchange said.

Times are ms of the injected clock, which must estimate the exchange's clock (`LiveClock` with
the offset measured by `RestConnection.sync_time`); waits (seconds) go through `sleep`.
"""

import asyncio
import enum
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.backoff import Sleep
from core.clock import Clock
from core.errors import IpBanned
from core.repeated_lines import RepeatedLines

log = logging.getLogger(__name__)
RATE_LIMIT_LINE_MS = 60_000  # at most one WARNING about 429s in this long
# A 418 that names no end: Binance's shortest ban. The request after it learns the real end.
DEFAULT_BAN_MS = 120_000
BAN_EXTENDED_MS = 1_000  # a later 418 moving the end by more than this is said again


class LimitKind(enum.StrEnum):
    WEIGHT = "weight"  # request weight per IP
    ORDERS = "orders"  # new orders per account


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """One limit: at most `limit` units per fixed window of `window_ms`, reported in `header`."""

    kind: LimitKind
    limit: int
    window_ms: int
    header: str

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.window_ms <= 0:
            raise ValueError(f"bad rate limit {self}: limit and window must be positive")


DEFAULT_LIMITS = (
    RateLimit(kind=LimitKind.WEIGHT, limit=2400, window_ms=60_000, header="X-MBX-USED-WEIGHT-1M"),
    RateLimit(kind=LimitKind.ORDERS, limit=300, window_ms=10_000, header="X-MBX-ORDER-COUNT-10S"),
    RateLimit(kind=LimitKind.ORDERS, limit=1200, window_ms=60_000, header="X-MBX-ORDER-COUNT-1M"),
)

_INTERVALS = {"SECOND": (1000, "S"), "MINUTE": (60_000, "M"), "HOUR": (3_600_000, "H"),
              "DAY": (86_400_000, "D")}  # fmt: skip
_TYPES = {
    "REQUEST_WEIGHT": (LimitKind.WEIGHT, "X-MBX-USED-WEIGHT-"),
    "ORDERS": (LimitKind.ORDERS, "X-MBX-ORDER-COUNT-"),
}


def limits_from_exchange_info(entries: Iterable[Mapping[str, Any]]) -> tuple[RateLimit, ...]:
    """The limits of exchangeInfo `rateLimits` (RAW_REQUESTS has no header: skipped).

    `{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}` is a
    limit of 300 orders per 10 s reported in `X-MBX-ORDER-COUNT-10S`. ValueError if malformed.
    """
    limits = []
    for entry in entries:
        kind_header = _TYPES.get(str(entry.get("rateLimitType")))
        if kind_header is None:
            continue
        try:
            unit_ms, letter = _INTERVALS[str(entry["interval"])]
            num = int(entry["intervalNum"])
            limit = int(entry["limit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed rateLimits entry {dict(entry)!r}") from exc
        kind, prefix = kind_header
        limits.append(
            RateLimit(
                kind=kind, limit=limit, window_ms=num * unit_ms, header=f"{prefix}{num}{letter}"
            )
        )
    return tuple(limits)


@dataclass(slots=True)
class GovernorStats:
    pauses: int = 0  # waits to stay under a limit
    paused_s: float = 0.0
    rate_limited: int = 0  # 429 answers that blocked every caller
    blocked_s: float = 0.0  # time callers waited out a 429
    bans: int = 0  # 418 answers (IP banned)
    refused_banned: int = 0  # requests not sent because of a ban


@dataclass(slots=True)
class _Counter:
    """Our view of one limit's current window (start in ms; -1 = none yet)."""

    spec: RateLimit
    budget: int
    start_ms: int = -1
    used: int = 0

    def roll(self, now_ms: int) -> None:
        """Move to the window holding `now_ms` if it is later than ours (never back)."""
        start = now_ms - now_ms % self.spec.window_ms
        if start > self.start_ms:
            self.start_ms = start
            self.used = 0

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.spec.window_ms


def _fits(counters: tuple[_Counter, ...], amount: int, at_ms: int) -> bool:
    """Whether `amount` more fits in each of `counters` (a window's first request always
    does), their windows rolled to `at_ms` (`_Counter.roll` written out: a call per limit on
    the order path)."""
    for counter in counters:
        start = at_ms - at_ms % counter.spec.window_ms
        if start > counter.start_ms:
            counter.start_ms = start
            counter.used = 0
        if counter.used > 0 and counter.used + amount > counter.budget:
            return False
    return True


class RateGovernor:
    """Shared by every request of one API key / IP; all methods run on one event loop."""

    def __init__(
        self,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        limits: Iterable[RateLimit] = DEFAULT_LIMITS,
        headroom: float = 0.9,
        margin_ms: int = 250,
    ) -> None:
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom}")
        if margin_ms < 0:
            raise ValueError(f"margin_ms must be >= 0, got {margin_ms}")
        self.clock = clock
        self._sleep = sleep
        self.headroom = headroom
        self.margin_ms = margin_ms
        self.blocked_until_ms = 0
        self.banned_until_ms = 0  # our clock; 0: no ban known
        self.stats = GovernorStats()
        # The last 429 said at WARNING, and the 429s since then said at DEBUG only: a storm
        # answers dozens of requests a minute with 429, one line each buried the log.
        self._429_lines = RepeatedLines(RATE_LIMIT_LINE_MS)
        self._counters: list[_Counter] = []
        self.set_limits(limits)

    # ---- limits ---------------------------------------------------------------------------

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return tuple(c.spec for c in self._counters)

    def set_limits(self, limits: Iterable[RateLimit]) -> None:
        """Replace the limits (e.g. with the venue's exchangeInfo `rateLimits`)."""
        self._counters = [
            _Counter(spec, max(1, int(spec.limit * self.headroom))) for spec in limits
        ]
        # By kind, for `try_acquire`: an order (weight 0) looks only at the order counters.
        self._weight_counters = tuple(c for c in self._counters if c.spec.kind is LimitKind.WEIGHT)
        self._order_counters = tuple(c for c in self._counters if c.spec.kind is LimitKind.ORDERS)

    def used(self, header: str) -> int:
        """Units used in the current window of the limit reported in `header` (0 if unknown)."""
        now = self.clock.now_ms() - self.margin_ms
        for counter in self._counters:
            if counter.spec.header.lower() == header.lower():
                counter.roll(now)
                return counter.used
        return 0

    # ---- before a request -----------------------------------------------------------------

    async def acquire(self, *, weight: int = 1, orders: int = 0) -> None:
        """Wait until `weight` and `orders` more fit under every limit, then count them.

        Raises `IpBanned` at once during a ban (also one that began while waiting).
        """
        while True:
            now = self.clock.now_ms()
            if self.banned_until_ms:
                self._refuse_if_banned(now)
            if now < self.blocked_until_ms:
                wait_s = (self.blocked_until_ms - now) / 1000
                self.stats.blocked_s += wait_s
                await self._sleep(wait_s)
                continue
            wait_ms = 0
            for counter, amount in self._amounts(weight, orders):
                # A window counts as rolled only `margin_ms` after its end on our clock, so an
                # offset error of up to `margin_ms` never lands a full budget in an old window.
                counter.roll(now - self.margin_ms)
                if counter.used > 0 and counter.used + amount > counter.budget:
                    wait_ms = max(wait_ms, counter.end_ms + self.margin_ms - now)
            if wait_ms > 0:
                self.stats.pauses += 1
                self.stats.paused_s += wait_ms / 1000
                log.info("rate budget reached (%s): pausing %d ms", self.usage(), wait_ms)
                await self._sleep(wait_ms / 1000)
                continue
            for counter, amount in self._amounts(weight, orders):
                counter.used += amount
            return

    def try_acquire(
        self, *, weight: int = 1, orders: int = 0, now_ms: int | None = None, count: bool = True
    ) -> bool:
        """`acquire` without waiting: count `weight` and `orders` and return True when they fit
        now; False (nothing counted) when `acquire` would wait or raise (a ban, blocked by a
        429, a budget reached). Lets the order path hand a request over without a loop hop.
        `now_ms`: this governor's clock, read by the caller for the same request (None: read
        here). `count=False`: only whether they would fit, nothing counted (the order path's
        rehearsal, `trading_engine.order_rehearsal`)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        if now < self.blocked_until_ms or (self.banned_until_ms and self._ban_holds(now)):
            return False
        at = now - self.margin_ms
        if weight > 0 and not _fits(self._weight_counters, weight, at):
            return False
        if orders > 0 and not _fits(self._order_counters, orders, at):
            return False
        if count:
            if weight > 0:
                for counter in self._weight_counters:
                    counter.used += weight
            if orders > 0:
                for counter in self._order_counters:
                    counter.used += orders
        return True

    def _amounts(self, weight: int, orders: int) -> list[tuple[_Counter, int]]:
        out = []
        for counter in self._counters:
            amount = weight if counter.spec.kind is LimitKind.WEIGHT else orders
            if amount > 0:
                out.append((counter, amount))
        return out

    # ---- after an answer ------------------------------------------------------------------

    def observe(self, headers: Mapping[str, str] | None, *, sent_ms: int) -> None:
        """Take the exchange's counts from an answer to a request sent at `sent_ms`.

        A count belongs to the window the request was sent in: counts from a window we have
        already left are ignored, counts from a newer one start it.
        """
        if not headers:
            return
        for counter in self._counters:
            raw = headers.get(counter.spec.header)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                continue
            start = sent_ms - sent_ms % counter.spec.window_ms
            if start > counter.start_ms:
                counter.start_ms, counter.used = start, value
            elif start == counter.start_ms:
                counter.used = max(counter.used, value)

    def rate_limited(self, *, retry_after_s: float | None, kind: LimitKind) -> float:
        """A 429: block every caller for `retry_after_s` (or until the window ends); seconds."""
        now = self.clock.now_ms()
        if retry_after_s is not None:
            until = now + int(retry_after_s * 1000)
        else:
            counters = [c for c in self._counters if c.spec.kind is kind]
            for counter in counters:
                counter.roll(now - self.margin_ms)
            over = [c for c in counters if c.used >= c.spec.limit] or counters
            for counter in over:
                counter.used = max(counter.used, counter.spec.limit)
            until = max((c.end_ms + self.margin_ms for c in over), default=now + 1000)
        self.blocked_until_ms = max(self.blocked_until_ms, until)
        self.stats.rate_limited += 1
        wait_s = max(0, self.blocked_until_ms - now) / 1000
        self._say_429(kind, wait_s, now)
        return wait_s

    def _say_429(self, kind: LimitKind, wait_s: float, now: int) -> None:
        """One WARNING a 429, at most one a RATE_LIMIT_LINE_MS: the others at DEBUG, counted
        into the next WARNING (`stats.rate_limited` counts them all)."""
        self._429_lines.say(
            log,
            logging.WARNING,
            "429",
            now,
            "HTTP 429 (%s): every request waits %.1f s",
            kind,
            wait_s,
        )

    def banned(self, *, until_ms: int | None, retry_after_s: float | None, reason: str) -> float:
        """A 418: no request until the ban's end, the later of the exchange's "banned until"
        (`until_ms`, exchange ms) and `Retry-After` (s) from now, plus `margin_ms` for our
        clock's error (DEFAULT_BAN_MS without either); said once at WARNING with its end.
        Returns the seconds left."""
        now = self.clock.now_ms()
        ends = [until_ms] if until_ms is not None else []
        if retry_after_s is not None:
            ends.append(now + math.ceil(retry_after_s * 1000))
        end = (max(ends) if ends else now + DEFAULT_BAN_MS) + self.margin_ms
        self.stats.bans += 1
        known = self.banned_until_ms if now < self.banned_until_ms else 0
        if end > known:
            self.banned_until_ms = end
        if end - known > BAN_EXTENDED_MS:  # a new ban, or one made longer: not a later answer
            log.warning(
                "HTTP 418: the exchange bans this IP until %s (%.0f s); no request is sent until "
                "then, orders are refused as not sent (%s)",
                _utc(self.banned_until_ms),
                (self.banned_until_ms - now) / 1000,
                reason,
            )
        else:
            log.debug("HTTP 418 within the known ban (%s)", reason)
        return (self.banned_until_ms - now) / 1000

    def check_ban(self) -> None:
        """Raise `IpBanned` while a ban holds: for another client of this IP, one that does not
        send through `acquire` (the market-data REST), so that it sends nothing either."""
        if self.banned_until_ms:
            self._refuse_if_banned(self.clock.now_ms())

    def _ban_holds(self, now: int) -> bool:
        """Whether the ban still holds at `now`; its end, once passed, is said and forgotten."""
        if now < self.banned_until_ms:
            return True
        log.info("the exchange's IP ban has ended (%s): requests resume", _utc(now))
        self.banned_until_ms = 0
        return False

    def _refuse_if_banned(self, now: int) -> None:
        """Raise `IpBanned` (seconds left as `retry_after_s`) while the ban holds."""
        if self._ban_holds(now):
            self.stats.refused_banned += 1
            left_s = (self.banned_until_ms - now + 1) / 1000  # a sleep of it ends past the end
            raise IpBanned(
                f"the exchange bans this IP until {_utc(self.banned_until_ms)} "
                f"({left_s:.0f} s more)",
                retry_after_s=left_s,
            )

    def usage(self) -> str:
        """`used/limit` per header, for logs and the heartbeat."""
        return ", ".join(f"{c.spec.header} {c.used}/{c.spec.limit}" for c in self._counters)


def _utc(ms: int) -> str:
    """`ms` (exchange clock) as the operator reads it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
