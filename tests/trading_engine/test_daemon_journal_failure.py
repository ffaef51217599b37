"""A journal that can no longer be written or applied (disk full, I/O error) stops the daemon
with exit status 1: an order must be journaled before it is sent and a fill before it is
booked, so nothing more may be done."""

import asyncio
import io
import sqlite3
from collections.abc import Sequence
from decimal import Decimal as D
from pathlib import Path

import pytest

import book_keeper.journal as journal_module
from book_keeper.journal import SqliteJournal
from book_keeper.journal_errors import JournalError
from core.account import Position
from core.enums import OrderStatus, OrderType, Side
from core.events import DecisionMade, Event, VenueSnapshot
from core.journal import MemoryJournal
from core.orders import Order
from runtime.settings import load_settings
from tests.book_keeper.support import BUY, submitted
from tests.trading_engine.support import MINUTE, T0, Rig, make_bar, make_rig
from tests.trading_engine.test_exec_manager import target
from trading_engine.closing_summary import Severity, SummaryLine, exit_check
from trading_engine.daemon import Daemon
from trading_engine.relay import Relay as _Relay


def test_an_applier_failure_requests_a_stop_with_exit_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, batches: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)
    journal = SqliteJournal(tmp_path, writer_thread=False, apply_interval_s=0.001)
    journal.record(submitted("t-1", BUY, "0.001", "60000.0"))
    monkeypatch.setattr(journal_module._Applier, "apply", broken)

    async def scenario() -> None:
        await asyncio.wait_for(daemon._apply_journal(journal), timeout=5)

    asyncio.run(scenario())

    assert daemon._stop.is_set() and daemon._stop_reason == "journal failed"
    assert daemon.exit_status == 1
    assert "the journal failed" in out.getvalue()
    with pytest.raises(journal_module.JournalError):
        journal.close()


class BrokenJournal(MemoryJournal):
    """A journal whose disk fills up when `broken` is set: every write raises JournalError,
    as `SqliteJournal._append` does on ENOSPC."""

    broken = False

    def _check(self) -> None:
        if self.broken:
            raise JournalError("journal write failed (events): [Errno 28] No space left on device")

    def record(self, event: Event) -> None:
        self._check()
        super().record(event)

    def record_many(self, events: Sequence[Event]) -> None:
        self._check()
        self.events.extend(events)


def daemon_and_rig() -> tuple[Daemon, io.StringIO, Rig, BrokenJournal]:
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)
    journal = BrokenJournal()
    return daemon, out, make_rig(journal=journal), journal


def test_a_failed_write_on_the_tick_path_sends_nothing_and_stops_with_exit_status_1() -> None:
    daemon, out, rig, journal = daemon_and_rig()
    sink = daemon._guarded(rig.em.on_item)
    journal.broken = True
    for n in range(3):  # the first failure stops the daemon; the later ones are not news
        rig.strategy.on_bar_says.append([target("0.010")])
        rig.clock.advance_ms(1_000)
        sink(make_bar("60000", open_ms=T0 - 100 * MINUTE + n * MINUTE))

    assert rig.venue.submitted == []  # never sent without its intent journaled
    assert daemon._stop.is_set() and daemon._stop_reason == "journal failed"
    assert daemon.exit_status == 1
    assert out.getvalue().count("the journal failed") == 1
    assert daemon.item_errors == 0  # not a bug on an item: the stop says it
    journal.broken = False  # the control: the same tick with a journal that writes orders
    rig.strategy.on_bar_says.append([target("0.010")])
    rig.clock.advance_ms(1_000)
    sink(make_bar("60000", open_ms=T0 - 100 * MINUTE + 3 * MINUTE))
    assert len(rig.venue.submitted) == 1


def test_a_fill_that_cannot_be_journaled_is_not_booked_and_stops_the_daemon() -> None:
    daemon, out, rig, journal = daemon_and_rig()
    relay = _Relay(on_journal_error=daemon._journal_failed)
    relay.target = rig.em.on_event
    rig.venue.listener = relay
    rig.say(target("0.010"))
    cid = rig.last_cid()
    rig.venue.accept(cid)
    journal.broken = True

    rig.venue.fill(cid, "60000")  # the listener raises nothing: the relay handles it

    assert rig.book.position("BTCUSDT").qty == 0  # booked only once journaled
    assert daemon._stop_reason == "journal failed" and daemon.exit_status == 1
    assert "the journal failed" in out.getvalue()


def test_a_relay_without_a_handler_lets_the_journal_error_through() -> None:
    relay = _Relay()

    def failing(item: object, now_ms: int | None) -> None:
        raise JournalError("journal write failed")

    relay.target = failing
    with pytest.raises(JournalError):
        relay(object())


# --- a full disk, as SQLite reports it ---------------------------------------------------------


