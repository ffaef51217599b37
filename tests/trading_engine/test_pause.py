"""The daemon stopped for a while (SIGSTOP, a VM live migration, a machine asleep), then
resumed: the exchange's dead-man switch cancelled its working orders, a stop may have filled,
and its sockets hold what the exchange sent meanwhile, which it reads in one burst.

Before, the burst was traded as if live (a SIGSTOP of 15 s against the local exchange: four
targets flipped and a market order sent 34 ms after SIGCONT, on bars 15 s old), nothing was
said, and the books waited up to `reconcile_interval_s` to learn what the exchange had done.
Now: market data read more than `risk.max_data_lag_ms` late opens no position, the first item
or event after a pause says so in one line and asks the venue to reconcile, and no entry goes
out until a snapshot taken after the resume has told the books what happened."""

import asyncio
import io
from decimal import Decimal as D

from core.account import Position
from core.clock import LiveClock
from core.events import Balance, OrderCanceled, RiskDenied, VenueSnapshot
from core.market import Trade
from runtime.settings import load_settings
from tests.core.test_clock import FakeTime
from tests.gateway.fake_exchange import wait_for
from tests.trading_engine.support import BUY, SELL, T0, Rig, make_rig
from tests.trading_engine.test_exec_manager import target
from trading_engine import daemon as daemon_module
from trading_engine.daemon import Daemon, _Parts
from trading_engine.pause_watch import PauseWatch
from trading_engine.relay import Relay as _Relay

LATE = (
    "the daemon's view is more than 5000 ms behind the exchange (market data being caught up, "
    "or a reconciliation after a pause awaited): no new entries until it is current"
)


def late_trade(rig: Rig, price: str, late_ms: int) -> Trade:
    """A trade the exchange sent `late_ms` before it is read (a backlog)."""
    rig.agg_id += 1
    a, now = rig.agg_id, rig.clock.now_ms()
    trade = Trade(
        "BTCUSDT", a, D(price), D("0.010"), a, a, False, now - late_ms, now - late_ms, now
    )
    rig.em.on_item(trade)
    return trade


def snapshot(at_ms: int, position_qty: str | None = None) -> VenueSnapshot:
    """What a reconciliation read at `at_ms` (exchange time): the wallet (10,000 USDT less
    the 0.30 taker fee of 0.010 @ 60000), the position (None: flat)."""
    positions = ()
    if position_qty is not None:
        held = Position(symbol="BTCUSDT", qty=D(position_qty), entry_price=D(60000), leverage=5)
        positions = (held,)
    usdt = Balance(asset="USDT", wallet_balance=D("9999.70"), available_balance=D("9999.70"))
    return VenueSnapshot(
        event_time_ms=at_ms,
        recv_time_ms=at_ms,
        balances=(usdt,),
        positions=positions,
        open_orders=(),
        reason="resumed after a pause",
        symbols=("BTCUSDT",),
    )


# --- the backlog: market data read late --------------------------------------------------------


