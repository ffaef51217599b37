"""Fault injection: the state the REST and WS layers consult, and the API tests call.

Every fault is switched on through a method of `Faults` (the running server's `ex.faults`) or
through `POST /_sim/faults` (admin mode) with `{"fault": "<method name>", ...kwargs}`;
`{"fault": "clear"}` switches everything off. Durations are wall-clock seconds; `None` means
"until cleared".

Faults (method: effect):

- `drop_websockets(refuse_s)`: abort every socket now (no close frame); refuse WS handshakes
  (HTTP 503) for `refuse_s` seconds.
- `silence(seconds, stream)`: keep sockets open but deliver nothing for `stream` (exact name, a
  symbol prefix such as "btcusdt", or a listenKey; None = every stream).
- `order_failure(mode, count)`: the next order requests (POST order / batchOrders / algoOrder):
  "unknown_after" = execute, then answer 503 "Unknown error, please check your request or try
  again later."; "hangup_after" = execute, then close the connection without a response;
  "unavailable_before" = execute nothing, answer 503 "Service Unavailable.";
  "hangup_before" = execute nothing, close the connection.
- `order_rejection(code, count)`: the next order requests are refused with Binance's `code`
  and its message (HTTP 400), nothing executed: a venue turning an order away, as -4131
  (a market order on a book beyond PERCENT_PRICE) or -2019 (margin) do; the codes in
  ORDER_REJECTIONS. `order_failure` is consulted first.
- `latency(rest_s, ws_s)`: delay every REST response / every WS send batch.
- `clock_skew(ms)`: shift the exchange clock (`/time`, recvWindow check, every time stamped on
  market data and user events; see server/driver.py) by `ms`.
- `expire_listen_key(key)`: expire a key (or all) now: `listenKeyExpired` is pushed, then
  nothing more; PUT answers -1125.
- `malformed_frames(count)` / `duplicate_frames(count)`: the next `count` market-stream
  messages are sent truncated (invalid JSON) / twice.
- `reorder_user_events(on)`: on the user stream an ACCOUNT_UPDATE that directly follows an
  ORDER_TRADE_UPDATE of the same batch is sent before it.
- `rest_rate_limit(count, retry_after_s)`: the next `count` REST requests get 429 -1003 with
  `Retry-After`.
- `rest_drop_mid_response(count)`: the next `count` REST responses are cut off after half the
  body (headers sent, then the connection is closed).
- `rest_ban(seconds)`: an IP ban starting at the next REST request: it and every request in
  the `seconds` after it get 418 -1003 "Way too many requests; IP banned until <ms>. ..." (ms
  of the exchange clock when the ban began, plus `seconds`) with `Retry-After` (whole seconds
  left). `rest_ban_hits` counts the requests answered so, the first included: a client that
  honours the ban sends exactly one.

Every argument is checked (ValueError, which the admin endpoint answers with HTTP 400): seconds
are finite numbers in [0, MAX_SECONDS], counts whole numbers in [0, MAX_COUNT] (at least 1 for
`order_failure`), `clock_skew` at most MAX_SKEW_MS (one day) either way, `retry_after_s` a
whole number of seconds in [0, MAX_SECONDS]. Booleans are not numbers here. A refused call
changes nothing, so no input can leave the server answering 500 or 429 for good.
"""

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ORDER_FAILURE_MODES = ("unknown_after", "hangup_after", "unavailable_before", "hangup_before")
UNKNOWN_ERROR_MSG = "Unknown error, please check your request or try again later."
SERVICE_UNAVAILABLE_MSG = "Service Unavailable."
MAX_SECONDS = 3600.0
MAX_COUNT = 1_000_000
MAX_SKEW_MS = 86_400_000
MAX_NAME_CHARS = 200
# Business refusals `order_rejection` can inject, with Binance's messages.
ORDER_REJECTIONS = {
    -4131: "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
    -2019: "Margin is insufficient.",
}


