"""The clock-skew fault moves the one exchange clock: `/time` and every market time the exchange
stamps (stream `E`/`T`, REST aggTrades `T`, bookTicker and premiumIndex `time`) move together,
as on Binance, where only the client's clock can differ. Kline open times stay on whole
minutes of the skewed clock.

Stepped exchange on the bundled BTCUSDT day; times are ms.
"""

import json
from typing import Any

import aiohttp
import pytest
import websockets

from exchange_sim.server import LocalExchange
from tests.exchange_sim.ws_helpers import frames_until_quiet

STEP_MS = 3_000  # what one step publishes: every event time falls in the step before /time
STREAMS = ("aggTrade", "bookTicker", "markPrice@1s", "depth", "kline_1m")


async def _rest(ex: Any, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(f"{ex.rest_url}{path}") as resp:
        return await resp.json()


async def _server_time(ex: Any) -> int:
    return (await _rest(ex, "/fapi/v1/time"))["serverTime"]


@pytest.mark.parametrize("skew_ms", [6_000, -3_000])
async def test_stream_event_times_agree_with_server_time_under_a_skew(
    local_exchange, skew_ms: int
) -> None:
    url = f"{local_exchange.ws_url}/stream?streams=" + "/".join(
        f"btcusdt@{name}" for name in STREAMS
    )
    async with websockets.connect(url) as ws:
        local_exchange.faults.clock_skew(skew_ms)
        await local_exchange.step(STEP_MS)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]
    now = await _server_time(local_exchange)

    latest = {f["stream"].split("@", 1)[1]: f["data"] for f in frames}
    assert set(latest) == set(STREAMS)
    for name, event in latest.items():
        assert now - STEP_MS <= event["E"] <= now, (name, now - event["E"])
    for name in ("aggTrade", "bookTicker", "depth"):
        assert now - STEP_MS <= latest[name]["T"] <= now, (name, now - latest[name]["T"])
    assert latest["kline_1m"]["k"]["t"] % 60_000 == 0


async def test_rest_market_times_agree_with_server_time_under_a_skew(local_exchange) -> None:
    local_exchange.faults.clock_skew(6_000)
    await local_exchange.step(STEP_MS)

    now = await _server_time(local_exchange)
    [trade] = await _rest(local_exchange, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1")
    book = await _rest(local_exchange, "/fapi/v1/ticker/bookTicker?symbol=BTCUSDT")
    premium = await _rest(local_exchange, "/fapi/v1/premiumIndex?symbol=BTCUSDT")
    [kline] = await _rest(local_exchange, "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1")

    times = {"aggTrade": trade["T"], "bookTicker": book["time"], "premiumIndex": premium["time"]}
    for name, t in times.items():
        assert now - STEP_MS <= t <= now, (name, now - t)
    assert kline[0] <= trade["T"] <= kline[6]
    assert kline[0] % 60_000 == 0


async def test_a_skew_back_in_time_keeps_trade_times_in_order(local_exchange) -> None:
    async with websockets.connect(f"{local_exchange.ws_url}/ws/btcusdt@aggTrade") as ws:
        await local_exchange.step(STEP_MS)
        local_exchange.faults.clock_skew(-120_000)
        await local_exchange.step(STEP_MS)
        frames = [json.loads(f) for f in await frames_until_quiet(ws)]

    times = [f["T"] for f in frames]
    assert len(times) > 1
    assert times == sorted(times)


async def test_a_skew_back_in_time_set_before_the_start_still_replays() -> None:
    ex = LocalExchange(speed="step")
    ex.faults.clock_skew(-120_000)  # the first trades fall before the history's last kline
    try:
        await ex.start()
        published = await ex.step(STEP_MS)
    finally:
        await ex.stop()

    assert published > 0
    assert ex.agg_store.last("BTCUSDT") is not None


async def test_a_skew_back_in_time_holds_the_accounts_times_at_the_last_ms(local_exchange) -> None:
    """What an account is told is stamped by the matching engine, whose time never goes back:
    after a skew of 3 s back, a fill is stamped at the ms of the last one (fills, userTrades
    `time`, the position's `updateTime`) until the skewed clock passes it. The books' time
    rules rely on it (an account update older than a fill booked is dropped as reordered):
    under this fault an update is never older than the fills before it, and fills of one ms
    are what the books must tell apart (`BookKeeper`, `_of_the_adopted_ms`)."""
    ex = local_exchange
    account = str(ex.create_account().account_id)
    await ex.step(STEP_MS)

    def market(cid: str) -> int:
        """A MARKET BUY sent now (as every REST request, at the exchange's time); its time."""
        ex.engine.on_time(ex.now_ms())
        ex.engine.new_order(
            account,
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
             "newClientOrderId": cid},
        )  # fmt: skip
        rows = ex.engine.user_trades(account, {"symbol": "BTCUSDT", "limit": "1000"})
        return int(rows[-1]["time"])

    first = market("a1")
    ex.faults.clock_skew(-3_000)
    await ex.step(1_000)
    second = market("a2")
    await ex.step(3_000)  # the skewed clock is 1 s past the first fill now
    third = market("a3")

    assert second == first and third == first + 1_000
    [row] = ex.engine.position_risk(account, {"symbol": "BTCUSDT"}, version=3)
    assert row["updateTime"] == third
