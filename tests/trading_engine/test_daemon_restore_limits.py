"""The daemon's start-up hands the RiskManager what its portfolio limits had counted, from the
journal: the drawdown peak and today's filled orders, both since the last operator reset."""

from pathlib import Path

from book_keeper.journal import SqliteJournal
from core.clock import SimClock
from core.enums import TradingState
from core.events import TradingStateChanged
from risk_manager import RiskConfig, RiskManager
from tests.book_keeper.support import BUY, D, book, fill, filled, instruments, submitted
from trading_engine.daemon import _restore_limits

DAY = 86_400_000
NOON = 1_723_118_400_000 + 12 * 3_600_000  # 2024-08-08T12:00Z
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
