"""NTP steps this machine's wall clock while the daemon runs (the exchange's clock does not
move): the connection's clock, which the whole daemon reads, stays on the exchange's time, and
the requests python-binance signs with the wall clock get right again at the first -1021.

The step is made in this process only, where python-binance and the signing fast path read
`time.time()`; the local exchange on 127.0.0.1 keeps the real clock, as Binance would."""

import logging
import time
import types
from typing import Any

import binance.base_client
import pytest

import rest_connect.connection
from core.clock import LiveClock
from exchange_sim.server import LocalExchange
from tests.rest_connect.test_connection import orders_with_id, place


class SteppedWallClock(types.SimpleNamespace):
    """`time` as the signing code sees it, with the wall clock set `step_ms` away."""

    def __init__(self) -> None:
        super().__init__(step_ms=0)

    def time(self) -> float:
        return time.time() + self.step_ms / 1000

    def time_ns(self) -> int:
        return time.time_ns() + self.step_ms * 1_000_000

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> SteppedWallClock:
    stepped = SteppedWallClock()
    monkeypatch.setattr(binance.base_client, "time", stepped)
    monkeypatch.setattr(rest_connect.connection, "time", stepped)
    return stepped


@pytest.mark.parametrize("step_ms", [-300_000, 120_000], ids=["back 5 min", "forward 2 min"])
async def test_a_wall_clock_step_leaves_the_clock_and_an_order_is_placed_once(
    exchange: LocalExchange, connect: Any, wall: SteppedWallClock, step_ms: int, caplog: Any
) -> None:
    clock = LiveClock(wall_ns=wall.time_ns)
    conn = await connect(exchange, clock=clock, time_samples=1)
    assert (await place(conn, "before-step"))["status"] == "NEW"
    exchange_ms = int((await conn.call("futures_time"))["serverTime"])
    before = clock.now_ms()
    assert abs(before - exchange_ms) < 250  # the local exchange runs on this machine's clock

    wall.step_ms = step_ms
    stepped_now = clock.now_ms()
    with caplog.at_level(logging.WARNING, logger="rest_connect.connection"):
        placed = await place(conn, "after-step")  # signed off by the step: -1021, resync, again

    assert abs(stepped_now - before) < 250  # the daemon's time did not jump
    assert placed["status"] == "NEW"
    assert conn.stats.resyncs == 1
    assert await orders_with_id(conn, "after-step") == 1
    assert abs(conn.clock.offset_ms) < 250  # the clock's offset to the exchange is unchanged
    said = [r.getMessage() for r in caplog.records if "wall clock was set" in r.getMessage()]
    assert len(said) == 1, caplog.text
    step = int(said[0].split("was set ")[1].split(" ms")[0])
    assert abs(step - step_ms) < 250, said
    # python-binance's own calls (signed reads) are right again too: no second resync
    await conn.call("futures_account", weight=5)
    assert conn.stats.resyncs == 1