def test_a_full_disk_is_said_as_the_cause_and_the_unapplied_records_survive(tmp_path: Path) -> None:
    """SQLite rolls a transaction back itself when its COMMIT finds the disk full; the
    applier's own ROLLBACK then failed ("cannot rollback - no transaction is active") and that
    error replaced the cause in the one line the operator got. `max_page_count` makes SQLite
    answer exactly as on a full disk."""
    out = io.StringIO()
    daemon = Daemon(load_settings(None, env_file=None), out=out)
    journal = SqliteJournal(tmp_path, writer_thread=False, apply_interval_s=0.001)
    journal.record(submitted("t-1", BUY, "0.001", "60000.0"))
    journal.flush()
    assert journal._applier is not None
    pages = journal._applier.db.execute("PRAGMA page_count").fetchone()[0]
    journal._applier.db.execute(f"PRAGMA max_page_count = {pages}")
    for n in range(38):  # in journal.wal: recorded, not applied yet (~4 KB each)
        journal.record(
            DecisionMade(event_time_ms=T0 + n, recv_time_ms=T0 + n, symbol="BTCUSDT",
                         strategy="test", action="hold", reason="x" * 4_000)
        )  # fmt: skip

    asyncio.run(asyncio.wait_for(daemon._apply_journal(journal), timeout=5))

    said = out.getvalue()
    assert said.startswith("the journal failed: ") and "database or disk is full" in said, said
    assert "cannot rollback" not in said
    assert daemon.exit_status == 1
    with pytest.raises(JournalError, match=r"stay in .*journal\.wal, for the next opening"):
        journal.close()
    with SqliteJournal(tmp_path) as again:  # space again: nothing recorded was lost
        assert again.recovered_records == 38
        assert len(again.load_events(["DecisionMade"])) == 38


def test_closing_a_journal_that_failed_is_one_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())

    def close() -> None:
        raise JournalError(
            "the journal writer failed: OperationalError('database or disk is full')"
        )

    daemon._closers.append(close)
    asyncio.run(daemon._close_all())

    (record,) = [r for r in caplog.records if r.name == "daemon"]
    assert record.exc_info is None
    assert "database or disk is full" in record.getMessage()


def _snapshot(position: str, *orders: Order) -> VenueSnapshot:
    held = Position(symbol="BTCUSDT", qty=D(position), entry_price=D("60000"), leverage=5)
    return VenueSnapshot(
        event_time_ms=T0, recv_time_ms=T0, balances=(), positions=(held,), open_orders=orders,
        reason="stop", symbols=("BTCUSDT",),
    )  # fmt: skip


STOP = Order(
    client_order_id="te-2", symbol="BTCUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
    quantity=D(0), price=None, time_in_force=None, stop_price=D("58800.0"), close_position=True,
    status=OrderStatus.NEW,
    created_ms=T0, updated_ms=T0,
)  # fmt: skip


def test_after_a_journal_failure_the_summary_says_the_exchanges_position_not_identical() -> None:
    """A fill the journal could not take was not booked: the books said flat while the
    exchange held the position, and the closing summary still said "identical" (the last
    reconciliation's answer could not be journaled, so nothing was compared)."""
    rig = make_rig()  # the books: flat, nothing open

    left, verdict, checked = exit_check(
        rig.book, ["BTCUSDT"], reconciled=True, differences=0, journal_failed=True,
        exchange_view=_snapshot("0.010", STOP),
    )  # fmt: skip

    assert left == [
        SummaryLine(
            "position BTCUSDT 0.010 (the exchange's, read at the stop) left open, guarded on the "
            "exchange by STOP_MARKET 58800.0",
            Severity.INFO,
        )
    ]
    assert verdict.startswith("not checked: the journal failed") and not checked
    left, _, _ = exit_check(
        rig.book, ["BTCUSDT"], reconciled=True, differences=0, journal_failed=True,
        exchange_view=_snapshot("0.010"),
    )  # fmt: skip
    [unguarded] = left
    assert unguarded.severity is Severity.WARNING
    assert unguarded.text.startswith("WARNING: position BTCUSDT 0.010 (the exchange's, read at")
    assert "WITHOUT an exchange-side stop-loss" in unguarded.text


def test_without_a_journal_failure_the_verdict_is_the_reconciliations() -> None:
    rig = make_rig()
    common = {"journal_failed": False, "exchange_view": _snapshot("0")}
    assert exit_check(rig.book, ["BTCUSDT"], reconciled=True, differences=0, **common) == (
        [], "identical", True
    )  # fmt: skip
    assert exit_check(rig.book, ["BTCUSDT"], reconciled=True, differences=2, **common)[1:] == (
        "2 difference(s), see the log", True
    )  # fmt: skip
    _, verdict, checked = exit_check(
        rig.book, ["BTCUSDT"], reconciled=False, differences=0, **common
    )
    assert verdict.startswith("not checked: the exchange could not be reached") and not checked


def test_a_status_file_that_cannot_be_written_is_said_once_per_outage(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a full disk status.json failed at every heartbeat, each time with a WARNING."""
    import trading_engine.daemon as daemon_module

    full = [True]
    written: list[dict[str, object]] = []

    def write_status(journal_dir: str, status: dict[str, object]) -> None:
        if full[0]:
            raise OSError(28, "No space left on device")
        written.append(status)

    monkeypatch.setattr(daemon_module, "write_status", write_status)
    daemon = Daemon(load_settings(None, env_file=None), out=io.StringIO())
    for _ in range(3):
        daemon._put_status({"state": "running"})
    full[0] = False
    daemon._put_status({"state": "running"})
    full[0] = True
    daemon._put_status({"state": "running"})

    said = [r.getMessage() for r in caplog.records if "status file not written" in r.getMessage()]
    assert said == ["status file not written: [Errno 28] No space left on device"] * 2
    assert written == [{"state": "running"}]
