"""The daemon's start-up hands the RiskManager what its portfolio limits had counted, from the
journal: the drawdown peak and today's filled orders, both since the last operator reset (not
since the daemon's own automatic resume at a start, which re-armed nothing)."""

from dataclasses import replace
from pathlib import Path

import pytest

from book_keeper.journal import SqliteJournal
from core.clock import SimClock
from core.enums import OrderType, TimeInForce, TradingState
from core.events import AUTOMATIC_RESET, FundingPaid, OrderPartiallyFilled, TradingStateChanged
from core.orders import OrderProposal
from risk_manager import RiskConfig, RiskManager
from tests.book_keeper.support import (
    BUY,
    SELL,
    SYMBOL,
    D,
    accepted,
    book,
    canceled,
    fill,
    filled,
    instruments,
    submitted,
    trade_fill,
)
from tests.trading_engine.support import make_rig
from trading_engine.limits_restore import restore_limits as _restore_limits

DAY = 86_400_000
NOON = 1_723_118_400_000  # 2024-08-08T12:00Z
TODAY = NOON - NOON % DAY
HOUR = 3_600_000


def _filled(journal: SqliteJournal, cid: str, trade_id: int, t: int) -> None:
    journal.record(submitted(cid, BUY, "0.001", "60000.0", t=t))
    journal.record(filled(fill(cid, trade_id, BUY, "0.001", "60000.0", fee="0", t=t)))


def test_peak_and_trades_today_are_counted_since_the_last_reset(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path, writer_thread=False)
    snap = {"wallet": D(10000), "unrealized_pnl": D(0)}
    journal.snapshot(time_ms=TODAY - 2 * HOUR, equity=D(10500), **snap)  # before the reset
    _filled(journal, "bot-1", 1, TODAY - HOUR)  # yesterday
    _filled(journal, "bot-2", 2, TODAY + 5 * HOUR)  # today, before the reset
    journal.record(
        TradingStateChanged(
            event_time_ms=TODAY + 6 * HOUR,
            recv_time_ms=TODAY + 6 * HOUR,
            previous=TradingState.HALTED,
            current=TradingState.ACTIVE,
            reason="operator reset: accepted the loss",
        )
    )
    journal.snapshot(time_ms=TODAY + 7 * HOUR, equity=D(9800), **snap)
    journal.snapshot(time_ms=TODAY + 8 * HOUR, equity=D(9700), **snap)
    _filled(journal, "bot-3", 3, TODAY + 9 * HOUR)
    _filled(journal, "bot-3", 4, TODAY + 9 * HOUR + 1)  # one order, two fills: one trade
    _filled(journal, "bot-4", 5, TODAY + 10 * HOUR)
    journal.apply_when_quiet()  # the tables, as at a start-up
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = RiskManager(
        config=RiskConfig(max_drawdown_pct=D(5), max_trades_per_day=3),
        instruments=instruments(),
        clock=clock,
        view=books,
    )

    changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
    _restore_limits(journal, changes, risk, books, NOON)

    assert risk.peak_equity == D(9800)  # not 10500: the reset re-armed the limit
    assert risk.trades_today == 2  # bot-3 and bot-4
    journal.close()


def limit_buy(qty: str, price: str) -> OrderProposal:
    return OrderProposal(
        symbol="BTCUSDT", side=BUY, type=OrderType.LIMIT, quantity=D(qty), price=D(price),
        time_in_force=TimeInForce.GTC, reason="test",
    )  # fmt: skip


def _trades_restored(journal: SqliteJournal, now_ms: int = NOON) -> int:
    """Today's trades a start at `now_ms` (noon) restores from `journal` (limit 3)."""
    journal.apply_when_quiet()
    clock = SimClock(now_ms)
    books = book(clock=clock)
    risk = RiskManager(
        config=RiskConfig(max_trades_per_day=3), instruments=instruments(), clock=clock, view=books
    )
    _restore_limits(journal, [], risk, books, now_ms)
    return risk.trades_today


