"""Warm indicators at once: right after start, `klines-week` serves a day of real 1m history.

The daemon's strategy warms from `GET /fapi/v1/klines` (the last 50+ closed bars) and must trade
within a minute of a first run. The kline data set serves its first day as history (the real
bundled bars, moved in time by a whole number of minutes) and replays the rest, so REST history
and the live streams form one contiguous run of real bars.
"""

from itertools import pairwise

import pytest
import websockets

from exchange_sim.replay.catalog import bundled
from exchange_sim.replay.timeline import MINUTE_MS
from exchange_sim.server import connected_client
from tests.exchange_sim.ws_helpers import events_until_quiet

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def real():
    """The bundled real BTCUSDT bars and their grid."""
    ds = bundled("klines-week")
    return ds.klines[SYMBOL], ds.grids[SYMBOL]


def _real_row(real, open_time_data_ms: int) -> tuple[str, ...]:
    """open, high, low, close, volume of the bundled bar opening at a data time."""
    bars, grid = real
    i = int(bars.open_time.searchsorted(open_time_data_ms))
    assert bars.open_time[i] == open_time_data_ms
    return (
        grid.price_str(bars.open[i]),
        grid.price_str(bars.high[i]),
        grid.price_str(bars.low[i]),
        grid.price_str(bars.close[i]),
        grid.qty_str(bars.volume[i]),
    )


async def _klines_in_one_minute(ex, client) -> tuple[int, list]:
    """(server time, 1500 1m klines) read without crossing a minute boundary."""
    for _ in range(5):
        before = ex.now_ms()
        rows = await client.futures_klines(symbol=SYMBOL, interval="1m", limit=1500)
        if ex.now_ms() // MINUTE_MS == before // MINUTE_MS:
            return before, rows
    raise AssertionError("the minute kept changing")


async def test_right_after_a_real_time_start_rest_serves_a_day_of_real_closed_bars(
    exchange_factory, real
) -> None:
    ex = await exchange_factory(data="klines-week", symbols=[SYMBOL], speed=1.0)

    async with connected_client(ex) as client:
        now, rows = await _klines_in_one_minute(ex, client)

    current = now - now % MINUTE_MS
    closed = [r for r in rows if r[6] < now]
    assert len(closed) >= 1440  # the daemon needs 50; a whole day is there
    assert closed[-1][0] == current - MINUTE_MS  # ending at the minute before this one
    assert rows[-1][0] == current  # then the open kline
    assert all(b[0] - a[0] == MINUTE_MS for a, b in pairwise(rows))
    shift = ex.time_map.shift_ms
    assert shift % MINUTE_MS == 0
    assert [tuple(r[1:6]) for r in closed] == [_real_row(real, r[0] - shift) for r in closed]


async def test_streams_and_rest_continue_the_history_bar_for_bar(exchange_factory, real) -> None:
    ex = await exchange_factory(data="klines-week", symbols=[SYMBOL])  # stepped
    streams = "btcusdt@kline_1m/btcusdt@aggTrade"
    async with connected_client(ex) as client:
        _, history = await _klines_in_one_minute(ex, client)
        async with websockets.connect(f"{ex.ws_url}/stream?streams={streams}") as ws:
            for _ in range(4 * 60):  # closes the first three live minutes
                await ex.step(1000)
            frames = await events_until_quiet(ws)
        _, after = await _klines_in_one_minute(ex, client)
        trades = [f["data"] for f in frames if f["stream"] == "btcusdt@aggTrade"]
        backfill = await client.futures_aggregate_trades(symbol=SYMBOL, fromId=trades[0]["a"])

    shift = ex.time_map.shift_ms
    last_history = history[-2][0]  # the last closed bar before the start
    first_live = last_history + MINUTE_MS
    # the aggTrade stream starts in the first live minute, inside the real bar's range
    o, h, lo, _, _ = _real_row(real, first_live - shift)
    assert first_live <= trades[0]["T"] < first_live + MINUTE_MS
    assert float(lo) <= float(trades[0]["p"]) <= float(h)
    assert backfill[: len(trades)] == [
        {k: t[k] for k in ("a", "p", "q", "f", "l", "T", "m")} for t in trades
    ]
    # the kline stream closes the live minutes with exactly the real bars
    closing = [f["data"]["k"] for f in frames if f["stream"] == "btcusdt@kline_1m"]
    closing = [k for k in closing if k["x"]]
    assert [k["t"] for k in closing] == [first_live + i * MINUTE_MS for i in range(3)]
    assert [(k["o"], k["h"], k["l"], k["c"], k["v"]) for k in closing] == [
        _real_row(real, k["t"] - shift) for k in closing
    ]
    assert closing[0]["o"] == o
    # REST: the same history, then the live bars, contiguous and real
    closed_after = after[:-1]
    assert closed_after[: len(history) - 1][-1440:] == history[:-1][-1440:]
    assert closed_after[-1][0] == first_live + 2 * MINUTE_MS
    assert all(b[0] - a[0] == MINUTE_MS for a, b in pairwise(after))
    assert [tuple(r[1:6]) for r in closed_after[-1443:]] == [
        _real_row(real, r[0] - shift) for r in closed_after[-1443:]
    ]


@pytest.mark.parametrize("speed", [1.0, 60.0, "max"])
async def test_a_market_order_sent_the_moment_the_exchange_is_up_fills(exchange_factory, speed):
    """What is due at start-up is on the book before the first request is answered: a MARKET
    order sent right after the ready line used to expire unfilled (MARKET_REMAINDER) when the
    replay task had not run yet, about once in 40 starts beside a busy CPU."""
    ex = await exchange_factory(data="klines-week", symbols=[SYMBOL], speed=speed)
    order = {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.050",
             "newOrderRespType": "RESULT"}  # fmt: skip

    answer = ex._engine_call("new_order", "demo", order, {})  # no await: the replay has not run

    assert (answer["status"], answer["executedQty"]) == ("FILLED", "0.050")
