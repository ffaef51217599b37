"""NTP steps the machine's wall clock by minutes while the daemon trades: the daemon's clock
(`core.clock.LiveClock`, a steady count plus the exchange's offset) does not move with it, so
a resting order is cancelled as stale neither early (a step forward) nor late (a step back),
and the daily-loss day does not begin at a step across midnight, nor twice at a step back."""

from decimal import Decimal as D

import pytest

from core.clock import LiveClock
from tests.core.test_clock import FakeTime
from tests.trading_engine.support import make_rig
from tests.trading_engine.test_exec_manager import target
from trading_engine.exec_manager import ExecConfig

STEPS = pytest.mark.parametrize("step_ms", [-600_000, 600_000], ids=["back 10 min", "fwd 10 min"])
MIDNIGHT = 1_764_547_200_000  # 2025-12-01 00:00:00 UTC


@STEPS
def test_a_resting_order_goes_stale_after_stale_order_ms_of_real_time_whatever_the_step(
    step_ms: int,
) -> None:
    t = FakeTime(MIDNIGHT - 3_600_000)
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    rig = make_rig(clock=clock, config=ExecConfig(symbols=("BTCUSDT",), stale_order_ms=30_000))
    rig.strategy.on_trade_says.append([target("0.010", price="59000")])
    rig.trade("60000")
    cid = rig.last_cid()
    rig.venue.accept(cid)

    t.run(10_000)
    t.wall += step_ms * 1_000_000  # NTP sets the wall clock
    rig.trade("60000")
    t.run(19_999)  # 29.999 s after it was sent
    rig.trade("60000")
    assert rig.venue.cancels == []

    t.run(1)  # 30 s of real time: stale
    rig.trade("60000")
    assert rig.venue.cancels == [("BTCUSDT", cid)]


@STEPS
def test_the_daily_loss_day_begins_at_midnight_of_real_time_not_at_a_step(step_ms: int) -> None:
    t = FakeTime(MIDNIGHT - 60_000)  # 23:59:00
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    risk = make_rig(clock=clock, mark=None).risk
    risk.on_equity(D("10000"), D(0))
    risk.on_equity(D("9900"), D("-100"))  # 100 USDT lost today
    assert risk.day_start_equity == D("10000")

    t.wall += step_ms * 1_000_000  # a step across midnight (forward), or 10 min back
    t.run(30_000)  # 23:59:30
    risk.on_equity(D("9900"), D("-100"))
    assert risk.day_start_equity == D("10000")  # the same day: its loss still counts

    t.run(30_000)  # 00:00:00 of real time: the new day starts from the last equity
    risk.on_equity(D("9900"), D(0))
    assert risk.day_start_equity == D("9900")
    t.wall -= 2 * abs(step_ms) * 1_000_000  # and a step back across midnight again
    t.run(1_000)
    risk.on_equity(D("9850"), D("-50"))
    assert risk.day_start_equity == D("9900")  # not the previous day once more