def test_an_order_partly_filled_and_still_open_is_not_a_trade_yet(tmp_path: Path) -> None:
    """The running daemon counts an order when it ends having traded: one still open would be
    counted again when it ends after the restart."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    journal.record(submitted("bot-1", BUY, "0.002", "60000.0", t=TODAY + HOUR))
    journal.record(accepted("bot-1", 1, t=TODAY + HOUR))
    f = fill("bot-1", 1, BUY, "0.001", "60000.0", fee="0", t=TODAY + 2 * HOUR)
    journal.record(filled(f, "0.001", final=False))

    assert _trades_restored(journal) == 0
    journal.close()


def test_an_order_filled_yesterday_and_canceled_today_is_a_trade_of_today(tmp_path: Path) -> None:
    """It ended today having traded: the running daemon counted it at its cancel."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    journal.record(submitted("bot-1", BUY, "0.002", "60000.0", t=TODAY - 2 * HOUR))
    journal.record(accepted("bot-1", 1, t=TODAY - 2 * HOUR))
    f = fill("bot-1", 1, BUY, "0.001", "60000.0", fee="0", t=TODAY - HOUR)
    journal.record(filled(f, "0.001", final=False))
    journal.record(canceled("bot-1", 1, t=TODAY + HOUR))

    assert _trades_restored(journal) == 1
    journal.close()


def test_a_late_fill_before_midnight_leaves_a_trade_ended_after_it_on_the_day_of_its_end(
    tmp_path: Path,
) -> None:
    """The running daemon counts an order on the day of its end, and a fill booked after that
    end (a reconciliation reading what the stream lost) counts nothing. A LIMIT BUY 0.010
    fills 0.004 and is cancelled at 00:00:01; its other fill, 0.002 at 23:59:59, is read at
    00:00:02. Restarted at 00:00:03, the day has that one trade, as the running daemon
    counted. Before, the late fill moved the journal's row to 23:59:59: none today."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    midnight = NOON - NOON % DAY + DAY
    running = make_rig(journal=journal, max_trades_per_day=3)  # type: ignore[arg-type]
    running.venue.journal = None  # (it copies a MemoryJournal's events at each submit)
    running.say(limit_buy("0.010", "59000"))
    cid = running.last_cid()
    running.venue.accept(cid)
    first = running.venue.fill(cid, "59000", "0.004", maker=True)
    running.at(midnight + 1_000).venue.confirm_cancel(cid)
    assert running.risk.trades_today == 1
    lost = replace(first, trade_id=first.trade_id + 1, qty=D("0.002"), commission=D("0.0236"))
    running.at(midnight + 2_000).venue.emit(
        OrderPartiallyFilled(
            event_time_ms=midnight - 1_000,
            recv_time_ms=midnight + 2_000,
            fill=replace(lost, trade_time_ms=midnight - 1_000, recv_time_ms=midnight + 2_000),
            cumulative_qty=D("0.006"),
            avg_price=D("59000"),
        )
    )
    assert running.book.position("BTCUSDT").qty == D("0.006")  # booked
    assert running.risk.trades_today == 1  # and no trade of its own

    assert _trades_restored(journal, midnight + 3_000) == 1
    journal.close()


def test_the_restored_peak_is_net_of_transfers_so_a_restart_after_a_deposit_does_not_halt(
    tmp_path: Path,
) -> None:
    """The drawdown limit counts equity net of transfers: a snapshot taken after a deposit of
    5,000 (equity 15,000) is a peak of 10,000, not of 15,000; restored raw, the restart would
    have found a 33 % drawdown and halted."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    journal.snapshot(
        time_ms=TODAY + HOUR,
        equity=D(15000),
        wallet=D(15000),
        unrealized_pnl=D(0),
        transfers=D(5000),
    )
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = RiskManager(
        config=RiskConfig(max_drawdown_pct=D(5)), instruments=instruments(), clock=clock, view=books
    )

    _restore_limits(journal, [], risk, books, NOON)

    assert risk.peak_equity == D(10000)
    assert risk.on_equity(D(9900), D(0)) is None  # 1 % below it: still ACTIVE
    journal.close()


# --- the daily loss across a restart ------------------------------------------------------------


def _snap(journal: SqliteJournal, t: int, equity: str, wallet: str = "10000") -> None:
    journal.snapshot(
        time_ms=t, equity=D(equity), wallet=D(wallet), unrealized_pnl=D(equity) - D(wallet)
    )