def test_an_entry_on_a_trade_read_more_than_max_data_lag_ms_late_is_denied_then_sent_when_current():
    rig = make_rig()
    rig.strategy.on_trade_says.append([target("0.010")])
    late_trade(rig, "60000", late_ms=5_001)

    assert rig.venue.submitted == []
    assert [d.reason for d in rig.journaled(RiskDenied)] == [LATE]

    rig.strategy.on_trade_says.append([target("0.010")])  # the strategy says it again
    late_trade(rig, "60000", late_ms=5_000)  # caught up: 5 s is the limit, allowed

    assert [(r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted] == [
        (BUY, D("0.010"), False)
    ]


def test_closing_a_position_is_not_held_by_a_backlog():
    rig = make_rig()
    rig.strategy.on_trade_says.append([target("0.010")])
    rig.trade("60000")
    rig.venue.accept(rig.last_cid())
    rig.venue.fill(rig.last_cid(), "60000")

    rig.strategy.on_trade_says.append([target("0")])
    late_trade(rig, "59000", late_ms=60_000)

    assert [(r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted[1:]] == [
        (SELL, D("0.010"), True)
    ]


# --- a pause: the books are old until a snapshot taken after it -------------------------------


def test_after_a_pause_no_entry_goes_out_on_the_old_books_until_a_later_snapshot():
    """Long 0.010 when the daemon stopped; its stop-loss filled meanwhile (the exchange is
    flat). Worked on the old books, a turn to short sold 0.020: short twice the target."""
    rig = make_rig()
    rig.strategy.on_trade_says.append([target("0.010")])
    rig.trade("60000")
    rig.venue.accept(rig.last_cid())
    rig.venue.fill(rig.last_cid(), "60000")
    rig.at(T0 + 20_000)
    rig.em.note_pause(15_000)  # resumed now, after 15 s

    rig.strategy.on_trade_says.append([target("-0.010")])
    rig.trade("59000")  # current market data: the books are what is old
    rig.venue.emit(snapshot(T0 + 19_999, "0.010"))  # read before the pause ended: no news
    # The short side is denied; the reversal's closing part goes out (a refused reversal
    # closes first): reduce-only, it can only shrink whatever the exchange holds now.
    assert [(r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted[1:]] == [
        (SELL, D("0.010"), True)
    ]
    assert [d.reason for d in rig.journaled(RiskDenied)] == [LATE]

    rig.venue.emit(snapshot(T0 + 20_000))  # read after: flat, the stop filled meanwhile
    assert rig.book.position("BTCUSDT").qty == 0
    assert len(rig.venue.submitted) == 2  # the close is still working: nothing more yet
    # The exchange refuses the close (nothing left to reduce; a refusal works no target, so
    # the strategy's next word does): the target from the position as it is, short 0.010,
    # not the 0.020 the old books would have sold.
    rig.venue.reject(rig.last_cid(), -2022, "ReduceOnly Order is rejected.")
    rig.strategy.on_trade_says.append([target("-0.010")])
    rig.trade("59000")

    assert [(r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted[2:]] == [
        (SELL, D("0.010"), False)
    ]


# --- the watch -----------------------------------------------------------------------------------


def test_the_pause_watch_says_a_silence_of_notice_ms_once_at_the_next_tick():
    t = FakeTime(T0)
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    pauses: list[int] = []
    watch = PauseWatch(clock.now_ms, pauses.append, notice_ms=5_000)
    watch.tick(clock.now_ms())
    t.run(60_000)
    watch.tick(clock.now_ms())  # not armed (a start-up): nothing to miss yet
    watch.arm()
    for _ in range(10):  # a quiet market: only the timer's ticks, a second apart
        t.run(1_000)
        watch.tick(clock.now_ms())
    t.run(4_999)
    watch.tick(clock.now_ms())
    assert pauses == []

    t.run(15_000)  # SIGSTOP ... SIGCONT
    watch.tick(clock.now_ms())
    watch.tick(clock.now_ms())
    t.wall += 3_600_000_000_000  # NTP steps the wall clock an hour: no pause
    t.run(1)
    watch.tick(clock.now_ms())
    assert pauses == [15_000] and watch.pauses == 1


def test_a_new_measurement_of_the_exchange_clock_is_no_pause():
    """The daemon's clock is its estimate of the exchange's: the REST connection's resync
    moves it by the new offset (a 6 s skew found in the chaos run). The watch measures the
    silence on this machine's count, so the step says nothing, and a real silence across
    a resync is said as long as it was, not plus or minus the step."""
    t = FakeTime(T0)
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    pauses: list[int] = []
    watch = PauseWatch(clock.now_ms, pauses.append, notice_ms=5_000, offset=clock)
    watch.arm()
    t.run(3)
    clock.offset_ms = 6_000  # the exchange's clock is 6 s ahead, measured now
    watch.tick(clock.now_ms())
    t.run(1_000)
    clock.offset_ms = -4_000  # and back the other way
    watch.tick(clock.now_ms())
    assert pauses == []

    t.run(7_000)  # SIGSTOP ... SIGCONT, and a resync before the first tick
    clock.offset_ms = 2_000
    watch.tick(clock.now_ms())
    assert pauses == [7_000]


def test_without_the_clock_a_resync_step_looked_like_a_pause():
    """What the daemon's watch did before it was given its clock's offset."""
    t = FakeTime(T0)
    clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
    pauses: list[int] = []
    watch = PauseWatch(clock.now_ms, pauses.append, notice_ms=5_000)
    watch.arm()
    t.run(3)
    clock.offset_ms = 6_000
    watch.tick(clock.now_ms())
    assert pauses == [6_003]


def test_the_daemon_watches_pauses_without_its_clocks_offset():
    t = FakeTime(T0)
    rig = make_rig(clock=LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns))
    daemon, out = _daemon_over(rig, t)

    t.run(10)
    rig.clock.offset_ms = 6_000  # the REST connection's resync (rest_connect/connection.py)
    daemon._pause_watch.tick(rig.clock.now_ms())

    assert daemon._pause_watch.pauses == 0 and out.getvalue() == ""


def _daemon_over(rig: Rig, t: FakeTime) -> tuple[Daemon, io.StringIO]:
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out, clock=rig.clock)
    daemon._parts = _Parts(  # what `_resumed` uses: the ExecManager and the venue
        rest=None, market_rest=None, journal=None, book=rig.book, risk=rig.risk,
        exec_manager=rig.em, venue=rig.venue, stream=None, strategy=None,
    )  # type: ignore[arg-type]  # fmt: skip
    daemon._pause_watch.arm()
    return daemon, out


def test_the_first_market_item_after_a_pause_says_it_before_it_is_traded():
    """The clock-watching timer runs only after the burst of buffered data was traded: the
    item path itself notices the pause first."""
    t = FakeTime(T0)
    rig = make_rig(clock=LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns))
    daemon, out = _daemon_over(rig, t)
    sink = daemon._guarded(rig.em.on_item)

    t.run(15_000)  # SIGSTOP ... SIGCONT
    rig.strategy.on_trade_says.append([target("0.010")])
    rig.agg_id += 1
    now = rig.clock.now_ms()
    sink(Trade("BTCUSDT", rig.agg_id, D("60000"), D("0.010"), 1, 1, False, now, now, now))

    assert rig.venue.submitted == []
    assert rig.venue.reconciles_asked == ["resumed after a pause"]
    lines = out.getvalue().splitlines()
    assert lines == [
        "WARNING: the daemon did not run for 15.0 s (process stopped, machine suspended or "
        "overloaded): reconciling with the exchange now (its dead-man switch may have "
        "cancelled our orders); no new entries until market data is current"
    ]


def test_the_dead_man_switch_cancel_read_first_after_a_pause_does_not_send_the_order_again():
    """The exchange cancelled the resting entry while the daemon was stopped; its cancel is
    the first event read. The target re-worked on it would be sent again on the old books."""
    t = FakeTime(T0)
    rig = make_rig(clock=LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns))
    daemon, out = _daemon_over(rig, t)
    relay = _Relay(before=daemon._pause_watch.tick, now_ms=rig.clock.now_ms)  # as the daemon
    relay.target = rig.em.on_event
    rig.venue.listener = relay
    rig.strategy.on_trade_says.append([target("0.010", price="59000")])
    rig.trade("60000")
    cid = rig.last_cid()
    rig.venue.accept(cid)

    t.run(12_000)  # stopped longer than the dead-man switch's countdown
    rig.venue.emit(OrderCanceled(**rig.venue._times(), symbol="BTCUSDT", client_order_id=cid,
                                 order_id=rig.venue.order_id(cid)))  # fmt: skip

    assert [r.client_order_id for r in rig.venue.submitted] == [cid]
    assert cid not in rig.book.orders
    assert rig.venue.reconciles_asked == ["resumed after a pause"]
    assert "did not run for 12.0 s" in out.getvalue()

    rig.venue.emit(snapshot(rig.clock.now_ms()))  # the reconciliation it asked for
    assert len(rig.venue.submitted) == 2  # now the target is worked again, on current books


