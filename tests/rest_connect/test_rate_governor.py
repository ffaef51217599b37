"""RateGovernor on a SimClock with a fake sleep that advances it: no wall-clock waits."""

import asyncio
import logging

import pytest

from core.clock import SimClock
from core.errors import IpBanned
from rest_connect.rate_governor import (
    DEFAULT_LIMITS,
    LimitKind,
    RateGovernor,
    RateLimit,
    limits_from_exchange_info,
)
from tests.conftest import load_fixture

MINUTE = 60_000


class FakeSleep:
    """Records each wait (s) and moves the SimClock by it."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance_ms(round(seconds * 1000))
        await asyncio.sleep(0)


def weight_limit(limit: int, window_ms: int = MINUTE) -> RateLimit:
    return RateLimit(
        kind=LimitKind.WEIGHT, limit=limit, window_ms=window_ms, header="X-MBX-USED-WEIGHT-1M"
    )


def order_limit(limit: int, window_ms: int = 10_000) -> RateLimit:
    return RateLimit(
        kind=LimitKind.ORDERS, limit=limit, window_ms=window_ms, header="X-MBX-ORDER-COUNT-10S"
    )


def make(*limits: RateLimit, start_ms: int, headroom: float = 0.9, margin_ms: int = 250):
    clock = SimClock(start_ms)
    sleep = FakeSleep(clock)
    governor = RateGovernor(
        clock=clock, sleep=sleep, limits=limits, headroom=headroom, margin_ms=margin_ms
    )
    return governor, clock, sleep


# 10 s into the minute that starts at 28_333_334 minutes since the epoch.
WINDOW_START = 28_333_334 * MINUTE
NOW = WINDOW_START + 10_000


async def test_requests_within_the_headroom_do_not_wait() -> None:
    governor, _, sleep = make(weight_limit(10), start_ms=NOW)

    for _ in range(9):  # budget = int(10 * 0.9) = 9
        await governor.acquire(weight=1)

    assert sleep.calls == []
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 9


async def test_request_that_would_cross_the_headroom_waits_for_the_next_window() -> None:
    governor, clock, sleep = make(weight_limit(10), start_ms=NOW)
    for _ in range(9):
        await governor.acquire(weight=1)

    await governor.acquire(weight=1)

    # window ends at WINDOW_START + 60 s; now is +10 s; plus the 250 ms margin -> 50.25 s
    assert sleep.calls == [50.25]
    assert clock.now_ms() == WINDOW_START + MINUTE + 250
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 1
    assert governor.stats.pauses == 1


async def test_used_weight_header_raises_the_count_of_the_window_it_was_sent_in() -> None:
    governor, _, sleep = make(weight_limit(100), start_ms=NOW)
    await governor.acquire(weight=1)

    governor.observe({"X-MBX-USED-WEIGHT-1M": "89"}, sent_ms=NOW)
    await governor.acquire(weight=1)  # 89 + 1 = 90 = budget: still allowed
    await governor.acquire(weight=1)  # 91 > 90: waits

    assert sleep.calls == [50.25]


async def test_header_from_a_window_already_left_is_ignored() -> None:
    governor, clock, sleep = make(weight_limit(100), start_ms=NOW)
    clock.set_ms(WINDOW_START + MINUTE + 1_000)
    await governor.acquire(weight=1)

    governor.observe({"X-MBX-USED-WEIGHT-1M": "99"}, sent_ms=NOW)  # sent in the old window
    await governor.acquire(weight=1)

    assert sleep.calls == []
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 2


async def test_window_counts_as_rolled_only_after_the_margin() -> None:
    governor, clock, sleep = make(weight_limit(10), start_ms=NOW)
    for _ in range(9):
        await governor.acquire(weight=1)
    clock.set_ms(WINDOW_START + MINUTE + 100)  # rolled on our clock, but within 250 ms

    await governor.acquire(weight=1)

    assert sleep.calls == [0.15]


async def test_retry_after_blocks_every_caller() -> None:
    governor, clock, _ = make(weight_limit(2400), start_ms=NOW)
    waited = governor.rate_limited(retry_after_s=3, kind=LimitKind.WEIGHT)
    passed_at: list[int] = []

    async def caller() -> None:
        await governor.acquire(weight=1)
        passed_at.append(clock.now_ms())

    await asyncio.gather(caller(), caller(), caller())

    assert waited == 3.0
    assert passed_at == [NOW + 3_000] * 3
    assert governor.stats.rate_limited == 1


def test_a_429_storm_is_one_warning_a_minute_that_counts_the_rest(caplog) -> None:
    governor, clock, _ = make(weight_limit(2400), start_ms=NOW)
    with caplog.at_level(logging.DEBUG, logger="rest_connect.rate_governor"):
        for _ in range(30):  # a storm: a 429 every 2 s for a minute
            governor.rate_limited(retry_after_s=2, kind=LimitKind.WEIGHT)
            clock.advance_ms(2_000)
        governor.rate_limited(retry_after_s=2, kind=LimitKind.WEIGHT)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "HTTP 429 (weight): every request waits 2.0 s",
        (
            "HTTP 429 (weight): every request waits 2.0 s (29 more such lines since the last, at "
            "DEBUG)"
        ),
    ]
    assert governor.stats.rate_limited == 31


async def test_429_without_retry_after_waits_until_the_window_ends() -> None:
    governor, clock, _ = make(weight_limit(2400), start_ms=NOW)
    await governor.acquire(weight=1)

    waited = governor.rate_limited(retry_after_s=None, kind=LimitKind.WEIGHT)
    await governor.acquire(weight=1)

    assert waited == 50.25
    assert clock.now_ms() == WINDOW_START + MINUTE + 250


async def test_a_ban_refuses_every_request_without_waiting_until_its_end() -> None:
    governor, clock, sleep = make(*DEFAULT_LIMITS, start_ms=NOW)
    governor.rate_limited(retry_after_s=30, kind=LimitKind.WEIGHT)

    left_s = governor.banned(until_ms=NOW + 120_000, retry_after_s=None, reason="HTTP 418")
    with pytest.raises(IpBanned, match="bans this IP until") as refused:
        await governor.acquire(weight=1)
    fits_now = governor.try_acquire(weight=1)
    clock.advance_ms(120_250)  # the ban's end and the margin
    await governor.acquire(weight=1)

    assert left_s == 120.25
    assert refused.value.retry_after_s == pytest.approx(120.251)
    assert not fits_now
    assert sleep.calls == []  # refused at once, then sent after the end without a wait
    assert governor.banned_until_ms == 0


def test_the_ban_ends_at_the_later_of_its_message_and_retry_after() -> None:
    governor, _, _ = make(*DEFAULT_LIMITS, start_ms=NOW)

    by_message = governor.banned(until_ms=NOW + 90_000, retry_after_s=30, reason="a")
    by_header = governor.banned(until_ms=NOW + 90_000, retry_after_s=200, reason="b")

    assert (by_message, by_header) == (90.25, 200.25)


def test_a_ban_is_one_warning_with_its_end_and_its_lift_is_info(caplog) -> None:
    governor, clock, _ = make(*DEFAULT_LIMITS, start_ms=NOW)

    with caplog.at_level(logging.DEBUG, logger="rest_connect.rate_governor"):
        governor.banned(until_ms=NOW + 120_000, retry_after_s=120, reason="futures_create_order")
        governor.banned(until_ms=NOW + 120_000, retry_after_s=119, reason="futures_account")
        clock.advance_ms(121_000)
        assert governor.try_acquire(weight=1)

    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert said == [
        (
            "WARNING",
            "HTTP 418: the exchange bans this IP until 2023-11-14 22:16:10 UTC (120 s); no "
            "request is sent until then, orders are refused as not sent (futures_create_order)",
        ),
        ("INFO", "the exchange's IP ban has ended (2023-11-14 22:16:11 UTC): requests resume"),
    ]


def test_a_418_naming_no_end_bans_for_the_shortest_ban() -> None:
    governor, _, _ = make(*DEFAULT_LIMITS, start_ms=NOW)

    assert governor.banned(until_ms=None, retry_after_s=None, reason="HTTP 418") == 120.25


async def test_orders_count_only_against_order_limits() -> None:
    start = NOW + 1_000  # 1 s into a 10 s window (NOW is a multiple of 10 s)
    governor, clock, sleep = make(weight_limit(5), order_limit(2), start_ms=start, headroom=1.0)

    for _ in range(2):
        await governor.acquire(weight=0, orders=1)
    await governor.acquire(weight=5)  # weight has its own budget: no wait
    await governor.acquire(weight=0, orders=1)  # a third order waits for the 10 s window

    # the 10 s window ends at NOW + 10 s; waited from NOW + 1 s, plus the 250 ms margin
    assert sleep.calls == [9.25]
    assert clock.now_ms() == NOW + 10_250


async def test_a_request_heavier_than_the_budget_passes_in_an_empty_window() -> None:
    governor, _, sleep = make(weight_limit(10), start_ms=NOW)

    await governor.acquire(weight=50)

    assert sleep.calls == []


def test_limits_from_real_exchange_info() -> None:
    info = load_fixture(
        "binance_api/rest/GET_fapi_v1_exchangeInfo__3symbols_2022-02-19__nautilus.json"
    )

    limits = limits_from_exchange_info(info["rateLimits"])

    assert limits == (
        RateLimit(
            kind=LimitKind.WEIGHT, limit=6000, window_ms=60_000, header="X-MBX-USED-WEIGHT-1M"
        ),
        RateLimit(
            kind=LimitKind.ORDERS, limit=1200, window_ms=60_000, header="X-MBX-ORDER-COUNT-1M"
        ),
        RateLimit(
            kind=LimitKind.ORDERS, limit=300, window_ms=10_000, header="X-MBX-ORDER-COUNT-10S"
        ),
    )


def test_malformed_rate_limits_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed"):
        limits_from_exchange_info([{"rateLimitType": "ORDERS", "interval": "WEEK"}])


async def test_try_acquire_counts_what_fits_and_refuses_what_acquire_would_wait_for() -> None:
    governor, clock, sleep = make(weight_limit(10), order_limit(2), start_ms=NOW, headroom=1.0)

    assert governor.try_acquire(weight=0, orders=1)
    assert governor.try_acquire(weight=0, orders=1)
    assert not governor.try_acquire(weight=0, orders=1)  # the third order: acquire would wait
    assert governor.used("X-MBX-ORDER-COUNT-10S") == 2  # the refused one counted nothing
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 0

    clock.advance_ms(10_000 + 250)  # the next 10 s window, after the margin
    assert governor.try_acquire(weight=3, orders=1)
    assert governor.used("X-MBX-ORDER-COUNT-10S") == 1
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 3

    governor.rate_limited(retry_after_s=2, kind=LimitKind.WEIGHT)
    assert not governor.try_acquire(weight=1)  # blocked by the 429
    clock.advance_ms(2_000)
    assert governor.try_acquire(weight=1)
    governor.banned(until_ms=None, retry_after_s=60, reason="HTTP 418")
    assert not governor.try_acquire(weight=1)  # banned: acquire raises, try_acquire declines
    assert sleep.calls == []


def test_try_acquire_looks_only_at_the_limits_of_what_it_counts() -> None:
    """An order (weight 0) goes while the minute's weight is spent, a read (no order) while the
    order budget is; each counts only toward its own limits."""
    governor, _, _ = make(weight_limit(2), order_limit(1), start_ms=NOW, headroom=1.0)
    assert governor.try_acquire(weight=2)
    assert governor.try_acquire(weight=0, orders=1)  # the weight budget is spent: no matter
    assert not governor.try_acquire(weight=1)
    assert not governor.try_acquire(weight=0, orders=1)
    assert governor.used("X-MBX-USED-WEIGHT-1M") == 2
    assert governor.used("X-MBX-ORDER-COUNT-10S") == 1


def test_try_acquire_judges_at_the_time_its_caller_read() -> None:
    """`RestConnection.start` reads the clock once for the governor and the hand-off: the
    window and the 429 block are judged at that reading, not at a second one."""
    governor, _, _ = make(order_limit(2), start_ms=NOW, headroom=1.0)
    assert governor.try_acquire(weight=0, orders=1)
    assert governor.try_acquire(weight=0, orders=1)
    assert not governor.try_acquire(weight=0, orders=1)  # this 10 s window is full

    # Read 10.25 s later (the next window once the margin has passed): it fits there.
    assert governor.try_acquire(weight=0, orders=1, now_ms=NOW + 10_250)

    governor.rate_limited(retry_after_s=2, kind=LimitKind.ORDERS)  # blocked until NOW + 2000
    assert not governor.try_acquire(weight=0, orders=1, now_ms=NOW + 1_999)
    assert governor.try_acquire(weight=0, orders=1, now_ms=NOW + 2_000 + 10_250)


def test_try_acquire_without_counting_answers_the_same_and_counts_nothing() -> None:
    """The order path's rehearsal asks the governor as `RestConnection.start` does
    (`count=False`): the same answer, and the budget left for the real orders."""
    governor, _, _ = make(weight_limit(10), order_limit(2), start_ms=NOW, headroom=1.0)
    for _ in range(5):
        assert governor.try_acquire(weight=0, orders=1, count=False)
    assert governor.used("X-MBX-ORDER-COUNT-10S") == 0
    assert governor.try_acquire(weight=0, orders=1)
    assert governor.try_acquire(weight=0, orders=1)
    assert not governor.try_acquire(weight=0, orders=1, count=False)  # full: the same "no"
    assert governor.used("X-MBX-ORDER-COUNT-10S") == 2
    governor.banned(until_ms=None, retry_after_s=60, reason="HTTP 418")
    assert not governor.try_acquire(weight=1, count=False)