def _daily_loss_risk(books, clock: SimClock) -> RiskManager:
    """Only the daily loss in USDT is on: 500 USDT a day."""
    config = RiskConfig(max_daily_loss_usdt=D(500), max_daily_loss_pct=D(0), max_drawdown_pct=D(0))
    return RiskManager(config=config, instruments=instruments(), clock=clock, view=books)


def test_a_restart_mid_day_keeps_the_days_starting_equity_so_an_open_loss_is_not_forgotten(
    tmp_path: Path,
) -> None:
    """The day began at 10,000 (the last snapshot before 00:00 UTC); by 06:00 an open position
    had lost 300. Restarted at noon and losing 250 more, the day has lost 550 >= 500: the
    restart must not start the day again from the equity it finds (9,450)."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 10_000, "10000")
    _snap(journal, TODAY + 6 * HOUR, "9700")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = _daily_loss_risk(books, clock)

    _restore_limits(journal, [], risk, books, NOON)

    assert risk.day_start_equity == D(10000)
    assert "lost 550.00 USDT today" in risk.on_equity(D(9450), D(0)).reason
    journal.close()


def test_a_day_begun_while_the_daemon_was_stopped_starts_from_the_last_equity_before_midnight(
    tmp_path: Path,
) -> None:
    """Stopped at 22:00 UTC with equity 10,000 and started at noon the next day: the day's
    loss counts from that last equity seen before 00:00 UTC (the open position's loss while
    the daemon was down is not forgiven), not from the equity found at the start."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 2 * HOUR, "10000")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = _daily_loss_risk(books, clock)

    _restore_limits(journal, [], risk, books, NOON)

    assert risk.day_start_equity == D(10000)
    assert risk.on_equity(D(9501), D(0)) is None  # 499 lost
    assert "lost 500.00 USDT today" in risk.on_equity(D(9500), D(0)).reason
    journal.close()


def test_after_more_than_a_day_stopped_the_day_starts_from_the_equity_found(
    tmp_path: Path,
) -> None:
    """Stopped two days ago: what was lost since is no loss of today (the first equity of the
    day is the base, as for a first start)."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 2 * DAY, "10000")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = _daily_loss_risk(books, clock)

    _restore_limits(journal, [], risk, books, NOON)

    assert risk.day_start_equity is None  # the first equity of the day will be the base
    assert risk.on_equity(D(9000), D(0)) is None
    assert risk.day_start_equity == D(9000)
    journal.close()


def _reset(t: int, previous: TradingState = TradingState.HALTED) -> TradingStateChanged:
    return TradingStateChanged(
        event_time_ms=t,
        recv_time_ms=t,
        previous=previous,
        current=TradingState.ACTIVE,
        reason="operator reset: --reset-halt",
    )


def _lost_600_realized_today(books) -> None:
    """Bought 0.1 at 60,000 at 01:00 UTC, sold at 54,000 at 02:00: realized -600, no fee."""
    trade_fill(books, "bot-1", 1, BUY, "0.1", "60000.0", fee="0", t=TODAY + HOUR)
    trade_fill(books, "bot-2", 2, SELL, "0.1", "54000.0", fee="0", rp="-600", t=TODAY + 2 * HOUR)


def test_a_restart_on_the_day_of_a_reset_keeps_the_loss_the_reset_accepted(
    tmp_path: Path,
) -> None:
    """Halted at 02:00 for 600 realized, reset at 03:00 (equity 9,400, journaled then),
    restarted at noon: the 600 the operator accepted must not halt the daemon again at once;
    500 more from the reset's 9,400 does."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 10_000, "10000")
    journal.record(_reset(TODAY + 3 * HOUR))
    _snap(journal, TODAY + 3 * HOUR, "9400", wallet="9400")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    _lost_600_realized_today(books)
    risk = _daily_loss_risk(books, clock)
    changes = [e for _, e in journal.load_events(["TradingStateChanged"])]

    _restore_limits(journal, changes, risk, books, NOON)

    assert books.pnl_today(NOON) == D(-600)
    assert risk.on_equity(D(9400), books.pnl_today(NOON)) is None
    assert "lost 500.00 USDT today" in risk.on_equity(D(8900), books.pnl_today(NOON)).reason
    journal.close()


