"""The daemon refuses to open its journal on a disk with less than `MIN_FREE_BYTES` free: the
journal's log has its own reserve, so it would start and trade on a full disk until SQLite or
the logs failed (the slow `tests/daemon/test_daemon_disk_full.py` restarts on a real full
tmpfs)."""

import os

import pytest

from book_keeper.journal import Synchronous
from trading_engine import journal_dir as journal_dir_module
from trading_engine.daemon_error import DaemonError
from trading_engine.journal_dir import MIN_FREE_BYTES, free_bytes, open_journal


def test_a_disk_with_less_than_the_minimum_free_is_refused_in_one_line_before_opening(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(journal_dir_module, "free_bytes", lambda path: 3 << 20)
    with pytest.raises(DaemonError) as refused:
        open_journal(tmp_path, Synchronous.NORMAL, None)
    assert str(refused.value) == (
        f"the journal in {tmp_path} (journal_dir): the disk is full: 3.0 MiB free, the "
        "daemon needs 8 MiB to journal and log safely"
    )
    assert not (tmp_path / "journal.sqlite3").exists()  # nothing written on the full disk


def test_enough_free_space_or_none_known_opens_the_journal(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_dir_module, "free_bytes", lambda path: MIN_FREE_BYTES)
    open_journal(tmp_path / "a", Synchronous.NORMAL, None).close()
    monkeypatch.setattr(journal_dir_module, "free_bytes", lambda path: None)
    open_journal(tmp_path / "b", Synchronous.NORMAL, None).close()


def test_free_bytes_reads_the_file_system_and_is_none_for_a_missing_directory(tmp_path):
    st = os.statvfs(tmp_path)
    assert free_bytes(tmp_path) == st.f_bavail * st.f_frsize
    assert free_bytes(tmp_path / "missing") is None
