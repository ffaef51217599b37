"""The order path rehearsal (`trading_engine.order_rehearsal`): it runs the real steps of an
order and leaves no trace: nothing journaled, sent, counted or booked, no client id taken.
The end-to-end check with the real LiveVenue, SqliteJournal and python-binance signing is in
`tests/bench/test_bench_tick_to_order.py` (the benchmark's wiring is the daemon's)."""

import logging
import mmap
import sys
from decimal import Decimal as D

import pytest

from book_keeper.journal import SqliteJournal
from book_keeper.journal_wal import read_wal
from book_keeper.journal_wal_file import PREFAULT_PAGES
from core.clock import SimClock
from core.enums import OrderType, TradingState
from core.events import DecisionMade, OrderSubmitted
from core.market import Trade
from core.orders import OrderRequest, TargetPosition
from tests.trading_engine.support import BUY, INSTRUMENTS, SELL, T0, make_rig
from trading_engine.item_sink import ItemSink
from trading_engine.market_recorder import GAP, OFFSET, MarketRecorder
from trading_engine.order_rehearsal import smallest_order_qty

SYMBOL = "BTCUSDT"


def _order(cid: str = "te-1", qty: str = "0.010") -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=BUY, type=OrderType.MARKET, quantity=D(qty), client_order_id=cid
    )


def _trade(price: str, n: int = 1) -> Trade:
    return Trade(SYMBOL, n, D(price), D("0.010"), n, n, False, T0, T0, T0)


# --- RiskManager.rehearse ----------------------------------------------------------------------


def test_a_rehearsed_check_is_not_counted_in_the_orders_per_minute_window():
    rig = make_rig(max_orders_per_minute=1)
    kwargs = {"gap_open": False, "clock_offset_ms": 0, "now_ms": T0}
    assert rig.risk.rehearse(_order(), **kwargs) is True
    assert rig.risk.rehearse(_order(), **kwargs) is True
    # The one order a minute allows is still there for a real order, then gone.
    assert isinstance(rig.risk.check(_order("te-1"), **kwargs), OrderRequest)
    assert rig.risk.rehearse(_order(), **kwargs) is False  # the window is full now


def test_a_rehearsal_is_denied_where_check_denies():
    rig = make_rig()
    kwargs = {"clock_offset_ms": 0, "now_ms": T0}
    assert rig.risk.rehearse(_order(), gap_open=True, **kwargs) is False  # a market-data gap
    # 100 BTC at 60,000 is over max_order_notional_usdt (10,000)
    assert rig.risk.rehearse(_order(qty="100"), gap_open=False, **kwargs) is False


# --- SqliteJournal.rehearse_many ---------------------------------------------------------------


def _events(cid: str) -> tuple[DecisionMade, OrderSubmitted]:
    return (
        DecisionMade(
            event_time_ms=T0,
            recv_time_ms=T0,
            symbol=SYMBOL,
            strategy="s",
            action="target 0.010",
            reason="r",
        ),
        OrderSubmitted(event_time_ms=T0, recv_time_ms=T0, request=_order(cid)),
    )


def test_the_journal_builds_the_frame_record_many_writes_and_writes_nothing(tmp_path):
    with SqliteJournal(tmp_path / "j", writer_thread=False) as j:
        wal = tmp_path / "j" / "journal.wal"
        j.record(_events("te-0")[1])
        before = wal.read_bytes()
        frame = j.rehearse_many(_events("te-1"))
        assert wal.read_bytes() == before  # not a byte changed (its pages faulted in)
        assert j.rehearse_many(_events("te-1")) == frame  # the same lsn: none was taken
        j.record_many(_events("te-1"))
        frames, end = read_wal(wal.read_bytes())
        assert frames[-1][0] == 2  # byte for byte the frame that record_many appended
        assert wal.read_bytes()[end - len(frame) : end] == frame
        j.flush()
        assert [o.client_order_id for o in j.open_orders()] == ["te-0", "te-1"]


