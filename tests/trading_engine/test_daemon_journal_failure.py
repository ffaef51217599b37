"""A journal that can no longer be written or applied (disk full, I/O error) stops the daemon
with exit status 1: an order must be journaled before it is sent and a fill before it is
booked, so nothing more may be done."""

import asyncio
import io
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

import book_keeper.journal as journal_module
from book_keeper.journal import JournalError, SqliteJournal
from core.events import Event
from core.journal import MemoryJournal
from runtime.settings import load_settings
from tests.book_keeper.support import BUY, submitted
from tests.trading_engine.support import MINUTE, T0, Rig, make_bar, make_rig
from tests.trading_engine.test_exec_manager import target
from trading_engine.daemon import Daemon, _Relay


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

    def failing(item: object) -> None:
        raise JournalError("journal write failed")

    relay.target = failing
    with pytest.raises(JournalError):
        relay(object())
