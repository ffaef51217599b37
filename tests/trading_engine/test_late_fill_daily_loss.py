"""A fill the exchange made before 00:00 UTC whose report comes after it (late on the stream,
or read back after a restart) is the day before's: today's daily-loss limit does not count it.

Hand-computed, taker fee 0.0005: long 0.100 @ 60000 (fee 3: wallet 9997); its stop (2 %,
58800) fills at 23:59:59.900: rp 0.1 * (58800 - 60000) = -120, fee 0.1 * 58800 * 0.0005 = 2.94
(wallet 9874.06). The last mark before midnight is 60000: the day's last equity check saw 9997.
"""

from decimal import Decimal as D

from core.enums import TradingState
from core.events import Event, OrderFilled, TradingStateChanged
from core.fast_init import replace
from tests.trading_engine.support import MINUTE, T0, make_rig
from tests.trading_engine.test_exec_manager import go_long

MIDNIGHT = T0 + 12 * 60 * MINUTE  # 2024-08-09T00:00:00Z


def _reported_at(event: Event, recv_ms: int) -> Event:
    """The stop's fill event as it reaches the daemon at `recv_ms` (our clock)."""
    assert isinstance(event, OrderFilled)
    return replace(event, recv_time_ms=recv_ms, fill=replace(event.fill, recv_time_ms=recv_ms))


def test_a_stop_loss_at_235959_900_reported_at_000000_300_is_not_todays_daily_loss():
    rig = make_rig(stop_loss_pct=D(2), max_daily_loss_usdt=D(50))
    go_long(rig, "0.100", "60000")
    stop = rig.venue.submitted[-1]
    rig.venue.accept(stop.client_order_id)
    rig.at(MIDNIGHT - 1_000).mark("60000")  # the day's last equity check: 9997
    delayed: list[Event] = []
    rig.venue.listener = delayed.append  # the stream is late with the stop's fill
    rig.at(MIDNIGHT - 100).venue.fill(stop.client_order_id, "58800", "0.100")

    rig.venue.listener = rig.em.on_event
    rig.at(MIDNIGHT + 300)
    for event in delayed:
        rig.venue.emit(_reported_at(event, MIDNIGHT + 300))
    rig.at(MIDNIGHT + 400).mark("58800")

    assert rig.book.wallet() == D("9874.06")  # 9997 - 120 - 2.94
    assert rig.book.pnl_today(MIDNIGHT + 400) == 0  # booked on the day it was made
    assert rig.em.trading_state is TradingState.ACTIVE  # 122.94 lost yesterday, not today
    assert rig.journaled(TradingStateChanged) == []


def test_a_loss_made_after_midnight_still_counts_today():
    """The same stop filled at 00:00:00.100: today's loss of 122.94 trips the 50 USDT limit."""
    rig = make_rig(stop_loss_pct=D(2), max_daily_loss_usdt=D(50))
    go_long(rig, "0.100", "60000")
    stop = rig.venue.submitted[-1]
    rig.venue.accept(stop.client_order_id)
    rig.at(MIDNIGHT - 1_000).mark("60000")

    rig.at(MIDNIGHT + 100).venue.fill(stop.client_order_id, "58800", "0.100")
    rig.at(MIDNIGHT + 400).mark("58800")

    assert rig.book.pnl_today(MIDNIGHT + 400) == D("-122.94")
    [tripped, *_] = rig.journaled(TradingStateChanged)
    assert "max daily loss: lost 122.94 USDT" in tripped.reason