# --- one clock reading per item ------------------------------------------------------------------


class CountingClock:
    """A LiveClock over FakeTime that counts its readings."""

    def __init__(self, t: FakeTime) -> None:
        self._clock = LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns)
        self.reads = 0

    def now_ms(self) -> int:
        self.reads += 1
        return self._clock.now_ms()

    @property
    def offset_ms(self) -> int:  # what the pause watch reads of the daemon's clock
        return self._clock.offset_ms


def test_the_sink_reads_the_clock_once_for_the_watch_the_lag_and_the_exec_manager():
    """A trade that orders nothing: the pause watch, the stream lag and the ExecManager share
    the sink's reading (they read it once each before: three readings)."""
    t = FakeTime(T0)
    clock = CountingClock(t)
    rig = make_rig(clock=clock)
    daemon, _ = _daemon_over(rig, t)
    sink = daemon._guarded(rig.em.on_item)
    t.run(250)
    now = clock._clock.now_ms()
    trade = Trade("BTCUSDT", 9_001, D("60000"), D("0.001"), 1, 1, False, now - 40, now - 40, now)
    before = clock.reads

    sink(trade)

    assert clock.reads - before == 1
    assert daemon.stream_lag_ms == 40
    assert rig.em.counters.trades == 1


# --- a pause while the start goes on after its reconciliation -----------------------------------


