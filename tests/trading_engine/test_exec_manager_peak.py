"""The drawdown limit's peak survives a restart even when it was reached between two balance
snapshots: the ExecManager journals it (a balance snapshot) when an equity check raises it
above the last one journaled, and only then.

Numbers by hand: wallet 10000 USDT, long 0.010 BTCUSDT from 60000, no transfers, so equity net
of transfers = 10000 + 0.010 * (mark - 60000): marks 60500 / 61000 / 60200 / 61000 give 10005 /
10010 / 10002 / 10010.
"""

from decimal import Decimal as D
from pathlib import Path

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from core.account import Balance, Position
from core.clock import SimClock
from core.events import VenueSnapshot
from core.market import MarkPrice
from core.orders import ClientOrderIds
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.fake_venue import FakeVenue
from tests.trading_engine.support import INSTRUMENTS, LIMITS, PREFIX, T0, ScriptedStrategy
from trading_engine.daemon import _restore_limits
from trading_engine.exec_manager import ExecConfig, ExecManager

SYMBOL = "BTCUSDT"
INSTRUMENT = {SYMBOL: INSTRUMENTS[SYMBOL]}


def _session(tmp_path: Path, marks: list[str], *, journal_peaks: bool) -> list[D | None]:
    """A daemon's session as `Daemon._start` wires it: the books restored from the journal, the
    limits from it, a heartbeat snapshot at the start only, then one mark price a second.
    Returns the risk's peak after each mark."""
    clock = SimClock(T0)
    journal = SqliteJournal(tmp_path, writer_thread=False)
    book = BookKeeper(starting_balances=None, instruments=INSTRUMENT, clock=clock)
    replay = book.restore(journal)
    risk = RiskManager(config=LIMITS, instruments=INSTRUMENT, clock=clock, view=book)
    _restore_limits(journal, [], risk, book, clock.now_ms(), replay)
    venue = FakeVenue(clock=clock)
    em = ExecManager(
        venue=venue,
        book=book,
        risk=risk,
        strategy=ScriptedStrategy(),
        journal=journal,
        clock=clock,
        instruments=INSTRUMENT,
        ids=ClientOrderIds(PREFIX),
        config=ExecConfig(symbols=(SYMBOL,), protect_positions=False),
        gap_open=lambda _symbol: False,
        clock_offset_ms=lambda: 0,
        journal_peak=(lambda: book.record_snapshot(journal)) if journal_peaks else None,
    )
    venue.listener = em.on_event
    em.on_event(  # the start-up reconciliation: 10000 USDT, long 0.010 @ 60000
        VenueSnapshot(
            event_time_ms=T0,
            recv_time_ms=T0,
            balances=(Balance(asset="USDT", wallet_balance=D(10000), available_balance=D(9000)),),
            positions=(Position(symbol=SYMBOL, qty=D("0.010"), entry_price=D(60000)),),
            open_orders=(),
            reason="start",
            symbols=(SYMBOL,),
        )
    )
    book.record_snapshot(journal)  # the first heartbeat; none after it in this session
    peaks = []
    for price in marks:
        clock.advance_ms(1_000)
        now = clock.now_ms()
        em.on_item(MarkPrice(SYMBOL, D(price), D(price), D("0.0001"), now + 1, now, now))
        peaks.append(risk.peak_equity)
    journal.close()
    return peaks


def _restarted_peak(tmp_path: Path) -> D | None:
    clock = SimClock(T0 + 3_600_000)
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        book = BookKeeper(starting_balances=None, instruments=INSTRUMENT, clock=clock)
        replay = book.restore(journal)
        risk = RiskManager(config=LIMITS, instruments=INSTRUMENT, clock=clock, view=book)
        changes = [e for _, e in journal.load_events(["TradingStateChanged"])]
        _restore_limits(journal, changes, risk, book, clock.now_ms(), replay)
        return risk.peak_equity


def _snapshot_equities(tmp_path: Path) -> list[D]:
    with SqliteJournal(tmp_path, writer_thread=False) as journal:
        return [equity for _, equity, _, _ in journal.load_snapshots()]


def test_a_peak_between_two_heartbeats_survives_the_restart(tmp_path):
    peaks = _session(tmp_path, ["60500", "61000", "60200"], journal_peaks=True)

    assert peaks == [D(10005), D(10010), D(10010)]
    assert _restarted_peak(tmp_path) == D(10010)


def test_without_journaling_the_peak_the_restart_forgets_it(tmp_path):
    """The reviewer's finding, kept as the control: only the heartbeat's 10000 is journaled."""
    _session(tmp_path, ["60500", "61000", "60200"], journal_peaks=False)

    assert _restarted_peak(tmp_path) == D(10000)


def test_only_a_new_high_is_journaled(tmp_path):
    _session(tmp_path, ["60500", "60500", "61000", "60200", "61000", "60900"], journal_peaks=True)

    # The heartbeat's 10000, then 10005 and 10010; not 10005 again, 10002, 10010 again, 10009.
    assert _snapshot_equities(tmp_path) == [D(10000), D(10005), D(10010)]
