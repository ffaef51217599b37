"""MarketDataRest against the loopback fake: retries, 429 Retry-After, 418, weight budget."""

import asyncio

import pytest

from core.backoff import Backoff
from core.clock import LiveClock, SimClock
from core.errors import RejectedError, RetryableError
from gateway.market_rest import IpBanStop, MarketDataRest, klines_weight
from tests.gateway.fake_exchange import FakeBinance, load_agg_trades


class RecordingSleep:
    """Records requested waits; advances a SimClock instead of sleeping."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.advance_ms(int(seconds * 1000))
        await asyncio.sleep(0)


@pytest.fixture
async def fake():
    async with FakeBinance(load_agg_trades()) as server:
        server.published = 2000
        yield server


def client(fake, *, sleep=None, clock=None, **kwargs) -> MarketDataRest:
    sleep = sleep or RecordingSleep()
    return MarketDataRest(
        fake.base_url,
        clock=clock or LiveClock(),
        sleep=sleep,
        backoff=Backoff(initial_s=0.01, max_s=0.05, sleep=sleep),
        **kwargs,
    )


async def test_agg_trades_from_id_are_parsed_in_order(fake):
    async with client(fake) as rest:
        trades = await rest.agg_trades("BTCUSDT", from_id=fake.trades[10]["a"], limit=1000)

    assert [t.agg_id for t in trades] == fake.ids(10, 1010)
    assert str(trades[0].qty) == fake.trades[10]["q"]


async def test_429_waits_out_retry_after_then_succeeds(fake):
    fake.rate_limit_next, fake.retry_after_s = 2, 3
    sleep = RecordingSleep()
    async with client(fake, sleep=sleep) as rest:
        trades = await rest.agg_trades("BTCUSDT", from_id=fake.trades[0]["a"], limit=5)

    assert len(trades) == 5
    assert [w >= 3 for w in sleep.waits] == [True, True]
    assert rest.stats.rate_limited == 2


async def test_connection_dropped_mid_response_is_retried(fake):
    fake.drop_next = 2
    async with client(fake) as rest:
        trades = await rest.agg_trades("BTCUSDT", from_id=fake.trades[0]["a"], limit=500)

    assert [t.agg_id for t in trades] == fake.ids(0, 500)
    assert rest.stats.retries == 2


async def test_418_stops_at_once_with_a_clear_error(fake):
    fake.banned = True
    async with client(fake) as rest:
        with pytest.raises(IpBanStop, match="banned"):
            await rest.agg_trades("BTCUSDT", limit=5)

    assert rest.stats.requests == 1


async def test_business_error_is_a_rejection_not_retried(fake):
    async with client(fake) as rest:
        with pytest.raises(RejectedError):
            await rest.get_json("/fapi/v1/nope", {}, 1)

    assert rest.stats.requests == 1


async def test_weight_budget_pauses_until_the_next_minute_window(fake):
    clock = SimClock(1_746_403_210_000)  # 10 s into a minute
    sleep = RecordingSleep(clock)
    async with client(fake, sleep=sleep, clock=clock, weight_limit=60, weight_headroom=0.9) as rest:
        for _ in range(3):  # 20 weight each: 20, 40, then 40 + 20 > 54 -> pause first
            await rest.agg_trades("BTCUSDT", limit=5)

    assert rest.stats.weight_pauses == 1
    assert sleep.waits[0] == pytest.approx(50.25)


def test_klines_weight_follows_the_documented_table():
    assert [klines_weight(n) for n in (99, 100, 499, 500, 1000, 1001, 1500)] == [
        1,
        2,
        2,
        5,
        5,
        10,
        10,
    ]


async def test_a_refused_connection_is_said_as_the_order_connection_says_it(caplog):
    """aiohttp's "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default
    [Connect call failed ('127.0.0.1', 9)]" named an ssl of a plain http:// URL: the retries
    and the error that ends them say "connection refused (nothing listens ...)"."""
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def no_wait(_s: float) -> None:
        return None

    rest = MarketDataRest(
        f"http://127.0.0.1:{port}", clock=SimClock(0), max_attempts=2, sleep=no_wait
    )
    try:
        with (
            caplog.at_level("WARNING", logger="gateway.market_rest"),
            pytest.raises(RetryableError) as err,
        ):
            await rest.exchange_info()
    finally:
        await rest.close()
    said = "connection refused (nothing listens at that host and port)"
    assert said in str(err.value)
    (retry,) = [r.getMessage() for r in caplog.records]
    assert retry.startswith(f"GET /fapi/v1/exchangeInfo failed: {said}; retry in ")