def test_a_pause_after_the_start_up_reconciliation_holds_entries_and_reconciles_again():
    """The start-up reconciliation read the exchange, then the process stopped 15 s before
    the daemon was running (the market data still connecting): the books are that old. The
    watch is armed from that reconciliation on, so the first item after it says so, asks for
    a reconciliation of its own and holds entries until its snapshot (before, the watch was
    armed only once the daemon ran: nothing noticed, the entry sent on the old books)."""
    t = FakeTime(T0)
    rig = make_rig(clock=LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns))
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out, clock=rig.clock)
    # What `_start` has set up when its reconciliation begins: no `_parts` yet.
    daemon._starting_em = rig.em
    daemon._starting_venue = rig.venue  # type: ignore[assignment]
    daemon._pause_watch.arm()
    sink = daemon._guarded(rig.em.on_item)

    t.run(15_000)  # SIGSTOP ... SIGCONT
    resumed = rig.clock.now_ms()
    rig.strategy.on_trade_says.append([target("0.010")])
    sink(Trade("BTCUSDT", 9_101, D("60000"), D("0.010"), 1, 1, False, resumed, resumed, resumed))

    assert daemon._parts is None
    assert rig.venue.submitted == []
    assert rig.venue.reconciles_asked == ["resumed after a pause"]
    assert "did not run for 15.0 s" in out.getvalue()

    rig.venue.emit(snapshot(resumed))  # the reconciliation asked for: read after the pause
    rig.strategy.on_trade_says.append([target("0.010")])
    now = rig.clock.now_ms()
    sink(Trade("BTCUSDT", 9_102, D("60000"), D("0.010"), 2, 2, False, now, now, now))

    assert [(r.side, r.quantity, r.reduce_only) for r in rig.venue.submitted] == [
        (BUY, D("0.010"), False)
    ]


def test_a_pause_before_the_first_timer_tick_is_noticed_by_it(monkeypatch):
    """Armed at the start-up reconciliation, the watch's timer ticks it from then on without
    arming it again: a pause before the timer's first tick (no market data yet, no venue
    event) is noticed by that tick (a timer that armed the watch first would have hidden it)."""
    monkeypatch.setattr(daemon_module, "PAUSE_POLL_S", 0.01)
    t = FakeTime(T0)
    rig = make_rig(clock=LiveClock(wall_ns=t.wall_ns, steady=t.steady_ns))
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out, clock=rig.clock)
    daemon._starting_em = rig.em
    daemon._starting_venue = rig.venue  # type: ignore[assignment]

    async def start_goes_on() -> None:
        daemon._watch_pauses()  # as `_start` does when its reconciliation begins
        t.run(15_000)  # stopped before the timer's first tick
        # until the timer ticked (~10 ms; later on a busy machine), not for a fixed 0.1 s
        await wait_for(lambda: rig.venue.reconciles_asked, timeout_s=10.0, step_s=0.005)
        for task in list(daemon._tasks):
            task.cancel()
        await asyncio.gather(*daemon._tasks, return_exceptions=True)

    asyncio.run(start_goes_on())

    assert daemon._pause_watch.pauses == 1
    assert rig.venue.reconciles_asked == ["resumed after a pause"]
    assert "did not run for 15.0 s" in out.getvalue()
