"""The drawdown limit's peak survives a restart even when it was reached between two balance
snapshots: the ExecManager journals it (a balance snapshot) when an equity check raises it
above the last one journaled, and only then.

Numbers by hand: wallet 10000 USDT, long 0.010 BTCUSDT from 60000, no transfers, so equity net
of transfers = 10000 + 0.010 * (mark - 60000): marks 60500 / 61000 / 60200 / 61000 give 10005 /
10010 / 10002 / 10010.
"""

import signal
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson

from book_keeper.book_keeper import BookKeeper
from book_keeper.journal import SqliteJournal
from book_keeper.journal_wal import SNAPSHOT_KIND, read_wal
from core.account import Balance, Position
from core.clock import SimClock
from core.events import VenueSnapshot
from core.market import MarkPrice
from core.orders import ClientOrderIds
from risk_manager.risk_manager import RiskManager
from tests.trading_engine.fake_venue import FakeVenue
from tests.trading_engine.support import INSTRUMENTS, LIMITS, PREFIX, T0, ScriptedStrategy
from trading_engine.exec_manager import ExecConfig, ExecManager
from trading_engine.limits_restore import restore_limits as _restore_limits

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"
INSTRUMENT = {SYMBOL: INSTRUMENTS[SYMBOL]}


def _wired(tmp_path: Path, *, journal_peaks: bool) -> tuple[SimClock, SqliteJournal, Any]:
    """A daemon's objects as `Daemon._start` wires them: the books restored from the journal,
    the limits from it, the new peaks journaled as the daemon does (`soon`: by the journal's
    applier, between two items); the start-up reconciliation and a first heartbeat snapshot.
    Returns (clock, journal, a function that feeds one mark price and returns the peak)."""
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
        journal_peak=(lambda: book.record_snapshot(journal, soon=True)) if journal_peaks else None,
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

    def mark(price: str) -> D | None:
        clock.advance_ms(1_000)
        now = clock.now_ms()
        em.on_item(MarkPrice(SYMBOL, D(price), D(price), D("0.0001"), now + 1, now, now))
        return risk.peak_equity

    return clock, journal, mark


def _session(tmp_path: Path, marks: list[str], *, journal_peaks: bool) -> list[D | None]:
    """One mark price a second, the journal's applier between two (as `run_applier` runs it),
    then a clean stop. Returns the risk's peak after each mark."""
    _, journal, mark = _wired(tmp_path, journal_peaks=journal_peaks)
    peaks = []
    for price in marks:
        peaks.append(mark(price))
        journal.apply_when_quiet()
    journal.close()
    return peaks


def _wal_snapshots(tmp_path: Path) -> list[D]:
    """The equities of the balance snapshots in journal.wal (the frames a `kill -9` keeps)."""
    frames, _ = read_wal((tmp_path / "journal.wal").read_bytes())
    return [
        D(orjson.loads(body.split(b" ", 1)[1])[1])
        for _, body in frames
        if body.startswith(SNAPSHOT_KIND.encode() + b" ")
    ]


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


def test_the_new_high_is_written_by_the_applier_after_the_item_not_during_it(tmp_path):
    _, journal, mark = _wired(tmp_path, journal_peaks=True)
    written = _wal_snapshots(tmp_path)

    assert mark("60500") == D(10005)
    during = _wal_snapshots(tmp_path)
    journal.apply_when_quiet()  # the daemon's applier, between two market-data items
    after = _wal_snapshots(tmp_path)
    journal.close()

    assert written == [D(10000)]  # the first heartbeat's
    assert during == written  # the item appended nothing
    assert after == [D(10000), D(10005)]


_KILLED_CHILD = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from book_keeper.journal import run_applier
from tests.trading_engine.test_exec_manager_peak import _wired

async def main():
    _, journal, mark = _wired(Path({path!r}), journal_peaks=True)
    applier = asyncio.ensure_future(run_applier(journal))
    for price in {marks!r}:
        mark(price)
        if {pause_s!r}:  # else no loop turn at all: killed within the item's own
            await asyncio.sleep({pause_s!r})
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def _killed_session(tmp_path: Path, marks: tuple[str, ...], pause_s: float) -> None:
    """The daemon's loop in a child process: each mark price is one market-data item, then
    `pause_s` of loop turns in which the journal's applier (`run_applier`, every 5 ms) runs
    (0: none, not a single loop turn); then `kill -9`, without closing the journal, long
    before the next heartbeat."""
    script = _KILLED_CHILD.format(root=str(ROOT), path=str(tmp_path), marks=marks, pause_s=pause_s)
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


def test_a_new_high_killed_before_the_next_heartbeat_is_kept_by_the_restart(tmp_path):
    _killed_session(tmp_path, ("60500", "61000", "60200"), pause_s=0.02)

    assert _restarted_peak(tmp_path) == D(10010)


def test_a_kill_inside_the_items_own_loop_turn_loses_only_that_new_high(tmp_path):
    """The price of the deferred write, kept as the control: a process killed in the very
    loop turn of the item that made the new high (before the applier's next look, at most
    5 ms later) restarts with the peak before it."""
    _killed_session(tmp_path, ("60500", "61000"), pause_s=0.02)
    _killed_session(tmp_path, ("60000", "61500"), pause_s=0)  # a second run: 10015, killed at once

    assert _restarted_peak(tmp_path) == D(10010)
