"""A journal that can no longer be applied (disk full, I/O error) stops the daemon with exit
status 1: an order must be journaled before it is sent, so nothing more may be done."""

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest

import book_keeper.journal as journal_module
from book_keeper.journal import SqliteJournal
from runtime.settings import load_settings
from tests.book_keeper.support import BUY, submitted
from trading_engine.daemon import Daemon


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