def _seconds(name: str, value: Any, *, optional: bool = False) -> float | None:
    """A duration in [0, MAX_SECONDS] s (None allowed if `optional`)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_SECONDS
    ):
        raise ValueError(
            f"{name} must be a number of seconds in [0, {MAX_SECONDS:g}], got {value!r}"
        )
    return float(value)


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
    return value


def _name(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
        raise ValueError(f"{name} must be a non-empty string of at most {MAX_NAME_CHARS} chars")
    return value


@dataclass(slots=True)
class _Silence:
    stream: str | None
    until: float | None  # time.monotonic() deadline


class Faults:
    """Current faults. The hot paths read plain attributes (`ws_active`, `rest_active`)."""

    def __init__(self) -> None:
        self._drop_ws: Callable[[], int] = lambda: 0
        self._expire_key: Callable[[str | None], list[str]] = lambda key: []
        self.clear()

    def attach(
        self,
        *,
        drop_ws: Callable[[], int],
        expire_listen_key: Callable[[str | None], list[str]],
    ) -> None:
        """Wire the actions that need the running server (done by LocalExchange)."""
        self._drop_ws = drop_ws
        self._expire_key = expire_listen_key

    def clear(self) -> None:
        """Switch every fault off."""
        self.ws_refuse_until = 0.0
        self._silences: list[_Silence] = []
        self.ws_latency_s = 0.0
        self.rest_latency_s = 0.0
        self.clock_skew_ms = 0
        self.malformed_next = 0
        self.duplicate_next = 0
        self.reorder_user = False
        self.order_mode: str | None = None
        self.order_remaining: int | None = None
        self.order_reject_code: int | None = None
        self.order_reject_next = 0
        self.rest_429_next = 0
        self.rest_429_retry_after_s = 1
        self.rest_drop_next = 0
        self.rest_ban_s: float | None = None  # armed: the ban's length (s)
        self._ban_ends: float | None = None  # time.monotonic() at its end, from its first request
        self.rest_ban_until_ms = 0  # the "banned until" of its answers (exchange ms)
        self.rest_ban_hits = 0
        self._refresh()

    def _refresh(self) -> None:
        self.ws_active = bool(self._silences or self.malformed_next or self.duplicate_next)
        self.rest_active = bool(
            self.rest_latency_s
            or self.rest_429_next
            or self.rest_drop_next
            or self.rest_ban_s is not None
            or self.order_mode
            or self.order_reject_next
        )

    # ---- (a) drop and refuse ------------------------------------------------------------------

    def drop_websockets(self, refuse_s: float = 0.0) -> int:
        """Abort every WebSocket now; refuse new handshakes for `refuse_s` seconds."""
        refuse = _seconds("refuse_s", refuse_s)
        assert refuse is not None
        self.ws_refuse_until = time.monotonic() + refuse
        return self._drop_ws()

    def ws_refusing(self) -> bool:
        return time.monotonic() < self.ws_refuse_until

    # ---- (b) silence ----------------------------------------------------------------------------

    def silence(self, seconds: float | None = None, stream: str | None = None) -> None:
        """Deliver nothing on matching streams for `seconds` (None: until cleared)."""
        duration = _seconds("seconds", seconds, optional=True)
        stream = _name("stream", stream)
        until = None if duration is None else time.monotonic() + duration
        self._silences.append(_Silence(stream, until))
        self._refresh()

    def unsilence(self) -> None:
        self._silences.clear()
        self._refresh()

    def is_silenced(self, stream: str) -> bool:
        if not self._silences:
            return False
        now = time.monotonic()
        live = [s for s in self._silences if s.until is None or s.until > now]
        if len(live) != len(self._silences):
            self._silences = live
            self._refresh()
        for s in live:
            if s.stream is None or s.stream == stream or stream.startswith(s.stream + "@"):
                return True
        return False

    # ---- (c) order failures ---------------------------------------------------------------------

    def order_failure(self, mode: str, count: int | None = 1) -> None:
        """Fail the next `count` order requests (None: until cleared) in `mode`."""
        if mode not in ORDER_FAILURE_MODES:
            raise ValueError(f"mode must be one of {ORDER_FAILURE_MODES}, got {mode!r}")
        if count is not None:
            count = _whole("count", count, 1, MAX_COUNT)
        self.order_mode = mode
        self.order_remaining = count
        self._refresh()

    def take_order_failure(self) -> str | None:
        """The failure mode for this order request (consumes one), or None."""
        mode = self.order_mode
        if mode is None:
            return None
        if self.order_remaining is not None:
            self.order_remaining -= 1
            if self.order_remaining <= 0:
                self.order_mode = None
                self.order_remaining = None
                self._refresh()
        return mode

    def order_rejection(self, code: int = -4131, count: int = 1) -> None:
        """Refuse the next `count` order requests with `code` (one of ORDER_REJECTIONS)."""
        if isinstance(code, bool) or code not in ORDER_REJECTIONS:
            raise ValueError(f"code must be one of {sorted(ORDER_REJECTIONS)}, got {code!r}")
        self.order_reject_next = _whole("count", count, 1, MAX_COUNT)
        self.order_reject_code = code
        self._refresh()

    def take_order_rejection(self) -> int | None:
        """The code to refuse this order request with (consumes one), or None."""
        if not self.order_reject_next:
            return None
        self.order_reject_next -= 1
        code = self.order_reject_code
        if not self.order_reject_next:
            self.order_reject_code = None
            self._refresh()
        return code

    # ---- (d) latency, (e) clock skew ---------------------------------------------------------

    def latency(self, rest_s: float = 0.0, ws_s: float = 0.0) -> None:
        rest, ws = _seconds("rest_s", rest_s), _seconds("ws_s", ws_s)
        assert rest is not None and ws is not None
        self.rest_latency_s = rest
        self.ws_latency_s = ws
        self._refresh()

    def clock_skew(self, ms: int) -> None:
        """Shift the exchange clock by `ms` (|ms| <= one day)."""
        self.clock_skew_ms = _whole("ms", ms, -MAX_SKEW_MS, MAX_SKEW_MS)

    # ---- (f) listenKey expiry -------------------------------------------------------------------

    def expire_listen_key(self, key: str | None = None) -> list[str]:
        return self._expire_key(_name("key", key))

    # ---- (g) malformed / duplicated frames, (h) reordered user events ---------------------------

    def malformed_frames(self, count: int = 1) -> None:
        count = _whole("count", count, 0, MAX_COUNT)
        self.malformed_next = min(self.malformed_next + count, MAX_COUNT)
        self._refresh()

    def duplicate_frames(self, count: int = 1) -> None:
        count = _whole("count", count, 0, MAX_COUNT)
        self.duplicate_next = min(self.duplicate_next + count, MAX_COUNT)
        self._refresh()

    def mangle_market_frame(self, raw: bytes) -> tuple[bytes, int]:
        """(frame to send, number of copies) for one market message."""
        if self.malformed_next:
            self.malformed_next -= 1
            self._refresh()
            return raw[: len(raw) // 2], 1
        if self.duplicate_next:
            self.duplicate_next -= 1
            self._refresh()
            return raw, 2
        return raw, 1

    def reorder_user_events(self, on: bool = True) -> None:
        if not isinstance(on, bool):
            raise ValueError(f"on must be true or false, got {on!r}")
        self.reorder_user = on

    # ---- (i) REST 429 and mid-response drops --------------------------------------------------

    def rest_rate_limit(self, count: int = 1, retry_after_s: int = 1) -> None:
        count = _whole("count", count, 0, MAX_COUNT)
        retry_after_s = _whole("retry_after_s", retry_after_s, 0, int(MAX_SECONDS))
        self.rest_429_next = count
        self.rest_429_retry_after_s = retry_after_s
        self._refresh()

    def take_rest_429(self) -> int | None:
        if not self.rest_429_next:
            return None
        self.rest_429_next -= 1
        self._refresh()
        return self.rest_429_retry_after_s

    def rest_drop_mid_response(self, count: int = 1) -> None:
        self.rest_drop_next = _whole("count", count, 0, MAX_COUNT)
        self._refresh()

    def take_rest_drop(self) -> bool:
        if not self.rest_drop_next:
            return False
        self.rest_drop_next -= 1
        self._refresh()
        return True

    # ---- (j) REST 418: an IP ban ------------------------------------------------------------

    def rest_ban(self, seconds: float = 120.0) -> None:
        """Ban the client for `seconds` from its next REST request on (Binance: 2 min .. 3 days)."""
        duration = _seconds("seconds", seconds)
        self.rest_ban_s = duration
        self._ban_ends = None
        self.rest_ban_hits = 0
        self._refresh()

    def take_rest_ban(self, now_ms: int) -> tuple[int, int] | None:
        """(banned until: exchange ms, Retry-After: whole seconds) for this REST request, the
        ban beginning at `now_ms` (exchange ms) if this is its first request; None when no ban
        is armed or it has ended."""
        if self.rest_ban_s is None:
            return None
        now = time.monotonic()
        if self._ban_ends is None:
            self._ban_ends = now + self.rest_ban_s
            self.rest_ban_until_ms = now_ms + round(self.rest_ban_s * 1000)
        left = self._ban_ends - now
        if left <= 0:
            self.rest_ban_s = self._ban_ends = None
            self._refresh()
            return None
        self.rest_ban_hits += 1
        return self.rest_ban_until_ms, max(1, math.ceil(left))

    # ---- admin endpoint -------------------------------------------------------------------------

    ADMIN_ACTIONS = (
        "clear",
        "drop_websockets",
        "silence",
        "unsilence",
        "order_failure",
        "order_rejection",
        "latency",
        "clock_skew",
        "expire_listen_key",
        "malformed_frames",
        "duplicate_frames",
        "reorder_user_events",
        "rest_rate_limit",
        "rest_drop_mid_response",
        "rest_ban",
    )

    def apply(self, spec: object) -> object:
        """Run `{"fault": name, **kwargs}` (the admin endpoint's body); ValueError if bad.

        Arguments are checked by the methods themselves; an unknown or missing argument is a
        ValueError too. Nothing is changed when a ValueError is raised."""
        if not isinstance(spec, dict) or spec.get("fault") not in self.ADMIN_ACTIONS:
            raise ValueError(f"'fault' must be one of {', '.join(self.ADMIN_ACTIONS)}")
        kwargs = {k: v for k, v in spec.items() if k != "fault"}
        method = getattr(self, spec["fault"])
        try:
            inspect.signature(method).bind(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{spec['fault']}: {exc}") from None
        return method(**kwargs)


def reorder_account_before_order(events: list[dict]) -> list[dict]:
    """Swap each ORDER_TRADE_UPDATE immediately followed by an ACCOUNT_UPDATE."""
    out = list(events)
    i = 0
    while i < len(out) - 1:
        if out[i].get("e") == "ORDER_TRADE_UPDATE" and out[i + 1].get("e") == "ACCOUNT_UPDATE":
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 2
        else:
            i += 1
    return out