def test_the_rehearsal_faults_in_the_log_page_the_next_frame_starts_on(tmp_path):
    """The rehearsal stores zeros where the next frame goes (its whole span: its cache lines
    too) and one at the start of the next PREFAULT_PAGES pages (the reserve's zeros): the page
    faults happen there, not in the order's appends; no byte of the log changes."""
    with SqliteJournal(tmp_path / "j", writer_thread=False) as j:
        wal = j._wal
        stored: list[tuple[int, object]] = []

        class Watched:
            def __init__(self, real):
                self.real = real

            def __setitem__(self, key, value):
                if isinstance(key, int):
                    stored.append((key, value))
                elif not stored:  # a frame's copy, or the rehearsal's zeros over its span
                    stored.append((key.start, bytes(value)))
                self.real[key] = value

            def __getitem__(self, key):
                return self.real[key]

            def flush(self, *span):
                self.real.flush(*span)

            def close(self):
                self.real.close()

        j.record(_events("te-0")[1])
        wal._map = Watched(wal._map)
        end = j._wal_size
        before = wal.read()
        frame = j.rehearse_many(_events("te-1"))
        page = mmap.PAGESIZE
        first = (end // page + 1) * page
        assert stored == [(end, bytes(len(frame))), (end, 0)] + [
            (first + k * page, 0) for k in range(PREFAULT_PAGES)
        ]
        assert wal.read() == before


# --- ItemSink ------------------------------------------------------------------------------------


def _sink(
    every: int, calls: list[tuple[object, int]], every_ms: int = 0, clock: SimClock | None = None
) -> ItemSink:
    return ItemSink(
        lambda item, now: None,
        clock=clock or SimClock(T0),
        tick=lambda now: None,
        on_stream_state=lambda change: None,
        on_journal_error=lambda exc: None,
        rehearse=lambda item, now: calls.append((item, now)),
        rehearse_every=every,
        rehearse_every_ms=every_ms,
    )


def test_the_sink_rehearses_after_every_nth_item_with_that_item_and_its_time():
    calls: list[tuple[object, int]] = []
    sink = _sink(3, calls, every_ms=200)  # the clock stands still: by the count
    items = [_trade("60000", n) for n in range(1, 8)]
    for item in items:
        sink(item)
    assert calls == [(items[0], T0), (items[3], T0), (items[6], T0)]


def test_in_a_quiet_market_the_sink_rehearses_after_an_item_once_the_interval_passed():
    calls: list[tuple[object, int]] = []
    clock = SimClock(T0)
    sink = _sink(50, calls, every_ms=200, clock=clock)
    times = []
    for step in (0, 100, 99, 1, 150, 50, 10):  # ms before each item
        clock.advance_ms(step)
        sink(_trade("60000"))
        times.append(clock.now_ms() - T0)
    # the first item (nothing before), then the first item 200 ms or more after the last one
    assert [now - T0 for _, now in calls] == [0, 200, 400]
    assert times == [0, 100, 199, 200, 350, 400, 410]


def test_the_sink_never_rehearses_with_zero_and_refuses_a_negative_count():
    calls: list[tuple[object, int]] = []
    sink = _sink(0, calls, every_ms=1)
    for n in range(1, 200):
        sink(_trade("60000", n))
    assert calls == []
    with pytest.raises(ValueError, match="rehearse_every"):
        _sink(-1, calls)
    with pytest.raises(ValueError, match="rehearse_every_ms"):
        _sink(50, calls, every_ms=-1)


# --- ExecManager.rehearse_order ------------------------------------------------------------------


def test_a_rehearsal_leaves_no_trace_in_journal_venue_books_ids_or_counters():
    rig = make_rig()
    rig.trade("60000")
    journaled = len(rig.journal.events)
    counters = rig.em.counters
    before = (counters.decisions, counters.submitted, counters.denied)
    orders = dict(rig.book.orders)
    rig.em.rehearse_order(_trade("60000"), T0)
    rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 2
    assert len(rig.journal.events) == journaled
    assert rig.venue.submitted == []
    assert rig.book.orders == orders
    assert (counters.decisions, counters.submitted, counters.denied) == before
    # The next real order takes the first client id: the rehearsals took none.
    rig.strategy.on_bar_says.append([TargetPosition(symbol=SYMBOL, qty=D("0.010"))])
    rig.next_bar("60000")
    assert [r.client_order_id for r in rig.venue.submitted] == ["te-1"]


def test_no_rehearsal_for_an_untraded_symbol_nor_after_the_stop():
    rig = make_rig()
    rig.em.rehearse_order(Trade("ETHUSDT", 1, D(1), D(1), 1, 1, False, T0, T0, T0), T0)
    rig.em.rehearse_order(object(), T0)  # an item without a symbol
    assert rig.em.rehearsals == 0
    rig.em.stop_trading()
    rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 0


def test_a_failing_step_stops_the_rehearsals_with_one_warning_and_trading_goes_on(caplog):
    rig = make_rig()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    rig.em._dry_fx.check = broken  # a bug in a rehearsed step
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            rig.em.rehearse_order(_trade("60000"), T0)
    warnings = [r for r in caplog.records if "rehearsal failed" in r.getMessage()]
    assert len(warnings) == 1 and "boom" in warnings[0].getMessage()
    assert rig.em.rehearsals == 0
    rig.strategy.on_bar_says.append([TargetPosition(symbol=SYMBOL, qty=D("0.010"))])
    rig.next_bar("60000")
    assert len(rig.venue.submitted) == 1  # the real order path is untouched


def test_the_rehearsed_order_is_the_smallest_the_exchange_takes_when_flat():
    # BTCUSDT: step 0.001, min notional 10 USDT at this bundle's filters (support.py)
    inst = INSTRUMENTS[SYMBOL]
    qty = smallest_order_qty(inst, D("60000"))
    assert qty * D("60000") >= inst.min_notional
    assert (qty - inst.market_lot.step_size) * D("60000") < inst.min_notional or (
        qty == inst.market_lot.min_qty
    )
    assert qty % inst.market_lot.step_size == 0


def test_after_the_kill_switch_the_rehearsal_signs_nothing():
    rig = make_rig()
    signed: list[OrderRequest] = []
    rig.em._dry_fx.send = signed.append
    rig.em.rehearse_order(_trade("60000"), T0)
    # the id the next order takes, not taken
    assert len(signed) == 1 and signed[0].client_order_id == "te-1" == rig.em._ids.next(take=False)
    rig.risk.kill("test")  # REDUCING: no entry passes (HALTED once flat)
    assert rig.risk.state is TradingState.REDUCING
    rig.em.rehearse_order(_trade("60000"), T0)
    assert len(signed) == 1


def test_a_rehearsal_asks_the_answers_a_recorded_session_journals_but_leaves_no_record(
    tmp_path,
):
    """The market recorder journals every answer of the ExecManager's `gap_open` and
    `clock_offset_ms` for the parity audit's replay, which does not rehearse: a rehearsal's
    question recorded shifted the replay's answers (a kill-switch session's audit diverged).
    A rehearsal asks the answers themselves, the recorder's wrappers' `__wrapped__`."""
    asked: list[str] = []

    class SeenInGaps:  # looked at whenever `gap_open("BTCUSDT")` asks the rig's set
        def __hash__(self) -> int:
            return hash(SYMBOL)

        def __eq__(self, other: object) -> bool:
            asked.append("gap")
            return False

    class SeenOffset(int):  # what `clock_offset_ms()` answers, looked at by the check
        def __abs__(self) -> int:
            asked.append("offset")
            return 0

    recorder = MarketRecorder(tmp_path, SimClock(T0))
    recorded = recorder._buf
    rig = make_rig(recorder=recorder)
    rig.gaps.add(SeenInGaps())  # type: ignore[arg-type]
    rig.offset_ms[0] = SeenOffset(0)
    rig.strategy.on_bar_says.append([TargetPosition(symbol=SYMBOL, qty=D("0.010"))])
    rig.next_bar("60000")
    assert len(rig.venue.submitted) == 1
    assert "gap" in asked and "offset" in asked  # a real order asks both ...
    assert [e[0] for e in recorded] == [GAP, OFFSET]  # ... recorded
    rig.venue.accept(rig.last_cid())
    rig.venue.fill(rig.last_cid(), "60000")  # long: a rehearsal works a flip to its order
    rig.venue.accept(rig.last_cid())  # the stop-loss the fill placed (its answers recorded)
    kept = list(recorded)
    asked.clear()
    signed: list[OrderRequest] = []
    rig.em._dry_fx.send = signed.append
    for _ in range(3):
        rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 3 and len(signed) == 3  # down to the signed request
    assert "gap" in asked  # a rehearsal asks the answer itself (the offset is not looked at)
    assert recorded == kept  # ... and nothing of it is recorded


def _rehearsed_request(rig) -> OrderRequest:
    signed: list[OrderRequest] = []
    rig.em._dry_fx.send = signed.append
    rig.em.rehearse_order(_trade("60000"), rig.clock.now_ms())
    [request] = signed
    return request


@pytest.mark.parametrize("size", ["0.010", "0.100"])  # 0.100 x 2 is over the order notional cap
def test_the_rehearsed_order_is_the_one_a_target_turning_the_position_sends(size):
    rig = make_rig()
    rig.say(TargetPosition(symbol=SYMBOL, qty=D(size)))
    rig.venue.accept(rig.last_cid())
    rig.venue.fill(rig.last_cid(), "60000")  # long `size`, its stop-loss placed
    assert rig.book.position(SYMBOL).qty == D(size)
    rehearsed = _rehearsed_request(rig)
    submitted_before = len(rig.venue.submitted)

    rig.say(TargetPosition(symbol=SYMBOL, qty=-D(size)))  # the crossover turns
    [sent] = [r for r in rig.venue.submitted if r.type is OrderType.MARKET][-1:]

    shape = ("side", "type", "quantity", "price", "reduce_only", "time_in_force")
    assert [getattr(rehearsed, f) for f in shape] == [getattr(sent, f) for f in shape]
    # the id the first order after it took: the rehearsal did not take it
    [first] = rig.venue.submitted[submitted_before : submitted_before + 1]
    assert rehearsed.client_order_id == first.client_order_id
    if size == "0.100":  # 0.200 BTC at 60,000 = 12,000 USDT > 10,000: closes first
        assert (sent.quantity, sent.reduce_only) == (D("0.100"), True)
    else:
        assert (sent.quantity, sent.reduce_only) == (D("0.020"), False)


def test_flat_the_rehearsed_order_opens_the_smallest_position_the_exchange_takes():
    rig = make_rig()
    rig.trade("60000")
    rehearsed = _rehearsed_request(rig)
    assert (rehearsed.side, rehearsed.type, rehearsed.reduce_only) == (BUY, OrderType.MARKET, False)
    assert rehearsed.quantity == smallest_order_qty(INSTRUMENTS[SYMBOL], D("60000"))


# --- the ExecManager's own path, run dry (`trading_engine.order_effects`) -----------------------


def _state(rig) -> tuple:
    """Everything of the rig a rehearsal must leave as it was."""
    em = rig.em
    return (
        dict(em._targets),
        dict(em._journaled_target),
        dict(em._risk_denied),
        dict(em._closed_by_protection),
        list(em._pending),
        [getattr(em.counters, name) for name in type(em.counters).__slots__],
        dict(em._cancel_sent),
        list(em._stale),
        em._fired.due_ms,
        dict(rig.book.orders),
        rig.book.position(SYMBOL).qty,
        len(rig.journal.events),
        em._ids.next_seq,
        list(rig.venue.submitted),
        list(rig.venue.cancels),
    )


def _tripwires(rig, monkeypatch) -> None:
    """Collaborator methods that fail if called other than through the ExecManager's
    `_fx` (which holds the real ones, bound when it was built): set on the classes, as
    slotted objects take no attribute of their own."""

    def tripped(*args, **kwargs):
        raise AssertionError("called around the order path's effects")

    risk_check = type(rig.risk).check

    def check_but_in_rehearse(*args, **kwargs):  # `RiskManager.rehearse` runs `check`'s code
        if sys._getframe(1).f_code is not type(rig.risk).rehearse.__code__:
            tripped()
        return risk_check(*args, **kwargs)

    monkeypatch.setattr(type(rig.risk), "check", check_but_in_rehearse)
    for obj, names in (
        (rig.venue, ("submit", "cancel", "cancel_all")),
        (rig.journal, ("record", "record_many")),
        (rig.book, ("apply",)),
        (rig.em._ids, ("next",)),
    ):
        for name in names:
            if hasattr(obj, name):  # MemoryJournal has no record_many
                monkeypatch.setattr(type(obj), name, tripped)


def _long_with_its_stop(rig) -> None:
    """Long 0.010 BTC at 60,000 with its stop-loss (1 %: 59,400) accepted."""
    rig.say(TargetPosition(symbol=SYMBOL, qty=D("0.010")))
    rig.venue.accept(rig.last_cid())
    rig.venue.fill(rig.last_cid(), "60000")
    rig.venue.accept(rig.last_cid())  # the stop-loss the fill placed


def test_the_dry_run_works_a_flip_through_the_exec_managers_path_and_puts_its_state_back(
    monkeypatch,
):
    rig = make_rig(stop_loss_pct=D("1"))
    _long_with_its_stop(rig)
    rig.trade("60000")
    before = _state(rig)
    sent: list[OrderRequest] = []
    rig.em._dry_fx.send = sent.append
    next_id = rig.em._ids.next(take=False)
    _tripwires(rig, monkeypatch)

    rig.em.rehearse_order(_trade("60000"), rig.clock.now_ms())

    assert rig.em.rehearsals == 1
    [request] = sent  # the flip's order, reached through `_handle` -> ... -> `_submit`
    assert (request.side, request.type, request.quantity, request.client_order_id) == (
        SELL,
        OrderType.MARKET,
        D("0.020"),
        next_id,  # read, not taken (`_state`: the sequence is where it was)
    )
    assert _state(rig) == before


def test_a_dry_run_that_would_cancel_a_working_order_stops_before_it(monkeypatch):
    rig = make_rig()
    # A target's resting order: LIMIT BUY 0.010 @ 59000, accepted. The rehearsal's target
    # (the smallest position, at market) does not fit it: worked for real it is cancelled.
    rig.say(TargetPosition(symbol=SYMBOL, qty=D("0.010"), price=D("59000")))
    rig.venue.accept(rig.last_cid())
    rig.trade("60000")
    before = _state(rig)
    _tripwires(rig, monkeypatch)

    rig.em.rehearse_order(_trade("60000"), rig.clock.now_ms())

    assert rig.em.rehearsals == 0  # stopped at the cancel's record, before any effect
    assert rig.em._rehearsal.enabled  # a stop is no failure
    assert _state(rig) == before


def test_a_dry_run_stops_before_waiting_on_a_crossed_stop(monkeypatch):
    rig = make_rig(stop_loss_pct=D("1"))
    _long_with_its_stop(rig)
    [stop] = [o for o in rig.book.orders.values() if o.type is OrderType.STOP_MARKET]
    assert stop.stop_price == D("59400.0")
    rig.trade("59300")  # the price crossed the stop: its fill is coming
    before = _state(rig)
    _tripwires(rig, monkeypatch)

    rig.em.rehearse_order(_trade("59300"), rig.clock.now_ms())

    assert rig.em.rehearsals == 0
    assert _state(rig) == before  # no wait registered (`_fired.due_ms`), nothing sent


def test_no_dry_run_while_a_decision_is_pending_or_a_denial_is_logged():
    rig = make_rig()
    rig.trade("60000")
    rig.em._pending.append(_decision())  # journaled with the record that follows it
    rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 0
    rig.em._pending.clear()
    rig.em._denial_logged[SYMBOL] = object()  # its "denials over" line is due with an order
    rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 0
    rig.em._denial_logged.clear()
    rig.em.rehearse_order(_trade("60000"), T0)
    assert rig.em.rehearsals == 1


def _decision() -> DecisionMade:
    return DecisionMade(
        event_time_ms=T0, recv_time_ms=T0, symbol=SYMBOL, strategy="s", action="a", reason="r"
    )
