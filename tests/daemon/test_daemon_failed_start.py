"""A local start that fails leaves the last run's journal where it was: it is moved to
`journal/earlier/` only once this run opens a journal of its own."""

import socket
import subprocess
import sys

from book_keeper.journal import SqliteJournal
from tests.book_keeper.support import BUY, submitted
from tests.daemon.harness import ROOT, daemon_env
from trading_engine.journal_dir import EARLIER_RUNS, LOCAL_VENUE


def test_a_local_start_refused_for_a_busy_port_leaves_the_last_journal_in_place(tmp_path):
    """`[local] port` taken by another program: the start failed, and the last run's journal
    had been moved to journal/earlier/ for nothing (the next run found no journal there)."""
    journal_dir = tmp_path / "journal"
    with SqliteJournal(journal_dir, writer_thread=False) as last_run:
        last_run.record(submitted("t-1", BUY, "0.001", "60000.0"))
        last_run.bind_venue(LOCAL_VENUE)
    before = (journal_dir / "journal.sqlite3").read_bytes()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "config.toml").write_text(f"[local]\nport = {port}\n")
        result = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--config", "config.toml"],
            cwd=tmp_path,
            env=daemon_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1, result.stderr[-2000:]
    assert "address already in use" in result.stderr.strip().splitlines()[-1]
    assert not (journal_dir / EARLIER_RUNS).exists()
    assert (journal_dir / "journal.sqlite3").read_bytes() == before
    assert "the last run's journal was moved" not in result.stdout
