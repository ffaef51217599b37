"""RestConnection against the local exchange on 127.0.0.1: rate limits, clock skew, unknown
outcomes, rejections and bans, each through the real python-binance client and HTTP."""

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from core.clock import LiveClock
from core.errors import (
    ExecutionStatusUnknown,
    FatalError,
    IpBanned,
    RejectedError,
    RetryableError,
)
from exchange_sim.server import LocalExchange, RateLimitConfig
from rest_connect import LimitKind, RateGovernor, RateLimit, RestConnection

SYMBOL = "BTCUSDT"


async def place(conn: RestConnection, client_id: str, **overrides: Any) -> Any:
    """A resting BUY LIMIT far from any market (no market data: it never fills)."""
    params: dict[str, Any] = {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "50000",
        "newClientOrderId": client_id,
        **overrides,
    }
    return await conn.call("futures_create_order", mutating=True, weight=0, orders=1, **params)


async def orders_with_id(conn: RestConnection, client_id: str) -> int:
    orders = await conn.call("futures_get_all_orders", weight=5, symbol=SYMBOL)
    return sum(1 for o in orders if o["clientOrderId"] == client_id)


async def test_start_measures_the_offset_with_futures_time_only(exchange, connect) -> None:
    conn = await connect(exchange, time_samples=3)

    assert exchange.rest.request_count == 3  # three GET /fapi/v1/time, no spot ping or time
    assert abs(conn.clock.offset_ms) < 50  # the local exchange runs on this machine's clock
    # python-binance signs with the wall clock plus its offset: the clock's time (to the ms:
    # the clock counts from the wall clock when made, read a few hundred ns apart)
    assert abs(conn.client.timestamp_offset - conn.clock.offset_ms) <= 1


async def test_a_429_run_at_start_is_waited_out_while_the_clock_is_measured(
    exchange, connect
) -> None:
    """Every other read waits out up to `max_rate_limited` 429s (each Retry-After, as the
    exchange asks); the clock's measurement counted each as a failed attempt and gave up after
    the fourth, so a daemon started into a run of 5 exited "cannot reach the exchange: HTTP
    429" (a kill -9 chaos run's restart, seed 31), and its supervisor's restart asked again."""
    exchange.faults.rest_rate_limit(count=6, retry_after_s=0)

    conn = await connect(exchange, time_samples=1)

    assert exchange.faults.rest_429_next == 0  # all six were answered 429, then /time
    assert conn.stats.rate_limited == 6
    assert abs(conn.clock.offset_ms) < 50


async def test_the_clock_measurement_still_rate_limited_after_the_waits_gives_up(
    exchange, connect
) -> None:
    exchange.faults.rest_rate_limit(count=1000, retry_after_s=0)

    with pytest.raises(RetryableError, match=r"futures_time: still rate limited after 10 waits"):
        await connect(exchange, time_samples=1, max_attempts=1)


async def test_429_storm_is_waited_out_and_the_order_placed_once(exchange, connect) -> None:
    conn = await connect(exchange)
    exchange.faults.rest_rate_limit(count=2, retry_after_s=1)

    started = time.monotonic()
    placed = await place(conn, "storm-1")
    elapsed = time.monotonic() - started

    assert placed["status"] == "NEW"
    assert elapsed >= 2.0  # two Retry-After: 1 waits
    assert conn.stats.rate_limited == 2
    assert conn.governor.stats.bans == 0
    assert await orders_with_id(conn, "storm-1") == 1


async def test_real_weight_429_is_waited_out_and_never_becomes_a_ban(
    exchange_factory, connect
) -> None:
    # The exchange bans on the first request sent while limited; the governor does not know
    # the real limit (it assumes Binance's 2400) and must learn from the 429 alone.
    ex = await exchange_factory(
        rate_limits=RateLimitConfig(weight_limit=6, weight_window_ms=1000, ban_after_ignored=1)
    )
    conn = await connect(ex, time_samples=1)

    answers = [await conn.call("futures_time") for _ in range(10)]

    assert len(answers) == 10
    assert conn.stats.rate_limited >= 1
    assert conn.governor.stats.bans == 0


async def test_governor_pauses_before_the_weight_limit(exchange_factory, connect) -> None:
    ex = await exchange_factory(rate_limits=RateLimitConfig(weight_limit=20, weight_window_ms=1000))
    clock = LiveClock()
    limit = RateLimit(
        kind=LimitKind.WEIGHT, limit=20, window_ms=1000, header="X-MBX-USED-WEIGHT-1M"
    )
    governor = RateGovernor(clock=clock, limits=[limit], headroom=0.9, margin_ms=100)
    conn = await connect(ex, clock=clock, governor=governor, time_samples=1)

    used = []
    for _ in range(40):
        await conn.call("futures_time", weight=1)
        used.append(int(conn.client.response.headers["X-MBX-USED-WEIGHT-1M"]))

    assert governor.stats.pauses >= 1
    assert conn.stats.rate_limited == 0
    assert max(used) <= 18  # 0.9 of 20