def test_reset_halt_after_a_realized_daily_loss_does_not_halt_again_at_once(
    tmp_path: Path,
) -> None:
    """`--reset-halt` re-arms every limit from the current values (RiskManager.reset): after a
    restart that includes today's realized loss, which the journal restored into the books."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 10_000, "10000")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    _lost_600_realized_today(books)
    risk = _daily_loss_risk(books, clock)
    _restore_limits(journal, [], risk, books, NOON)
    risk.restore_state(TradingState.HALTED, "max daily loss: lost 600.00 USDT today")

    risk.reset("operator reset (--reset-halt)")

    assert risk.on_equity(D(9400), books.pnl_today(NOON)) is None
    assert risk.state is TradingState.ACTIVE
    journal.close()


def test_a_run_begun_today_keeps_its_first_equity_of_the_day_across_a_restart(
    tmp_path: Path,
) -> None:
    """No equity journaled the day before (stopped for days), a run from 08:00 (first snapshot
    9,800), restarted at noon: the day counts from 9,800, as that run did."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 3 * DAY, "10000")
    _snap(journal, TODAY + 8 * HOUR, "9800")
    _snap(journal, TODAY + 9 * HOUR, "9600")
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    risk = _daily_loss_risk(books, clock)

    _restore_limits(journal, [], risk, books, NOON)

    assert risk.day_start_equity == D(9800)
    journal.close()


# --- a restart after the daemon's automatic resume ------------------------------------------------

STREAM_FAILED = "user stream failed: futures_stream_get_listen_key: HTTP 401 -2015 Invalid API-key"
RESUMED = f"{AUTOMATIC_RESET}: the user stream's failure is cleared: this start's signed requests"


def _moved(
    t: int, previous: TradingState, current: TradingState, reason: str
) -> TradingStateChanged:
    return TradingStateChanged(
        event_time_ms=t, recv_time_ms=t, previous=previous, current=current, reason=reason
    )


