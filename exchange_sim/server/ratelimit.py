"""Per-IP request-weight and per-account order-count limits, with 429 -> 418 escalation.

Windows are fixed calendar windows (like Binance in practice): the 1-minute weight window
starts at a whole minute of the limiter's clock. Window lengths are configurable so tests can
use short ones. All times are ms from the injected clock (`now_ms()`).

Escalation: once an IP is over its weight limit it gets HTTP 429 (-1003) with `Retry-After`
(seconds until the window ends). Every further request inside the same limited window counts
as "ignoring the 429"; after `ban_after_ignored` of those the IP is banned and gets HTTP 418
(-1003, "IP banned until <ms>") for `ban_base_ms`, doubling per repeated ban up to `ban_max_ms`
(Binance: 2 minutes .. 3 days).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from exchange_sim.errors import BinanceError


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitConfig:
    """Limits (units: request weight, orders) and window lengths (ms)."""

    weight_limit: int = 2400
    weight_window_ms: int = 60_000
    orders_10s_limit: int = 300
    orders_10s_window_ms: int = 10_000
    orders_1m_limit: int = 1200
    orders_1m_window_ms: int = 60_000
    ban_after_ignored: int = 3
    ban_base_ms: int = 120_000
    ban_max_ms: int = 3 * 24 * 3600 * 1000

    def exchange_info_entries(self) -> list[dict]:
        """The three `rateLimits` entries of exchangeInfo (nominal intervals)."""
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.orders_1m_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.orders_10s_limit,
            },
        ]


class RateLimited(BinanceError):
    """A -1003/-1015 rejection that carries the `Retry-After` seconds and used weight."""

    def __init__(self, code: int, msg: str, http_status: int, retry_after_s: int) -> None:
        super().__init__(code, msg, http_status)
        self.retry_after_s = retry_after_s


def ip_banned(until_ms: int, retry_after_s: int) -> RateLimited:
    """Binance's answer to a banned IP: HTTP 418 -1003 naming the ban's end (exchange ms)."""
    return RateLimited(
        -1003,
        f"Way too many requests; IP banned until {until_ms}. "
        "Please use the websocket for live updates to avoid bans.",
        418,
        retry_after_s,
    )


@dataclass(slots=True)
class _Window:
    start_ms: int = -1
    used: int = 0

    def roll(self, now_ms: int, length_ms: int) -> None:
        start = now_ms - now_ms % length_ms
        if start != self.start_ms:
            self.start_ms = start
            self.used = 0


@dataclass(slots=True)
class _IpState:
    weight: _Window = field(default_factory=_Window)
    ignored: int = 0
    limited_window_ms: int = -1
    banned_until_ms: int = 0
    bans: int = 0


def _retry_after_s(delta_ms: int) -> int:
    return max(1, -(-delta_ms // 1000))


class RateLimiter:
    """Counts weight per IP and orders per account; raises `RateLimited` when over."""

    def __init__(self, config: RateLimitConfig, now_ms: Callable[[], int]) -> None:
        self.config = config
        self._now_ms = now_ms
        self._ips: dict[str, _IpState] = {}
        self._orders: dict[str, tuple[_Window, _Window]] = {}

    def used_weight(self, ip: str) -> int:
        state = self._ips.get(ip)
        if state is None:
            return 0
        state.weight.roll(self._now_ms(), self.config.weight_window_ms)
        return state.weight.used

    def check_ban(self, ip: str) -> None:
        """Raise 418 if the IP is currently banned (before anything else is counted)."""
        state = self._ips.get(ip)
        now = self._now_ms()
        if state is not None and now < state.banned_until_ms:
            raise ip_banned(state.banned_until_ms, _retry_after_s(state.banned_until_ms - now))

    def charge_weight(self, ip: str, weight: int) -> int:
        """Add `weight`; return used weight, or raise 429 (or 418 when the 429s are ignored)."""
        cfg = self.config
        now = self._now_ms()
        state = self._ips.setdefault(ip, _IpState())
        state.weight.roll(now, cfg.weight_window_ms)
        state.weight.used += weight
        if state.weight.used <= cfg.weight_limit:
            return state.weight.used
        window_end = state.weight.start_ms + cfg.weight_window_ms
        if state.limited_window_ms == state.weight.start_ms:
            state.ignored += 1
        else:
            state.limited_window_ms = state.weight.start_ms
            state.ignored = 0
        if state.ignored >= cfg.ban_after_ignored:
            duration = min(cfg.ban_base_ms * (2**state.bans), cfg.ban_max_ms)
            state.bans += 1
            state.ignored = 0
            state.banned_until_ms = now + duration
            self.check_ban(ip)
        raise RateLimited(
            -1003,
            f"Too many requests; current limit is {cfg.weight_limit} requests per minute. "
            "Please use the websocket for live updates to avoid polling the API.",
            429,
            _retry_after_s(window_end - now),
        )

    def order_counts(self, account: str) -> tuple[int, int]:
        """(orders in the current 10 s window, orders in the current 1 min window)."""
        w10, w1m = self._order_windows(account)
        return w10.used, w1m.used

    def charge_orders(self, account: str, count_10s: int, count_1m: int) -> tuple[int, int]:
        """Count new orders; raise 429 -1015 when either window is exceeded."""
        cfg = self.config
        now = self._now_ms()
        w10, w1m = self._order_windows(account)
        w10.used += count_10s
        w1m.used += count_1m
        if w10.used > cfg.orders_10s_limit:
            raise RateLimited(
                -1015,
                f"Too many new orders; current limit is {cfg.orders_10s_limit} orders per "
                "10 SECOND.",
                429,
                _retry_after_s(w10.start_ms + cfg.orders_10s_window_ms - now),
            )
        if w1m.used > cfg.orders_1m_limit:
            raise RateLimited(
                -1015,
                f"Too many new orders; current limit is {cfg.orders_1m_limit} orders per 1 MINUTE.",
                429,
                _retry_after_s(w1m.start_ms + cfg.orders_1m_window_ms - now),
            )
        return w10.used, w1m.used

    def _order_windows(self, account: str) -> tuple[_Window, _Window]:
        windows = self._orders.setdefault(account, (_Window(), _Window()))
        now = self._now_ms()
        windows[0].roll(now, self.config.orders_10s_window_ms)
        windows[1].roll(now, self.config.orders_1m_window_ms)
        return windows