@pytest.mark.parametrize("skew_ms", [10_000, -3_000])
async def test_clock_skew_is_resynced_and_the_order_placed_once(
    exchange, connect, skew_ms: int
) -> None:
    conn = await connect(exchange)
    exchange.faults.clock_skew(skew_ms)

    placed = await place(conn, "skew-1")

    assert placed["status"] == "NEW"
    assert conn.stats.resyncs == 1
    assert abs(conn.clock.offset_ms - skew_ms) < 200
    assert await orders_with_id(conn, "skew-1") == 1


@pytest.mark.parametrize(
    ("mode", "executed"),
    [
        ("unknown_after", 1),  # executed, then 503 "Unknown error, ..."
        ("hangup_after", 1),  # executed, then the connection closed without an answer
        ("unavailable_before", 0),  # 503 "Service Unavailable.": unknown by our choice
        ("hangup_before", 0),  # closed before executing: indistinguishable from the above
    ],
)
async def test_order_failure_is_an_unknown_outcome_and_never_resent(
    exchange, connect, mode: str, executed: int
) -> None:
    conn = await connect(exchange)
    exchange.faults.order_failure(mode, count=1)
    before = conn.clock.now_ms()

    with pytest.raises(ExecutionStatusUnknown) as info:
        await place(conn, f"fault-{mode}")
    after = conn.clock.now_ms()

    assert info.value.sent_at_ms is not None
    # sent_at_ms is the request's signed timestamp (python-binance's: the wall clock plus its
    # offset), `before` / `after` the steady clock plus ours: whole ms of two clocks, which can
    # round 1 ms apart (CI saw sent_at_ms 1 ms below `before`)
    assert before - 1 <= info.value.sent_at_ms <= after + 1
    assert conn.stats.unknown_outcomes == 1
    assert await orders_with_id(conn, f"fault-{mode}") == executed


async def test_answer_cut_off_mid_body_is_retried_for_a_read(exchange, connect) -> None:
    conn = await connect(exchange)
    exchange.faults.rest_drop_mid_response(count=1)

    open_orders = await conn.call("futures_get_open_orders", weight=1, symbol=SYMBOL)

    assert open_orders == []
    assert conn.stats.retries == 1


async def test_a_read_failing_again_and_again_is_said_once_a_minute(
    exchange, connect, caplog
) -> None:
    """An outage retries reads every few seconds: each retry was a WARNING, ~30 lines a minute
    through an exchange's maintenance. Said once a minute by call (the repeats at DEBUG); a
    success ends it, so the next failure is said at once."""
    conn = await connect(exchange)
    exchange.faults.rest_drop_mid_response(count=3)
    with caplog.at_level(logging.DEBUG, logger="rest_connect"):
        await conn.call("futures_get_open_orders", weight=1, symbol=SYMBOL)
        exchange.faults.rest_drop_mid_response(count=1)
        await conn.call("futures_get_open_orders", weight=1, symbol=SYMBOL)

    said = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith("futures_get_open_orders failed")
    ]
    assert conn.stats.retries == 4
    assert [level for level, _ in said] == [
        logging.WARNING,  # the first call's first retry
        logging.DEBUG,
        logging.DEBUG,
        logging.WARNING,  # the second call's: after a success, news again
    ]


async def test_timeout_on_an_order_is_unknown_and_not_resent(exchange, connect) -> None:
    conn = await connect(exchange, timeout_s=0.3)
    exchange.faults.latency(rest_s=0.8)

    with pytest.raises(ExecutionStatusUnknown) as info:
        await place(conn, "slow-1")
    exchange.faults.latency(rest_s=0.0)
    await asyncio.sleep(0.6)  # let the exchange finish with the abandoned request

    # The local exchange reads the body after its injected delay, so the abandoned order is
    # never executed; a resend would have placed it. Either way it was sent exactly once.
    assert info.value.sent_at_ms is not None
    assert await orders_with_id(conn, "slow-1") == 0
    assert exchange.rest.request_count == 3 + 1 + 1  # time samples, the order once, the query


@pytest.mark.parametrize("wrong", ["key", "secret"])
async def test_wrong_credentials_are_fatal_and_never_shown(exchange, connect, wrong: str) -> None:
    key = "k" * 64 if wrong == "key" else exchange.api_key
    secret = "s" * 64 if wrong == "secret" else exchange.api_secret
    conn = await connect(exchange, api_key=key, api_secret=secret)
    requests_before = conn.stats.requests

    with pytest.raises(FatalError) as info:
        await conn.call("futures_account_balance", weight=5)

    message = str(info.value)
    assert key not in message
    assert secret not in message
    assert conn.stats.requests == requests_before + 1  # not retried