@pytest.mark.parametrize(
    ("reason", "counted"),
    [
        # the automatic resume re-armed nothing: the whole day's counts
        (RESUMED, (D(10500), 3, D(10000), "max daily loss: lost 500.00 USDT today (max 500 USDT)")),
        # an operator's --reset-halt at the same point re-armed them from 04:00 (unchanged)
        ("operator reset: --reset-halt", (D(9700), 1, D(9700), None)),
    ],
    ids=["automatic_resume", "operator_reset"],
)
def test_a_restart_after_an_automatic_resume_counts_the_limits_through_it(
    tmp_path: Path, reason: str, counted: tuple
) -> None:
    """The equity peaked at 10,500 yesterday and the day began at 10,000 (the last snapshot
    before 00:00 UTC). Two trades and 300 USDT realized lost by 02:00; at 03:00 the user
    stream failed for good (REDUCING, HALTED); the start at 04:00 resumed ACTIVE by itself
    (an older daemon journaled a balance snapshot then, 9,700); a third trade at 05:00.
    Restarted at noon, the automatic resume is no reset: the peak stays 10,500, today has 3
    trades, the day counts from 10,000 and none of its loss was accepted, so 200 USDT more
    (9,500: 500 today) reaches the 500 USDT limit. Before, the resume was taken for an
    operator's reset: peak 9,700, 1 trade, the day from 9,700 with its 300 USDT forgotten."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    _snap(journal, TODAY - 2 * HOUR, "10500", wallet="10500")
    _snap(journal, TODAY - 10_000, "10000")
    _filled(journal, "bot-1", 1, TODAY + HOUR)
    _filled(journal, "bot-2", 2, TODAY + 2 * HOUR)
    active, reducing, halted = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
    journal.record(_moved(TODAY + 3 * HOUR, active, reducing, STREAM_FAILED))
    journal.record(_moved(TODAY + 3 * HOUR + 5, reducing, halted, STREAM_FAILED))
    journal.record(_moved(TODAY + 4 * HOUR, halted, active, reason))
    _snap(journal, TODAY + 4 * HOUR, "9700", wallet="9700")
    _filled(journal, "bot-3", 3, TODAY + 5 * HOUR)
    journal.apply_when_quiet()
    clock = SimClock(NOON)
    books = book(clock=clock)
    trade_fill(books, "bot-1", 1, BUY, "0.1", "60000.0", fee="0", t=TODAY + HOUR)
    trade_fill(books, "bot-2", 2, SELL, "0.1", "57000.0", fee="0", rp="-300", t=TODAY + 2 * HOUR)
    config = RiskConfig(
        max_daily_loss_usdt=D(500),
        max_daily_loss_pct=D(0),
        max_drawdown_pct=D(10),
        max_trades_per_day=4,
    )
    risk = RiskManager(config=config, instruments=instruments(), clock=clock, view=books)
    changes = [e for _, e in journal.load_events(["TradingStateChanged"])]

    counts = _restore_limits(journal, changes, risk, books, NOON)

    peak, trades, day_start, trips = counted
    assert (risk.peak_equity, risk.trades_today, risk.day_start_equity) == (peak, trades, day_start)
    assert (counts.realized_today, counts.realized_base) == (
        (D(-300), D(0)) if trips else (D(-300), D(-300))
    )
    assert risk.on_equity(D(9501), books.pnl_today(NOON)) is None  # 499 today; 9.5 % < 10 %
    tripped = risk.on_equity(D(9500), books.pnl_today(NOON))
    assert (tripped and tripped.reason) == trips
    journal.close()


def test_a_restart_after_a_late_stop_learnt_live_after_midnight_does_not_count_it_today(
    tmp_path: Path,
) -> None:
    """Long 0.100 @ 60000 (fee 3: wallet 9997), its last equity before 00:00 UTC 9997 (mark
    60000); its stop fills at 23:59:59.900 at 58800 (rp -120, fee 2.94: wallet 9874.06),
    reported at 00:00:00.300. The running daemon valued it at its mark: 122.94 lost the day
    before, none today (`test_late_fill_daily_loss`), and journaled 9874.06 at 00:00:05.
    Restarted at 00:05, it must not find 120 of it lost today: the journal has no mark, and
    its replay valued the fill at its own price (the day before's move: its fee alone)."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    stop = replace(
        fill("t-2", 2, SELL, "0.100", "58800.0", fee="2.94", rp="-120", t=TODAY - 100),
        recv_time_ms=TODAY + 300,
    )
    journal.record(submitted("t-1", BUY, "0.100", None, t=TODAY - HOUR))
    journal.record(filled(fill("t-1", 1, BUY, "0.100", "60000.0", fee="3", t=TODAY - HOUR)))
    journal.record(submitted("t-2", SELL, "0.100", None, t=TODAY - 150))
    _snap(journal, TODAY - 1_000, "9997", wallet="9997")
    journal.record(filled(stop))
    _snap(journal, TODAY + 5_000, "9874.06", wallet="9874.06")
    journal.apply_when_quiet()
    now = TODAY + 5 * 60_000
    clock = SimClock(now)
    books = book(clock=clock)
    books.restore(journal)
    config = RiskConfig(max_daily_loss_usdt=D(50), max_daily_loss_pct=D(0), max_drawdown_pct=D(0))
    risk = RiskManager(config=config, instruments=instruments(), clock=clock, view=books)

    _restore_limits(journal, [], risk, books, now)

    assert books.wallet() == D("9874.06") and books.pnl_today(now) == 0
    assert risk.on_equity(D("9874.06"), D(0)) is None  # tripped: "lost 120.00 USDT today"
    assert risk.on_equity(D("9824.07"), D(0)) is None  # 49.99 lost today
    assert "lost 50.00 USDT today" in risk.on_equity(D("9824.06"), D(0)).reason
    journal.close()