async def test_order_below_min_notional_is_rejected_with_binance_code(exchange, connect) -> None:
    conn = await connect(exchange)

    with pytest.raises(RejectedError) as info:
        await place(conn, "tiny-1", quantity="0.001", price="5000")

    assert info.value.code == -4164
    assert conn.stats.rejected == 1


async def test_an_earned_ip_ban_refuses_orders_and_sends_nothing_more(
    exchange_factory, connect
) -> None:
    ex: LocalExchange = await exchange_factory(
        rate_limits=RateLimitConfig(weight_limit=3, ban_after_ignored=1)
    )
    conn = await connect(ex, time_samples=1)
    async with aiohttp.ClientSession() as session:  # another client on this IP gets us banned
        for _ in range(10):
            async with session.get(f"{ex.rest_url}/fapi/v1/ping") as resp:
                if resp.status == 418:
                    break
    assert resp.status == 418

    with pytest.raises(IpBanned):
        await place(conn, "banned-1")
    sent = ex.rest.request_count
    with pytest.raises(IpBanned, match="bans this IP until"):
        await place(conn, "banned-2")

    assert ex.rest.request_count == sent
    assert conn.governor.banned_until_ms > conn.clock.now_ms() + 100_000  # the 2 minutes


async def test_a_read_hit_by_a_ban_waits_it_out_and_is_answered_after(exchange, connect) -> None:
    conn = await connect(exchange, time_samples=1)
    exchange.faults.rest_ban(seconds=0.5)

    answer = await conn.call("futures_time")

    assert "serverTime" in answer
    assert exchange.faults.rest_ban_hits == 1  # nothing sent during the ban but the first


async def test_an_order_during_a_ban_is_refused_and_never_placed(exchange, connect) -> None:
    conn = await connect(exchange, time_samples=1)
    exchange.faults.rest_ban(seconds=0.5)

    with pytest.raises(IpBanned, match="418 -1003"):
        await place(conn, "ban-1")
    with pytest.raises(IpBanned, match="bans this IP until"):
        await place(conn, "ban-2")
    placed = await orders_with_id(conn, "ban-1") + await orders_with_id(conn, "ban-2")

    assert placed == 0
    assert exchange.faults.rest_ban_hits == 1


async def test_a_clock_sync_hit_by_a_ban_says_it_once_and_waits_it_out(
    exchange, connect, caplog
) -> None:
    conn = await connect(exchange, time_samples=1)
    exchange.faults.rest_ban(seconds=0.5)

    with caplog.at_level(logging.INFO, logger="rest_connect"):
        await conn.sync_time()

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w[:40] for w in warnings] == ["HTTP 418: the exchange bans this IP unti"]
    assert exchange.faults.rest_ban_hits == 1


async def test_time_sync_loop_follows_the_exchange_clock(exchange, connect) -> None:
    conn = await connect(exchange)
    exchange.faults.clock_skew(5_000)

    task = asyncio.create_task(conn.run_time_sync(interval_s=0.05))
    try:
        for _ in range(100):
            if abs(conn.clock.offset_ms - 5_000) < 200:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert abs(conn.clock.offset_ms - 5_000) < 200
    assert abs(conn.client.timestamp_offset - conn.clock.offset_ms) <= 1


async def test_unknown_outcome_carries_the_timestamp_the_request_was_signed_with(
    exchange, connect
) -> None:
    conn = await connect(exchange)
    conn.client.timestamp_offset = conn.clock.offset_ms - 2_000  # sign 2 s behind our clock
    exchange.faults.order_failure("unknown_after", count=1)
    now = conn.clock.now_ms()

    with pytest.raises(ExecutionStatusUnknown) as info:
        await place(conn, "stamp-1")

    assert info.value.sent_at_ms is not None
    assert abs(info.value.sent_at_ms - (now - 2_000)) < 500


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("futures_create_order", {"type": "LIMIT"}),
        ("futures_create_order", {"type": "STOP_MARKET", "newClientOrderId": "dropped-by-lib"}),
        ("futures_create_algo_order", {"type": "STOP_MARKET"}),
    ],
)
async def test_order_without_our_own_client_id_is_refused_before_sending(
    exchange, connect, method: str, params: dict
) -> None:
    conn = await connect(exchange)
    sent = exchange.rest.request_count

    with pytest.raises(ValueError, match="needs"):
        await conn.call(method, mutating=True, orders=1, symbol=SYMBOL, side="BUY", **params)

    assert exchange.rest.request_count == sent