def test_a_second_restart_after_yesterdays_funding_read_back_keeps_todays_loss_while_down(
    tmp_path: Path,
) -> None:
    """Long 0.100 @ 60000 (fee 3: wallet 9997); the daemon stops at 15:00 the day before (its
    last equity 9997). Yesterday's 16:00 settlement (-0.6) is made while it is down; a first
    restart at 09:00 today reads it back (carried in: the day's start 9997 - 0.6 = 9996.4)
    and journals 9956.4 (wallet 9996.4, the mark 59600: 40 lost today while down). The
    running daemon counts 40 lost today: 10 more trip a 50 USDT limit (at 9946.4). A second
    restart at 10:00 must count the same; from the first equity journaled after the funding
    was read (9956.4) it forgave the 40 and tripped only at 9906.4."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    journal.record(submitted("t-1", BUY, "0.100", None, t=TODAY - 10 * HOUR))
    journal.record(filled(fill("t-1", 1, BUY, "0.100", "60000.0", fee="3", t=TODAY - 10 * HOUR)))
    _snap(journal, TODAY - 9 * HOUR, "9997", wallet="9997")
    journal.record(
        FundingPaid(
            event_time_ms=TODAY - 8 * HOUR,
            recv_time_ms=TODAY + 9 * HOUR,
            symbol=SYMBOL,
            amount=D("-0.6"),
            rate=D("0.0001"),
        )
    )
    _snap(journal, TODAY + 9 * HOUR + 1_000, "9956.4", wallet="9996.4")
    journal.apply_when_quiet()
    now = TODAY + 10 * HOUR
    clock = SimClock(now)
    books = book(clock=clock)
    books.restore(journal)
    config = RiskConfig(max_daily_loss_usdt=D(50), max_daily_loss_pct=D(0), max_drawdown_pct=D(0))
    risk = RiskManager(config=config, instruments=instruments(), clock=clock, view=books)

    _restore_limits(journal, [], risk, books, now)

    assert books.wallet() == D("9996.4") and books.carried_in(now) == D("-0.6")
    assert risk.on_equity(D("9946.41"), books.pnl_today(now)) is None  # 49.99 lost today
    tripped = risk.on_equity(D("9946.40"), books.pnl_today(now))
    assert tripped is not None and "lost 50.00 USDT today" in tripped.reason
    journal.close()


def test_a_restart_after_a_reset_halt_start_that_read_yesterdays_funding_keeps_it_out_of_today(
    tmp_path: Path,
) -> None:
    """Long 0.100 @ 60000 (fee 3: wallet 9997), halted and stopped at 15:00 the day before.
    At 09:00 today `--reset-halt`: the limit re-armed from 9957 (the mark 59600: 40 open
    loss), journaled before the start-up's reads; those read back yesterday's 16:00 settlement
    (-0.6), carried in: the running daemon's day starts at 9956.4 and counts 0 lost at 9956.4
    (its realized PnL today 0). A restart at 10:00 must count the same: from the reset's
    9957 with all of carried_in taken as held by it, and the wallet's -0.6 since taken as
    today's realized, it counted 0.6 lost today (a 50 USDT limit tripped at 9907.0)."""
    journal = SqliteJournal(tmp_path, writer_thread=False)
    journal.record(submitted("t-1", BUY, "0.100", None, t=TODAY - 10 * HOUR))
    journal.record(filled(fill("t-1", 1, BUY, "0.100", "60000.0", fee="3", t=TODAY - 10 * HOUR)))
    _snap(journal, TODAY - 9 * HOUR, "9997", wallet="9997")
    reset = TradingStateChanged(
        event_time_ms=TODAY + 9 * HOUR,
        recv_time_ms=TODAY + 9 * HOUR,
        previous=TradingState.HALTED,
        current=TradingState.ACTIVE,
        reason="operator reset: --reset-halt",
    )
    journal.record(reset)
    _snap(journal, TODAY + 9 * HOUR, "9957", wallet="9997")
    journal.record(
        FundingPaid(
            event_time_ms=TODAY - 8 * HOUR,
            recv_time_ms=TODAY + 9 * HOUR + 500,
            symbol=SYMBOL,
            amount=D("-0.6"),
            rate=D("0.0001"),
        )
    )
    _snap(journal, TODAY + 9 * HOUR + 1_000, "9956.4", wallet="9996.4")
    journal.apply_when_quiet()
    now = TODAY + 10 * HOUR
    clock = SimClock(now)
    books = book(clock=clock)
    books.restore(journal)
    config = RiskConfig(max_daily_loss_usdt=D(50), max_daily_loss_pct=D(0), max_drawdown_pct=D(0))
    risk = RiskManager(config=config, instruments=instruments(), clock=clock, view=books)

    _restore_limits(journal, [reset], risk, books, now)

    assert books.pnl_today(now) == 0 and books.carried_in(now) == D("-0.6")
    assert risk.on_equity(D("9906.41"), books.pnl_today(now)) is None  # 49.99 lost today
    tripped = risk.on_equity(D("9906.40"), books.pnl_today(now))
    assert tripped is not None and "lost 50.00 USDT today" in tripped.reason
    journal.close()
